// PodNetwork: a pod's whole network as one NetworkExecutor. Loopback is the
// runtime's own job in every pod netns (containerd keeps a built-in "lo"
// network for it); the node's network (CNI) comes on top.
//
//   LoopbackNetwork loopback;
//   CONVERGE_ASSIGN_OR_RETURN(auto cni, CniNetwork::Create(options));
//   PodNetwork network(&loopback, cni.get());
//
// Setup brings lo up, then sets up the node network and returns its result;
// Teardown undoes the node network only (lo goes with the netns); Ready is
// the node network's. Thread safety and error codes are those of the parts.
#ifndef CONVERGE_EXECUTORS_NETWORK_POD_NETWORK_H_
#define CONVERGE_EXECUTORS_NETWORK_POD_NETWORK_H_

#include "executors/network/network.h"

namespace converge {

class PodNetwork final : public NetworkExecutor {
 public:
  // Neither is owned; both must outlive this.
  PodNetwork(NetworkExecutor* loopback, NetworkExecutor* node_network)
      : loopback_(loopback), node_network_(node_network) {}

  absl::StatusOr<NetworkResult> Setup(const NetworkRequest& request) override;
  absl::Status Teardown(const NetworkRequest& request, const NetworkResult& cached) override;
  absl::Status Ready() override;

 private:
  NetworkExecutor* const loopback_;
  NetworkExecutor* const node_network_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_POD_NETWORK_H_

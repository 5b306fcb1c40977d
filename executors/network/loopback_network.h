// LoopbackNetwork is the NetworkExecutor used until CNI lands: Setup brings
// the `lo` interface up inside the pod's network namespace, so processes in a
// pod can talk to each other over 127.0.0.1, and nothing else. Pods get no
// IP, and Ready() says so. Needs CAP_SYS_ADMIN (setns) and CAP_NET_ADMIN.
//
//   LoopbackNetwork network;
//   NetworkRequest request;
//   request.sandbox_id = id;
//   request.netns_path = net_pin;
//   CONVERGE_ASSIGN_OR_RETURN(NetworkResult result, network.Setup(request));
//
// How: the pin is opened and checked to be a network namespace in the
// calling thread; a dedicated short-lived thread then setns(2)s into it and
// sets IFF_UP on `lo` with SIOCGIFFLAGS/SIOCSIFFLAGS. The namespace switch
// dies with that thread, so no daemon thread ever runs in a pod's netns.
//
// Thread-safe and stateless. Setup is idempotent; Teardown has nothing to
// undo (the loopback device goes away with the namespace) and returns OK.
#ifndef CONVERGE_EXECUTORS_NETWORK_LOOPBACK_NETWORK_H_
#define CONVERGE_EXECUTORS_NETWORK_LOOPBACK_NETWORK_H_

#include "executors/network/network.h"

namespace converge {

class LoopbackNetwork : public NetworkExecutor {
 public:
  LoopbackNetwork() = default;

  absl::StatusOr<NetworkResult> Setup(const NetworkRequest& request) override;
  absl::Status Teardown(const NetworkRequest& request,
                        const NetworkResult& cached) override;
  // Always FAILED_PRECONDITION: CNI is not configured.
  absl::Status Ready() override;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_LOOPBACK_NETWORK_H_

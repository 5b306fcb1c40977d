#include "executors/network/pod_network.h"

#include "common/errors.h"
#include "common/status_macros.h"

namespace converge {

absl::StatusOr<NetworkResult> PodNetwork::Setup(const NetworkRequest& request) {
  CONVERGE_RETURN_IF_ERROR(Annotate(loopback_->Setup(request).status(), "loopback"));
  absl::StatusOr<NetworkResult> result = node_network_->Setup(request);
  if (!result.ok()) return Annotate(result.status(), "pod network");
  return result;
}

absl::Status PodNetwork::Teardown(const NetworkRequest& request, const NetworkResult& cached) {
  return Annotate(node_network_->Teardown(request, cached), "pod network");
}

absl::Status PodNetwork::Ready() { return node_network_->Ready(); }

}  // namespace converge

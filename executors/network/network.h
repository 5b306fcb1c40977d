// NetworkExecutor wires a pod's network namespace (already created and pinned
// by the NamespaceExecutor) into the node's network, and undoes it.
//
//   CONVERGE_ASSIGN_OR_RETURN(NetworkResult result, network.Setup(request));
//   // persist `result` in the pod's actual record before anything else
//   ...
//   CONVERGE_RETURN_IF_ERROR(network.Teardown(request, cached_result));
//
// Implementations: LoopbackNetwork (lo up), CniNetwork (cni/: ADD/DEL/CHECK
// with libcni semantics) and PodNetwork, which composes the two for the
// daemon. Setup's NetworkResult carries what Teardown needs (for CNI: the
// config list, capability arguments and result), which the reconciler stores
// in `actual` so that Teardown can run DEL after a crash or a reboot, when
// neither the netns nor the daemon's memory is left. hostNetwork pods never
// reach this executor.
//
// Thread safety: all methods may be called concurrently for different
// sandboxes; the reconciler never runs two calls for one sandbox at once.
//
// Idempotence: Setup is not (a second CNI ADD for one sandbox fails): the
// reconciler runs Teardown before setting a sandbox up again. Teardown is
// idempotent and must succeed when the netns is already gone (empty or stale
// `netns_path`) and when `cached` is empty (Setup never completed).
//
// Error codes (besides those mapped from errno by ErrnoError):
//   INVALID_ARGUMENT    missing sandbox_id, or a netns_path that is not
//                       absolute.
//   NOT_FOUND           Setup: netns_path does not exist.
//   FAILED_PRECONDITION Setup: netns_path is not a pinned network namespace;
//                       Ready: networking is not configured (see Ready()).
#ifndef CONVERGE_EXECUTORS_NETWORK_NETWORK_H_
#define CONVERGE_EXECUTORS_NETWORK_NETWORK_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executors/network/cni/runtime_config.h"

namespace converge {

// The CRI NetworkReady condition's reason when Ready() fails; its message is
// the status message.
inline constexpr char kNetworkNotReadyReason[] = "NetworkPluginNotReady";

struct NetworkRequest {
  std::string sandbox_id;     // CNI container id
  std::string pod_name;       // K8S_POD_NAME
  std::string pod_namespace;  // K8S_POD_NAMESPACE
  std::string pod_uid;        // K8S_POD_UID
  std::string netns_path;     // the net pin; may be empty on Teardown
  // CNI capability arguments: port mappings, DNS, bandwidth.
  RuntimeConfig runtime_config;
  // Optional. Setup calls it once it knows exactly what it will set up and
  // before it changes anything, with what Teardown needs should Setup not
  // finish (for CNI: the config list, capability and CNI arguments). The
  // caller persists that, durably, as the cached result; an error aborts
  // Setup before any change.
  std::function<absl::Status(const std::string& intent)> record_intent;
};

struct NetworkResult {
  std::vector<std::string> ips;  // pod IPs, primary first; none for loopback
  // Opaque to the caller: what Teardown needs to undo Setup (the CNI result
  // and config). Persist it verbatim; empty for loopback.
  std::string result_json;
};

// Checks shared by every implementation. Setup needs a sandbox_id and an
// absolute netns_path; Teardown needs a sandbox_id and accepts an empty one.
absl::Status ValidateSetupRequest(const NetworkRequest& request);
absl::Status ValidateTeardownRequest(const NetworkRequest& request);

// OK iff `fd` (opened from `path`) is a network namespace; FAILED_PRECONDITION
// naming the path when it is a stale pin file or another namespace type
// (setns on a stale pin fails with a bare EINVAL).
absl::Status CheckIsNetns(int fd, const std::string& path);

class NetworkExecutor {
 public:
  virtual ~NetworkExecutor() = default;

  // Connects the pod's netns; the result must be persisted before the next
  // step so that Teardown can undo it after a crash.
  virtual absl::StatusOr<NetworkResult> Setup(
      const NetworkRequest& request) = 0;

  // Undoes Setup using what it returned (`cached`).
  virtual absl::Status Teardown(const NetworkRequest& request,
                                const NetworkResult& cached) = 0;

  // OK iff pods can get a working network. Feeds the CRI Status
  // NetworkReady condition, which must report the truth: while only
  // loopback exists this returns FAILED_PRECONDITION, and the runtime reports
  // NetworkReady=false, reason kNetworkNotReadyReason, message = the status
  // message (kubelet then reports the node NotReady, "container runtime
  // network not ready", and starts only hostNetwork pods).
  virtual absl::Status Ready() = 0;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_NETWORK_H_

// FakeNetworkExecutor is an in-memory NetworkExecutor for reconciler and API
// tests: a call log, one-shot error injection, a settable Setup result and
// readiness, and the set of sandboxes currently set up.
//
//   FakeNetworkExecutor network;
//   network.SetResult({{"10.88.0.5"}, R"({"cniVersion":"1.0.0"})"});
//   network.InjectError(FakeNetworkExecutor::Op::kTeardown,
//                       absl::UnavailableError("plugin timed out"));
//   network.SetReady(absl::FailedPreconditionError("no CNI config"));
//
// Semantics follow network.h: the same request validation, idempotent
// Setup and Teardown (Teardown of an unknown sandbox is OK). An injected
// error is returned before any state changes. Ready() is OK unless set.
//
// Thread-safe.
#ifndef CONVERGE_EXECUTORS_NETWORK_TESTING_FAKE_NETWORK_H_
#define CONVERGE_EXECUTORS_NETWORK_TESTING_FAKE_NETWORK_H_

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "executors/network/network.h"

namespace converge {

class FakeNetworkExecutor : public NetworkExecutor {
 public:
  enum class Op { kSetup, kTeardown, kReady };

  FakeNetworkExecutor() = default;

  absl::StatusOr<NetworkResult> Setup(const NetworkRequest& request) override;
  absl::Status Teardown(const NetworkRequest& request,
                        const NetworkResult& cached) override;
  absl::Status Ready() override;

  // The next call of `op` returns `status`; several are consumed in order.
  void InjectError(Op op, absl::Status status);
  // What Setup returns from now on (default: empty result).
  void SetResult(NetworkResult result);
  // What Ready returns from now on (default: OK).
  void SetReady(absl::Status status);

  // Calls so far: "Setup(<sandbox_id>,<netns_path>)",
  // "Teardown(<sandbox_id>,<netns_path>,<result_json>)", "Ready()".
  std::vector<std::string> CallLog() const;
  void ClearCallLog();

  // Sandboxes set up and not torn down, with the result Setup returned.
  std::map<std::string, NetworkResult> SetUp() const;
  bool IsSetUp(const std::string& sandbox_id) const;

 private:
  absl::Status TakeError(Op op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<Op, std::deque<absl::Status>> errors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  NetworkResult result_ ABSL_GUARDED_BY(mu_);
  absl::Status ready_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, NetworkResult> set_up_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_TESTING_FAKE_NETWORK_H_

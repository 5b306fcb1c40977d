#include "executors/network/testing/fake_network.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace converge {

absl::Status FakeNetworkExecutor::TakeError(Op op) {
  auto it = errors_.find(op);
  if (it == errors_.end() || it->second.empty()) return absl::OkStatus();
  absl::Status status = std::move(it->second.front());
  it->second.pop_front();
  return status;
}

absl::StatusOr<NetworkResult> FakeNetworkExecutor::Setup(
    const NetworkRequest& request) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(
      absl::StrCat("Setup(", request.sandbox_id, ",", request.netns_path, ")"));
  CONVERGE_RETURN_IF_ERROR(ValidateSetupRequest(request));
  // As CniNetwork: the intent is recorded before anything can fail half way.
  if (request.record_intent) {
    CONVERGE_RETURN_IF_ERROR(request.record_intent(absl::StrCat("intent:", request.sandbox_id)));
  }
  CONVERGE_RETURN_IF_ERROR(TakeError(Op::kSetup));
  // Idempotent: a repeated Setup returns what the first one did.
  auto [it, inserted] = set_up_.emplace(request.sandbox_id, result_);
  return it->second;
}

absl::Status FakeNetworkExecutor::Teardown(const NetworkRequest& request,
                                           const NetworkResult& cached) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(absl::StrCat("Teardown(", request.sandbox_id, ",",
                                request.netns_path, ",", cached.result_json,
                                ")"));
  CONVERGE_RETURN_IF_ERROR(TakeError(Op::kTeardown));
  CONVERGE_RETURN_IF_ERROR(ValidateTeardownRequest(request));
  set_up_.erase(request.sandbox_id);
  return absl::OkStatus();
}

absl::Status FakeNetworkExecutor::Ready() {
  absl::MutexLock lock(&mu_);
  calls_.push_back("Ready()");
  CONVERGE_RETURN_IF_ERROR(TakeError(Op::kReady));
  return ready_;
}

void FakeNetworkExecutor::InjectError(Op op, absl::Status status) {
  absl::MutexLock lock(&mu_);
  errors_[op].push_back(std::move(status));
}

void FakeNetworkExecutor::SetResult(NetworkResult result) {
  absl::MutexLock lock(&mu_);
  result_ = std::move(result);
}

void FakeNetworkExecutor::SetReady(absl::Status status) {
  absl::MutexLock lock(&mu_);
  ready_ = std::move(status);
}

std::vector<std::string> FakeNetworkExecutor::CallLog() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

void FakeNetworkExecutor::ClearCallLog() {
  absl::MutexLock lock(&mu_);
  calls_.clear();
}

std::map<std::string, NetworkResult> FakeNetworkExecutor::SetUp() const {
  absl::MutexLock lock(&mu_);
  return set_up_;
}

bool FakeNetworkExecutor::IsSetUp(const std::string& sandbox_id) const {
  absl::MutexLock lock(&mu_);
  return set_up_.count(sandbox_id) != 0;
}

}  // namespace converge

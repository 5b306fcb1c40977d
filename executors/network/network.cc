#include "executors/network/network.h"

#include "absl/strings/str_cat.h"

namespace converge {
namespace {

absl::Status CheckSandboxId(const NetworkRequest& request) {
  if (request.sandbox_id.empty()) {
    return absl::InvalidArgumentError("network request without sandbox_id");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSetupRequest(const NetworkRequest& request) {
  absl::Status status = CheckSandboxId(request);
  if (!status.ok()) return status;
  if (request.netns_path.empty() || request.netns_path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox ", request.sandbox_id, ": netns path `",
                     request.netns_path, "` is not absolute"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTeardownRequest(const NetworkRequest& request) {
  absl::Status status = CheckSandboxId(request);
  if (!status.ok()) return status;
  if (!request.netns_path.empty() && request.netns_path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox ", request.sandbox_id, ": netns path `",
                     request.netns_path, "` is not absolute"));
  }
  return absl::OkStatus();
}

}  // namespace converge

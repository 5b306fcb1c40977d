#include "executors/network/network.h"

#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errors.h"

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

absl::Status CheckIsNetns(int fd, const std::string& path) {
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) {
    if (errno == ENOTTY) {
      return absl::FailedPreconditionError(absl::StrCat(
          "`", path, "` is not a namespace pin (stale pin file?)"));
    }
    return ErrnoError(errno, "NS_GET_NSTYPE `", path, "`");
  }
  if (type != CLONE_NEWNET) {
    return absl::FailedPreconditionError(
        absl::StrCat("`", path, "` pins a namespace of type ", type,
                     ", not a network namespace"));
  }
  return absl::OkStatus();
}

}  // namespace converge

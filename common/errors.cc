#include "common/errors.h"

#include <cerrno>
#include <cstring>

namespace converge {

absl::StatusCode ErrnoToCode(int err) {
  switch (err) {
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case EBUSY:
    case EAGAIN:
    case EINTR:
      return absl::StatusCode::kUnavailable;
    case EINVAL:
      return absl::StatusCode::kInvalidArgument;
    case ENOSPC:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status ErrnoErrorMessage(int err, const std::string& what) {
  return absl::Status(ErrnoToCode(err),
                      absl::StrCat(what, ": ", std::strerror(err), " (errno ",
                                   err, ")"));
}

absl::Status AnnotateMessage(const absl::Status& status,
                             const std::string& context) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(context, ": ", status.message()));
}

}  // namespace converge

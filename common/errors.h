// Error construction in crun's style: every failed syscall names the
// operation, the quoted path and errno; each layer prefixes its context.
//
//   if (mount(src, dst, nullptr, MS_BIND, nullptr) != 0)
//     return ErrnoError(errno, "bind mount `", src, "` on `", dst, "`");
//   ...
//   return Annotate(status, "sandbox ", id, ": create namespaces");
#ifndef CONVERGE_COMMON_ERRORS_H_
#define CONVERGE_COMMON_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace converge {

// Maps an errno to the closest status code (ENOENT -> NOT_FOUND, EEXIST ->
// ALREADY_EXISTS, EACCES/EPERM -> PERMISSION_DENIED, EBUSY/EAGAIN ->
// UNAVAILABLE, EINVAL -> INVALID_ARGUMENT, else INTERNAL).
absl::StatusCode ErrnoToCode(int err);

absl::Status ErrnoErrorMessage(int err, const std::string& what);

template <typename... Args>
absl::Status ErrnoError(int err, const Args&... what) {
  return ErrnoErrorMessage(err, absl::StrCat(what...));
}

// Returns `status` with `context: ` prepended to its message; OK stays OK.
absl::Status AnnotateMessage(const absl::Status& status,
                             const std::string& context);

template <typename... Args>
absl::Status Annotate(const absl::Status& status, const Args&... context) {
  if (status.ok()) return status;
  return AnnotateMessage(status, absl::StrCat(context...));
}

}  // namespace converge

#endif  // CONVERGE_COMMON_ERRORS_H_

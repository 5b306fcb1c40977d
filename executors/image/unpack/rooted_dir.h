// Path handling confined to one directory tree, for the layer unpacker: tar
// entry names are cleaned lexically and then resolved by the kernel with
// openat2(RESOLVE_IN_ROOT), so neither `..` nor a symlink planted by the layer
// itself can lead outside the tree. Internal to executors/image/unpack.
//
//   std::string path = CleanEntryPath("../../etc/passwd");  // "etc/passwd"
//   auto [parent, name] = SplitParent(path);                  // "etc", "passwd"
//   CONVERGE_ASSIGN_OR_RETURN(UniqueFd dir, MakeDirsInRoot(root_fd, target, parent));
#ifndef CONVERGE_EXECUTORS_IMAGE_UNPACK_ROOTED_DIR_H_
#define CONVERGE_EXECUTORS_IMAGE_UNPACK_ROOTED_DIR_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/namespace/unique_fd.h"

namespace converge {

// Cleans a tar entry name the way containerd does (filepath.Join("/", name)):
// empty, `.` and `..` components are dropped, `..` never climbing above the
// root, so `../../x`, `/x` and `./x` are all "x". The result is relative and
// "" is the root itself.
std::string CleanEntryPath(absl::string_view name);

// Splits a cleaned path into its parent ("" for the root) and its final
// component ("." for the root itself, so *at() calls reach the root too).
std::pair<std::string, std::string> SplitParent(const std::string& path);

// Opens the directory `path` (cleaned; "" is the root) below `root_fd` as an
// O_PATH fd, with every symlink resolved as if `root_fd` were `/`, magic links
// refused and mount points not crossed. Returns -1 with errno set on failure.
int OpenDirInRoot(int root_fd, const std::string& path);

// Like OpenDirInRoot, but first creates missing directories of `path` (0755,
// owned by the caller) as real directories. A component that is a symlink to
// a missing directory is INVALID_ARGUMENT. `root_name` only names the root in
// errors.
absl::StatusOr<UniqueFd> MakeDirsInRoot(int root_fd, const std::string& root_name,
                                        const std::string& path);

// Removes `name` in `dir_fd` and, if it is a directory, everything below it,
// never following symlinks. `display` names it in errors.
absl::Status RemoveAllAt(int dir_fd, const std::string& name, const std::string& display);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_UNPACK_ROOTED_DIR_H_

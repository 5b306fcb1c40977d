// The mount-namespace half of the container init: rootfs bind, the spec's
// mounts with destinations confined to the rootfs, device nodes, masked and
// read-only paths, pivot_root and the read-only rootfs. Internal to
// executors/process/init; runs in the cloned child, in its fresh mount
// namespace.
//
//   CONVERGE_ASSIGN_OR_RETURN(UniqueFd fifo, SetUpRootfs(spec));  // now in the new root
#ifndef CONVERGE_EXECUTORS_PROCESS_INIT_MOUNTS_H_
#define CONVERGE_EXECUTORS_PROCESS_INIT_MOUNTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/namespace/unique_fd.h"
#include "executors/process/spec/container_spec.h"

namespace converge::process::init_internal {

// Lexically cleaned components of a container path: empty and "." dropped,
// ".." never climbing above the root ("/../../x" is {"x"}).
std::vector<std::string> CleanComponents(absl::string_view path);

// Opens `path` (components relative to the rootfs) with openat2 and
// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: symlinks, absolute ones included,
// are resolved as if `root_fd` were "/". -1 with errno on failure.
int OpenInRoot(int root_fd, const std::vector<std::string>& path, int flags);

enum class TargetKind { kDirectory, kFile };

// An O_PATH fd of the mount target `destination` inside the rootfs, creating
// missing directories (0755) and, if missing, the final directory or empty
// file. A dangling symlink on the way is followed inside the rootfs and its
// target created there. `rootfs` is the rootfs's canonical host path (to
// place the fds of `root_fd` relative to it).
absl::StatusOr<UniqueFd> MakeMountTarget(int root_fd, const std::string& rootfs,
                                         const std::string& destination, TargetKind kind);

// Runs every mount step of the init (see container_init.h) and pivot_root.
// Returns the exec FIFO opened O_PATH before the pivot; the caller's cwd and
// root are then the container's "/".
absl::StatusOr<UniqueFd> SetUpRootfs(const ContainerSpec& spec);

}  // namespace converge::process::init_internal

#endif  // CONVERGE_EXECUTORS_PROCESS_INIT_MOUNTS_H_

#include "executors/image/snapshot/overlay_mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"

namespace converge {
namespace {

// What the filesystem logged on the fs context, e.g. "e overlay: Unknown
// parameter 'x'"; messages are read one per read(2) until ENODATA.
std::string FsContextLog(int fs_fd) {
  std::string log;
  char buffer[1024];
  for (ssize_t n; (n = ::read(fs_fd, buffer, sizeof(buffer))) > 0;) {
    absl::StrAppend(&log, log.empty() ? "" : "; ",
                    absl::StripSuffix(absl::string_view(buffer, static_cast<size_t>(n)), "\n"));
  }
  return log;
}

template <typename... Args>
absl::Status FsContextError(int err, int fs_fd, const Args&... what) {
  const std::string log = FsContextLog(fs_fd);
  return ErrnoError(err, what..., log.empty() ? "" : absl::StrCat(" [", log, "]"));
}

// Private so that mounts made in a container's copy of it (which start out as
// copies of this one) do not propagate back to the host.
absl::Status MakePrivate(const std::string& target) {
  if (::mount(nullptr, target.c_str(), nullptr, MS_PRIVATE, nullptr) == 0) return absl::OkStatus();
  const int err = errno;
  // Undo the mount: a later Prepare must not find and reuse a shared one.
  if (::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
    return ErrnoError(err, "make `", target,
                      "` private (unmounting it again failed too: ", std::strerror(errno), ")");
  }
  return ErrnoError(err, "make `", target, "` private");
}

// False when the kernel has no fsopen(2) or no `lowerdir+`.
absl::StatusOr<bool> TryMountWithFsopen(const OverlayMount& overlay, const std::string& target) {
  UniqueFd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs.valid()) {
    if (errno == ENOSYS) return false;
    return ErrnoError(errno, "fsopen overlay");
  }
  const auto set = [&fs](const char* key, const std::string& value) -> absl::Status {
    if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0) {
      return absl::OkStatus();
    }
    return FsContextError(errno, fs.get(), "overlay ", key, " `", value, "`");
  };
  for (size_t i = 0; i < overlay.lower_dirs.size(); ++i) {
    absl::Status status = set("lowerdir+", overlay.lower_dirs[i]);
    // Kernels before 6.8 reject the key itself (EINVAL, "Unknown parameter"
    // in the log); a bad path is EINVAL too, with another message.
    if (i == 0 && status.code() == absl::StatusCode::kInvalidArgument &&
        absl::StrContains(status.message(), "Unknown parameter")) {
      return false;
    }
    CONVERGE_RETURN_IF_ERROR(status);
  }
  if (!overlay.upper_dir.empty()) {
    CONVERGE_RETURN_IF_ERROR(set("upperdir", overlay.upper_dir));
    CONVERGE_RETURN_IF_ERROR(set("workdir", overlay.work_dir));
  }
  // Named like mount(8)'s overlays in mountinfo. `userxattr` stays off: as
  // root, whiteouts and opaque dirs are the trusted.overlay.* xattrs that
  // layer unpacking writes.
  CONVERGE_RETURN_IF_ERROR(set("source", "overlay"));
  if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    return FsContextError(errno, fs.get(), "create overlay for `", target, "`");
  }
  UniqueFd mnt(
      ::fsmount(fs.get(), FSMOUNT_CLOEXEC, overlay.upper_dir.empty() ? MOUNT_ATTR_RDONLY : 0));
  if (!mnt.valid()) return FsContextError(errno, fs.get(), "fsmount overlay for `", target, "`");
  if (::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return ErrnoError(errno, "move_mount overlay onto `", target, "`");
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> ClassicOverlayOptions(const OverlayMount& overlay, size_t page_size) {
  std::vector<const std::string*> paths;
  for (const std::string& dir : overlay.lower_dirs) paths.push_back(&dir);
  paths.push_back(&overlay.upper_dir);
  paths.push_back(&overlay.work_dir);
  for (const std::string* path : paths) {
    if (path->find_first_of(":,\\") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("overlay path `", *path,
                       "` contains ':', ',' or '\\', which mount(2) options cannot carry"));
    }
  }
  std::string options = absl::StrCat("lowerdir=", absl::StrJoin(overlay.lower_dirs, ":"));
  if (!overlay.upper_dir.empty()) {
    absl::StrAppend(&options, ",upperdir=", overlay.upper_dir, ",workdir=", overlay.work_dir);
  }
  if (options.size() + 1 > page_size) {
    return absl::FailedPreconditionError(absl::StrCat(
        "overlay options for ", overlay.lower_dirs.size(), " layers are ", options.size() + 1,
        " bytes, more than the ", page_size,
        "-byte page mount(2) accepts; this kernel lacks fsconfig `lowerdir+` (Linux 6.8+)"));
  }
  return options;
}

absl::Status MountOverlayClassic(const OverlayMount& overlay, const std::string& target) {
  CONVERGE_ASSIGN_OR_RETURN(
      std::string options,
      ClassicOverlayOptions(overlay, static_cast<size_t>(::sysconf(_SC_PAGESIZE))));
  if (::mount("overlay", target.c_str(), "overlay", overlay.upper_dir.empty() ? MS_RDONLY : 0,
              options.c_str()) != 0) {
    return ErrnoError(errno, "mount overlay on `", target, "` with `", options, "`");
  }
  return MakePrivate(target);
}

absl::Status MountOverlay(const OverlayMount& overlay, const std::string& target) {
  CONVERGE_ASSIGN_OR_RETURN(bool mounted, TryMountWithFsopen(overlay, target));
  if (!mounted) return MountOverlayClassic(overlay, target);
  return MakePrivate(target);
}

}  // namespace converge

#include "executors/process/init/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace converge::process::init_internal {
namespace {

// RESOLVE_IN_ROOT fails with EAGAIN when a rename or mount raced with a ".."
// lookup; retry a few times.
constexpr int kOpenat2Attempts = 32;
// Dangling symlinks followed while creating one mount target (as ELOOP's 40).
constexpr int kMaxSymlinkHops = 40;

constexpr unsigned long kPropagationFlags = MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_UNBINDABLE;

std::string Display(const std::vector<std::string>& components) {
  return "/" + absl::StrJoin(components, "/");
}

std::string ProcFd(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

unsigned long PropagationFlag(Propagation propagation) {
  switch (propagation) {
    case Propagation::kPrivate:
      return MS_PRIVATE;
    case Propagation::kSlave:
      return MS_SLAVE;
    case Propagation::kShared:
      return MS_SHARED;
  }
  return MS_PRIVATE;
}

// The per-mount flags of the mount holding `fd` that a bind remount must
// repeat: the kernel refuses to clear locked ones (in user namespaces) and
// would silently clear the others.
absl::StatusOr<unsigned long> MountFlagsOf(int fd, const std::string& display) {
  struct statvfs st;
  if (fstatvfs(fd, &st) != 0) return ErrnoError(errno, "statvfs `", display, "`");
  static const struct {
    unsigned long st;
    unsigned long ms;
  } kFlags[] = {{ST_RDONLY, MS_RDONLY},     {ST_NOSUID, MS_NOSUID},
                {ST_NODEV, MS_NODEV},       {ST_NOEXEC, MS_NOEXEC},
                {ST_NOATIME, MS_NOATIME},   {ST_NODIRATIME, MS_NODIRATIME},
                {ST_RELATIME, MS_RELATIME}};
  unsigned long flags = 0;
  for (const auto& f : kFlags) {
    if (st.f_flag & f.st) flags |= f.ms;
  }
  return flags;
}

// Decodes mountinfo's octal escapes (\040 for a space).
std::string Unescape(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out.push_back(static_cast<char>(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) |
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

// Makes the mount that holds `path` private when it is shared, so that the
// rootfs bind does not propagate out and pivot_root accepts its parent (as
// runc's rootfsParentMountPrivate).
absl::Status MakeParentMountPrivate(const std::string& path) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  if (!mountinfo) return ErrnoError(errno, "open `/proc/self/mountinfo`");
  std::string best;
  bool best_shared = false;
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 7) continue;
    const std::string mount_point = Unescape(fields[4]);
    const bool contains = mount_point == "/" || path == mount_point ||
                          absl::StartsWith(path, mount_point + "/");
    if (!contains || mount_point.size() < best.size()) continue;
    bool shared = false;
    for (size_t i = 6; i < fields.size() && fields[i] != "-"; ++i) {
      shared |= absl::StartsWith(fields[i], "shared:");
    }
    best = mount_point;
    best_shared = shared;
  }
  if (!best_shared) return absl::OkStatus();
  if (mount(nullptr, best.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
    return ErrnoError(errno, "make `", best, "` private");
  }
  return absl::OkStatus();
}

// Where a directory fd of the rootfs is, as components below the rootfs.
absl::StatusOr<std::vector<std::string>> PathBelowRoot(int fd, const std::string& rootfs) {
  char buf[PATH_MAX];
  const std::string link = ProcFd(fd);
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n < 0) return ErrnoError(errno, "readlink `", link, "`");
  absl::string_view path(buf, static_cast<size_t>(n));
  if (path == rootfs) return std::vector<std::string>{};
  if (!absl::StartsWith(path, rootfs + "/")) {
    return absl::InternalError(absl::StrCat("`", path, "` is outside the rootfs `", rootfs, "`"));
  }
  return CleanComponents(path.substr(rootfs.size()));
}

class RootfsMounter {
 public:
  RootfsMounter(int root_fd, std::string rootfs) : root_fd_(root_fd), rootfs_(std::move(rootfs)) {}

  absl::Status Mount(const MountSpec& m) {
    const std::vector<std::string> dest = CleanComponents(m.destination);
    const std::string display = Display(dest);
    if (m.type == "bind") return Bind(m, dest, display);
    CONVERGE_ASSIGN_OR_RETURN(UniqueFd target, MakeMountTarget(root_fd_, rootfs_, m.destination,
                                                               TargetKind::kDirectory));
    const std::string source = m.source.empty() ? m.type : m.source;
    if (mount(source.c_str(), ProcFd(target.get()).c_str(), m.type.c_str(),
              m.flags & ~kPropagationFlags, m.data.empty() ? nullptr : m.data.c_str()) != 0) {
      return ErrnoError(errno, "mount `", display, "` (", m.type, ")");
    }
    return absl::OkStatus();
  }

  absl::Status CreateDevice(const ContainerSpec::Device& device) {
    std::vector<std::string> path = CleanComponents(device.path);
    if (path.empty()) return absl::InvalidArgumentError("device with an empty path");
    const std::string display = Display(path);
    const std::string name = path.back();
    path.pop_back();
    CONVERGE_ASSIGN_OR_RETURN(UniqueFd parent, MakeMountTarget(root_fd_, rootfs_, Display(path),
                                                               TargetKind::kDirectory));
    // mknodat wants a real directory fd, not O_PATH.
    UniqueFd dir(openat(parent.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return ErrnoError(errno, "open `", Display(path), "`");
    const mode_t type = device.type == 'b' ? S_IFBLK : S_IFCHR;
    const dev_t dev = makedev(device.major, device.minor);
    if (mknodat(dir.get(), name.c_str(), type | (device.mode & 07777), dev) != 0) {
      if (errno != EEXIST) return ErrnoError(errno, "mknod `", display, "`");
      if (unlinkat(dir.get(), name.c_str(), 0) != 0) {
        return ErrnoError(errno, "replace `", display, "`");
      }
      if (mknodat(dir.get(), name.c_str(), type | (device.mode & 07777), dev) != 0) {
        return ErrnoError(errno, "mknod `", display, "`");
      }
    }
    if (fchownat(dir.get(), name.c_str(), device.uid, device.gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError(errno, "chown `", display, "`");
    }
    // Exactly the mode asked for, whatever the umask.
    if (fchmodat(dir.get(), name.c_str(), device.mode & 07777, 0) != 0) {
      return ErrnoError(errno, "chmod `", display, "`");
    }
    return absl::OkStatus();
  }

  // /dev/fd, /dev/std{in,out,err} and /dev/ptmx, as runc makes them.
  absl::Status CreateDevSymlinks(bool have_devpts) {
    UniqueFd dev(OpenInRoot(root_fd_, {"dev"}, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dev.valid()) return ErrnoError(errno, "open `/dev`");
    std::vector<std::pair<const char*, const char*>> links = {{"/proc/self/fd", "fd"},
                                                              {"/proc/self/fd/0", "stdin"},
                                                              {"/proc/self/fd/1", "stdout"},
                                                              {"/proc/self/fd/2", "stderr"}};
    if (have_devpts) links.push_back({"pts/ptmx", "ptmx"});
    for (const auto& [target, name] : links) {
      if (symlinkat(target, dev.get(), name) != 0 && errno != EEXIST) {
        return ErrnoError(errno, "symlink `/dev/", name, "` -> `", target, "`");
      }
    }
    return absl::OkStatus();
  }

  absl::Status Mask(const std::string& path) {
    const std::vector<std::string> components = CleanComponents(path);
    const std::string display = Display(components);
    UniqueFd fd(OpenInRoot(root_fd_, components, O_PATH | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return absl::OkStatus();
      return ErrnoError(errno, "mask `", display, "`: open");
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return ErrnoError(errno, "mask `", display, "`: stat");
    const std::string target = ProcFd(fd.get());
    int rc = S_ISDIR(st.st_mode)
                 ? mount("tmpfs", target.c_str(), "tmpfs", MS_RDONLY, nullptr)
                 : mount("/dev/null", target.c_str(), nullptr, MS_BIND, nullptr);
    if (rc != 0) return ErrnoError(errno, "mask `", display, "`");
    return absl::OkStatus();
  }

  absl::Status MakeReadonly(const std::string& path) {
    const std::vector<std::string> components = CleanComponents(path);
    const std::string display = Display(components);
    UniqueFd fd(OpenInRoot(root_fd_, components, O_PATH | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return absl::OkStatus();
      return ErrnoError(errno, "make `", display, "` read-only: open");
    }
    const std::string target = ProcFd(fd.get());
    if (mount(target.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      return ErrnoError(errno, "bind `", display, "` on itself");
    }
    return Remount(components, display, MS_RDONLY);
  }

 private:
  absl::Status Bind(const MountSpec& m, const std::vector<std::string>& dest,
                    const std::string& display) {
    struct stat st;
    if (stat(m.source.c_str(), &st) != 0) {
      return ErrnoError(errno, "bind mount source `", m.source, "` for `", display, "`");
    }
    CONVERGE_ASSIGN_OR_RETURN(
        UniqueFd target,
        MakeMountTarget(root_fd_, rootfs_, m.destination,
                        S_ISDIR(st.st_mode) ? TargetKind::kDirectory : TargetKind::kFile));
    if (mount(m.source.c_str(), ProcFd(target.get()).c_str(), nullptr, MS_BIND | MS_REC,
              nullptr) != 0) {
      return ErrnoError(errno, "bind `", m.source, "` on `", display, "`");
    }
    const unsigned long extra = m.flags & ~(MS_BIND | MS_REC | MS_REMOUNT | kPropagationFlags);
    if (extra != 0) CONVERGE_RETURN_IF_ERROR(Remount(dest, display, extra));
    // Reopened: the fd above names the directory under the new mount.
    UniqueFd mounted(OpenInRoot(root_fd_, dest, O_PATH | O_CLOEXEC));
    if (!mounted.valid()) return ErrnoError(errno, "open `", display, "` after mounting it");
    const unsigned long propagation = MS_REC | PropagationFlag(m.propagation);
    if (mount(nullptr, ProcFd(mounted.get()).c_str(), nullptr, propagation, nullptr) != 0) {
      return ErrnoError(errno, "set propagation of `", display, "`");
    }
    return absl::OkStatus();
  }

  // MS_BIND|MS_REMOUNT of the mount now at `components`, keeping the flags it
  // has and adding `flags`.
  absl::Status Remount(const std::vector<std::string>& components, const std::string& display,
                       unsigned long flags) {
    UniqueFd mounted(OpenInRoot(root_fd_, components, O_PATH | O_CLOEXEC));
    if (!mounted.valid()) return ErrnoError(errno, "open `", display, "` after mounting it");
    CONVERGE_ASSIGN_OR_RETURN(unsigned long kept, MountFlagsOf(mounted.get(), display));
    if (mount(nullptr, ProcFd(mounted.get()).c_str(), nullptr,
              MS_BIND | MS_REMOUNT | kept | flags, nullptr) != 0) {
      return ErrnoError(errno, "remount `", display, "` with flags 0x", absl::Hex(kept | flags));
    }
    return absl::OkStatus();
  }

  const int root_fd_;
  const std::string rootfs_;
};

}  // namespace

std::vector<std::string> CleanComponents(absl::string_view path) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  return parts;
}

int OpenInRoot(int root_fd, const std::vector<std::string>& path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const std::string name = path.empty() ? "." : absl::StrJoin(path, "/");
  long fd = -1;
  for (int attempt = 0; attempt < kOpenat2Attempts; ++attempt) {
    fd = syscall(SYS_openat2, root_fd, name.c_str(), &how, sizeof(how));
    if (fd >= 0 || errno != EAGAIN) break;
  }
  return static_cast<int>(fd);
}

absl::StatusOr<UniqueFd> MakeMountTarget(int root_fd, const std::string& rootfs,
                                         const std::string& destination, TargetKind kind) {
  std::vector<std::string> parts = CleanComponents(destination);
  for (int hop = 0; hop <= kMaxSymlinkHops; ++hop) {
    UniqueFd existing(OpenInRoot(root_fd, parts, O_PATH));
    if (existing.valid()) return existing;
    if (errno != ENOENT) return ErrnoError(errno, "open `", Display(parts), "` in the rootfs");
    // Walk down, creating what is missing in the directory its prefix
    // resolved to (inside the rootfs, whatever symlinks led there).
    UniqueFd dir(OpenInRoot(root_fd, {}, O_PATH | O_DIRECTORY));
    if (!dir.valid()) return ErrnoError(errno, "open the rootfs `", rootfs, "`");
    bool followed_symlink = false;
    for (size_t i = 0; i < parts.size() && !followed_symlink; ++i) {
      const std::vector<std::string> prefix(parts.begin(), parts.begin() + i + 1);
      UniqueFd next(OpenInRoot(root_fd, prefix, O_PATH));
      if (!next.valid()) {
        if (errno != ENOENT) return ErrnoError(errno, "open `", Display(prefix), "` in the rootfs");
        const std::string& name = parts[i];
        const bool file = kind == TargetKind::kFile && i + 1 == parts.size();
        int rc = file ? mknodat(dir.get(), name.c_str(), S_IFREG | 0644, 0)
                      : mkdirat(dir.get(), name.c_str(), 0755);
        if (rc != 0 && errno == EEXIST) {
          // A dangling symlink: go on at its target, resolved inside the rootfs.
          char buf[PATH_MAX];
          ssize_t n = readlinkat(dir.get(), name.c_str(), buf, sizeof(buf));
          if (n < 0) return ErrnoError(errno, "readlink `", Display(prefix), "` in the rootfs");
          const std::string target(buf, static_cast<size_t>(n));
          std::vector<std::string> base;
          if (target[0] != '/') {
            CONVERGE_ASSIGN_OR_RETURN(base, PathBelowRoot(dir.get(), rootfs));
          }
          const std::vector<std::string> rest(parts.begin() + i + 1, parts.end());
          parts = CleanComponents(absl::StrCat(Display(base), "/", target, "/",
                                               absl::StrJoin(rest, "/")));
          followed_symlink = true;
          continue;
        }
        if (rc != 0) {
          return ErrnoError(errno, file ? "create file `" : "mkdir `", Display(prefix),
                            "` in the rootfs");
        }
        next = UniqueFd(openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!next.valid()) return ErrnoError(errno, "open `", Display(prefix), "` in the rootfs");
      }
      dir = std::move(next);
    }
    if (!followed_symlink) return dir;
  }
  return ErrnoError(ELOOP, "resolve `", destination, "` in the rootfs");
}

absl::StatusOr<UniqueFd> SetUpRootfs(const ContainerSpec& spec) {
  char real[PATH_MAX];
  if (realpath(spec.rootfs.c_str(), real) == nullptr) {
    return ErrnoError(errno, "resolve rootfs `", spec.rootfs, "`");
  }
  const std::string rootfs = real;

  // Nothing done here may reach the host's mount namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | PropagationFlag(spec.rootfs_propagation), nullptr) !=
      0) {
    return ErrnoError(errno, "set propagation of `/`");
  }
  CONVERGE_RETURN_IF_ERROR(MakeParentMountPrivate(rootfs));
  if (mount(rootfs.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return ErrnoError(errno, "bind rootfs `", rootfs, "` on itself");
  }
  UniqueFd root(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError(errno, "open rootfs `", rootfs, "`");

  RootfsMounter mounter(root.get(), rootfs);
  bool have_dev = false;
  bool have_devpts = false;
  for (const MountSpec& m : spec.mounts) {
    CONVERGE_RETURN_IF_ERROR(mounter.Mount(m));
    const std::string dest = Display(CleanComponents(m.destination));
    have_dev |= dest == "/dev";
    have_devpts |= dest == "/dev/pts" && m.type == "devpts";
  }
  for (const ContainerSpec::Device& device : spec.devices) {
    CONVERGE_RETURN_IF_ERROR(mounter.CreateDevice(device));
  }
  if (have_dev) CONVERGE_RETURN_IF_ERROR(mounter.CreateDevSymlinks(have_devpts));
  for (const std::string& path : spec.masked_paths) {
    CONVERGE_RETURN_IF_ERROR(mounter.Mask(path));
  }
  for (const std::string& path : spec.readonly_paths) {
    CONVERGE_RETURN_IF_ERROR(mounter.MakeReadonly(path));
  }

  // The FIFO is a host path: open it while the host is still reachable.
  UniqueFd fifo(open(spec.exec_fifo.c_str(), O_PATH | O_CLOEXEC));
  if (!fifo.valid()) return ErrnoError(errno, "open exec fifo `", spec.exec_fifo, "`");

  // pivot_root(".", ".") stacks the old root on top of the new one; detaching
  // it (after making it a slave so the unmount cannot propagate to the host)
  // leaves the new root alone, with no directory for the old one (runc's way).
  // The slave step goes through a directory of the old root: "." would name
  // the new root (a lookup of "." crosses no mount) and turn the container's
  // own shared mounts into slaves.
  UniqueFd old_root(open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!old_root.valid()) return ErrnoError(errno, "open the old root `/`");
  if (fchdir(root.get()) != 0) return ErrnoError(errno, "chdir `", rootfs, "`");
  if (syscall(SYS_pivot_root, ".", ".") != 0) {
    return ErrnoError(errno, "pivot_root `", rootfs, "`");
  }
  if (fchdir(old_root.get()) != 0) return ErrnoError(errno, "chdir to the old root");
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) {
    return ErrnoError(errno, "make the old root a slave");
  }
  if (umount2(".", MNT_DETACH) != 0) return ErrnoError(errno, "detach the old root");
  if (chdir("/") != 0) return ErrnoError(errno, "chdir `/`");

  if (spec.readonly_rootfs) {
    UniqueFd slash(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!slash.valid()) return ErrnoError(errno, "open `/`");
    CONVERGE_ASSIGN_OR_RETURN(unsigned long kept, MountFlagsOf(slash.get(), "/"));
    if (mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | kept, nullptr) != 0) {
      return ErrnoError(errno, "remount `/` read-only");
    }
  }
  return fifo;
}

}  // namespace converge::process::init_internal

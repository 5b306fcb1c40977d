#include "executors/namespace/linux_namespace.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/dedicated_thread.h"
#include "executors/namespace/mountinfo.h"
#include "executors/namespace/unique_fd.h"

namespace converge {
namespace {

// Bound on unmount loops: a path can carry several stacked mounts, but never
// this many of ours.
constexpr int kMaxStackedMounts = 64;

int CloneFlag(NamespaceKind kind) {
  switch (kind) {
    case NamespaceKind::kNet:
      return CLONE_NEWNET;
    case NamespaceKind::kIpc:
      return CLONE_NEWIPC;
    case NamespaceKind::kUts:
      return CLONE_NEWUTS;
  }
  return 0;
}

absl::Status CheckAbsolute(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("path `", path, "` is not absolute"));
  }
  return absl::OkStatus();
}

// Appends `undo`'s failure to `status` (keeping its code): the caller must
// learn both that the operation failed and that something was left behind.
absl::Status WithUndo(absl::Status status, const absl::Status& undo) {
  if (undo.ok()) return status;
  return absl::Status(
      status.code(),
      absl::StrCat(status.message(),
                   "; undo failed, left behind: ", undo.message()));
}

absl::StatusOr<bool> IsNsfsMount(const std::string& path) {
  // O_PATH|O_NOFOLLOW: a symlink to /proc/self/ns/net is not a pin.
  UniqueFd fd(open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoError(errno, "open `", path, "`");
  }
  struct statfs fs;
  if (fstatfs(fd.get(), &fs) != 0) {
    return ErrnoError(errno, "statfs `", path, "`");
  }
  return fs.f_type == NSFS_MAGIC;
}

// Unmounts nsfs mounts at `path` until none is left; other mounts are not
// ours and stay (a later unlink then fails with EBUSY and says so).
absl::Status UnmountPin(const std::string& path) {
  for (int i = 0; i < kMaxStackedMounts; ++i) {
    CONVERGE_ASSIGN_OR_RETURN(bool pinned, IsNsfsMount(path));
    if (!pinned) return absl::OkStatus();
    if (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
      return ErrnoError(errno, "unmount `", path, "`");
    }
  }
  return absl::InternalError(absl::StrCat("`", path, "` still pinned after ",
                                          kMaxStackedMounts, " unmounts"));
}

// Returns whether this call created the file (false: a stale pin is reused).
absl::StatusOr<bool> CreatePinFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(),
                   O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444));
  if (fd.valid()) {
    // The umask must not decide the mode.
    if (fchmod(fd.get(), 0444) != 0) {
      int err = errno;
      unlink(path.c_str());
      return ErrnoError(err, "chmod `", path, "`");
    }
    return true;
  }
  if (errno != EEXIST) return ErrnoError(errno, "create `", path, "`");
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return ErrnoError(errno, "stat `", path, "`");
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("pin path `", path, "` exists and is not a regular file"));
  }
  return false;
}

// Writes `value` to the sysctl in the calling thread's namespaces.
absl::Status WriteSysctl(const SysctlName& sysctl, const std::string& value) {
  const std::string& path = sysctl.proc_path;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    absl::Status open_error = ErrnoError(err, "open `", path, "`");
    if (err == ENOENT || err == EISDIR) {
      return absl::InvalidArgumentError(
          absl::StrCat("sysctl `", sysctl.name, "` does not exist",
                       err == EISDIR ? " (it is a directory)" : "", ": ",
                       open_error.message()));
    }
    return Annotate(open_error, "sysctl `", sysctl.name, "`");
  }
  ssize_t written;
  do {
    written = write(fd.get(), value.data(), value.size());
  } while (written < 0 && errno == EINTR);
  if (written < 0) {
    return Annotate(ErrnoError(errno, "write `", value, "` to `", path, "`"),
                    "sysctl `", sysctl.name, "`");
  }
  // A sysctl takes the whole value in one write; accepting less means the
  // kernel ignored the rest (e.g. "1 2" for a single integer).
  if (static_cast<size_t>(written) != value.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sysctl `", sysctl.name, "`: write `", value, "` to `", path,
        "`: the kernel took only ", written, " of ", value.size(), " bytes"));
  }
  return absl::OkStatus();
}

// Unshares `kinds` together on a dedicated thread, sets them up as `setup`
// asks and returns an fd for each new namespace, in order; the fds keep them
// alive once the thread is gone.
absl::StatusOr<std::vector<UniqueFd>> NewNamespaces(
    const std::vector<PinSpec>& pins, const NamespaceSetup& setup) {
  int flags = 0;
  std::vector<absl::string_view> names;
  for (const PinSpec& pin : pins) {
    flags |= CloneFlag(pin.kind);
    names.push_back(NamespaceKindName(pin.kind));
  }
  std::vector<std::pair<SysctlName, const std::string*>> sysctls;
  for (const auto& [name, value] : setup.sysctls) {
    CONVERGE_ASSIGN_OR_RETURN(SysctlName sysctl, ParseSysctlName(name));
    sysctls.emplace_back(std::move(sysctl), &value);
  }
  const std::string& hostname = setup.hostname;
  absl::Status inner;
  std::vector<UniqueFd> fds;
  CONVERGE_RETURN_IF_ERROR(RunOnDedicatedThread([&] {
    if (unshare(flags) != 0) {
      inner = ErrnoError(errno, "unshare(", absl::StrJoin(names, "|"), ")");
      return;
    }
    if (!hostname.empty() &&
        sethostname(hostname.data(), hostname.size()) != 0) {
      inner = ErrnoError(errno, "sethostname `", hostname, "`");
      return;
    }
    // /proc/sys resolves net and ipc sysctls through the opening thread's
    // namespaces: these land in the new ones.
    for (const auto& [sysctl, value] : sysctls) {
      inner = WriteSysctl(sysctl, *value);
      if (!inner.ok()) return;
    }
    for (absl::string_view name : names) {
      std::string path = absl::StrCat("/proc/thread-self/ns/", name);
      UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) {
        inner = ErrnoError(errno, "open `", path, "`");
        return;
      }
      fds.push_back(std::move(fd));
    }
  }));
  CONVERGE_RETURN_IF_ERROR(inner);
  return fds;
}

// What one Create call has done so far, so that it can be undone.
struct PinProgress {
  std::string path;
  bool created = false;
  bool mounted = false;
};

absl::Status Undo(const std::vector<PinProgress>& progress) {
  std::vector<std::string> errors;
  for (auto it = progress.rbegin(); it != progress.rend(); ++it) {
    if (it->mounted) {
      absl::Status status = UnmountPin(it->path);
      if (!status.ok()) {
        errors.emplace_back(status.message());
        continue;  // unlinking a mounted file fails anyway
      }
    }
    if (it->created && unlink(it->path.c_str()) != 0 && errno != ENOENT) {
      errors.emplace_back(
          ErrnoError(errno, "unlink `", it->path, "`").message());
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrJoin(errors, "; "));
}

absl::Status CreateSteps(const std::vector<PinSpec>& pins,
                         const NamespaceSetup& setup,
                         std::vector<PinProgress>* progress) {
  // 1. Pin files first: cheap to undo, and a bad path fails before any
  //    namespace exists.
  for (const PinSpec& pin : pins) {
    progress->push_back({pin.pin_path});
    CONVERGE_ASSIGN_OR_RETURN(progress->back().created,
                              CreatePinFile(pin.pin_path));
  }
  // 2. The namespaces, all in one unshare, with hostname and sysctls.
  CONVERGE_ASSIGN_OR_RETURN(std::vector<UniqueFd> fds,
                            NewNamespaces(pins, setup));
  // 3. Pin each one.
  for (size_t i = 0; i < pins.size(); ++i) {
    std::string source = absl::StrCat("/proc/self/fd/", fds[i].get());
    if (mount(source.c_str(), pins[i].pin_path.c_str(), nullptr, MS_BIND,
              nullptr) != 0) {
      return ErrnoError(errno, "bind mount ", NamespaceKindName(pins[i].kind),
                        " namespace on `", pins[i].pin_path, "`");
    }
    (*progress)[i].mounted = true;
  }
  return absl::OkStatus();
}

// mkdir -p; the leaf gets `leaf_mode` exactly, parents 0755.
absl::Status MakeDirs(std::string dir, mode_t leaf_mode) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  size_t pos = 1;
  for (;;) {
    size_t slash = dir.find('/', pos);
    bool leaf = slash == std::string::npos;
    std::string prefix = dir.substr(0, slash);
    if (prefix.back() != '/') {  // skips the empty step of "a//b"
      if (mkdir(prefix.c_str(), leaf ? leaf_mode : 0755) == 0) {
        if (leaf && chmod(prefix.c_str(), leaf_mode) != 0) {
          return ErrnoError(errno, "chmod `", prefix, "`");
        }
      } else if (errno != EEXIST) {
        return ErrnoError(errno, "mkdir `", prefix, "`");
      }
    }
    if (leaf) break;
    pos = slash + 1;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoError(errno, "stat `", dir, "`");
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("pin root `", dir, "` is not a directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) {
    return ErrnoError(errno, "realpath `", path, "`");
  }
  return std::string(buf);
}

// Locks `dir` against other processes doing the same (ip netns does this
// too: concurrent self-binds stack mounts without bound).
absl::StatusOr<UniqueFd> LockDir(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open `", dir, "`");
  while (flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoError(errno, "flock `", dir, "`");
  }
  return fd;
}

}  // namespace

absl::Status LinuxNamespaceExecutor::PreparePinRoot(const std::string& dir) {
  CONVERGE_RETURN_IF_ERROR(CheckAbsolute(dir));
  absl::MutexLock lock(&pin_root_mu_);
  CONVERGE_RETURN_IF_ERROR(MakeDirs(dir, 0711));
  CONVERGE_ASSIGN_OR_RETURN(std::string real, RealPath(dir));
  CONVERGE_ASSIGN_OR_RETURN(UniqueFd dir_lock, LockDir(real));
  CONVERGE_ASSIGN_OR_RETURN(int mounts, CountMountsAt(real));
  const char* path = real.c_str();
  bool bound = false;
  if (mounts == 0) {
    // MS_REC: pins already mounted below (from before the root was a mount
    // point) must stay visible, or they would leak hidden underneath.
    if (mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      return ErrnoError(errno, "bind mount `", real, "` on itself");
    }
    bound = true;
    // Leave the parent's peer group (if any) before joining a new one.
    if (mount(nullptr, path, nullptr, MS_PRIVATE, nullptr) != 0) {
      int err = errno;
      umount2(path, MNT_DETACH);
      return ErrnoError(err, "make `", real, "` private");
    }
  }
  if (mount(nullptr, path, nullptr, MS_SHARED | MS_REC, nullptr) != 0) {
    int err = errno;
    if (bound) umount2(path, MNT_DETACH);
    return ErrnoError(err, "make `", real, "` shared");
  }
  return absl::OkStatus();
}

absl::Status LinuxNamespaceExecutor::ReleasePinRoot(const std::string& dir) {
  CONVERGE_RETURN_IF_ERROR(CheckAbsolute(dir));
  absl::MutexLock lock(&pin_root_mu_);
  absl::StatusOr<std::string> real = RealPath(dir);
  if (real.status().code() == absl::StatusCode::kNotFound) {
    return absl::OkStatus();
  }
  CONVERGE_RETURN_IF_ERROR(real.status());
  for (int i = 0; i < kMaxStackedMounts; ++i) {
    CONVERGE_ASSIGN_OR_RETURN(int mounts, CountMountsAt(*real));
    if (mounts == 0) return absl::OkStatus();
    // MNT_DETACH takes the pins below with it.
    if (umount2(real->c_str(), MNT_DETACH) != 0) {
      return ErrnoError(errno, "unmount `", *real, "`");
    }
  }
  return absl::InternalError(absl::StrCat("`", *real, "` still mounted after ",
                                          kMaxStackedMounts, " unmounts"));
}

absl::Status LinuxNamespaceExecutor::Create(const std::vector<PinSpec>& pins,
                                            const NamespaceSetup& setup) {
  CONVERGE_RETURN_IF_ERROR(ValidateCreateArgs(pins, setup));
  for (const PinSpec& pin : pins) {
    CONVERGE_ASSIGN_OR_RETURN(bool pinned, IsNsfsMount(pin.pin_path));
    if (pinned) {
      return absl::AlreadyExistsError(absl::StrCat(
          "pin `", pin.pin_path, "` for ", NamespaceKindName(pin.kind),
          " already holds a namespace"));
    }
  }
  std::vector<PinProgress> progress;
  absl::Status status = CreateSteps(pins, setup, &progress);
  if (status.ok()) return status;
  return WithUndo(std::move(status), Undo(progress));
}

absl::StatusOr<bool> LinuxNamespaceExecutor::IsPinned(
    const std::string& pin_path) {
  CONVERGE_RETURN_IF_ERROR(CheckAbsolute(pin_path));
  return IsNsfsMount(pin_path);
}

absl::Status LinuxNamespaceExecutor::Remove(const std::string& pin_path) {
  CONVERGE_RETURN_IF_ERROR(CheckAbsolute(pin_path));
  CONVERGE_RETURN_IF_ERROR(UnmountPin(pin_path));
  if (unlink(pin_path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "unlink `", pin_path, "`");
  }
  return absl::OkStatus();
}

}  // namespace converge

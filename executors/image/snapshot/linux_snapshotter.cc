#include "executors/image/snapshot/linux_snapshotter.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "executors/image/snapshot/overlay_mount.h"
#include "executors/namespace/mountinfo.h"

namespace converge {
namespace {

// The names DescribeSnapshot gives them.
constexpr char kUpper[] = "upper";
constexpr char kWork[] = "work";
constexpr char kRootfs[] = "rootfs";
constexpr char kEmpty[] = "empty";
// Mounts stacked on one rootfs that Remove takes off before giving up; more
// than one only happens if something else mounted there.
constexpr int kMaxStackedMounts = 16;

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("snapshot");
  return *logger;
}

UniqueFd OpenDirAt(int parent_fd, const char* name) {
  return UniqueFd(::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

// Makes directory `name` in `parent_fd` if missing; `path` names it in errors.
absl::Status MakeDirAt(int parent_fd, const char* name, const std::string& path) {
  if (::mkdirat(parent_fd, name, 0755) != 0 && errno != EEXIST) {
    return ErrnoError(errno, "mkdir `", path, "`");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ExistsAt(int parent_fd, const char* name, const std::string& path) {
  struct stat st;
  if (::fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoError(errno, "stat `", path, "`");
}

// Calls `visit` with the name and lstat of each entry of the directory
// `dir_fd` except "." and ".."; entries deleted meanwhile are skipped.
absl::Status ForEachEntry(
    int dir_fd, const std::string& path,
    const std::function<absl::Status(const char*, const struct stat&)>& visit) {
  // A fresh open file description for fdopendir to own: a dup of `dir_fd`
  // would share its read position with concurrent walks of the same fd.
  const int own_fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (own_fd < 0) return ErrnoError(errno, "open `", path, "`");
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(own_fd), ::closedir);
  if (dir == nullptr) {
    const int err = errno;
    ::close(own_fd);
    return ErrnoError(err, "opendir `", path, "`");
  }
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) return ErrnoError(errno, "read directory `", path, "`");
      return absl::OkStatus();
    }
    const absl::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoError(errno, "stat `", path, "/", name, "`");
    }
    CONVERGE_RETURN_IF_ERROR(visit(entry->d_name, st));
  }
}

// Deletes the directory `name` in `parent_fd` and everything in it, on the
// filesystem `dev` only: a mount found inside is an error, not something to
// empty. Absent: OK.
absl::Status RemoveTreeAt(int parent_fd, const char* name, const std::string& path, dev_t dev) {
  UniqueFd dir = OpenDirAt(parent_fd, name);
  if (!dir.valid()) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(errno, "open `", path, "`");
  }
  struct stat st;
  if (::fstat(dir.get(), &st) != 0) return ErrnoError(errno, "stat `", path, "`");
  if (st.st_dev != dev) {
    return absl::FailedPreconditionError(
        absl::StrCat("`", path, "` is a mount point; not deleting what is mounted there"));
  }
  CONVERGE_RETURN_IF_ERROR(
      ForEachEntry(dir.get(), path, [&](const char* child, const struct stat& child_st) {
        const std::string child_path = absl::StrCat(path, "/", child);
        if (S_ISDIR(child_st.st_mode)) return RemoveTreeAt(dir.get(), child, child_path, dev);
        if (::unlinkat(dir.get(), child, 0) != 0 && errno != ENOENT) {
          return ErrnoError(errno, "unlink `", child_path, "`");
        }
        return absl::OkStatus();
      }));
  if (::unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "rmdir `", path, "`");
  }
  return absl::OkStatus();
}

struct DiskUsage {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
  std::set<ino_t> linked;  // inodes with several links, counted once
};

void Count(const struct stat& st, DiskUsage& usage) {
  if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !usage.linked.insert(st.st_ino).second) return;
  usage.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  usage.inodes += 1;
}

// Adds what is under the directory `dir_fd` (on filesystem `dev`) to `usage`.
absl::Status AddUsage(int dir_fd, const std::string& path, dev_t dev, DiskUsage& usage) {
  return ForEachEntry(dir_fd, path, [&](const char* name, const struct stat& st) {
    Count(st, usage);
    if (!S_ISDIR(st.st_mode) || st.st_dev != dev) return absl::OkStatus();
    UniqueFd child = OpenDirAt(dir_fd, name);
    if (!child.valid()) {
      if (errno == ENOENT) return absl::OkStatus();
      return ErrnoError(errno, "open `", path, "/", name, "`");
    }
    return AddUsage(child.get(), absl::StrCat(path, "/", name), dev, usage);
  });
}

// Takes every mount off `path`, lazily (with a warning) when one is busy.
absl::Status UnmountAll(const std::string& path) {
  for (int i = 0; i < kMaxStackedMounts; ++i) {
    CONVERGE_ASSIGN_OR_RETURN(int mounts, CountMountsAt(path));
    if (mounts == 0) return absl::OkStatus();
    if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
    if (errno != EBUSY) return ErrnoError(errno, "unmount `", path, "`");
    Log().warn(
        "unmount path={} busy; detaching it lazily, the kernel frees it when its last "
        "user is gone",
        path);
    if (::umount2(path.c_str(), UMOUNT_NOFOLLOW | MNT_DETACH) != 0) {
      return ErrnoError(errno, "unmount `", path, "` lazily (MNT_DETACH) after EBUSY");
    }
  }
  return absl::InternalError(
      absl::StrCat("`", path, "` is still mounted after ", kMaxStackedMounts, " unmounts"));
}

absl::Status CheckLowerDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return ErrnoError(errno, "lower dir `", dir, "`");
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("lower dir `", dir, "` is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinuxSnapshotter>> LinuxSnapshotter::Create(
    const std::string& root) {
  std::error_code error;
  std::filesystem::create_directories(root, error);
  if (error) return ErrnoError(error.value(), "create snapshot root `", root, "`");
  // Canonical, because mountinfo shows resolved paths.
  std::unique_ptr<char, void (*)(void*)> canonical(::realpath(root.c_str(), nullptr), ::free);
  if (canonical == nullptr) return ErrnoError(errno, "realpath `", root, "`");
  UniqueFd fd(::open(canonical.get(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open snapshot root `", canonical.get(), "`");
  return std::unique_ptr<LinuxSnapshotter>(new LinuxSnapshotter(canonical.get(), std::move(fd)));
}

absl::StatusOr<Snapshot> LinuxSnapshotter::Prepare(const SnapshotRequest& request) {
  absl::StatusOr<Snapshot> snapshot = PrepareUnannotated(request);
  if (!snapshot.ok()) return Annotate(snapshot.status(), "prepare snapshot ", request.key);
  return snapshot;
}

absl::StatusOr<Snapshot> LinuxSnapshotter::PrepareUnannotated(const SnapshotRequest& request) {
  CONVERGE_RETURN_IF_ERROR(ValidateSnapshotRequest(request));
  for (const std::string& dir : request.lower_dirs) CONVERGE_RETURN_IF_ERROR(CheckLowerDir(dir));
  const std::string& key = request.key;
  Snapshot snapshot = DescribeSnapshot(root_, key, request.read_only);
  snapshot.mounted = true;
  const std::string dir_path = absl::StrCat(root_, "/", key);
  CONVERGE_RETURN_IF_ERROR(MakeDirAt(root_fd_.get(), key.c_str(), dir_path));
  UniqueFd dir = OpenDirAt(root_fd_.get(), key.c_str());
  if (!dir.valid()) return ErrnoError(errno, "open `", dir_path, "`");

  // Writable snapshots make upper before rootfs, so "rootfs without upper"
  // always means read-only, even after a crash in between.
  CONVERGE_ASSIGN_OR_RETURN(bool has_upper, ExistsAt(dir.get(), kUpper, snapshot.upper_dir));
  CONVERGE_ASSIGN_OR_RETURN(bool has_rootfs, ExistsAt(dir.get(), kRootfs, snapshot.rootfs));
  if (has_upper == request.read_only && (has_upper || has_rootfs)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "it exists and is ", has_upper ? "writable" : "read-only",
        "; remove it first to prepare it ", request.read_only ? "read-only" : "writable"));
  }
  OverlayMount overlay;
  if (!request.read_only) {
    overlay.upper_dir = snapshot.upper_dir;
    overlay.work_dir = snapshot.work_dir;
    CONVERGE_RETURN_IF_ERROR(MakeDirAt(dir.get(), kUpper, snapshot.upper_dir));
    CONVERGE_RETURN_IF_ERROR(MakeDirAt(dir.get(), kWork, snapshot.work_dir));
  }
  CONVERGE_RETURN_IF_ERROR(MakeDirAt(dir.get(), kRootfs, snapshot.rootfs));
  CONVERGE_ASSIGN_OR_RETURN(int mounts, CountMountsAt(snapshot.rootfs));
  if (mounts > 0) return snapshot;

  overlay.lower_dirs.assign(request.lower_dirs.rbegin(), request.lower_dirs.rend());
  const size_t needed = request.read_only ? 2 : 1;
  if (overlay.lower_dirs.size() < needed) {
    const std::string empty = absl::StrCat(dir_path, "/", kEmpty);
    CONVERGE_RETURN_IF_ERROR(MakeDirAt(dir.get(), kEmpty, empty));
    overlay.lower_dirs.resize(needed, empty);
  }
  CONVERGE_RETURN_IF_ERROR(MountOverlay(overlay, snapshot.rootfs));
  return snapshot;
}

absl::Status LinuxSnapshotter::Remove(const std::string& key) {
  CONVERGE_RETURN_IF_ERROR(ValidateSnapshotKey(key));
  const std::string dir_path = absl::StrCat(root_, "/", key);
  struct stat st;
  if (::fstatat(root_fd_.get(), key.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(errno, "remove snapshot ", key, ": stat `", dir_path, "`");
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("remove snapshot ", key, ": `", dir_path, "` is not a directory"));
  }
  CONVERGE_RETURN_IF_ERROR(
      Annotate(UnmountAll(absl::StrCat(dir_path, "/", kRootfs)), "remove snapshot ", key));
  return Annotate(RemoveTreeAt(root_fd_.get(), key.c_str(), dir_path, st.st_dev),
                  "remove snapshot ", key);
}

absl::StatusOr<std::vector<Snapshot>> LinuxSnapshotter::List() {
  CONVERGE_ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, ReadMountInfo());
  std::set<std::string> mount_points;
  for (const MountInfo& mount : mounts) mount_points.insert(mount.mount_point);
  std::vector<Snapshot> snapshots;
  CONVERGE_RETURN_IF_ERROR(ForEachEntry(
      root_fd_.get(), root_, [&](const char* name, const struct stat& st) -> absl::Status {
        // Anything else in the root is not ours to report (or collect).
        if (!S_ISDIR(st.st_mode) || !ValidateSnapshotKey(name).ok()) return absl::OkStatus();
        const std::string upper = absl::StrCat(name, "/", kUpper);
        CONVERGE_ASSIGN_OR_RETURN(bool writable, ExistsAt(root_fd_.get(), upper.c_str(),
                                                          absl::StrCat(root_, "/", upper)));
        Snapshot snapshot = DescribeSnapshot(root_, name, !writable);
        snapshot.mounted = mount_points.count(snapshot.rootfs) > 0;
        snapshots.push_back(std::move(snapshot));
        return absl::OkStatus();
      }));
  std::sort(snapshots.begin(), snapshots.end(),
            [](const Snapshot& a, const Snapshot& b) { return a.key < b.key; });
  return snapshots;
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> LinuxSnapshotter::Usage(const std::string& key) {
  CONVERGE_RETURN_IF_ERROR(ValidateSnapshotKey(key));
  const std::string dir_path = absl::StrCat(root_, "/", key);
  UniqueFd dir = OpenDirAt(root_fd_.get(), key.c_str());
  if (!dir.valid()) return ErrnoError(errno, "snapshot usage ", key, ": open `", dir_path, "`");
  const std::string upper_path = absl::StrCat(dir_path, "/", kUpper);
  UniqueFd upper = OpenDirAt(dir.get(), kUpper);
  if (!upper.valid()) {
    if (errno == ENOENT) return std::pair<uint64_t, uint64_t>(0, 0);  // read-only
    return ErrnoError(errno, "snapshot usage ", key, ": open `", upper_path, "`");
  }
  struct stat st;
  if (::fstat(upper.get(), &st) != 0) return ErrnoError(errno, "stat `", upper_path, "`");
  DiskUsage usage;
  Count(st, usage);
  CONVERGE_RETURN_IF_ERROR(
      Annotate(AddUsage(upper.get(), upper_path, st.st_dev, usage), "snapshot usage ", key));
  return std::pair<uint64_t, uint64_t>(usage.bytes, usage.inodes);
}

}  // namespace converge

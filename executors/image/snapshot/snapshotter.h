// Snapshotter: the writable root filesystem of each container, an overlay of
// the image's unpacked layers under a private upper directory. The Linux
// implementation is in linux_snapshotter.h; an in-memory fake for tests is in
// testing/fake_snapshotter.h.
//
//   CONVERGE_ASSIGN_OR_RETURN(
//       Snapshot snapshot,
//       snapshotter.Prepare({container_id, {base_layer_dir, app_layer_dir}}));
//   spec.root.path = snapshot.rootfs;
//   ...
//   CONVERGE_RETURN_IF_ERROR(snapshotter.Remove(container_id));
//
// On disk: <root>/<key>/rootfs (the mount point), and for writable snapshots
// <key>/upper (the container's writes) and <key>/work (overlay's scratch).
// A read-only snapshot has no upper directory; List tells the two apart that
// way.
//
// Thread safety: implementations are safe to call from any thread. Calls for
// one key are serialised by the caller (the reconciler never runs one
// container on two workers).
//
// Idempotence: Prepare of a prepared snapshot returns it, Remove of an absent
// one is OK, so a reconciler may repeat either after a crash.
//
// Error codes (messages carry the operation, the quoted path and errno):
//   INVALID_ARGUMENT     a bad key or lower dir (ValidateSnapshotRequest), or a
//                        lower dir that is not a directory.
//   NOT_FOUND            a lower dir does not exist; Usage of an absent key.
//   FAILED_PRECONDITION  Prepare asks for a read-only snapshot of a writable
//                        one or the reverse; the kernel lacks `lowerdir+` and
//                        the layers do not fit in mount(2)'s one-page options;
//                        Remove finds another mount inside the snapshot (it
//                        deletes nothing on another filesystem).
//   PERMISSION_DENIED, RESOURCE_EXHAUSTED, INTERNAL, ...  other errnos, mapped
//                        by ErrnoToCode (common/errors.h).
#ifndef CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_SNAPSHOTTER_H_
#define CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_SNAPSHOTTER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace converge {

struct SnapshotRequest {
  // The container id; [A-Za-z0-9_.-]{1,128} and not "." or "..".
  std::string key;
  // Unpacked layer directories, bottom-most (base) layer FIRST, as an image
  // manifest lists them. Absolute; they must exist. May be empty (an image
  // with no layers gets an empty root filesystem).
  std::vector<std::string> lower_dirs;
  // CRI readonly_rootfs: an overlay of the lower dirs only, mounted read-only.
  bool read_only = false;
};

struct Snapshot {
  std::string key;
  std::string rootfs;     // the overlay mount point
  std::string upper_dir;  // empty for read-only snapshots
  std::string work_dir;   // empty for read-only snapshots
  bool read_only = false;
  bool mounted = false;  // always true from Prepare; List reports what it finds
};

class Snapshotter {
 public:
  virtual ~Snapshotter() = default;

  // Creates <root>/<key>/{upper,work,rootfs} and mounts the overlay on rootfs,
  // with private propagation. If the snapshot is already mounted it is
  // returned as it is (the key names the snapshot: lower dirs are not
  // compared). If the directories exist but the mount is gone (a reboot, or a
  // crash before the mount), mounts again over the same upper directory, so
  // the container's writes survive a daemon restart.
  virtual absl::StatusOr<Snapshot> Prepare(const SnapshotRequest& request) = 0;

  // Unmounts rootfs (if mounted) and deletes <root>/<key>. Absent key: OK.
  virtual absl::Status Remove(const std::string& key) = 0;

  // Every snapshot on disk, sorted by key, with whether it is mounted; for
  // collecting snapshots of containers that no longer exist.
  virtual absl::StatusOr<std::vector<Snapshot>> List() = 0;

  // Bytes and inodes used by the snapshot's upper directory (its writable
  // layer), for ContainerStats and ImageFsInfo; (0, 0) for a read-only one.
  virtual absl::StatusOr<std::pair<uint64_t, uint64_t>> Usage(const std::string& key) = 0;
};

// Snapshot `key` under `root` as laid out on disk (see above), not mounted.
Snapshot DescribeSnapshot(const std::string& root, const std::string& key, bool read_only);

// INVALID_ARGUMENT naming `key` unless it is a valid snapshot key: it becomes
// a directory name, so it must not be able to name anything else.
absl::Status ValidateSnapshotKey(const std::string& key);

// The key, and that every lower dir is an absolute path without "." or ".."
// components (they are handed to the kernel as they are).
absl::Status ValidateSnapshotRequest(const SnapshotRequest& request);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_SNAPSHOTTER_H_

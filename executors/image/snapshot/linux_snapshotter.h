// LinuxSnapshotter is the Snapshotter for the real kernel: overlayfs mounts
// under one root directory. Needs CAP_SYS_ADMIN (root).
//
//   CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<LinuxSnapshotter> snapshotter,
//                             LinuxSnapshotter::Create("/var/lib/converge/snapshots"));
//
// How: the per-key directories are made and deleted relative to an fd of the
// root (never following symlinks, never descending into another filesystem,
// so a mount left inside a snapshot keeps its contents), and keys are
// validated before they become a path. Overlays are mounted as in
// overlay_mount.h: the new mount API, mount(2) on kernels without
// `lowerdir+`. Whether rootfs is mounted comes from /proc/self/mountinfo.
//
// Remove unmounts rootfs; if it is busy (a process still has it open or as
// its root), it is detached lazily (MNT_DETACH) with a warning in the log,
// and the kernel frees it once the last user is gone.
//
// An overlay needs one lower layer, or two without an upper; when a request
// has fewer, an empty directory <key>/empty is stacked at the bottom.
//
// Thread safety: see snapshotter.h; no state is shared between keys beyond
// the root fd.
#ifndef CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_LINUX_SNAPSHOTTER_H_
#define CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_LINUX_SNAPSHOTTER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "executors/image/snapshot/snapshotter.h"
#include "executors/namespace/unique_fd.h"

namespace converge {

class LinuxSnapshotter : public Snapshotter {
 public:
  // Creates `root` (and its parents) if missing.
  static absl::StatusOr<std::unique_ptr<LinuxSnapshotter>> Create(const std::string& root);

  LinuxSnapshotter(const LinuxSnapshotter&) = delete;
  LinuxSnapshotter& operator=(const LinuxSnapshotter&) = delete;

  absl::StatusOr<Snapshot> Prepare(const SnapshotRequest& request) override;
  absl::Status Remove(const std::string& key) override;
  absl::StatusOr<std::vector<Snapshot>> List() override;
  absl::StatusOr<std::pair<uint64_t, uint64_t>> Usage(const std::string& key) override;

 private:
  LinuxSnapshotter(std::string root, UniqueFd root_fd)
      : root_(std::move(root)), root_fd_(std::move(root_fd)) {}

  // Prepare without the "prepare snapshot <key>" context on errors.
  absl::StatusOr<Snapshot> PrepareUnannotated(const SnapshotRequest& request);

  const std::string root_;  // canonical, as mountinfo shows it
  const UniqueFd root_fd_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_LINUX_SNAPSHOTTER_H_

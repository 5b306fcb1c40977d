// Mounting an overlay filesystem, internal to the snapshotter. The new mount
// API (fsopen/fsconfig, Linux 6.8+ for `lowerdir+`) takes one layer per call
// and so has no limit on their number; mount(2) takes all options in one page,
// which about 30 layers with long paths already overflow. MountOverlay uses
// the former and falls back to the latter on older kernels.
//
//   OverlayMount overlay{{"/layers/app", "/layers/base"}, "/s/upper", "/s/work"};
//   CONVERGE_RETURN_IF_ERROR(MountOverlay(overlay, "/s/rootfs"));
#ifndef CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_OVERLAY_MOUNT_H_
#define CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_OVERLAY_MOUNT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace converge {

struct OverlayMount {
  // Top-most layer FIRST: overlay's order, the reverse of a manifest's.
  std::vector<std::string> lower_dirs;
  // Both empty for a read-only overlay of the lower dirs (which needs at
  // least two of them).
  std::string upper_dir;
  std::string work_dir;
};

// Mounts `overlay` on `target` with private propagation, read-only when it
// has no upper dir. Errors include what the kernel logged on the fs context.
absl::Status MountOverlay(const OverlayMount& overlay, const std::string& target);

// The same through mount(2) alone; see ClassicOverlayOptions for its limits.
absl::Status MountOverlayClassic(const OverlayMount& overlay, const std::string& target);

// mount(2)'s data string, `lowerdir=top:...:bottom[,upperdir=U,workdir=W]`.
// INVALID_ARGUMENT naming a path that contains ':', ',' or '\' (overlay's
// option parser would split it); FAILED_PRECONDITION when the string does not
// fit in `page_size` bytes (the kernel copies one page and would truncate).
absl::StatusOr<std::string> ClassicOverlayOptions(const OverlayMount& overlay, size_t page_size);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_OVERLAY_MOUNT_H_

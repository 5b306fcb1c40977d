// Reads /proc/self/mountinfo (proc(5)): the only reliable way to tell whether
// a directory is a mount point, how many mounts are stacked on a path, and
// what propagation a mount has. Internal to the executors and their tests.
//
//   CONVERGE_ASSIGN_OR_RETURN(int mounts, CountMountsAt("/run/converge/ns"));
//   if (mounts == 0) { /* bind it onto itself */ }
#ifndef CONVERGE_EXECUTORS_NAMESPACE_MOUNTINFO_H_
#define CONVERGE_EXECUTORS_NAMESPACE_MOUNTINFO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge {

// One line of mountinfo; paths are unescaped (`\040` -> ' ').
struct MountInfo {
  int mount_id = 0;
  int parent_id = 0;
  std::string root;
  std::string mount_point;
  std::vector<std::string> optional_fields;  // e.g. "shared:7", "master:1"
  std::string fs_type;
  std::string source;
  // Filesystem options ("rw,lowerdir=/a:/b,upperdir=..." for overlayfs).
  std::string super_options;

  bool shared() const;  // has a "shared:N" optional field
};

absl::StatusOr<std::vector<MountInfo>> ParseMountInfo(absl::string_view text);

// The mount table of the calling thread's mount namespace.
absl::StatusOr<std::vector<MountInfo>> ReadMountInfo();

// Number of mounts whose mount point is exactly `path` (which must be
// canonical: mountinfo shows resolved paths).
absl::StatusOr<int> CountMountsAt(const std::string& path);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NAMESPACE_MOUNTINFO_H_

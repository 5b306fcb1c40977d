// Finding cgroup hierarchies in /proc/self/mountinfo. Private to
// executors/cgroup; LinuxCgroupDriver uses it to build its v1 backend.
//
//   CONVERGE_ASSIGN_OR_RETURN(
//       std::vector<CgroupHierarchy> hierarchies,
//       FindV1Hierarchies(mountinfo_text, "/sys/fs/cgroup"));
//   // {"/sys/fs/cgroup/cpu", {"cpu"}}, ..., {"/sys/fs/cgroup/systemd",
//   //  {"name=systemd"}}
#ifndef CONVERGE_EXECUTORS_CGROUP_CGROUP_MOUNTS_H_
#define CONVERGE_EXECUTORS_CGROUP_CGROUP_MOUNTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge {

// One mounted cgroup hierarchy. For v1, `controllers` are the controllers
// bound to it ("cpu", "cpuacct", ...) and named hierarchies appear as
// "name=<name>"; for v2 they are the mount root's cgroup.controllers.
struct CgroupHierarchy {
  std::string mount_point;
  std::vector<std::string> controllers;

  bool HasController(absl::string_view controller) const;
  bool operator==(const CgroupHierarchy& other) const {
    return mount_point == other.mount_point && controllers == other.controllers;
  }
};

// The cgroup v1 ("cgroup" fstype) mounts at or below `mount_root` in
// `mountinfo` (proc(5) format), sorted by mount point. cgroup2 mounts (such as
// systemd's hybrid "unified") are not v1 hierarchies and are left out. A mount
// point listed twice keeps its last (topmost) mount; one hierarchy mounted at
// several points (same device and root, e.g. "cpu,cpuacct" plus a bind mount
// at "cpu") is kept once, at its first mount point in sorted order, so each
// hierarchy gets exactly one mkdir/rmdir. Malformed lines are INTERNAL.
absl::StatusOr<std::vector<CgroupHierarchy>> FindV1Hierarchies(
    absl::string_view mountinfo, absl::string_view mount_root);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_CGROUP_CGROUP_MOUNTS_H_

// The per-version half of LinuxCgroupDriver: a table of plain functions for
// cgroup v1 (cgroup_v1.cc) and v2 (cgroup_v2.cc), picked once at start-up,
// crun's libcrun_cgroup_manager style. Private to the linux_cgroup target.
//
// Every function gets the driver's layout and an already validated cgroup
// path that exists in every hierarchy; version-independent work (walking
// pids, signalling, ordering the kill-all steps) stays in linux_cgroup.cc.
#ifndef CONVERGE_EXECUTORS_CGROUP_CGROUP_BACKEND_H_
#define CONVERGE_EXECUTORS_CGROUP_CGROUP_BACKEND_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "executors/cgroup/cgroup.h"
#include "executors/cgroup/linux_cgroup.h"
#include "spdlog/spdlog.h"

namespace converge {

struct CgroupBackend {
  int version;
  // Lists the hierarchies the driver manages under `mount_root`.
  absl::StatusOr<std::vector<CgroupHierarchy>> (*discover)(
      const std::string& mount_root);
  // Readies `dir` (child of `parent` in `hierarchy`) once Create has made
  // (`made`) or found it. `leaf`: it is the requested cgroup, which will hold
  // processes, rather than one of its ancestors.
  absl::Status (*prepare)(const CgroupHierarchy& hierarchy,
                          const std::string& parent, const std::string& dir,
                          bool made, bool leaf);
  // Applies the fields set in `resources` (already validated).
  absl::Status (*set_resources)(const CgroupLayout& layout,
                                const std::string& path,
                                const CgroupResources& resources);
  // Fills the fields of `stats` whose files exist.
  absl::Status (*stats)(const CgroupLayout& layout, const std::string& path,
                        CgroupStats* stats);
  // Freezes (`frozen`) or thaws `path` and its descendants, waiting until the
  // kernel reports the new state or `deadline` passes (then
  // DEADLINE_EXCEEDED, after trying to thaw). False, doing nothing, when
  // there is no freezer.
  absl::StatusOr<bool> (*set_frozen)(const CgroupLayout& layout,
                                     const std::string& path, bool frozen,
                                     absl::Time deadline);
  // SIGKILLs everything in `path` and below in one kernel operation; false,
  // doing nothing, when the kernel has no such operation.
  absl::StatusOr<bool> (*kill_all)(const CgroupLayout& layout,
                                   const std::string& path);
  // Replaces the device rules (already validated).
  absl::Status (*set_devices)(const CgroupLayout& layout,
                              const std::string& path,
                              const std::vector<DeviceRule>& rules);
};

extern const CgroupBackend kV1Backend;
extern const CgroupBackend kV2Backend;

// The "cgroup" logger.
spdlog::logger& CgroupLog();

// `path` in the hierarchy that has `controller`; nullopt if none does.
std::optional<std::string> ControllerDir(const CgroupLayout& layout,
                                         absl::string_view controller,
                                         const std::string& path);

// Calls `done` until it returns true, an error, or `deadline` passes (then
// DEADLINE_EXCEEDED: "<what> did not finish within <timeout>"), sleeping
// 1ms, doubling up to 20ms, in between.
absl::Status PollUntil(const std::function<absl::StatusOr<bool>()>& done,
                       absl::Time deadline, absl::string_view what);

// Reads the single value in `file` into `*out`; leaves it absent if the file
// does not exist.
absl::Status ReadValue(const std::string& file, std::optional<uint64_t>* out);

// ParseFlatKeyed of `file`; nullopt if it does not exist.
absl::StatusOr<std::optional<std::map<std::string, uint64_t>>> ReadKeyed(
    const std::string& file);

// `key` of `keyed` into `*out` (scaled by `scale`) if both are present.
void CopyKey(const std::optional<std::map<std::string, uint64_t>>& keyed,
             const std::string& key, std::optional<uint64_t>* out,
             uint64_t scale = 1);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_CGROUP_CGROUP_BACKEND_H_

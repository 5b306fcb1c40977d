// cgroup v2 backend: one tree; a limit's file exists in a cgroup only while
// its parent has the controller in cgroup.subtree_control.
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "executors/cgroup/cgroup_backend.h"
#include "executors/cgroup/cgroup_files.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace converge {
namespace {

std::set<std::string> Words(absl::string_view text) {
  return absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty());
}

absl::StatusOr<std::vector<CgroupHierarchy>> DiscoverV2(
    const std::string& mount_root) {
  CONVERGE_ASSIGN_OR_RETURN(
      std::string controllers,
      ReadFile(absl::StrCat(mount_root, "/cgroup.controllers")));
  return std::vector<CgroupHierarchy>{
      {mount_root,
       absl::StrSplit(controllers, absl::ByAnyChar(" \n"), absl::SkipEmpty())}};
}

absl::Status PrepareV2(const CgroupHierarchy& /*hierarchy*/,
                       const std::string& /*parent*/, const std::string& dir,
                       bool made, bool leaf) {
  // Delegation is best-effort here: a cgroup without controllers still
  // groups processes; SetResources enables what a limit needs, and fails if
  // it cannot.
  if (!made || leaf) return absl::OkStatus();
  absl::StatusOr<std::string> available =
      ReadFile(absl::StrCat(dir, "/cgroup.controllers"));
  if (!available.ok()) {
    CgroupLog().warn("enabling controllers skipped dir={} error={}", dir,
                     available.status().ToString());
    return absl::OkStatus();
  }
  // One write per controller so that one refusal does not cost the others.
  for (const std::string& controller : Words(*available)) {
    absl::Status status =
        WriteFile(absl::StrCat(dir, "/cgroup.subtree_control"),
                  absl::StrCat("+", controller));
    if (!status.ok()) {
      CgroupLog().warn("enabling controller failed dir={} controller={} "
                       "error={}",
                       dir, controller, status.ToString());
    }
  }
  return absl::OkStatus();
}

// Makes `needed` controllers available in `path` by enabling them in the
// subtree_control of every ancestor, from the mount root down (runc's
// fs2 CreateCgroupPath does the same for all controllers).
absl::Status EnableControllers(const std::string& root,
                               const std::string& path,
                               const std::set<std::string>& needed) {
  if (needed.empty()) return absl::OkStatus();
  const std::string leaf = root + path;
  CONVERGE_ASSIGN_OR_RETURN(std::string present_text,
                            ReadFile(leaf + "/cgroup.controllers"));
  const std::set<std::string> present = Words(present_text);
  std::set<std::string> missing;
  for (const std::string& c : needed) {
    if (present.count(c) == 0) missing.insert(c);
  }
  if (missing.empty()) return absl::OkStatus();
  CONVERGE_ASSIGN_OR_RETURN(std::string available_text,
                            ReadFile(root + "/cgroup.controllers"));
  const std::set<std::string> available = Words(available_text);
  for (const std::string& c : missing) {
    if (available.count(c) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "controller `", c, "` is not available in `", root,
          "/cgroup.controllers` (bound to a v1 hierarchy, or not built in)"));
    }
  }
  std::string dir = root;
  const std::vector<std::string> components =
      absl::StrSplit(path.substr(1), '/');
  for (size_t i = 0; i < components.size(); ++i) {
    const std::string file = dir + "/cgroup.subtree_control";
    CONVERGE_ASSIGN_OR_RETURN(std::string enabled_text, ReadFile(file));
    const std::set<std::string> enabled = Words(enabled_text);
    for (const std::string& c : missing) {
      if (enabled.count(c) > 0) continue;
      absl::Status status = WriteFile(file, "+" + c);
      if (status.code() == absl::StatusCode::kUnavailable) {  // EBUSY
        status = absl::FailedPreconditionError(absl::StrCat(
            status.message(), "; `", dir, "` holds processes itself (no "
            "internal processes rule): put them in a leaf cgroup"));
      }
      CONVERGE_RETURN_IF_ERROR(status);
    }
    absl::StrAppend(&dir, "/", components[i]);
  }
  return absl::OkStatus();
}

absl::Status SetResourcesV2(const CgroupLayout& layout, const std::string& path,
                            const CgroupResources& r) {
  const std::string& root = layout.hierarchies.front().mount_point;
  const std::string dir = root + path;
  const bool cpu_weight = r.cpu_shares.value_or(0) != 0;
  const bool cpu_max =
      r.cpu_quota.value_or(0) != 0 || r.cpu_period.value_or(0) != 0;
  CONVERGE_ASSIGN_OR_RETURN(
      std::optional<std::string> swap_max,
      V2SwapMax(r.memory_limit_bytes, r.memory_swap_limit_bytes));
  std::set<std::string> needed;
  if (cpu_weight || cpu_max) needed.insert("cpu");
  if (r.cpuset_cpus || r.cpuset_mems) needed.insert("cpuset");
  if (r.memory_limit_bytes || swap_max) needed.insert("memory");
  if (r.pids_limit) needed.insert("pids");
  if (!r.hugepage_limits.empty()) needed.insert("hugetlb");
  CONVERGE_RETURN_IF_ERROR(EnableControllers(root, path, needed));

  if (cpu_weight) {
    CONVERGE_RETURN_IF_ERROR(
        WriteFile(dir + "/cpu.weight",
                  std::to_string(CpuSharesToWeight(*r.cpu_shares))));
  }
  if (cpu_max) {
    // "$MAX $PERIOD"; the kernel keeps the period when it is left out.
    std::string quota;
    if (r.cpu_quota.value_or(0) != 0) {
      quota = *r.cpu_quota < 0 ? "max" : std::to_string(*r.cpu_quota);
    } else {
      CONVERGE_ASSIGN_OR_RETURN(std::string current,
                                ReadFile(dir + "/cpu.max"));
      std::vector<std::string> fields = absl::StrSplit(
          current, absl::ByAnyChar(" \n"), absl::SkipEmpty());
      quota = fields.empty() ? "max" : fields[0];
    }
    std::string value = quota;
    if (r.cpu_period.value_or(0) != 0) {
      absl::StrAppend(&value, " ", *r.cpu_period);
    }
    CONVERGE_RETURN_IF_ERROR(WriteFile(dir + "/cpu.max", value));
  }
  if (r.cpuset_cpus) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(dir + "/cpuset.cpus", *r.cpuset_cpus));
  }
  if (r.cpuset_mems) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(dir + "/cpuset.mems", *r.cpuset_mems));
  }
  // memory.max and memory.swap.max are independent in v2: no ordering.
  if (r.memory_limit_bytes) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(
        dir + "/memory.max", *r.memory_limit_bytes <= 0
                                 ? "max"
                                 : std::to_string(*r.memory_limit_bytes)));
  }
  if (swap_max) {
    const std::string file = dir + "/memory.swap.max";
    // A kernel without swap has no such file; "unlimited" is then moot.
    if (*swap_max != "max" || FileExists(file)) {
      CONVERGE_RETURN_IF_ERROR(WriteFile(file, *swap_max));
    }
  }
  if (r.pids_limit) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(
        dir + "/pids.max",
        *r.pids_limit <= 0 ? "max" : std::to_string(*r.pids_limit)));
  }
  for (const auto& [size, limit] : r.hugepage_limits) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(
        absl::StrCat(dir, "/hugetlb.", size, ".max"), std::to_string(limit)));
  }
  return absl::OkStatus();
}

absl::Status StatsV2(const CgroupLayout& layout, const std::string& path,
                     CgroupStats* stats) {
  const std::string dir = layout.hierarchies.front().mount_point + path;
  // cpu.stat's usage fields are core (there without the cpu controller).
  CONVERGE_ASSIGN_OR_RETURN(auto cpu, ReadKeyed(dir + "/cpu.stat"));
  CopyKey(cpu, "usage_usec", &stats->cpu_usage_ns, 1000);
  CopyKey(cpu, "user_usec", &stats->cpu_user_ns, 1000);
  CopyKey(cpu, "system_usec", &stats->cpu_system_ns, 1000);

  CONVERGE_RETURN_IF_ERROR(
      ReadValue(dir + "/memory.current", &stats->memory_usage_bytes));
  CONVERGE_RETURN_IF_ERROR(
      ReadValue(dir + "/memory.max", &stats->memory_limit_bytes));
  CONVERGE_ASSIGN_OR_RETURN(auto memory, ReadKeyed(dir + "/memory.stat"));
  CopyKey(memory, "anon", &stats->memory_rss_bytes);
  CopyKey(memory, "pgfault", &stats->memory_page_faults);
  CopyKey(memory, "pgmajfault", &stats->memory_major_page_faults);
  std::optional<uint64_t> inactive_file;
  CopyKey(memory, "inactive_file", &inactive_file);
  if (stats->memory_usage_bytes) {
    stats->memory_working_set_bytes =
        WorkingSet(*stats->memory_usage_bytes, inactive_file.value_or(0));
  }
  // memory.events counts this cgroup and its descendants.
  CONVERGE_ASSIGN_OR_RETURN(auto events, ReadKeyed(dir + "/memory.events"));
  CopyKey(events, "oom_kill", &stats->oom_kill_count);

  CONVERGE_RETURN_IF_ERROR(
      ReadValue(dir + "/pids.current", &stats->pids_current));
  return absl::OkStatus();
}

absl::StatusOr<bool> SetFrozenV2(const CgroupLayout& layout,
                                 const std::string& path, bool frozen,
                                 absl::Time deadline) {
  const std::string dir = layout.hierarchies.front().mount_point + path;
  const std::string file = dir + "/cgroup.freeze";
  if (!FileExists(file)) return false;  // kernel < 5.2
  CONVERGE_RETURN_IF_ERROR(WriteFile(file, frozen ? "1" : "0"));
  const std::string events = dir + "/cgroup.events";
  absl::Status status = PollUntil(
      [&]() -> absl::StatusOr<bool> {
        CONVERGE_ASSIGN_OR_RETURN(std::string text, ReadFile(events));
        auto keyed = ParseFlatKeyed(text);
        auto it = keyed.find("frozen");
        return it != keyed.end() && it->second == (frozen ? 1u : 0u);
      },
      deadline,
      absl::StrCat("waiting for `frozen ", frozen ? 1 : 0, "` in `", events,
                   "` after writing `", frozen ? 1 : 0, "` to `", file, "`"));
  if (!status.ok() && frozen) {
    absl::Status thaw = WriteFile(file, "0");
    if (!thaw.ok()) {
      CgroupLog().error("thaw after failed freeze failed file={} error={}",
                        file, thaw.ToString());
    }
  }
  CONVERGE_RETURN_IF_ERROR(status);
  return true;
}

absl::StatusOr<bool> KillAllV2(const CgroupLayout& layout,
                               const std::string& path) {
  const std::string file =
      layout.hierarchies.front().mount_point + path + "/cgroup.kill";
  if (!FileExists(file)) return false;  // kernel < 5.14
  CONVERGE_RETURN_IF_ERROR(WriteFile(file, "1"));
  return true;
}

absl::Status SetDevicesV2(const CgroupLayout&, const std::string&,
                          const std::vector<DeviceRule>&) {
  // Device control on v2 is a BPF_PROG_TYPE_CGROUP_DEVICE program; not
  // implemented (see cgroup.h).
  return absl::OkStatus();
}

}  // namespace

const CgroupBackend kV2Backend = {
    2,           &DiscoverV2,  &PrepareV2, &SetResourcesV2,
    &StatsV2,    &SetFrozenV2, &KillAllV2, &SetDevicesV2,
};

}  // namespace converge

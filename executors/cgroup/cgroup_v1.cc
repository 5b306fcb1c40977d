// cgroup v1 backend: one hierarchy per (group of) controller(s), so each
// limit goes to the directory of `path` in the hierarchy of its controller.
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "executors/cgroup/cgroup_backend.h"
#include "executors/cgroup/cgroup_files.h"
#include "executors/cgroup/cgroup_mounts.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace converge {
namespace {

absl::StatusOr<std::vector<CgroupHierarchy>> DiscoverV1(
    const std::string& mount_root) {
  CONVERGE_ASSIGN_OR_RETURN(std::string mountinfo,
                            ReadFile("/proc/self/mountinfo"));
  CONVERGE_ASSIGN_OR_RETURN(std::vector<CgroupHierarchy> hierarchies,
                            FindV1Hierarchies(mountinfo, mount_root));
  if (hierarchies.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no cgroup v1 hierarchy is mounted at or below `", mount_root, "`"));
  }
  return hierarchies;
}

absl::Status PrepareV1(const CgroupHierarchy& hierarchy,
                       const std::string& parent, const std::string& dir,
                       bool /*made*/, bool /*leaf*/) {
  if (!hierarchy.HasController("cpuset")) return absl::OkStatus();
  // A new v1 cpuset has empty cpus and mems (unless clone_children is set) and
  // the kernel refuses tasks in it, so inherit the parent's, as runc and crun
  // do. Only empty values are filled: configured cgroups keep theirs, and a
  // Create retried after a failure here finishes the job.
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    const std::string own = absl::StrCat(dir, "/", file);
    CONVERGE_ASSIGN_OR_RETURN(std::string value, ReadFile(own));
    if (!absl::StripAsciiWhitespace(value).empty()) continue;
    CONVERGE_ASSIGN_OR_RETURN(std::string inherited,
                              ReadFile(absl::StrCat(parent, "/", file)));
    CONVERGE_RETURN_IF_ERROR(
        WriteFile(own, absl::StripAsciiWhitespace(inherited)));
  }
  return absl::OkStatus();
}

// The directory of `path` in `controller`'s hierarchy, or
// FAILED_PRECONDITION naming what needed it.
absl::StatusOr<std::string> RequireDir(const CgroupLayout& layout,
                                       absl::string_view controller,
                                       const std::string& path,
                                       absl::string_view what) {
  std::optional<std::string> dir = ControllerDir(layout, controller, path);
  if (dir) return *dir;
  return absl::FailedPreconditionError(
      absl::StrCat("cannot set ", what, ": no cgroup v1 hierarchy has the `",
                   controller, "` controller"));
}

absl::Status SetCpuV1(const std::string& dir, const CgroupResources& r) {
  if (r.cpu_shares.value_or(0) != 0) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(dir + "/cpu.shares",
                                       std::to_string(*r.cpu_shares)));
  }
  const bool set_quota = r.cpu_quota.value_or(0) != 0;
  // A smaller period can be refused (EINVAL) while the old quota, scaled to
  // it, exceeds the parent's; when a quota comes too, retry after it (runc).
  bool period_pending = false;
  if (r.cpu_period.value_or(0) != 0) {
    absl::Status status = WriteFile(dir + "/cpu.cfs_period_us",
                                    std::to_string(*r.cpu_period));
    if (!status.ok()) {
      if (status.code() != absl::StatusCode::kInvalidArgument || !set_quota) {
        return status;
      }
      period_pending = true;
    }
  }
  if (set_quota) {
    CONVERGE_RETURN_IF_ERROR(
        WriteFile(dir + "/cpu.cfs_quota_us",
                  *r.cpu_quota < 0 ? "-1" : std::to_string(*r.cpu_quota)));
  }
  if (period_pending) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(dir + "/cpu.cfs_period_us",
                                       std::to_string(*r.cpu_period)));
  }
  return absl::OkStatus();
}

absl::Status SetMemoryV1(const std::string& dir, const CgroupResources& r) {
  const std::string limit_file = dir + "/memory.limit_in_bytes";
  const std::string swap_file = dir + "/memory.memsw.limit_in_bytes";
  std::optional<std::string> memory;
  if (r.memory_limit_bytes) {
    memory = *r.memory_limit_bytes <= 0
                 ? "-1"
                 : std::to_string(*r.memory_limit_bytes);
  }
  std::optional<std::string> swap;
  const int64_t swap_value = r.memory_swap_limit_bytes.value_or(0);
  if (swap_value != 0) {
    if (!FileExists(swap_file)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot set the memory+swap limit: `", swap_file,
                       "` is missing (kernel without swap accounting)"));
    }
    swap = swap_value < 0 ? "-1" : std::to_string(swap_value);
  } else if (memory == "-1" && FileExists(swap_file)) {
    // Unlimited memory with a finite memory+swap limit is refused (memsw
    // must be >= memory), so it goes unlimited too, as in runc.
    swap = "-1";
  }
  // memsw >= memory holds before and after each write, so raise memsw first
  // when it grows above the current memory limit, else lower memory first.
  bool swap_first = false;
  if (memory && swap) {
    CONVERGE_ASSIGN_OR_RETURN(std::string current_text, ReadFile(limit_file));
    CONVERGE_ASSIGN_OR_RETURN(std::optional<uint64_t> current,
                              ParseSingleValue(current_text, limit_file));
    // current == nullopt: unlimited now, so memsw is unlimited too and
    // memory has to come down first.
    swap_first = *swap == "-1" ||
                 (current && *current < static_cast<uint64_t>(swap_value));
  }
  if (swap && swap_first) CONVERGE_RETURN_IF_ERROR(WriteFile(swap_file, *swap));
  if (memory) CONVERGE_RETURN_IF_ERROR(WriteFile(limit_file, *memory));
  if (swap && !swap_first) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(swap_file, *swap));
  }
  return absl::OkStatus();
}

absl::Status SetResourcesV1(const CgroupLayout& layout, const std::string& path,
                            const CgroupResources& r) {
  if (r.cpu_shares.value_or(0) != 0 || r.cpu_quota.value_or(0) != 0 ||
      r.cpu_period.value_or(0) != 0) {
    CONVERGE_ASSIGN_OR_RETURN(std::string dir,
                              RequireDir(layout, "cpu", path, "CPU limits"));
    CONVERGE_RETURN_IF_ERROR(SetCpuV1(dir, r));
  }
  if (r.cpuset_cpus || r.cpuset_mems) {
    CONVERGE_ASSIGN_OR_RETURN(std::string dir,
                              RequireDir(layout, "cpuset", path, "cpusets"));
    for (const auto& [file, value] :
         {std::make_pair("/cpuset.cpus", &r.cpuset_cpus),
          std::make_pair("/cpuset.mems", &r.cpuset_mems)}) {
      if (!*value) continue;
      absl::Status status = WriteFile(dir + file, **value);
      // v1 answers EACCES for CPUs or nodes outside the parent's set: a bad
      // request, not a permission problem.
      if (status.code() == absl::StatusCode::kPermissionDenied) {
        status = absl::InvalidArgumentError(absl::StrCat(
            status.message(), "; not within the parent cgroup's cpuset"));
      }
      CONVERGE_RETURN_IF_ERROR(status);
    }
  }
  if (r.memory_limit_bytes || r.memory_swap_limit_bytes.value_or(0) != 0) {
    CONVERGE_ASSIGN_OR_RETURN(
        std::string dir, RequireDir(layout, "memory", path, "memory limits"));
    CONVERGE_RETURN_IF_ERROR(SetMemoryV1(dir, r));
  }
  if (r.pids_limit) {
    CONVERGE_ASSIGN_OR_RETURN(std::string dir,
                              RequireDir(layout, "pids", path, "a pids limit"));
    CONVERGE_RETURN_IF_ERROR(WriteFile(
        dir + "/pids.max",
        *r.pids_limit <= 0 ? "max" : std::to_string(*r.pids_limit)));
  }
  if (!r.hugepage_limits.empty()) {
    CONVERGE_ASSIGN_OR_RETURN(
        std::string dir,
        RequireDir(layout, "hugetlb", path, "hugepage limits"));
    for (const auto& [size, limit] : r.hugepage_limits) {
      CONVERGE_RETURN_IF_ERROR(
          WriteFile(absl::StrCat(dir, "/hugetlb.", size, ".limit_in_bytes"),
                    std::to_string(limit)));
    }
  }
  return absl::OkStatus();
}

absl::Status StatsV1(const CgroupLayout& layout, const std::string& path,
                     CgroupStats* stats) {
  if (std::optional<std::string> dir = ControllerDir(layout, "cpuacct", path)) {
    CONVERGE_RETURN_IF_ERROR(
        ReadValue(*dir + "/cpuacct.usage", &stats->cpu_usage_ns));
    // USER_HZ ticks; 100 on every Linux ABI, but ask.
    const long ticks = sysconf(_SC_CLK_TCK);  // NOLINT(runtime/int)
    const uint64_t ns_per_tick =
        ticks > 0 ? 1000000000ULL / static_cast<uint64_t>(ticks) : 10000000ULL;
    CONVERGE_ASSIGN_OR_RETURN(auto cpu, ReadKeyed(*dir + "/cpuacct.stat"));
    CopyKey(cpu, "user", &stats->cpu_user_ns, ns_per_tick);
    CopyKey(cpu, "system", &stats->cpu_system_ns, ns_per_tick);
  }
  if (std::optional<std::string> dir = ControllerDir(layout, "memory", path)) {
    CONVERGE_RETURN_IF_ERROR(
        ReadValue(*dir + "/memory.usage_in_bytes", &stats->memory_usage_bytes));
    CONVERGE_RETURN_IF_ERROR(
        ReadValue(*dir + "/memory.limit_in_bytes", &stats->memory_limit_bytes));
    // The total_ counters include descendants, like usage_in_bytes.
    CONVERGE_ASSIGN_OR_RETURN(auto memory, ReadKeyed(*dir + "/memory.stat"));
    CopyKey(memory, "total_rss", &stats->memory_rss_bytes);
    CopyKey(memory, "total_pgfault", &stats->memory_page_faults);
    CopyKey(memory, "total_pgmajfault", &stats->memory_major_page_faults);
    std::optional<uint64_t> inactive_file;
    CopyKey(memory, "total_inactive_file", &inactive_file);
    if (stats->memory_usage_bytes) {
      stats->memory_working_set_bytes =
          WorkingSet(*stats->memory_usage_bytes, inactive_file.value_or(0));
    }
    CONVERGE_ASSIGN_OR_RETURN(auto oom,
                              ReadKeyed(*dir + "/memory.oom_control"));
    CopyKey(oom, "oom_kill", &stats->oom_kill_count);
  }
  if (std::optional<std::string> dir = ControllerDir(layout, "pids", path)) {
    CONVERGE_RETURN_IF_ERROR(
        ReadValue(*dir + "/pids.current", &stats->pids_current));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SetFrozenV1(const CgroupLayout& layout,
                                 const std::string& path, bool frozen,
                                 absl::Time deadline) {
  std::optional<std::string> dir = ControllerDir(layout, "freezer", path);
  if (!dir) return false;
  const std::string file = *dir + "/freezer.state";
  const char* const want = frozen ? "FROZEN" : "THAWED";
  absl::Status status = PollUntil(
      [&]() -> absl::StatusOr<bool> {
        // Writing again is harmless and gets a stuck FREEZING going (runc).
        CONVERGE_RETURN_IF_ERROR(WriteFile(file, want));
        CONVERGE_ASSIGN_OR_RETURN(std::string state, ReadFile(file));
        return absl::StripAsciiWhitespace(state) == want;
      },
      deadline, absl::StrCat("writing `", want, "` to `", file, "`"));
  if (!status.ok() && frozen) {
    absl::Status thaw = WriteFile(file, "THAWED");
    if (!thaw.ok()) {
      CgroupLog().error("thaw after failed freeze failed file={} error={}",
                        file, thaw.ToString());
    }
  }
  CONVERGE_RETURN_IF_ERROR(status);
  return true;
}

absl::StatusOr<bool> KillAllV1(const CgroupLayout&, const std::string&) {
  return false;  // no cgroup.kill in v1
}

absl::Status SetDevicesV1(const CgroupLayout& layout, const std::string& path,
                          const std::vector<DeviceRule>& rules) {
  std::optional<std::string> dir = ControllerDir(layout, "devices", path);
  if (!dir) {
    return absl::FailedPreconditionError(
        "cannot set device rules: no cgroup v1 hierarchy has the `devices` "
        "controller");
  }
  CONVERGE_RETURN_IF_ERROR(WriteFile(*dir + "/devices.deny", "a"));
  for (const DeviceRule& rule : rules) {
    CONVERGE_RETURN_IF_ERROR(WriteFile(
        *dir + (rule.allow ? "/devices.allow" : "/devices.deny"),
        rule.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace

const CgroupBackend kV1Backend = {
    1,           &DiscoverV1,  &PrepareV1, &SetResourcesV1,
    &StatsV1,    &SetFrozenV1, &KillAllV1, &SetDevicesV1,
};

}  // namespace converge

// CgroupDriver: creates, removes and observes the cgroups that converge puts
// pods and containers in, through the cgroup filesystem ("cgroupfs" driver,
// the name reported to kubelet in RuntimeConfig). The Linux implementation is
// in linux_cgroup.h; an in-memory fake for tests is in testing/fake_cgroup.h.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<CgroupDriver> cgroups,
//                             LinuxCgroupDriver::CreateCgroupDriver());
//   const std::string path = "/kubepods/besteffort/pod123/converge-abc";
//   CONVERGE_RETURN_IF_ERROR(cgroups->Create(path));   // parents too
//   ...
//   CONVERGE_ASSIGN_OR_RETURN(bool present, cgroups->Exists(path));
//   CONVERGE_RETURN_IF_ERROR(cgroups->Remove(path));   // leaf only
//
// A container's cgroup, below its pod's:
//
//   CONVERGE_RETURN_IF_ERROR(cgroups->Create(container));
//   CgroupResources limits;
//   limits.memory_limit_bytes = 256 << 20;
//   limits.cpu_shares = 512;
//   CONVERGE_RETURN_IF_ERROR(cgroups->SetResources(container, limits));
//   CONVERGE_RETURN_IF_ERROR(cgroups->SetDevices(container,
//                                                DefaultDeviceRules()));
//   CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> join,
//                             cgroups->ProcsFiles(container));
//   // ... the child writes its pid into each of `join`, then execs ...
//   CONVERGE_ASSIGN_OR_RETURN(CgroupStats stats, cgroups->Stats(container));
//   CONVERGE_RETURN_IF_ERROR(cgroups->KillAll(container, SIGKILL));
//   // ... poll Pids(container) until empty, then Remove(container) ...
//
// Paths are absolute cgroup paths, the same in every hierarchy, e.g.
// "/kubepods/pod1/c1" is /sys/fs/cgroup/<each v1 hierarchy>/kubepods/pod1/c1
// on cgroup v1 and /sys/fs/cgroup/kubepods/pod1/c1 on cgroup v2. They come
// from CRI requests and are validated by every method (ValidateCgroupPath).
//
// Thread safety: implementations are safe to call from any thread. Calls for
// different paths do not interfere, including ones sharing parents. Calls for
// the same path race like the filesystem does; callers serialise them per pod
// (the reconciler's work queue never runs one key on two workers).
//
// Idempotence: Create of an existing cgroup and Remove of an absent one are OK,
// so a reconciler may repeat any step after a crash or a partial failure.
//
// Error codes (messages carry the operation, the quoted path and errno):
//   INVALID_ARGUMENT     the path fails ValidateCgroupPath, or (Create) goes
//                        through a control file such as "/a/cgroup.procs".
//                        Remove and Exists treat such a path as absent.
//                        SetResources/SetDevices: a malformed field, or a
//                        value the kernel refuses (EINVAL), e.g. a CFS quota
//                        below 1ms or CPUs outside the parent's cpuset.
//   NOT_FOUND            (SetResources, Stats, Pids, KillAll, SetDevices) the
//                        cgroup does not exist.
//   FAILED_PRECONDITION  SetResources of a limit whose controller the driver
//                        does not have (e.g. hugetlb not mounted on v1).
//   FAILED_PRECONDITION  Remove of a cgroup that still has processes or child
//                        cgroups (EBUSY); retry after killing / removing them.
//   PERMISSION_DENIED, RESOURCE_EXHAUSTED, INTERNAL, ...  other errnos, mapped
//                        by ErrnoToCode (common/errors.h).
#ifndef CONVERGE_EXECUTORS_CGROUP_CGROUP_H_
#define CONVERGE_EXECUTORS_CGROUP_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace converge {

// The only driver converge implements; kubelet must be configured to match.
inline constexpr char kCgroupfsDriverName[] = "cgroupfs";

// Limits for one cgroup, in runc's terms (the OCI LinuxResources that CRI's
// LinuxContainerResources map to). An absent field is left as it is, so the
// same struct serves creation and UpdateContainerResources.
struct CgroupResources {
  // Relative CPU weight, 2..262144 (the kernel clamps). v1 cpu.shares; v2
  // cpu.weight = 1 + ((shares - 2) * 9999) / 262142 (runc's conversion).
  // 0 leaves the value as it is, like runc.
  std::optional<uint64_t> cpu_shares;
  // CFS quota per period in microseconds; -1 (any negative) = unlimited, 0
  // leaves it as it is (CRI's "unset").
  // v1 cpu.cfs_quota_us; v2 the first field of cpu.max ("max" if unlimited).
  std::optional<int64_t> cpu_quota;
  // CFS period in microseconds, 0 = leave. v1 cpu.cfs_period_us; v2 cpu.max's
  // second field.
  std::optional<uint64_t> cpu_period;
  // cpuset lists such as "0-3,6". v1 and v2 cpuset.cpus / cpuset.mems. A
  // list outside the parent's is INVALID_ARGUMENT (v1 answers EACCES).
  std::optional<std::string> cpuset_cpus;
  std::optional<std::string> cpuset_mems;
  // Bytes; 0 or negative = unlimited. v1 memory.limit_in_bytes; v2
  // memory.max.
  std::optional<int64_t> memory_limit_bytes;
  // Memory plus swap, in bytes, as in OCI and CRI (not swap alone); -1 =
  // unlimited, 0 = leave as is. v1 memory.memsw.limit_in_bytes
  // (FAILED_PRECONDITION if the kernel has no swap accounting); v2
  // memory.swap.max, which counts swap only, gets this minus the memory
  // limit (runc's ConvertMemorySwapToCgroupV2Value; INVALID_ARGUMENT without
  // a memory limit in the same call, or below it). When memory becomes
  // unlimited and this is absent, swap becomes unlimited too (v1 refuses
  // memory above memory+swap).
  std::optional<int64_t> memory_swap_limit_bytes;
  // Maximum number of processes; 0 or negative = unlimited. pids.max.
  std::optional<int64_t> pids_limit;
  // Page size as the kernel names it ("2MB", "1GB", "64KB") -> bytes.
  // v1 hugetlb.<size>.limit_in_bytes; v2 hugetlb.<size>.max.
  std::map<std::string, uint64_t> hugepage_limits;
};

// One sample of a cgroup's usage. A field is absent when its controller or
// file is missing (v1 hierarchy not mounted, v2 controller not enabled, older
// kernel), never because of an error.
struct CgroupStats {
  absl::Time timestamp;  // when the sample was taken
  // Nanoseconds. v1 cpuacct.usage and cpuacct.stat (USER_HZ ticks, converted);
  // v2 cpu.stat usage_usec / user_usec / system_usec * 1000.
  std::optional<uint64_t> cpu_usage_ns;
  std::optional<uint64_t> cpu_user_ns;
  std::optional<uint64_t> cpu_system_ns;
  // Bytes. usage: v1 memory.usage_in_bytes, v2 memory.current. working set =
  // usage - inactive file cache (0 if that is larger), as cadvisor and
  // containerd compute it (v1 total_inactive_file, v2 inactive_file). rss:
  // v1 total_rss, v2 anon.
  std::optional<uint64_t> memory_usage_bytes;
  std::optional<uint64_t> memory_working_set_bytes;
  std::optional<uint64_t> memory_rss_bytes;
  // Counts from memory.stat (v1 total_pgfault / total_pgmajfault; v2 pgfault
  // / pgmajfault).
  std::optional<uint64_t> memory_page_faults;
  std::optional<uint64_t> memory_major_page_faults;
  // The memory limit in bytes; absent when unlimited.
  std::optional<uint64_t> memory_limit_bytes;
  // Processes now (pids.current).
  std::optional<uint64_t> pids_current;
  // Processes the OOM killer killed in this cgroup and below (v1
  // memory.oom_control oom_kill, kernel >= 4.13; v2 memory.events oom_kill).
  std::optional<uint64_t> oom_kill_count;
};

// One device cgroup rule, as in OCI's LinuxDeviceCgroup and v1's
// devices.allow / devices.deny lines ("c 1:3 rwm").
struct DeviceRule {
  bool allow = true;
  char type = 'a';     // 'a' (all), 'c' (char) or 'b' (block)
  int64_t major = -1;  // -1 = any ("*")
  int64_t minor = -1;  // -1 = any ("*")
  std::string access = "rwm";  // a non-empty subset of "rwm"

  // The v1 file syntax: "c 1:3 rwm", "b *:* m", "a *:* rwm".
  std::string ToString() const;
  bool operator==(const DeviceRule& other) const {
    return allow == other.allow && type == other.type &&
           major == other.major && minor == other.minor &&
           access == other.access;
  }
};

// OK if `rule` has a known type, majors/minors >= -1 and access in "rwm";
// else INVALID_ARGUMENT naming the rule.
absl::Status ValidateDeviceRule(const DeviceRule& rule);

// runc's (and so containerd's) default allowlist for containers: mknod of any
// char and block device ('m' on c *:* and b *:*), /dev/null, zero, full,
// random, urandom, tty, console (5:1), ptmx, the pts (136:*) and tun (10:200).
std::vector<DeviceRule> DefaultDeviceRules();

class CgroupDriver {
 public:
  virtual ~CgroupDriver() = default;

  // Always kCgroupfsDriverName ("cgroupfs"), whichever cgroup version.
  virtual std::string Name() const = 0;

  // 1 (one hierarchy per controller) or 2 (single unified tree).
  virtual int Version() const = 0;

  // Creates `path` and any missing parents in every hierarchy the driver
  // manages. Existing directories are kept, so this also repairs a cgroup that
  // is missing from some hierarchies.
  virtual absl::Status Create(const std::string& path) = 0;

  // Removes the leaf `path` from every hierarchy; never its parents. Absent
  // (anywhere or everywhere) is OK. A busy cgroup gives FAILED_PRECONDITION;
  // Remove still tries every hierarchy first, so retries finish the rest.
  virtual absl::Status Remove(const std::string& path) = 0;

  // True only if `path` is a cgroup in every hierarchy. Partial presence (some
  // hierarchies only, e.g. after an interrupted Create or Remove, or someone
  // rmdir'ing by hand) is false: it is drift, and Create or Remove fixes it.
  virtual absl::StatusOr<bool> Exists(const std::string& path) = 0;

  // Applies the fields set in `resources` to the existing cgroup `path`, in
  // place (also for UpdateContainerResources). Writes happen in a safe order
  // (v1 memory vs memory+swap, CFS period vs quota), so raising and lowering
  // both work. v2: controllers a limit needs and the cgroup does not have yet
  // are enabled in cgroup.subtree_control of each ancestor, from the mount
  // root down. Not atomic: on an error the fields before it stay applied;
  // retrying the same call is safe.
  virtual absl::Status SetResources(const std::string& path,
                                    const CgroupResources& resources) = 0;

  // Current usage of `path` (including its descendants). Missing controllers
  // leave fields absent; unreadable or malformed present files are errors.
  virtual absl::StatusOr<CgroupStats> Stats(const std::string& path) = 0;

  // The cgroup.procs file of `path` in every hierarchy the driver manages: a
  // process joins the cgroup by writing its pid into each (v1: one per
  // hierarchy; v2: one). Pure path computation, it does not check existence.
  virtual absl::StatusOr<std::vector<std::string>> ProcsFiles(
      const std::string& path) = 0;

  // Every process in `path` and the cgroups below it, in any hierarchy
  // (sorted, no duplicates). Empty once everything has exited.
  virtual absl::StatusOr<std::vector<pid_t>> Pids(const std::string& path) = 0;

  // Sends `signal` to every process in `path` and below, without missing
  // children forked meanwhile: SIGKILL on v2 with cgroup.kill (kernel >=
  // 5.14) is one write; otherwise the cgroup is frozen (v1 freezer.state,
  // v2 cgroup.freeze), each process signalled (listing again until no new
  // pid shows up, for forks in flight at the freeze), and thawed. A
  // frozen (paused) cgroup ends thawed. Waiting for the freeze is bounded:
  // DEADLINE_EXCEEDED after 5s (the cgroup is thawed again). On v1 without
  // a freezer hierarchy it falls back to repeated rounds of signalling (not
  // race-free). Processes exit asynchronously: poll Pids until it is empty.
  virtual absl::Status KillAll(const std::string& path, int signal) = 0;

  // Replaces the device rules of `path`: v1 writes "a" to devices.deny, then
  // each rule to devices.allow or devices.deny in order (a process in the
  // cgroup briefly has no device access while this runs; a v1 devices cgroup
  // can only allow what its parent allows). On v2 this is a no-op returning
  // OK: v2 device control is an eBPF program attached to the cgroup, which
  // converge does not implement yet, so v2 containers have no device
  // restriction beyond their mount namespace's /dev. Rules are validated on
  // both versions (INVALID_ARGUMENT).
  virtual absl::Status SetDevices(const std::string& path,
                                  const std::vector<DeviceRule>& rules) = 0;
};

// OK if `path` is acceptable as a cgroup path: absolute, below the root, no
// empty, "." or ".." components, no NUL or newline, components at most 255
// bytes and the whole at most kMaxCgroupPathLength. Otherwise
// INVALID_ARGUMENT naming the (escaped) path and the reason.
inline constexpr size_t kMaxCgroupPathLength = 2048;
absl::Status ValidateCgroupPath(const std::string& path);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_CGROUP_CGROUP_H_

// Reading, writing and parsing cgroup control files. Private to
// executors/cgroup: the Linux driver and its per-version backends use it.
// The parsers are pure and table-tested (cgroup_files_test.cc).
//
//   CONVERGE_ASSIGN_OR_RETURN(std::optional<std::string> stat,
//                             ReadFileIfExists(dir + "/memory.stat"));
//   if (stat) {
//     std::map<std::string, uint64_t> keyed = ParseFlatKeyed(*stat);
//     ... keyed["total_inactive_file"] ...
//   }
#ifndef CONVERGE_EXECUTORS_CGROUP_CGROUP_FILES_H_
#define CONVERGE_EXECUTORS_CGROUP_CGROUP_FILES_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge {

// ---- I/O (errors name the operation, the quoted path and errno) ----

absl::StatusOr<std::string> ReadFile(const std::string& path);
// nullopt when the file does not exist (ENOENT): a missing controller.
absl::StatusOr<std::optional<std::string>> ReadFileIfExists(
    const std::string& path);
// One write(2), as cgroup files need. EINVAL (a value the kernel refuses)
// comes back as INVALID_ARGUMENT.
absl::Status WriteFile(const std::string& path, absl::string_view value);
bool FileExists(const std::string& path);
// mkdir that accepts an existing directory; returns whether it made `dir`.
// INVALID_ARGUMENT when `dir` or a parent is a control file.
absl::StatusOr<bool> MakeDir(const std::string& dir);
// The immediate child directories of `dir` (full paths); empty if absent.
absl::StatusOr<std::vector<std::string>> ChildDirs(const std::string& dir);

// ---- pure parsers ----

// "key value" lines (memory.stat, cpu.stat, memory.events, cgroup.events,
// memory.oom_control, cpuacct.stat). Lines that are not exactly a key and an
// unsigned decimal are skipped; the last of repeated keys wins.
std::map<std::string, uint64_t> ParseFlatKeyed(absl::string_view content);

// A single value file (memory.current, pids.current, cpuacct.usage, ...).
// nullopt for "max", or for a value too large to be a limit (v1 reports
// "unlimited" as PAGE_COUNTER_MAX pages, 0x7ffffffffffff000 bytes on x86-64).
// INTERNAL naming `what` when malformed.
absl::StatusOr<std::optional<uint64_t>> ParseSingleValue(
    absl::string_view content, absl::string_view what);

// pids in cgroup.procs, one per line. INTERNAL naming `what` when malformed.
absl::StatusOr<std::vector<pid_t>> ParsePidList(absl::string_view content,
                                                absl::string_view what);

// cpu.shares -> cpu.weight, runc's formula 1 + ((shares - 2) * 9999) / 262142,
// with shares clamped to the kernel's 2..262144 first (so 1..10000 out).
uint64_t CpuSharesToWeight(uint64_t shares);

// usage - inactive_file, or 0 if the cache exceeds usage (cadvisor).
uint64_t WorkingSet(uint64_t usage, uint64_t inactive_file);

// OK for a hugetlb page size as the kernel names it in control files:
// digits then KB, MB or GB ("2MB", "1GB"). Else INVALID_ARGUMENT.
absl::Status ValidateHugepageSize(absl::string_view size);

// What memory.swap.max (v2, swap only) gets for OCI's memory+swap `swap`
// given the memory limit `memory` (both as in CgroupResources: memory <= 0
// unlimited, swap -1 unlimited). "max" for unlimited, nullopt to leave as
// is; INVALID_ARGUMENT for a swap limit without a memory limit or below it.
absl::StatusOr<std::optional<std::string>> V2SwapMax(
    std::optional<int64_t> memory, std::optional<int64_t> swap);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_CGROUP_CGROUP_FILES_H_

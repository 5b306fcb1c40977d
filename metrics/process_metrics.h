// The standard process_* metrics, under the names client_golang and
// client_python use so stock dashboards work, plus converge_build_info. A
// scrape hook reads /proc once per scrape and refreshes them all:
//
//   process_cpu_seconds_total       utime + stime from /proc/self/stat
//   process_resident_memory_bytes   rss pages * page size, /proc/self/stat
//   process_virtual_memory_bytes    vsize from /proc/self/stat
//   process_start_time_seconds      btime (/proc/stat) + starttime / CLK_TCK
//   process_open_fds                entries of /proc/self/fd
//   process_max_fds                 soft RLIMIT_NOFILE (+Inf if unlimited)
//   converge_build_info{version}    always 1
//
//   metrics::Registry registry;
//   metrics::ProcessMetricsOptions options;
//   options.version = kConvergeVersion;
//   CONVERGE_RETURN_IF_ERROR(
//       metrics::RegisterProcessMetrics(&registry, options));
#ifndef CONVERGE_METRICS_PROCESS_METRICS_H_
#define CONVERGE_METRICS_PROCESS_METRICS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "metrics/metrics.h"

namespace converge::metrics {

struct ProcessMetricsOptions {
  // The value of converge_build_info's `version` label.
  std::string version;
  // Where procfs is mounted; tests point it at a fake tree.
  std::string proc_root = "/proc";
};

// Registers the metrics above and the hook that refreshes them, reading /proc
// once now so an unreadable procfs is reported here rather than at every
// scrape. Errors: the registry's (ALREADY_EXISTS if registered twice), and
// file errors naming the path. On error, metrics registered before the
// failure stay registered (the registry cannot unregister); treat it as fatal
// or ignore the metrics.
absl::Status RegisterProcessMetrics(Registry* registry,
                                    const ProcessMetricsOptions& options);

// The fields of /proc/<pid>/stat the metrics need, in the units exported.
struct ProcStat {
  double cpu_seconds = 0;
  double virtual_memory_bytes = 0;
  double resident_memory_bytes = 0;
  double start_ticks_after_boot = 0;  // In clock ticks, as the kernel keeps it.
};

// Parses /proc/<pid>/stat. The command name (field 2) may contain spaces and
// parentheses, so fields are counted from the last ')'. INVALID_ARGUMENT if
// the text is malformed.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view content,
                                       long ticks_per_second, long page_size);

// The `btime` line of /proc/stat: boot time in seconds since the epoch.
// INVALID_ARGUMENT if absent or malformed.
absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat);

}  // namespace converge::metrics

#endif  // CONVERGE_METRICS_PROCESS_METRICS_H_

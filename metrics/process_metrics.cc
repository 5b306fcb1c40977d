#include "metrics/process_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace converge::metrics {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open `", path, "`");
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return ErrnoError(err, "read `", path, "`");
    }
    if (n == 0) break;
    content.append(buffer, n);
  }
  close(fd);
  return content;
}

absl::StatusOr<int> CountEntries(const std::string& dir_path) {
  DIR* dir = opendir(dir_path.c_str());
  if (dir == nullptr) return ErrnoError(errno, "opendir `", dir_path, "`");
  int count = 0;
  errno = 0;
  while (const dirent* entry = readdir(dir)) {
    const absl::string_view name = entry->d_name;
    if (name != "." && name != "..") ++count;
  }
  const int err = errno;
  closedir(dir);
  if (err != 0) return ErrnoError(err, "readdir `", dir_path, "`");
  return count;
}

// What the hook refreshes. Shared with the registry's hook and callback, so
// it lives as long as the registry does.
struct ProcessState {
  std::string proc_root;
  long ticks_per_second = 0;
  long page_size = 0;
  // Read by the process_cpu_seconds_total callback: counters have no Set.
  std::atomic<double> cpu_seconds{0};
  Gauge* resident_memory = nullptr;
  Gauge* virtual_memory = nullptr;
  Gauge* open_fds = nullptr;
  Gauge* max_fds = nullptr;

  absl::StatusOr<ProcStat> ReadStat() const {
    CONVERGE_ASSIGN_OR_RETURN(const std::string stat,
                              ReadFile(proc_root + "/self/stat"));
    return ParseProcStat(stat, ticks_per_second, page_size);
  }

  // Updates everything it can and reports the first failure.
  absl::Status Refresh() {
    absl::Status status;
    if (absl::StatusOr<ProcStat> stat = ReadStat(); stat.ok()) {
      cpu_seconds.store(stat->cpu_seconds, std::memory_order_relaxed);
      resident_memory->Set(stat->resident_memory_bytes);
      virtual_memory->Set(stat->virtual_memory_bytes);
    } else {
      status.Update(stat.status());
    }
    if (absl::StatusOr<int> fds = CountEntries(proc_root + "/self/fd");
        fds.ok()) {
      open_fds->Set(*fds);
    } else {
      status.Update(fds.status());
    }
    rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      max_fds->Set(limit.rlim_cur == RLIM_INFINITY
                       ? std::numeric_limits<double>::infinity()
                       : static_cast<double>(limit.rlim_cur));
    } else {
      status.Update(ErrnoError(errno, "getrlimit RLIMIT_NOFILE"));
    }
    return status;
  }
};

absl::StatusOr<Gauge*> AddPlainGauge(Registry* registry, absl::string_view name,
                                     absl::string_view help) {
  CONVERGE_ASSIGN_OR_RETURN(GaugeFamily * family,
                            registry->AddGauge(name, help));
  return family->WithLabels({});
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view content,
                                       long ticks_per_second, long page_size) {
  const size_t comm_end = content.rfind(')');
  if (comm_end == absl::string_view::npos) {
    return absl::InvalidArgumentError("proc stat: no `)` after the command");
  }
  // fields[0] is field 3 (state) in proc(5)'s numbering.
  const std::vector<absl::string_view> fields =
      absl::StrSplit(content.substr(comm_end + 1), ' ', absl::SkipWhitespace());
  auto field = [&fields](int number, int64_t* value) {
    const size_t index = number - 3;
    return index < fields.size() && absl::SimpleAtoi(fields[index], value);
  };
  int64_t utime, stime, start_ticks, vsize, rss;
  if (!field(14, &utime) || !field(15, &stime) || !field(22, &start_ticks) ||
      !field(23, &vsize) || !field(24, &rss)) {
    return absl::InvalidArgumentError(
        absl::StrCat("proc stat: malformed fields after the command: `",
                     content.substr(comm_end + 1, 80), "`"));
  }
  ProcStat stat;
  stat.cpu_seconds = static_cast<double>(utime + stime) / ticks_per_second;
  stat.virtual_memory_bytes = static_cast<double>(vsize);
  stat.resident_memory_bytes = static_cast<double>(rss) * page_size;
  stat.start_ticks_after_boot = static_cast<double>(start_ticks);
  return stat;
}

absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat) {
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    int64_t seconds;
    if (!absl::SimpleAtoi(line, &seconds)) {
      return absl::InvalidArgumentError(
          absl::StrCat("proc stat: malformed btime `", line, "`"));
    }
    return static_cast<double>(seconds);
  }
  return absl::InvalidArgumentError("proc stat: no btime line");
}

absl::Status RegisterProcessMetrics(Registry* registry,
                                    const ProcessMetricsOptions& options) {
  auto state = std::make_shared<ProcessState>();
  state->proc_root = options.proc_root;
  state->ticks_per_second = sysconf(_SC_CLK_TCK);
  state->page_size = sysconf(_SC_PAGESIZE);

  // The start time never changes: compute it once.
  CONVERGE_ASSIGN_OR_RETURN(const ProcStat stat, state->ReadStat());
  CONVERGE_ASSIGN_OR_RETURN(const std::string proc_stat,
                            ReadFile(options.proc_root + "/stat"));
  CONVERGE_ASSIGN_OR_RETURN(const double boot_time, ParseBootTime(proc_stat));

  CONVERGE_ASSIGN_OR_RETURN(
      Gauge * start_time,
      AddPlainGauge(registry, "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds."));
  start_time->Set(boot_time +
                  stat.start_ticks_after_boot / state->ticks_per_second);
  CONVERGE_ASSIGN_OR_RETURN(
      state->resident_memory,
      AddPlainGauge(registry, "process_resident_memory_bytes",
                    "Resident memory size in bytes."));
  CONVERGE_ASSIGN_OR_RETURN(
      state->virtual_memory,
      AddPlainGauge(registry, "process_virtual_memory_bytes",
                    "Virtual memory size in bytes."));
  CONVERGE_ASSIGN_OR_RETURN(state->open_fds,
                            AddPlainGauge(registry, "process_open_fds",
                                          "Number of open file descriptors."));
  CONVERGE_ASSIGN_OR_RETURN(
      state->max_fds,
      AddPlainGauge(registry, "process_max_fds",
                    "Maximum number of open file descriptors."));
  CONVERGE_RETURN_IF_ERROR(
      registry
          ->AddCallbackCounter(
              "process_cpu_seconds_total",
              "Total user and system CPU time spent in seconds.",
              [state] {
                return state->cpu_seconds.load(std::memory_order_relaxed);
              })
          .status());
  CONVERGE_ASSIGN_OR_RETURN(
      GaugeFamily * build_info,
      registry->AddGauge("converge_build_info",
                         "Always 1; the labels describe the running build.",
                         {"version"}));
  build_info->WithLabels({options.version})->Set(1);

  CONVERGE_RETURN_IF_ERROR(state->Refresh());
  registry->AddScrapeHook("process_metrics",
                          [state] { return state->Refresh(); });
  return absl::OkStatus();
}

}  // namespace converge::metrics

// Reading a container's CRI log file (executors/process/log/cri_log.h) for
// `convergectl logs`, as `crictl logs` and `kubectl logs` show it: record
// contents without timestamps, a `P` record joined with the records that
// continue its line, stdout records to stdout and stderr records to stderr.
//
//   LogFollowOptions options;
//   options.keep_following = [&] { return ContainerRunning(id); };
//   CONVERGE_RETURN_IF_ERROR(PrintLogFile(path, /*tail=*/10, /*follow=*/true, options,
//                                         [](LogStream s, absl::string_view text) { ... }));
#ifndef CONVERGE_CMD_CONVERGECTL_CONTAINER_LOGS_H_
#define CONVERGE_CMD_CONVERGECTL_CONTAINER_LOGS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "executors/process/log/cri_log.h"

namespace converge {

// One line of a container's output: the contents of its records, joined,
// with "\n" at the end unless its last record is still partial (the line
// was never finished, or the rest is not written yet).
struct LogLine {
  LogStream stream;
  std::string text;

  bool operator==(const LogLine& other) const {
    return stream == other.stream && text == other.text;
  }
};

// Joins records into lines. A `P` record continues with the next record of
// the same stream (the other stream's records may come between). Lines are
// in the order they were finished; unfinished ones follow, in the order they
// started.
std::vector<LogLine> JoinLogRecords(const std::vector<LogRecord>& records);

// The last `n` lines; all of them when `n` < 0.
std::vector<LogLine> LastLines(std::vector<LogLine> lines, int64_t n);

// Cuts the bytes of a log file into records as they are read. A record is
// complete at its "\n"; the bytes of one still being written wait for the
// rest.
class LogRecordSplitter {
 public:
  // Records completed by `bytes`, without their "\n".
  std::vector<std::string> Feed(absl::string_view bytes);
  // Forgets an incomplete record (the file it came from was replaced).
  void Reset() { pending_.clear(); }
  const std::string& pending() const { return pending_; }

 private:
  std::string pending_;
};

// Where the output goes: `text` from `stream`.
using LogWriteFn = absl::FunctionRef<void(LogStream stream, absl::string_view text)>;

struct LogFollowOptions {
  // Asked each time the reader has caught up with the file; once it answers
  // false (the container exited), what is left is read and printing stops.
  std::function<bool()> keep_following = [] { return false; };
  // How long to wait before looking again; injectable for tests.
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
  absl::Duration poll = absl::Milliseconds(250);
  // Told about each record that does not parse; it is skipped.
  std::function<void(const absl::Status&)> on_bad_record = [](const absl::Status&) {};
};

// Prints the log file at `path`: its last `tail` lines (all when < 0). With
// `follow`, then prints what is appended, across rotation: when `path` names
// a new file (the old one renamed by kubelet's log rotation and a new one
// created after ReopenContainerLog) the rest of the old file is read first,
// then the new one from its start; a file truncated in place is read again
// from its start. Errors: NOT_FOUND if `path` does not exist at the start,
// the errno of a failed read otherwise.
absl::Status PrintLogFile(const std::string& path, int64_t tail, bool follow,
                          const LogFollowOptions& options, LogWriteFn write);

}  // namespace converge

#endif  // CONVERGE_CMD_CONVERGECTL_CONTAINER_LOGS_H_

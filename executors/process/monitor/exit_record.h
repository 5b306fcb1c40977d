// The exit record of a container: written by converge-monitor into
// `<container_dir>/exit.json` when the container's init exits, read by the
// daemon (which watches the directory with inotify and reads the file again
// after a restart), so that no exit status is ever lost.
//
//   {"exit_code":137,"signal":9,"finished_at_unix_nanos":1700000000123456789,
//    "oom_killed":true,"reason":"OOMKilled"}
//
//   CONVERGE_ASSIGN_OR_RETURN(std::optional<ExitRecord> exit, ReadExitRecord(dir));
//   if (exit) ... exit->exit_code ...
//
// The file appears atomically (temporary file, fsync, rename, fsync of the
// directory): a reader sees either no file or a complete one.
#ifndef CONVERGE_EXECUTORS_PROCESS_MONITOR_EXIT_RECORD_H_
#define CONVERGE_EXECUTORS_PROCESS_MONITOR_EXIT_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge::process {

inline constexpr char kExitRecordFile[] = "exit.json";

struct ExitRecord {
  // The exit status, or 128 + signal when killed by a signal (as containerd
  // and the shell report it).
  int exit_code = 0;
  // The terminating signal, 0 when the process exited by itself.
  int signal = 0;
  int64_t finished_at_unix_nanos = 0;
  // The container's memory cgroup counted an OOM kill (containerd reports
  // OOMKilled on any OOM event in the container, not only of the init).
  bool oom_killed = false;
  // CRI's reason: "OOMKilled", "Completed" (exit code 0) or "Error".
  std::string reason;

  bool operator==(const ExitRecord& other) const {
    return exit_code == other.exit_code && signal == other.signal &&
           finished_at_unix_nanos == other.finished_at_unix_nanos &&
           oom_killed == other.oom_killed && reason == other.reason;
  }
};

std::string SerializeExitRecord(const ExitRecord& record);

// INVALID_ARGUMENT for anything but a JSON object with well-typed fields
// (unknown fields are ignored; exit_code and finished_at_unix_nanos are
// required).
absl::StatusOr<ExitRecord> ParseExitRecord(absl::string_view json);

// Reads `<container_dir>/exit.json`: nullopt when there is none yet;
// INVALID_ARGUMENT when it is garbled, other codes for I/O errors.
absl::StatusOr<std::optional<ExitRecord>> ReadExitRecord(const std::string& container_dir);

// Writes `<container_dir>/exit.json` atomically and durably (replacing an
// older one).
absl::Status WriteExitRecord(const std::string& container_dir, const ExitRecord& record);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_MONITOR_EXIT_RECORD_H_

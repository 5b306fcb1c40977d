// Telling a process apart from a later one that reuses its pid: a pid plus
// its start time (field 22 of /proc/<pid>/stat, in clock ticks since boot),
// as the daemon records monitors and container inits in `actual`.
//
//   CONVERGE_ASSIGN_OR_RETURN(uint64_t start, ReadProcessStartTime(pid));
//   ProcessIdentity id{pid, start};
//   ...
//   if (!IsSameProcess(id)) ...  // exited (or reaped and the pid reused)
#ifndef CONVERGE_EXECUTORS_PROCESS_MONITOR_PROCESS_IDENTITY_H_
#define CONVERGE_EXECUTORS_PROCESS_MONITOR_PROCESS_IDENTITY_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace converge::process {

struct ProcessIdentity {
  pid_t pid = -1;
  uint64_t start_time = 0;  // /proc/<pid>/stat field 22
};

// NOT_FOUND when the process is gone; INVALID_ARGUMENT for pid <= 0;
// INTERNAL when the stat line cannot be parsed.
absl::StatusOr<uint64_t> ReadProcessStartTime(pid_t pid);

// True when `id.pid` exists with the same start time and is not a zombie
// (an exited process that nobody reaped yet is not alive).
bool IsSameProcess(const ProcessIdentity& id);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_MONITOR_PROCESS_IDENTITY_H_

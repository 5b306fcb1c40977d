// ProcessExecutor: the daemon's side of container processes. Each pod has one
// converge-monitor (spawned detached, parent and subreaper of the pod's
// container inits and exec processes, writer of their CRI logs and exit
// records); the executor starts and stops monitors, asks them to create
// containers and run execs, releases created inits through their exec FIFO,
// signals processes it can identify, and reads exit records. The real
// implementation is linux_process_executor.h; an in-memory fake for
// reconciler tests is in testing/fake_process_executor.h.
//
//   CONVERGE_ASSIGN_OR_RETURN(ProcessId monitor, processes->StartMonitor(
//       {sandbox_id, pod_dir, /*pod_pid_namespace=*/false, procs_files}));
//   CONVERGE_ASSIGN_OR_RETURN(ProcessId init, processes->CreateContainer(
//       {pod_dir, container_dir, spec}));         // init waits on the FIFO
//   CONVERGE_RETURN_IF_ERROR(processes->StartContainer(container_dir, init));
//   ... exit.json appears -> the wakeup callback runs with the sandbox id
//   CONVERGE_ASSIGN_OR_RETURN(std::optional<ContainerExit> exit,
//                             processes->ReadExit(container_dir));
//
// The daemon keeps no per-container file descriptors (the node's open-files
// limit is the daemon's, not the containers'): exits are noticed through one
// inotify instance watching container directories, and monitor deaths through
// one pidfd per monitor.
//
// Thread safety: every method may be called from any thread; calls for one
// pod are serialised by the caller (the reconciler's work queue).
//
// Idempotence: StartMonitor adopts a live monitor of the same pod dir;
// StopMonitor, Signal and RemoveContainerDir of what is gone are OK.
//
// Error codes: UNAVAILABLE when a pod's monitor does not answer; NOT_FOUND for
// a container the monitor does not know, or a FIFO already used;
// FAILED_PRECONDITION when a created init died before it was started;
// DEADLINE_EXCEEDED for timeouts; the container init's own setup error (with
// its code, e.g. INVALID_ARGUMENT or NOT_FOUND naming the path) from
// CreateContainer; others mapped from errno by ErrnoToCode.
#ifndef CONVERGE_EXECUTORS_PROCESS_PROCESS_EXECUTOR_H_
#define CONVERGE_EXECUTORS_PROCESS_PROCESS_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executors/process/spec/container_spec.h"

namespace converge {

// A process recognised across pid reuse: pid and start time (field 22 of
// /proc/<pid>/stat).
struct ProcessId {
  int pid = 0;
  uint64_t start_time = 0;
  bool operator==(const ProcessId& other) const {
    return pid == other.pid && start_time == other.start_time;
  }
};

struct MonitorRequest {
  std::string sandbox_id;
  // <state>/pods/<sandbox id>: the monitor's socket and pid file.
  std::string pod_dir;
  // CRI PID namespace mode POD: the monitor holds a pid namespace for the pod.
  bool pod_pid_namespace = false;
  // The pod cgroup's cgroup.procs files: the monitor is accounted to its pod.
  std::vector<std::string> cgroup_procs_files;
};

struct ContainerCreate {
  std::string pod_dir;
  // <state>/containers/<id>: spec.json, the exec FIFO, exit.json.
  std::string container_dir;
  process::ContainerSpec spec;
};

// What the monitor recorded when a container's init exited.
struct ContainerExit {
  int exit_code = 0;  // 128 + signal when killed by a signal
  int signal = 0;
  int64_t finished_at_unix_nanos = 0;
  bool oom_killed = false;
};

struct ExecOutput {
  int exit_code = 0;
  std::string stdout_data;
  std::string stderr_data;
};

class ProcessExecutor {
 public:
  virtual ~ProcessExecutor() = default;

  // Spawns the pod's monitor, or returns the live one serving `pod_dir`.
  virtual absl::StatusOr<ProcessId> StartMonitor(const MonitorRequest& request) = 0;
  // The process holding the pod's pid namespace (pod_pid_namespace monitors).
  virtual absl::StatusOr<ProcessId> PodPidHolder(const std::string& pod_dir) = 0;
  // Asks the monitor to exit, kills it if it does not within a short grace
  // period (it must have no container left), and removes `pod_dir`.
  virtual absl::Status StopMonitor(const std::string& pod_dir, const ProcessId& monitor) = 0;

  // Writes the spec and the exec FIFO into the container dir and asks the
  // pod's monitor to create the container; returns the init, which then waits
  // on the FIFO. A leftover spec, FIFO or exit record is replaced.
  virtual absl::StatusOr<ProcessId> CreateContainer(const ContainerCreate& request) = 0;
  // Releases a created init through its FIFO (runc start).
  virtual absl::Status StartContainer(const std::string& container_dir, const ProcessId& init) = 0;
  // Sends `signal` to the process if it is still the one recorded.
  virtual absl::Status Signal(const ProcessId& process, int signal) = 0;
  virtual bool IsAlive(const ProcessId& process) = 0;
  // The exit record, or nullopt while there is none.
  virtual absl::StatusOr<std::optional<ContainerExit>> ReadExit(
      const std::string& container_dir) = 0;
  virtual absl::Status RemoveContainerDir(const std::string& container_dir) = 0;

  // Runs `args` in the container (ExecSync); on timeout the exec and every
  // process it started are killed and DEADLINE_EXCEEDED is returned.
  virtual absl::StatusOr<ExecOutput> Exec(const std::string& pod_dir,
                                          const std::string& container_id,
                                          const std::vector<std::string>& args,
                                          absl::Duration timeout) = 0;
  virtual absl::Status ReopenLog(const std::string& pod_dir, const std::string& container_id) = 0;

  // A file inside a container's rootfs, resolved without leaving it
  // (/etc/passwd, /etc/group); "" when missing.
  virtual absl::StatusOr<std::string> ReadRootfsFile(const std::string& rootfs,
                                                     const std::string& path) = 0;
  // A file on the host (Localhost seccomp profiles).
  virtual absl::StatusOr<std::string> ReadHostFile(const std::string& path) = 0;
  // Creates the parent directories of a container's log file.
  virtual absl::Status PrepareLogDir(const std::string& log_path) = 0;

  // `wakeup(sandbox_id)` runs (on the executor's watcher thread; it must not
  // block) when an exit record appears in a watched container dir or a
  // watched monitor exits. Set once, before the first watch.
  virtual void SetWakeup(std::function<void(const std::string& sandbox_id)> wakeup) = 0;
  virtual void WatchContainer(const std::string& sandbox_id, const std::string& container_dir) = 0;
  virtual void WatchMonitor(const std::string& sandbox_id, const ProcessId& monitor) = 0;
  // Drops every watch of the sandbox.
  virtual void Unwatch(const std::string& sandbox_id) = 0;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_PROCESS_PROCESS_EXECUTOR_H_

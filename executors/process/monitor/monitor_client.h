// The daemon's side of converge-monitor, the per-pod process that parents the
// pod's container inits and exec processes (the containerd-shim / conmon
// role): starting it, and one request per connection over
// `<pod_dir>/monitor.sock` (protocol.h). The daemon holds no fd for a pod
// between requests. A socket path longer than a unix address holds (107
// bytes) still works: both sides go through /proc/self/fd/<dirfd>/monitor.sock
// (unix_socket.h), so long pod dirs are not an error.
//
//   CONVERGE_ASSIGN_OR_RETURN(ProcessIdentity monitor, SpawnMonitor({
//       .binary = "/usr/libexec/converge-monitor", .pod_dir = pod_dir,
//       .sandbox_id = id, .cgroup_procs_files = pod_cgroup_procs}));
//   MonitorClient client(pod_dir);
//   CONVERGE_ASSIGN_OR_RETURN(ProcessIdentity init,
//       client.CreateContainer(cid, container_dir, absl::Seconds(30)));
//   ... StartCreatedInit(container_dir + "/exec.fifo", init.pid, ...) ...
//   // later: `<container_dir>/exit.json` appears (ReadExitRecord).
//
// Error codes of every MonitorClient call:
//   UNAVAILABLE        the monitor is gone or not listening (no socket, refused,
//                      connection closed before a reply); also a create while
//                      the monitor shuts down;
//   NOT_FOUND          the monitor does not know the container (never created,
//                      or its init exited: the exit record is in its dir);
//                      from CreateContainer: a missing file (spec.json, the
//                      executable, a mount source), passed through;
//   ALREADY_EXISTS     CreateContainer of an id the monitor has;
//   DEADLINE_EXCEEDED  no reply in time; for Exec, the command ran past its
//                      timeout and was killed with its process group;
//   INVALID_ARGUMENT   a malformed request or reply (also: version mismatch is
//                      UNIMPLEMENTED);
//   anything else      passed through from the monitor, e.g. the container
//                      init's setup error with its own code (a failed mount is
//                      whatever the init reported), or the spec's parse error.
//
// Thread-safe: the functions keep no state; MonitorClient only holds a path.
#ifndef CONVERGE_EXECUTORS_PROCESS_MONITOR_MONITOR_CLIENT_H_
#define CONVERGE_EXECUTORS_PROCESS_MONITOR_MONITOR_CLIENT_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executors/process/monitor/exit_record.h"
#include "executors/process/monitor/process_identity.h"
#include "executors/process/monitor/protocol.h"

namespace converge::process {

struct MonitorLaunch {
  std::string binary;
  // Absolute; must exist. Holds monitor.sock, monitor.pid, monitor.lock,
  // monitor.log and (with pod_pid_namespace) pidns.
  std::string pod_dir;
  std::string sandbox_id;
  // CRI `pid: POD`: the monitor starts a holder process that is pid 1 of a
  // fresh pid namespace; containers join /proc/<holder>/ns/pid.
  bool pod_pid_namespace = false;
  // The pod cgroup's cgroup.procs files: the monitor moves itself there.
  std::vector<std::string> cgroup_procs_files;
  // How long to wait for the monitor to listen.
  absl::Duration start_timeout = absl::Seconds(10);
};

// Starts the monitor fully detached (own session, double fork: not a child of
// the caller, stdio on /dev/null and <pod_dir>/monitor.log) and returns once
// its socket accepts connections. Idempotent per pod_dir: if a live monitor
// already serves pod_dir, returns that one. Safe to call from a
// multi-threaded process (only async-signal-safe calls between fork and exec).
// Errors: the monitor's start-up error (e.g. joining the cgroup: NOT_FOUND /
// PERMISSION_DENIED), DEADLINE_EXCEEDED when it did not report in time,
// INTERNAL when it died without reporting.
absl::StatusOr<ProcessIdentity> SpawnMonitor(const MonitorLaunch& launch);

class MonitorClient {
 public:
  // Requests that are not given a timeout wait this long for their reply.
  static constexpr absl::Duration kDefaultTimeout = absl::Seconds(10);
  // Extra time an Exec waits beyond its own timeout for the monitor to kill,
  // reap and reply.
  static constexpr absl::Duration kExecGrace = absl::Seconds(10);

  explicit MonitorClient(std::string pod_dir);

  // Creates the container whose spec is `<container_dir>/spec.json` (the
  // daemon wrote it, exec FIFO included). Returns the init, set up and
  // blocked on the exec FIFO. If the reply does not come within `timeout`,
  // the connection is closed, and the monitor kills the half-created init.
  // ALREADY_EXISTS if the monitor has a container with that id.
  absl::StatusOr<ProcessIdentity> CreateContainer(const std::string& id,
                                                  const std::string& container_dir,
                                                  absl::Duration timeout);

  struct ExecResult {
    int exit_code = 0;  // 128 + signal when killed by a signal
    std::string stdout_data;
    std::string stderr_data;
    // The stream exceeded 16 MiB: the rest was read and dropped.
    bool stdout_truncated = false;
    bool stderr_truncated = false;
  };
  // Runs `args` in the container (its namespaces, cgroup, user, caps,
  // seccomp) and collects both streams. `timeout` <= 0 means none (CRI's 0).
  // On timeout the monitor kills the exec's process group and reaps it:
  // DEADLINE_EXCEEDED.
  absl::StatusOr<ExecResult> Exec(const std::string& id, const std::vector<std::string>& args,
                                  absl::Duration timeout);

  // Reopens the container's CRI log file (kubelet renamed it to rotate).
  absl::Status ReopenLog(const std::string& id);

  // The pod is stopping: the monitor accepts no more creates and exits once
  // no container or exec process is left (at once if there is none).
  absl::Status Shutdown();

  // The holder of the pod pid namespace (join /proc/<pid>/ns/pid).
  // FAILED_PRECONDITION when the monitor was started without one.
  absl::StatusOr<pid_t> PodPidNamespaceHolder();

  // The monitor's view, for debugging and the dump.
  absl::StatusOr<monitor_protocol::Reply> Status();

 private:
  absl::StatusOr<monitor_protocol::Reply> Call(const monitor_protocol::Request& request,
                                               absl::Duration timeout);

  std::string pod_dir_;
};

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_MONITOR_MONITOR_CLIENT_H_

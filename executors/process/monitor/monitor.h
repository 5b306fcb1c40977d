// converge-monitor's event loop (internal to this package; the daemon talks
// to it through monitor_client.h). One process per pod, single-threaded: one
// epoll set holds the signalfd (SIGCHLD, SIGTERM, SIGINT), the listening
// socket, client connections, the containers' stdout/stderr pipes and the
// setup channels of inits and exec processes being set up. Nothing in the
// loop blocks for long: setup reports are read only once readable (the child
// has written its whole report then, or exits), log writes go to local files,
// replies are written as the client reads them.
//
// Ownership: everything here belongs to the loop's thread (the only one).
//
// Invariants:
//  - every fd the monitor opens is close-on-exec: container inits and exec
//    processes are plain forks of the monitor and exec later;
//  - the write ends of a child's pipes are closed right after it is cloned,
//    so that EOF means the child (and whatever inherited them) is done;
//  - every child is reaped (waitpid(-1) loop on SIGCHLD; the monitor is a
//    child subreaper, so orphans of the pod come here and are reaped too).
#ifndef CONVERGE_EXECUTORS_PROCESS_MONITOR_MONITOR_H_
#define CONVERGE_EXECUTORS_PROCESS_MONITOR_MONITOR_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executors/namespace/unique_fd.h"
#include "executors/process/log/cri_log.h"
#include "executors/process/monitor/protocol.h"
#include "executors/process/monitor/unix_socket.h"

namespace converge::process::monitor {

struct Options {
  std::string pod_dir;
  std::string sandbox_id;
  bool pod_pid_namespace = false;
  std::vector<std::string> cgroup_procs_files;
  // Where the start-up report (an encoded protocol Reply) goes; -1: none.
  int ready_fd = -1;
};

class Monitor {
 public:
  explicit Monitor(Options options);
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Sets everything up (cgroups, lock, socket, pid namespace holder, pid
  // file) and reports to ready_fd; then serves until shut down and empty.
  // Returns the process exit code.
  int Run();

 private:
  // What an epoll token stands for.
  enum class WatchKind {
    kSignal,
    kListen,
    kConnection,
    kContainerOut,
    kContainerErr,
    kContainerSync,
    kExecOut,
    kExecErr,
    kExecSync,
  };
  struct Watch {
    int fd = -1;
    WatchKind kind;
    std::string container_id;  // kContainer*
    uint64_t exec_id = 0;      // kExec*
    int connection = 0;        // kConnection: the connection's id
  };

  struct Connection {
    int id = 0;
    UniqueFd fd;
    uint64_t token = 0;
    std::string in;
    std::string out;
    size_t out_done = 0;
    bool request_read = false;
    int64_t read_deadline_ms = 0;
  };

  // A pipe drained by the loop.
  struct Pipe {
    UniqueFd fd;
    uint64_t token = 0;
  };

  // The read end of a child's setup channel; AwaitSetup takes it over (and
  // closes it), hence a plain fd.
  struct SyncChannel {
    int fd = -1;
    uint64_t token = 0;
  };

  struct Container {
    std::string id;
    std::string dir;
    std::string log_path;
    std::vector<std::string> cgroup_procs_files;
    pid_t pid = -1;
    uint64_t start_time = 0;
    bool created = false;  // setup reported; false while creating
    Pipe out;
    Pipe err;
    SyncChannel sync;
    UniqueFd log;
    bool log_failed = false;  // a log write failed; said once in the monitor log
    std::unique_ptr<LogLineFramer> out_framer;
    std::unique_ptr<LogLineFramer> err_framer;
    int waiting_connection = 0;  // the create request's connection, while creating
  };

  struct Exec {
    uint64_t id = 0;
    std::string container_id;
    pid_t pid = -1;
    Pipe out;
    Pipe err;
    SyncChannel sync;
    std::string out_data;
    std::string err_data;
    bool out_truncated = false;
    bool err_truncated = false;
    absl::Status setup;  // the setup report, once read
    bool setup_read = false;
    int64_t deadline_ms = 0;  // 0: none
    bool killed = false;
    bool timed_out = false;
    int connection = 0;  // 0 once the client went away
  };

  // Start-up (monitor_loop.cc).
  absl::Status SetUp();
  absl::Status StartPidNamespaceHolder();
  void Report(const absl::Status& status);
  void TearDown();

  // The loop (monitor_loop.cc).
  uint64_t AddWatch(int fd, uint32_t events, Watch watch);
  void RemoveWatch(uint64_t token);
  void ModifyWatch(uint64_t token, uint32_t events);
  void Dispatch(uint64_t token, uint32_t events);
  int NextTimeoutMs();
  void HandleTimeouts();
  void HandleSignals();
  void ReapChildren();
  void Accept();
  void HandleConnection(int id, uint32_t events);
  void HandleRequest(Connection& connection, const monitor_protocol::Request& request);
  void SendReply(int connection_id, const monitor_protocol::Reply& reply);
  void FlushConnection(Connection& connection);
  void CloseConnection(int id);
  void ConnectionGone(int id);
  bool Idle() const;
  monitor_protocol::Reply StatusReply() const;

  // Containers and execs (monitor_containers.cc).
  void StartCreate(int connection_id, const monitor_protocol::Request& request);
  void FinishCreate(Container& container);
  void DiscardContainer(const std::string& id);
  void ContainerExited(Container& container, int wait_status);
  void StartExec(int connection_id, const monitor_protocol::Request& request);
  void ReadExecSetup(Exec& exec);
  void ExecExited(Exec& exec, int wait_status);
  void KillExec(Exec& exec);
  absl::Status ReopenLog(const std::string& id);
  // Reads once from a container pipe into the log; `drain`: until EAGAIN.
  void PumpContainerPipe(Container& container, bool is_stderr, bool drain);
  void PumpExecPipe(Exec& exec, bool is_stderr, bool drain);
  void WriteLog(Container& container, absl::string_view records);
  void ClosePipe(Pipe& pipe);
  // Runs AwaitSetup on the channel (which closes it).
  absl::Status TakeSetupReport(SyncChannel& sync);
  void CloseSync(SyncChannel& sync);

  const Options options_;
  UniqueFd epoll_;
  UniqueFd signal_fd_;
  UniqueFd listen_fd_;
  UniqueFd lock_fd_;
  // Keeps a long socket path reachable (see unix_socket.h).
  std::unique_ptr<UnixAddress> address_;
  pid_t holder_pid_ = -1;
  bool shutting_down_ = false;
  bool socket_bound_ = false;

  uint64_t next_token_ = 1;
  std::map<uint64_t, Watch> watches_;
  int next_connection_ = 1;
  std::map<int, Connection> connections_;
  std::map<std::string, std::unique_ptr<Container>> containers_;
  std::map<pid_t, std::string> init_pids_;
  uint64_t next_exec_ = 1;
  std::map<uint64_t, std::unique_ptr<Exec>> execs_;
  std::map<pid_t, uint64_t> exec_pids_;

  // Scratch space shared by every pipe (one read at a time).
  std::string read_buffer_;
  std::string records_;
};

// Milliseconds on CLOCK_MONOTONIC.
int64_t MonotonicMs();

// Writes a line to the monitor's own log (its stderr: <pod_dir>/monitor.log).
void LogLine(absl::string_view line);

}  // namespace converge::process::monitor

#endif  // CONVERGE_EXECUTORS_PROCESS_MONITOR_MONITOR_H_

// In-memory ProcessExecutor for reconciler tests: monitors and inits are
// records with made-up pids; tests make inits exit, monitors die and calls
// fail, and read what was asked.
#ifndef CONVERGE_EXECUTORS_PROCESS_TESTING_FAKE_PROCESS_EXECUTOR_H_
#define CONVERGE_EXECUTORS_PROCESS_TESTING_FAKE_PROCESS_EXECUTOR_H_

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "executors/process/process_executor.h"

namespace converge {

class FakeProcessExecutor final : public ProcessExecutor {
 public:
  absl::StatusOr<ProcessId> StartMonitor(const MonitorRequest& request) override;
  absl::StatusOr<ProcessId> PodPidHolder(const std::string& pod_dir) override;
  absl::Status StopMonitor(const std::string& pod_dir, const ProcessId& monitor) override;
  absl::StatusOr<ProcessId> CreateContainer(const ContainerCreate& request) override;
  absl::Status StartContainer(const std::string& container_dir, const ProcessId& init) override;
  absl::Status Signal(const ProcessId& process, int signal) override;
  bool IsAlive(const ProcessId& process) override;
  absl::StatusOr<std::optional<ContainerExit>> ReadExit(const std::string& container_dir) override;
  absl::Status RemoveContainerDir(const std::string& container_dir) override;
  absl::StatusOr<ExecOutput> Exec(const std::string& pod_dir, const std::string& container_id,
                                  const std::vector<std::string>& args,
                                  absl::Duration timeout) override;
  absl::Status ReopenLog(const std::string& pod_dir, const std::string& container_id) override;
  absl::StatusOr<std::string> ReadRootfsFile(const std::string& rootfs,
                                             const std::string& path) override;
  absl::StatusOr<std::string> ReadHostFile(const std::string& path) override;
  absl::Status PrepareLogDir(const std::string& log_path) override;
  void SetWakeup(std::function<void(const std::string& sandbox_id)> wakeup) override;
  void WatchContainer(const std::string& sandbox_id, const std::string& container_dir) override;
  void WatchMonitor(const std::string& sandbox_id, const ProcessId& monitor) override;
  void Unwatch(const std::string& sandbox_id) override;

  // The next call of `method` ("CreateContainer", "StartContainer", ...) fails.
  void InjectError(const std::string& method, absl::Status status);
  // The init of the container in `container_dir` exits with `exit`; a
  // signal-stoppable init (default) also exits 128+signal when signalled.
  void Exit(const std::string& container_dir, ContainerExit exit);
  // The pod's monitor dies (its inits live on unless `with_inits`).
  void KillMonitor(const std::string& pod_dir, bool with_inits);
  // Inits of new containers ignore this signal (a process ignoring SIGTERM).
  void IgnoreSignal(int signal);

  bool MonitorRunning(const std::string& pod_dir) const;
  bool Started(const std::string& container_dir) const;
  std::vector<int> SignalsSent(const std::string& container_dir) const;
  int ReopenCount(const std::string& container_dir) const;
  // The spec the last create of `container_dir` carried.
  process::ContainerSpec SpecOf(const std::string& container_dir) const;
  std::vector<std::string> Calls() const;

 private:
  struct Init {
    ProcessId id;
    std::string pod_dir;
    std::string container_id;
    process::ContainerSpec spec;
    bool alive = true;
    bool started = false;
    std::optional<ContainerExit> exit;
    std::vector<int> signals;
    int reopens = 0;
  };
  absl::Status TakeError(const std::string& method) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Init* InitByPid(const ProcessId& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  int next_pid_ ABSL_GUARDED_BY(mu_) = 1000;
  std::map<std::string, ProcessId> monitors_ ABSL_GUARDED_BY(mu_);  // live, by pod dir
  std::map<std::string, Init> inits_ ABSL_GUARDED_BY(mu_);          // by container dir
  std::map<std::string, std::deque<absl::Status>> errors_ ABSL_GUARDED_BY(mu_);
  std::vector<int> ignored_signals_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_PROCESS_TESTING_FAKE_PROCESS_EXECUTOR_H_

// LinuxProcessExecutor: ProcessExecutor on real monitors and processes.
// Monitors are `converge-monitor` processes (executors/process/monitor),
// started detached; created inits are released through their exec FIFO;
// processes are signalled through pidfds checked against their start time.
// One watcher thread epolls an inotify instance (exit records appearing in
// container dirs) and one pidfd per monitor.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<LinuxProcessExecutor> processes,
//       LinuxProcessExecutor::Create({.monitor_binary = "/usr/libexec/converge-monitor"}));
#ifndef CONVERGE_EXECUTORS_PROCESS_LINUX_PROCESS_EXECUTOR_H_
#define CONVERGE_EXECUTORS_PROCESS_LINUX_PROCESS_EXECUTOR_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "executors/process/process_executor.h"

namespace converge {

struct LinuxProcessExecutorOptions {
  std::string monitor_binary;
  // How long a create may take (rootfs mounts, the init's setup).
  absl::Duration create_timeout = absl::Minutes(1);
  // How long StartContainer waits for the init to take its byte from the FIFO.
  absl::Duration start_timeout = absl::Seconds(10);
  // How long StopMonitor waits for a monitor to exit before killing it.
  absl::Duration monitor_exit_grace = absl::Seconds(2);
};

class LinuxProcessExecutor final : public ProcessExecutor {
 public:
  static absl::StatusOr<std::unique_ptr<LinuxProcessExecutor>> Create(
      LinuxProcessExecutorOptions options);
  ~LinuxProcessExecutor() override;

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

 private:
  LinuxProcessExecutor(LinuxProcessExecutorOptions options, int epoll_fd, int inotify_fd,
                       int stop_fd);
  void WatchLoop();
  void Wake(const std::string& sandbox_id);

  const LinuxProcessExecutorOptions options_;
  const int epoll_fd_;
  const int inotify_fd_;
  const int stop_fd_;  // eventfd that ends the watcher thread

  absl::Mutex mu_;
  std::function<void(const std::string&)> wakeup_ ABSL_GUARDED_BY(mu_);
  // inotify watch descriptor -> sandbox id; sandbox id -> its watch descriptors.
  absl::flat_hash_map<int, std::string> watch_sandboxes_ ABSL_GUARDED_BY(mu_);
  // monitor pidfd -> sandbox id.
  absl::flat_hash_map<int, std::string> monitor_fds_ ABSL_GUARDED_BY(mu_);
  std::thread watcher_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_PROCESS_LINUX_PROCESS_EXECUTOR_H_

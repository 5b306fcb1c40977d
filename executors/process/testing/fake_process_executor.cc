#include "executors/process/testing/fake_process_executor.h"

#include <signal.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace converge {

absl::Status FakeProcessExecutor::TakeError(const std::string& method) {
  calls_.push_back(method);
  auto it = errors_.find(method);
  if (it == errors_.end() || it->second.empty()) return absl::OkStatus();
  absl::Status status = it->second.front();
  it->second.pop_front();
  return status;
}

FakeProcessExecutor::Init* FakeProcessExecutor::InitByPid(const ProcessId& id) {
  for (auto& [dir, init] : inits_) {
    if (init.id == id) return &init;
  }
  return nullptr;
}

absl::StatusOr<ProcessId> FakeProcessExecutor::StartMonitor(const MonitorRequest& request) {
  absl::MutexLock lock(&mu_);
  if (absl::Status error = TakeError("StartMonitor"); !error.ok()) return error;
  auto it = monitors_.find(request.pod_dir);
  if (it != monitors_.end()) return it->second;
  ProcessId id{next_pid_++, 1};
  monitors_[request.pod_dir] = id;
  return id;
}

absl::StatusOr<ProcessId> FakeProcessExecutor::PodPidHolder(const std::string& pod_dir) {
  absl::MutexLock lock(&mu_);
  if (!monitors_.count(pod_dir)) return absl::UnavailableError("no monitor");
  return ProcessId{monitors_[pod_dir].pid + 1, 1};
}

absl::Status FakeProcessExecutor::StopMonitor(const std::string& pod_dir, const ProcessId&) {
  absl::MutexLock lock(&mu_);
  if (absl::Status error = TakeError("StopMonitor"); !error.ok()) return error;
  monitors_.erase(pod_dir);
  return absl::OkStatus();
}

absl::StatusOr<ProcessId> FakeProcessExecutor::CreateContainer(const ContainerCreate& request) {
  absl::MutexLock lock(&mu_);
  if (absl::Status error = TakeError("CreateContainer"); !error.ok()) return error;
  if (!monitors_.count(request.pod_dir)) {
    return absl::UnavailableError(absl::StrCat("no monitor serves `", request.pod_dir, "`"));
  }
  Init init;
  init.id = ProcessId{next_pid_++, 7};
  init.pod_dir = request.pod_dir;
  init.container_id = request.spec.id;
  init.spec = request.spec;
  inits_[request.container_dir] = init;
  return init.id;
}

absl::Status FakeProcessExecutor::StartContainer(const std::string& container_dir,
                                                 const ProcessId& id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status error = TakeError("StartContainer"); !error.ok()) return error;
  auto it = inits_.find(container_dir);
  if (it == inits_.end() || !(it->second.id == id)) return absl::NotFoundError("no such FIFO");
  if (!it->second.alive) return absl::FailedPreconditionError("container init exited before start");
  if (it->second.started) return absl::NotFoundError("FIFO already used");
  it->second.started = true;
  return absl::OkStatus();
}

absl::Status FakeProcessExecutor::Signal(const ProcessId& process, int signal) {
  absl::MutexLock lock(&mu_);
  if (absl::Status error = TakeError("Signal"); !error.ok()) return error;
  Init* init = InitByPid(process);
  if (init == nullptr || !init->alive) return absl::OkStatus();
  init->signals.push_back(signal);
  if (signal != SIGKILL &&
      std::find(ignored_signals_.begin(), ignored_signals_.end(), signal) != ignored_signals_.end()) {
    return absl::OkStatus();
  }
  init->alive = false;
  ContainerExit exit;
  exit.exit_code = 128 + signal;
  exit.signal = signal;
  exit.finished_at_unix_nanos = 1;
  if (monitors_.count(init->pod_dir)) init->exit = exit;
  return absl::OkStatus();
}

bool FakeProcessExecutor::IsAlive(const ProcessId& process) {
  absl::MutexLock lock(&mu_);
  for (const auto& [dir, monitor] : monitors_) {
    if (monitor == process) return true;
  }
  Init* init = InitByPid(process);
  return init != nullptr && init->alive;
}

absl::StatusOr<std::optional<ContainerExit>> FakeProcessExecutor::ReadExit(
    const std::string& container_dir) {
  absl::MutexLock lock(&mu_);
  auto it = inits_.find(container_dir);
  if (it == inits_.end()) return std::nullopt;
  return it->second.exit;
}

absl::Status FakeProcessExecutor::RemoveContainerDir(const std::string& container_dir) {
  absl::MutexLock lock(&mu_);
  if (absl::Status error = TakeError("RemoveContainerDir"); !error.ok()) return error;
  inits_.erase(container_dir);
  return absl::OkStatus();
}

absl::StatusOr<ExecOutput> FakeProcessExecutor::Exec(const std::string&, const std::string&,
                                                     const std::vector<std::string>& args,
                                                     absl::Duration) {
  absl::MutexLock lock(&mu_);
  if (absl::Status error = TakeError("Exec"); !error.ok()) return error;
  ExecOutput output;
  for (const std::string& arg : args) absl::StrAppend(&output.stdout_data, arg, "\n");
  return output;
}

absl::Status FakeProcessExecutor::ReopenLog(const std::string& pod_dir,
                                            const std::string& container_id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status error = TakeError("ReopenLog"); !error.ok()) return error;
  for (auto& [dir, init] : inits_) {
    if (init.pod_dir == pod_dir && init.container_id == container_id) ++init.reopens;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeProcessExecutor::ReadRootfsFile(const std::string&,
                                                                const std::string& path) {
  if (path == "/etc/passwd") return std::string("root:x:0:0:root:/root:/bin/sh\n");
  if (path == "/etc/group") return std::string("root:x:0:\n");
  return std::string();
}

absl::StatusOr<std::string> FakeProcessExecutor::ReadHostFile(const std::string& path) {
  return absl::NotFoundError(absl::StrCat("`", path, "` does not exist"));
}

absl::Status FakeProcessExecutor::PrepareLogDir(const std::string&) { return absl::OkStatus(); }

void FakeProcessExecutor::SetWakeup(std::function<void(const std::string&)>) {}
void FakeProcessExecutor::WatchContainer(const std::string&, const std::string&) {}
void FakeProcessExecutor::WatchMonitor(const std::string&, const ProcessId&) {}
void FakeProcessExecutor::Unwatch(const std::string&) {}

void FakeProcessExecutor::InjectError(const std::string& method, absl::Status status) {
  absl::MutexLock lock(&mu_);
  errors_[method].push_back(std::move(status));
}

void FakeProcessExecutor::Exit(const std::string& container_dir, ContainerExit exit) {
  absl::MutexLock lock(&mu_);
  Init& init = inits_.at(container_dir);
  init.alive = false;
  if (monitors_.count(init.pod_dir)) init.exit = exit;
}

void FakeProcessExecutor::KillMonitor(const std::string& pod_dir, bool with_inits) {
  absl::MutexLock lock(&mu_);
  monitors_.erase(pod_dir);
  if (!with_inits) return;
  for (auto& [dir, init] : inits_) {
    if (init.pod_dir == pod_dir) init.alive = false;
  }
}

void FakeProcessExecutor::IgnoreSignal(int signal) {
  absl::MutexLock lock(&mu_);
  ignored_signals_.push_back(signal);
}

bool FakeProcessExecutor::MonitorRunning(const std::string& pod_dir) const {
  absl::MutexLock lock(&mu_);
  return monitors_.count(pod_dir) > 0;
}

bool FakeProcessExecutor::Started(const std::string& container_dir) const {
  absl::MutexLock lock(&mu_);
  auto it = inits_.find(container_dir);
  return it != inits_.end() && it->second.started;
}

std::vector<int> FakeProcessExecutor::SignalsSent(const std::string& container_dir) const {
  absl::MutexLock lock(&mu_);
  auto it = inits_.find(container_dir);
  return it == inits_.end() ? std::vector<int>() : it->second.signals;
}

int FakeProcessExecutor::ReopenCount(const std::string& container_dir) const {
  absl::MutexLock lock(&mu_);
  auto it = inits_.find(container_dir);
  return it == inits_.end() ? 0 : it->second.reopens;
}

process::ContainerSpec FakeProcessExecutor::SpecOf(const std::string& container_dir) const {
  absl::MutexLock lock(&mu_);
  auto it = inits_.find(container_dir);
  return it == inits_.end() ? process::ContainerSpec() : it->second.spec;
}

std::vector<std::string> FakeProcessExecutor::Calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

}  // namespace converge

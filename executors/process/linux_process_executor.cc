#include "executors/process/linux_process_executor.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"
#include "executors/process/init/container_init.h"
#include "executors/process/monitor/monitor_client.h"
#include "executors/process/monitor/unix_socket.h"
#include "executors/process/spec/container_spec_json.h"

namespace converge {
namespace {

constexpr char kSpecFile[] = "spec.json";
constexpr char kExecFifo[] = "exec.fifo";
constexpr char kExitFile[] = "exit.json";
// Files read by ReadRootfsFile / ReadHostFile are small (passwd, group,
// seccomp profiles); anything larger is refused rather than slurped.
constexpr size_t kMaxReadBytes = 4 << 20;

std::shared_ptr<spdlog::logger> Log() { return NamedLogger("process"); }

process::ProcessIdentity ToIdentity(const ProcessId& id) {
  process::ProcessIdentity identity;
  identity.pid = id.pid;
  identity.start_time = id.start_time;
  return identity;
}

ProcessId FromIdentity(const process::ProcessIdentity& identity) {
  return ProcessId{identity.pid, identity.start_time};
}

// Writes `content` to `dir`/`name` through a temporary file and a rename.
absl::Status WriteFileAtomically(const std::string& dir, const std::string& name,
                                 const std::string& content) {
  const std::string tmp = absl::StrCat(dir, "/.", name, ".tmp");
  const std::string path = absl::StrCat(dir, "/", name);
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return ErrnoError(errno, "create `", tmp, "`");
  absl::string_view rest = content;
  while (!rest.empty()) {
    ssize_t n = write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "write `", tmp, "`");
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoError(errno, "rename `", tmp, "` to `", path, "`");
  }
  return absl::OkStatus();
}

absl::Status RemoveIfPresent(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "unlink `", path, "`");
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoError(errno, "mkdir `", path, "`");
  }
  return absl::OkStatus();
}

// The pidfd of `process` if it is still the recorded one; -1 when it is gone.
absl::StatusOr<UniqueFd> OpenPidfd(const ProcessId& process) {
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, process.pid, 0)));
  if (fd.get() < 0) {
    if (errno == ESRCH) return UniqueFd();
    return ErrnoError(errno, "pidfd_open ", process.pid);
  }
  // Checked after the pidfd pins the pid: it cannot be reused from here on.
  if (!process::IsSameProcess(ToIdentity(process))) return UniqueFd();
  return fd;
}

// The monitor whose pid `<pod_dir>/monitor.pid` holds, if that process runs
// and is a converge-monitor; ProcessId{} otherwise.
absl::StatusOr<ProcessId> RunningMonitorOf(const std::string& pod_dir) {
  const std::string pid_file = absl::StrCat(pod_dir, "/", process::kMonitorPidFile);
  UniqueFd fd(open(pid_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return ProcessId{};
    return ErrnoError(errno, "open `", pid_file, "`");
  }
  CONVERGE_ASSIGN_OR_RETURN(std::string text, ReadFdUpTo(fd.get(), pid_file, kMaxReadBytes));
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid) || pid <= 0) return ProcessId{};
  absl::StatusOr<uint64_t> start_time = process::ReadProcessStartTime(pid);
  if (!start_time.ok()) return ProcessId{};
  absl::StatusOr<std::string> comm =
      ReadFileUpTo(absl::StrCat("/proc/", pid, "/comm"), kMaxReadBytes);
  // comm holds the first 15 bytes of the binary's name.
  if (!comm.ok() || !absl::StartsWith(*comm, "converge-monito")) return ProcessId{};
  return ProcessId{pid, *start_time};
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinuxProcessExecutor>> LinuxProcessExecutor::Create(
    LinuxProcessExecutorOptions options) {
  if (access(options.monitor_binary.c_str(), X_OK) != 0) {
    return ErrnoError(errno, "monitor binary `", options.monitor_binary, "`");
  }
  UniqueFd epoll_fd(epoll_create1(EPOLL_CLOEXEC));
  if (epoll_fd.get() < 0) return ErrnoError(errno, "epoll_create1");
  UniqueFd inotify_fd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (inotify_fd.get() < 0) return ErrnoError(errno, "inotify_init1");
  UniqueFd stop_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (stop_fd.get() < 0) return ErrnoError(errno, "eventfd");
  for (int fd : {inotify_fd.get(), stop_fd.get()}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      return ErrnoError(errno, "epoll_ctl add");
    }
  }
  std::unique_ptr<LinuxProcessExecutor> executor(new LinuxProcessExecutor(
      std::move(options), epoll_fd.Release(), inotify_fd.Release(), stop_fd.Release()));
  executor->watcher_ = std::thread([raw = executor.get()] { raw->WatchLoop(); });
  return executor;
}

LinuxProcessExecutor::LinuxProcessExecutor(LinuxProcessExecutorOptions options, int epoll_fd,
                                           int inotify_fd, int stop_fd)
    : options_(std::move(options)), epoll_fd_(epoll_fd), inotify_fd_(inotify_fd), stop_fd_(stop_fd) {}

LinuxProcessExecutor::~LinuxProcessExecutor() {
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  if (watcher_.joinable()) watcher_.join();
  absl::MutexLock lock(&mu_);
  for (const auto& [fd, sandbox] : monitor_fds_) close(fd);
  close(stop_fd_);
  close(inotify_fd_);
  close(epoll_fd_);
}

absl::StatusOr<ProcessId> LinuxProcessExecutor::StartMonitor(const MonitorRequest& request) {
  const std::string parent = std::filesystem::path(request.pod_dir).parent_path();
  CONVERGE_RETURN_IF_ERROR(MakeDir(parent, 0700));
  CONVERGE_RETURN_IF_ERROR(MakeDir(request.pod_dir, 0700));
  process::MonitorLaunch launch;
  launch.binary = options_.monitor_binary;
  launch.pod_dir = request.pod_dir;
  launch.sandbox_id = request.sandbox_id;
  launch.pod_pid_namespace = request.pod_pid_namespace;
  launch.cgroup_procs_files = request.cgroup_procs_files;
  CONVERGE_ASSIGN_OR_RETURN(process::ProcessIdentity monitor, process::SpawnMonitor(launch));
  Log()->info("monitor running sandbox={} pid={}", request.sandbox_id, monitor.pid);
  return FromIdentity(monitor);
}

absl::StatusOr<ProcessId> LinuxProcessExecutor::PodPidHolder(const std::string& pod_dir) {
  process::MonitorClient client(pod_dir);
  CONVERGE_ASSIGN_OR_RETURN(pid_t holder, client.PodPidNamespaceHolder());
  CONVERGE_ASSIGN_OR_RETURN(uint64_t start_time, process::ReadProcessStartTime(holder));
  return ProcessId{holder, start_time};
}

absl::Status LinuxProcessExecutor::StopMonitor(const std::string& pod_dir,
                                               const ProcessId& recorded) {
  ProcessId monitor = recorded;
  if (monitor.pid == 0) {
    // Spawned but not recorded (the daemon died in between): its pid file
    // names it, if it runs.
    CONVERGE_ASSIGN_OR_RETURN(monitor, RunningMonitorOf(pod_dir));
  }
  if (monitor.pid != 0 && IsAlive(monitor)) {
    absl::Status asked = process::MonitorClient(pod_dir).Shutdown();
    if (!asked.ok() && !absl::IsUnavailable(asked)) return Annotate(asked, "shut down monitor");
    const absl::Time give_up = absl::Now() + options_.monitor_exit_grace;
    while (IsAlive(monitor) && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
    if (IsAlive(monitor)) {
      Log()->warn("monitor did not exit, killing it pod_dir={} pid={}", pod_dir, monitor.pid);
      CONVERGE_RETURN_IF_ERROR(Signal(monitor, SIGKILL));
    }
  }
  std::error_code error;
  std::filesystem::remove_all(pod_dir, error);
  if (error) return ErrnoError(error.value(), "remove `", pod_dir, "`");
  return absl::OkStatus();
}

absl::StatusOr<ProcessId> LinuxProcessExecutor::CreateContainer(const ContainerCreate& request) {
  const std::string& dir = request.container_dir;
  const std::string parent = std::filesystem::path(dir).parent_path();
  CONVERGE_RETURN_IF_ERROR(MakeDir(parent, 0700));
  CONVERGE_RETURN_IF_ERROR(MakeDir(dir, 0700));
  // Leftovers of an interrupted create would confuse the new init's record.
  for (const char* name : {kExitFile, kExecFifo}) {
    CONVERGE_RETURN_IF_ERROR(RemoveIfPresent(absl::StrCat(dir, "/", name)));
  }
  const std::string fifo = absl::StrCat(dir, "/", kExecFifo);
  if (mkfifo(fifo.c_str(), 0600) != 0) return ErrnoError(errno, "mkfifo `", fifo, "`");
  // The init opens it after becoming the container's user (through the fd it
  // took as root, so the directory stays closed to that user), like runc's 0622.
  if (chmod(fifo.c_str(), 0622) != 0) return ErrnoError(errno, "chmod `", fifo, "`");
  process::ContainerSpec spec = request.spec;
  spec.exec_fifo = fifo;
  CONVERGE_RETURN_IF_ERROR(WriteFileAtomically(dir, kSpecFile, process::SerializeContainerSpec(spec)));
  process::MonitorClient client(request.pod_dir);
  CONVERGE_ASSIGN_OR_RETURN(process::ProcessIdentity init,
                            client.CreateContainer(spec.id, dir, options_.create_timeout));
  return FromIdentity(init);
}

absl::Status LinuxProcessExecutor::StartContainer(const std::string& container_dir,
                                                  const ProcessId& init) {
  return process::StartCreatedInit(absl::StrCat(container_dir, "/", kExecFifo), init.pid,
                                   options_.start_timeout);
}

absl::Status LinuxProcessExecutor::Signal(const ProcessId& process, int signal) {
  CONVERGE_ASSIGN_OR_RETURN(UniqueFd pidfd, OpenPidfd(process));
  if (pidfd.get() < 0) return absl::OkStatus();  // already gone
  if (syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) != 0 && errno != ESRCH) {
    return ErrnoError(errno, "signal ", signal, " to pid ", process.pid);
  }
  return absl::OkStatus();
}

bool LinuxProcessExecutor::IsAlive(const ProcessId& process) {
  return process::IsSameProcess(ToIdentity(process));
}

absl::StatusOr<std::optional<ContainerExit>> LinuxProcessExecutor::ReadExit(
    const std::string& container_dir) {
  CONVERGE_ASSIGN_OR_RETURN(std::optional<process::ExitRecord> record,
                            process::ReadExitRecord(container_dir));
  if (!record) return std::nullopt;
  ContainerExit exit;
  exit.exit_code = record->exit_code;
  exit.signal = record->signal;
  exit.finished_at_unix_nanos = record->finished_at_unix_nanos;
  exit.oom_killed = record->oom_killed;
  return exit;
}

absl::Status LinuxProcessExecutor::RemoveContainerDir(const std::string& container_dir) {
  std::error_code error;
  std::filesystem::remove_all(container_dir, error);
  if (error) return ErrnoError(error.value(), "remove `", container_dir, "`");
  return absl::OkStatus();
}

absl::StatusOr<ExecOutput> LinuxProcessExecutor::Exec(const std::string& pod_dir,
                                                      const std::string& container_id,
                                                      const std::vector<std::string>& args,
                                                      absl::Duration timeout) {
  process::MonitorClient client(pod_dir);
  CONVERGE_ASSIGN_OR_RETURN(process::MonitorClient::ExecResult result,
                            client.Exec(container_id, args, timeout));
  ExecOutput output;
  output.exit_code = result.exit_code;
  output.stdout_data = std::move(result.stdout_data);
  output.stderr_data = std::move(result.stderr_data);
  return output;
}

absl::Status LinuxProcessExecutor::ReopenLog(const std::string& pod_dir,
                                             const std::string& container_id) {
  return process::MonitorClient(pod_dir).ReopenLog(container_id);
}

absl::StatusOr<std::string> LinuxProcessExecutor::ReadRootfsFile(const std::string& rootfs,
                                                                 const std::string& path) {
  UniqueFd root(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return ErrnoError(errno, "open rootfs `", rootfs, "`");
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  std::string relative = path;
  while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
  UniqueFd fd(static_cast<int>(syscall(SYS_openat2, root.get(), relative.c_str(), &how, sizeof(how))));
  const std::string display = absl::StrCat(rootfs, "/", relative);
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::string();
    return ErrnoError(errno, "open `", display, "`");
  }
  return ReadFdUpTo(fd.get(), display, kMaxReadBytes);
}

absl::StatusOr<std::string> LinuxProcessExecutor::ReadHostFile(const std::string& path) {
  return ReadFileUpTo(path, kMaxReadBytes);
}

absl::Status LinuxProcessExecutor::PrepareLogDir(const std::string& log_path) {
  const std::filesystem::path dir = std::filesystem::path(log_path).parent_path();
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return ErrnoError(error.value(), "mkdir -p `", dir.string(), "`");
  return absl::OkStatus();
}

void LinuxProcessExecutor::SetWakeup(std::function<void(const std::string&)> wakeup) {
  absl::MutexLock lock(&mu_);
  wakeup_ = std::move(wakeup);
}

void LinuxProcessExecutor::WatchContainer(const std::string& sandbox_id,
                                          const std::string& container_dir) {
  int wd = inotify_add_watch(inotify_fd_, container_dir.c_str(), IN_MOVED_TO | IN_ONLYDIR);
  if (wd < 0) {
    // The periodic resync still notices the exit, just later.
    Log()->warn("cannot watch container dir={} error={}", container_dir, std::strerror(errno));
    return;
  }
  absl::MutexLock lock(&mu_);
  watch_sandboxes_[wd] = sandbox_id;
}

void LinuxProcessExecutor::WatchMonitor(const std::string& sandbox_id, const ProcessId& monitor) {
  absl::StatusOr<UniqueFd> pidfd = OpenPidfd(monitor);
  if (!pidfd.ok() || pidfd->get() < 0) {
    // Gone already (or unwatchable): let the pod look at it now.
    Wake(sandbox_id);
    return;
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = pidfd->get();
  absl::MutexLock lock(&mu_);
  // One pidfd per pod: a new monitor replaces a dead one's watch.
  for (auto it = monitor_fds_.begin(); it != monitor_fds_.end();) {
    if (it->second == sandbox_id) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->first, nullptr);
      close(it->first);
      monitor_fds_.erase(it++);
    } else {
      ++it;
    }
  }
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd->get(), &event) != 0) {
    Log()->warn("cannot watch monitor sandbox={} error={}", sandbox_id, std::strerror(errno));
    return;
  }
  monitor_fds_[pidfd->Release()] = sandbox_id;
}

void LinuxProcessExecutor::Unwatch(const std::string& sandbox_id) {
  absl::MutexLock lock(&mu_);
  for (auto it = watch_sandboxes_.begin(); it != watch_sandboxes_.end();) {
    if (it->second == sandbox_id) {
      inotify_rm_watch(inotify_fd_, it->first);
      watch_sandboxes_.erase(it++);
    } else {
      ++it;
    }
  }
  for (auto it = monitor_fds_.begin(); it != monitor_fds_.end();) {
    if (it->second == sandbox_id) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->first, nullptr);
      close(it->first);
      monitor_fds_.erase(it++);
    } else {
      ++it;
    }
  }
}

void LinuxProcessExecutor::Wake(const std::string& sandbox_id) {
  std::function<void(const std::string&)> wakeup;
  {
    absl::MutexLock lock(&mu_);
    wakeup = wakeup_;
  }
  if (wakeup) wakeup(sandbox_id);
}

void LinuxProcessExecutor::WatchLoop() {
  epoll_event events[16];
  alignas(inotify_event) char buffer[4096];
  while (true) {
    int n = epoll_wait(epoll_fd_, events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      Log()->error("watcher epoll_wait failed error={}", std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) return;
      std::vector<std::string> woken;
      if (fd == inotify_fd_) {
        ssize_t len;
        while ((len = read(inotify_fd_, buffer, sizeof(buffer))) > 0) {
          for (char* p = buffer; p < buffer + len;) {
            auto* event = reinterpret_cast<inotify_event*>(p);
            p += sizeof(inotify_event) + event->len;
            absl::MutexLock lock(&mu_);
            auto it = watch_sandboxes_.find(event->wd);
            if (it == watch_sandboxes_.end()) continue;
            if (event->mask & IN_IGNORED) {
              watch_sandboxes_.erase(it);  // the dir was removed
              continue;
            }
            if (event->len > 0 && std::strcmp(event->name, kExitFile) == 0) {
              woken.push_back(it->second);
            }
          }
        }
      } else {
        // A monitor exited: its pidfd is done for good.
        absl::MutexLock lock(&mu_);
        auto it = monitor_fds_.find(fd);
        if (it != monitor_fds_.end()) {
          woken.push_back(it->second);
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
          close(fd);
          monitor_fds_.erase(it);
        }
      }
      for (const std::string& sandbox : woken) Wake(sandbox);
    }
  }
}

}  // namespace converge

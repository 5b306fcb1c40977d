// converge-monitor: start-up, the epoll loop, connections, signals and
// reaping. Containers and execs are in monitor_containers.cc.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/process/monitor/monitor.h"
#include "executors/process/monitor/process_identity.h"

namespace converge::process::monitor {

using monitor_protocol::Op;
using monitor_protocol::Reply;
using monitor_protocol::Request;

namespace {

// A client has this long to send its (small) request.
constexpr int64_t kRequestReadTimeoutMs = 10'000;
constexpr int kListenBacklog = 64;
constexpr int kMaxEvents = 32;
// Reads from a pipe or socket go through one shared buffer of this size.
constexpr size_t kReadBufferSize = 64 * 1024;

absl::Status WriteSmallFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoError(errno, "create `", tmp, "`");
  if (write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return ErrnoError(errno, "write `", tmp, "`");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoError(errno, "rename `", tmp, "` to `", path, "`");
  }
  return absl::OkStatus();
}

absl::Status WriteCgroupProcs(const std::string& file) {
  UniqueFd fd(open(file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open `", file, "`");
  // "0" is the writing process.
  if (write(fd.get(), "0", 1) != 1) return ErrnoError(errno, "join cgroup `", file, "`");
  return absl::OkStatus();
}

// The pod pid namespace holder: pid 1 of the namespace; only reaps. Never
// returns. SIGCHLD is blocked (inherited from the monitor), so sigwait works;
// the monitor's death kills it (PDEATHSIG), which kills the namespace.
[[noreturn]] void RunPidNamespaceHolder() {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_NAME, "converge-pidns");
  close_range(0, UINT_MAX, 0);
  if (chdir("/") != 0) _exit(1);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  for (;;) {
    int sig = 0;
    sigwait(&chld, &sig);
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
}

}  // namespace

int64_t MonotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void LogLine(absl::string_view line) {
  std::string text = absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                                   absl::UTCTimeZone()),
                                  " ", line, "\n");
  (void)!write(STDERR_FILENO, text.data(), text.size());
}

Monitor::Monitor(Options options) : options_(std::move(options)) {}

int Monitor::Run() {
  absl::Status setup = SetUp();
  Report(setup);
  if (!setup.ok()) {
    LogLine(absl::StrCat("start-up failed: ", setup.ToString()));
    TearDown();
    return 1;
  }
  LogLine(absl::StrCat("serving pod_dir=", options_.pod_dir, " sandbox=", options_.sandbox_id,
                       " pid=", getpid(), " pidns_holder=", holder_pid_));
  struct epoll_event events[kMaxEvents];
  while (!(shutting_down_ && Idle())) {
    int n = epoll_wait(epoll_.get(), events, kMaxEvents, NextTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      LogLine(absl::StrCat("epoll_wait: ", ErrnoError(errno, "epoll_wait").ToString()));
      break;
    }
    for (int i = 0; i < n; ++i) Dispatch(events[i].data.u64, events[i].events);
    HandleTimeouts();
  }
  LogLine("shut down: no container or exec process left");
  TearDown();
  return 0;
}

absl::Status Monitor::SetUp() {
  read_buffer_.resize(kReadBufferSize);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return ErrnoError(errno, "PR_SET_CHILD_SUBREAPER");
  for (const std::string& file : options_.cgroup_procs_files) {
    CONVERGE_RETURN_IF_ERROR(WriteCgroupProcs(file));
  }
  // One monitor per pod directory: the lock lives as long as this process.
  const std::string lock_path = absl::StrCat(options_.pod_dir, "/", kMonitorLockFile);
  lock_fd_ = UniqueFd(open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_fd_.valid()) return ErrnoError(errno, "open `", lock_path, "`");
  if (flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::AlreadyExistsError(
          absl::StrCat("another monitor serves `", options_.pod_dir, "`"));
    }
    return ErrnoError(errno, "lock `", lock_path, "`");
  }

  // Signals: SIGCHLD and the termination requests through a signalfd;
  // writes to a vanished client give EPIPE, not death.
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return ErrnoError(errno, "sigprocmask");
  signal_fd_ = UniqueFd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_.valid()) return ErrnoError(errno, "signalfd");
  epoll_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return ErrnoError(errno, "epoll_create1");
  Watch signal_watch;
  signal_watch.kind = WatchKind::kSignal;
  AddWatch(signal_fd_.get(), EPOLLIN, signal_watch);

  if (options_.pod_pid_namespace) CONVERGE_RETURN_IF_ERROR(StartPidNamespaceHolder());

  // We hold the lock: a socket file left there is a dead monitor's.
  CONVERGE_ASSIGN_OR_RETURN(UnixAddress address, UnixAddress::For(options_.pod_dir, kMonitorSocket));
  address_ = std::make_unique<UnixAddress>(std::move(address));
  const std::string socket_path = absl::StrCat(options_.pod_dir, "/", kMonitorSocket);
  if (unlink(socket_path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "remove stale `", socket_path, "`");
  }
  listen_fd_ = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_fd_.valid()) return ErrnoError(errno, "socket");
  const mode_t old_umask = umask(0077);
  const int bound = bind(listen_fd_.get(), address_->sockaddr(), address_->length());
  const int bind_errno = errno;
  umask(old_umask);
  if (bound != 0) return ErrnoError(bind_errno, "bind `", socket_path, "`");
  socket_bound_ = true;
  if (listen(listen_fd_.get(), kListenBacklog) != 0) {
    return ErrnoError(errno, "listen `", socket_path, "`");
  }
  Watch listen_watch;
  listen_watch.kind = WatchKind::kListen;
  AddWatch(listen_fd_.get(), EPOLLIN, listen_watch);

  return WriteSmallFile(absl::StrCat(options_.pod_dir, "/", kMonitorPidFile),
                        absl::StrCat(getpid(), "\n"));
}

absl::Status Monitor::StartPidNamespaceHolder() {
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0));
  if (pid < 0) return ErrnoError(errno, "clone the pod pid namespace holder");
  if (pid == 0) RunPidNamespaceHolder();
  holder_pid_ = pid;
  return WriteSmallFile(absl::StrCat(options_.pod_dir, "/", kPidNamespaceFile),
                        absl::StrCat(pid, "\n"));
}

void Monitor::Report(const absl::Status& status) {
  if (options_.ready_fd < 0) return;
  Reply reply = monitor_protocol::ErrorReply(status);
  reply.pid = getpid();
  reply.pid_namespace_holder = holder_pid_;
  const std::string frame = monitor_protocol::EncodeReply(reply);
  (void)!write(options_.ready_fd, frame.data(), frame.size());
  close(options_.ready_fd);
}

void Monitor::TearDown() {
  for (auto& [id, exec] : execs_) KillExec(*exec);
  if (holder_pid_ > 0) {
    kill(holder_pid_, SIGKILL);
    waitpid(holder_pid_, nullptr, 0);
    unlink(absl::StrCat(options_.pod_dir, "/", kPidNamespaceFile).c_str());
  }
  if (socket_bound_) {
    unlink(absl::StrCat(options_.pod_dir, "/", kMonitorSocket).c_str());
    unlink(absl::StrCat(options_.pod_dir, "/", kMonitorPidFile).c_str());
  }
  // Whatever else is still a child (nothing, after a clean shutdown).
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

uint64_t Monitor::AddWatch(int fd, uint32_t events, Watch watch) {
  const uint64_t token = next_token_++;
  watch.fd = fd;
  struct epoll_event event = {};
  event.events = events;
  event.data.u64 = token;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    // Only ENOMEM/ENOSPC (max_user_watches) can get here.
    LogLine(ErrnoError(errno, "epoll_ctl add fd ", fd).ToString());
  }
  watches_.emplace(token, std::move(watch));
  return token;
}

void Monitor::RemoveWatch(uint64_t token) {
  auto it = watches_.find(token);
  if (it == watches_.end()) return;
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd, nullptr);
  watches_.erase(it);
}

void Monitor::ModifyWatch(uint64_t token, uint32_t events) {
  auto it = watches_.find(token);
  if (it == watches_.end()) return;
  struct epoll_event event = {};
  event.events = events;
  event.data.u64 = token;
  epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, it->second.fd, &event);
}

void Monitor::Dispatch(uint64_t token, uint32_t events) {
  auto it = watches_.find(token);
  if (it == watches_.end()) return;  // removed earlier in this batch
  const Watch watch = it->second;
  switch (watch.kind) {
    case WatchKind::kSignal:
      HandleSignals();
      return;
    case WatchKind::kListen:
      Accept();
      return;
    case WatchKind::kConnection:
      HandleConnection(watch.connection, events);
      return;
    case WatchKind::kContainerOut:
    case WatchKind::kContainerErr:
    case WatchKind::kContainerSync: {
      auto c = containers_.find(watch.container_id);
      if (c == containers_.end()) return;
      if (watch.kind == WatchKind::kContainerSync) {
        FinishCreate(*c->second);
      } else {
        PumpContainerPipe(*c->second, watch.kind == WatchKind::kContainerErr, false);
      }
      return;
    }
    case WatchKind::kExecOut:
    case WatchKind::kExecErr:
    case WatchKind::kExecSync: {
      auto e = execs_.find(watch.exec_id);
      if (e == execs_.end()) return;
      if (watch.kind == WatchKind::kExecSync) {
        ReadExecSetup(*e->second);
      } else {
        PumpExecPipe(*e->second, watch.kind == WatchKind::kExecErr, false);
      }
      return;
    }
  }
}

int Monitor::NextTimeoutMs() {
  int64_t next = 0;
  auto consider = [&next](int64_t deadline) {
    if (deadline > 0 && (next == 0 || deadline < next)) next = deadline;
  };
  for (const auto& [id, exec] : execs_) {
    if (!exec->killed) consider(exec->deadline_ms);
  }
  for (const auto& [id, connection] : connections_) {
    if (!connection.request_read) consider(connection.read_deadline_ms);
  }
  if (next == 0) return -1;
  return static_cast<int>(std::clamp<int64_t>(next - MonotonicMs(), 0, INT_MAX));
}

void Monitor::HandleTimeouts() {
  const int64_t now = MonotonicMs();
  for (auto& [id, exec] : execs_) {
    if (!exec->killed && exec->deadline_ms > 0 && now >= exec->deadline_ms) {
      exec->timed_out = true;
      KillExec(*exec);  // replied to once reaped
    }
  }
  std::vector<int> stale;
  for (const auto& [id, connection] : connections_) {
    if (!connection.request_read && now >= connection.read_deadline_ms) stale.push_back(id);
  }
  for (int id : stale) CloseConnection(id);
}

void Monitor::HandleSignals() {
  struct signalfd_siginfo info;
  bool child = false;
  while (read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGCHLD) {
      child = true;
    } else if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
      if (!shutting_down_) LogLine(absl::StrCat("signal ", info.ssi_signo, ": shutting down"));
      shutting_down_ = true;
    }
  }
  if (child) ReapChildren();
}

void Monitor::ReapChildren() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;  // 0: none exited; ECHILD: no children
    if (auto it = init_pids_.find(pid); it != init_pids_.end()) {
      const std::string id = it->second;
      init_pids_.erase(it);
      auto c = containers_.find(id);
      if (c != containers_.end()) ContainerExited(*c->second, status);
    } else if (auto e = exec_pids_.find(pid); e != exec_pids_.end()) {
      const uint64_t exec_id = e->second;
      exec_pids_.erase(e);
      auto x = execs_.find(exec_id);
      if (x != execs_.end()) ExecExited(*x->second, status);
    } else if (pid == holder_pid_) {
      LogLine(absl::StrCat("pod pid namespace holder ", pid, " exited (status ", status, ")"));
      holder_pid_ = -1;
    }
    // Anything else: an orphan reparented to us (subreaper), or an init
    // whose create was abandoned. Reaped and forgotten.
  }
}

void Monitor::Accept() {
  for (;;) {
    int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) LogLine(ErrnoError(errno, "accept").ToString());
      return;
    }
    // Only root (or our own uid) may drive the monitor; the socket is 0600
    // in a 0700 directory anyway.
    struct ucred peer = {};
    socklen_t length = sizeof(peer);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
        (peer.uid != 0 && peer.uid != geteuid())) {
      close(fd);
      continue;
    }
    const int id = next_connection_++;
    Connection& connection = connections_[id];
    connection.id = id;
    connection.fd = UniqueFd(fd);
    connection.read_deadline_ms = MonotonicMs() + kRequestReadTimeoutMs;
    Watch watch;
    watch.kind = WatchKind::kConnection;
    watch.connection = id;
    connection.token = AddWatch(fd, EPOLLIN | EPOLLRDHUP, watch);
  }
}

void Monitor::HandleConnection(int id, uint32_t events) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& connection = it->second;
  if (!connection.request_read) {
    // Reading the request.
    for (;;) {
      ssize_t n = read(connection.fd.get(), read_buffer_.data(), read_buffer_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        CloseConnection(id);
        return;
      }
      connection.in.append(read_buffer_.data(), static_cast<size_t>(n));
      absl::StatusOr<size_t> size =
          monitor_protocol::CompleteFrameSize(connection.in, monitor_protocol::kMaxRequestPayload);
      if (!size.ok()) {
        connection.request_read = true;
        SendReply(id, monitor_protocol::ErrorReply(size.status()));
        return;
      }
      if (*size == 0) continue;
      connection.request_read = true;
      // From now on only hang-ups (and, with a reply pending, EPOLLOUT).
      ModifyWatch(connection.token, EPOLLRDHUP);
      absl::StatusOr<Request> request = monitor_protocol::DecodeRequest(
          monitor_protocol::FramePayload(absl::string_view(connection.in).substr(0, *size)));
      std::string().swap(connection.in);
      if (!request.ok()) {
        SendReply(id, monitor_protocol::ErrorReply(request.status()));
        return;
      }
      HandleRequest(connection, *request);
      return;
    }
  }
  if (events & (EPOLLHUP | EPOLLERR)) {
    ConnectionGone(id);
    return;
  }
  if ((events & EPOLLRDHUP) && connection.out.empty()) {
    // The client gave up waiting (or died) before its reply.
    ConnectionGone(id);
    return;
  }
  if (events & EPOLLOUT) FlushConnection(connection);
}

void Monitor::HandleRequest(Connection& connection, const Request& request) {
  switch (request.op) {
    case Op::kStatus:
      SendReply(connection.id, StatusReply());
      return;
    case Op::kCreate:
      StartCreate(connection.id, request);
      return;
    case Op::kExec:
      StartExec(connection.id, request);
      return;
    case Op::kReopenLog:
      SendReply(connection.id, monitor_protocol::ErrorReply(ReopenLog(request.container_id)));
      return;
    case Op::kShutdown:
      if (!shutting_down_) LogLine("shutdown requested");
      shutting_down_ = true;
      SendReply(connection.id, StatusReply());
      return;
  }
}

Reply Monitor::StatusReply() const {
  Reply reply;
  reply.pid = getpid();
  absl::StatusOr<uint64_t> start = ReadProcessStartTime(reply.pid);
  if (start.ok()) reply.start_time = *start;
  reply.pid_namespace_holder = holder_pid_;
  reply.shutting_down = shutting_down_;
  for (const auto& [id, container] : containers_) {
    monitor_protocol::ContainerState state;
    state.id = id;
    state.pid = container->pid;
    state.start_time = container->start_time;
    state.state = container->created ? "created" : "creating";
    for (const auto& [exec_id, exec] : execs_) state.execs += exec->container_id == id;
    reply.containers.push_back(std::move(state));
  }
  return reply;
}

void Monitor::SendReply(int connection_id, const Reply& reply) {
  auto it = connections_.find(connection_id);
  if (it == connections_.end()) return;
  Connection& connection = it->second;
  connection.out = monitor_protocol::EncodeReply(reply);
  connection.out_done = 0;
  FlushConnection(connection);
}

void Monitor::FlushConnection(Connection& connection) {
  while (connection.out_done < connection.out.size()) {
    ssize_t n = write(connection.fd.get(), connection.out.data() + connection.out_done,
                      connection.out.size() - connection.out_done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      ModifyWatch(connection.token, EPOLLOUT | EPOLLRDHUP);
      return;
    }
    if (n <= 0) break;  // EPIPE: the client is gone
    connection.out_done += static_cast<size_t>(n);
  }
  CloseConnection(connection.id);
}

void Monitor::CloseConnection(int id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  RemoveWatch(it->second.token);
  connections_.erase(it);
}

void Monitor::ConnectionGone(int id) {
  // A pending create or exec loses its client: abandon it.
  for (auto& [exec_id, exec] : execs_) {
    if (exec->connection == id) {
      exec->connection = 0;
      KillExec(*exec);
    }
  }
  std::vector<std::string> abandoned;
  for (auto& [container_id, container] : containers_) {
    if (container->waiting_connection == id) abandoned.push_back(container_id);
  }
  for (const std::string& container_id : abandoned) {
    LogLine(absl::StrCat("create of ", container_id, " abandoned by its client"));
    DiscardContainer(container_id);
  }
  CloseConnection(id);
}

bool Monitor::Idle() const {
  if (!containers_.empty() || !execs_.empty()) return false;
  for (const auto& [id, connection] : connections_) {
    if (!connection.out.empty()) return false;  // a reply still being written
  }
  return true;
}

}  // namespace converge::process::monitor

#include "executors/process/monitor/monitor_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"
#include "executors/process/monitor/unix_socket.h"

namespace converge::process {
namespace {

using monitor_protocol::Op;
using monitor_protocol::Reply;
using monitor_protocol::Request;

// The fd number the monitor finds its ready pipe on.
constexpr int kReadyFd = 3;

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now()) + 1;
  return static_cast<int>(std::clamp<int64_t>(ms, 0, INT_MAX));
}

// Waits until `fd` is ready for `events`; DEADLINE_EXCEEDED at the deadline.
absl::Status WaitFd(int fd, short events, absl::Time deadline, const std::string& what) {
  for (;;) {
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, PollTimeoutMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "poll ", what);
    if (n > 0) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": no reply in time"));
    }
  }
}

// Reads one frame (reply or start-up report) from `fd`.
absl::StatusOr<Reply> ReadReply(int fd, absl::Time deadline, const std::string& what) {
  std::string buffer;
  std::string chunk(64 * 1024, '\0');
  for (;;) {
    CONVERGE_ASSIGN_OR_RETURN(size_t size, monitor_protocol::CompleteFrameSize(
                                               buffer, monitor_protocol::kMaxReplyPayload));
    if (size != 0) {
      return monitor_protocol::DecodeReply(
          monitor_protocol::FramePayload(absl::string_view(buffer).substr(0, size)));
    }
    CONVERGE_RETURN_IF_ERROR(WaitFd(fd, POLLIN, deadline, what));
    ssize_t n = read(fd, chunk.data(), chunk.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 && errno != ECONNRESET) return ErrnoError(errno, "read ", what);
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat(what, ": the monitor closed the connection "
                                                       "without a reply (it exited?)"));
    }
    buffer.append(chunk.data(), static_cast<size_t>(n));
  }
}

absl::StatusOr<ProcessIdentity> IdentityOf(pid_t pid) {
  ProcessIdentity identity;
  identity.pid = pid;
  CONVERGE_ASSIGN_OR_RETURN(identity.start_time, ReadProcessStartTime(pid));
  return identity;
}

// The double fork. Runs in the calling (possibly multi-threaded) process, so
// the children only make async-signal-safe calls.
absl::StatusOr<ProcessIdentity> LaunchMonitor(const MonitorLaunch& launch) {
  std::vector<std::string> args = {
      launch.binary,
      absl::StrCat("--pod-dir=", launch.pod_dir),
      absl::StrCat("--sandbox-id=", launch.sandbox_id),
      absl::StrCat("--ready-fd=", kReadyFd),
  };
  if (launch.pod_pid_namespace) args.push_back("--pod-pid-namespace");
  for (const std::string& file : launch.cgroup_procs_files) {
    args.push_back(absl::StrCat("--cgroup-procs=", file));
  }
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  char path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {path_env, nullptr};
  const char* binary = launch.binary.c_str();

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2");
  UniqueFd ready_read(ready[0]);
  UniqueFd ready_write(ready[1]);
  pid_t child = fork();
  if (child < 0) return ErrnoError(errno, "fork");
  if (child == 0) {
    // Own session: no controlling terminal, not in the daemon's group.
    setsid();
    pid_t grandchild = fork();
    if (grandchild != 0) _exit(grandchild < 0 ? 1 : 0);
    // The grandchild, orphaned at once: reparented to init or the nearest
    // subreaper, not the daemon.
    int ready_fd = fcntl(ready[1], F_DUPFD, 10);
    int null_fd = open("/dev/null", O_RDWR);
    if (ready_fd < 0 || null_fd < 0) _exit(126);
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    if (null_fd > 2 && null_fd != kReadyFd) close(null_fd);
    dup2(ready_fd, kReadyFd);  // without FD_CLOEXEC
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(binary, argv.data(), envp);
    _exit(127);
  }
  ready_write.Reset();
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError(errno, "waitpid monitor launcher ", child);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError("the monitor launcher could not fork");
  }
  const std::string what = absl::StrCat("start-up report of monitor `", launch.binary, "`");
  absl::StatusOr<Reply> report =
      ReadReply(ready_read.get(), absl::Now() + launch.start_timeout, what);
  if (!report.ok()) {
    if (absl::IsUnavailable(report.status())) {
      return absl::InternalError(absl::StrCat(
          "monitor `", launch.binary, "` exited without reporting (exec failed or crashed; see `",
          launch.pod_dir, "/", kMonitorLogFile, "`)"));
    }
    return report.status();
  }
  CONVERGE_RETURN_IF_ERROR(monitor_protocol::ReplyStatus(*report));
  return IdentityOf(report->pid);
}

}  // namespace

absl::StatusOr<ProcessIdentity> SpawnMonitor(const MonitorLaunch& launch) {
  if (launch.binary.empty() || launch.pod_dir.empty() || launch.pod_dir[0] != '/') {
    return absl::InvalidArgumentError("SpawnMonitor: binary and an absolute pod_dir are required");
  }
  MonitorClient client(launch.pod_dir);
  // Already served? (A daemon restart, or a retried reconcile step.)
  absl::StatusOr<Reply> existing = client.Status();
  if (existing.ok()) return IdentityOf(existing->pid);
  if (!absl::IsUnavailable(existing.status())) {
    return Annotate(existing.status(), "probe the monitor of `", launch.pod_dir, "`");
  }
  absl::StatusOr<ProcessIdentity> started = LaunchMonitor(launch);
  if (absl::IsAlreadyExists(started.status())) {
    // Lost a race with another start: that one serves the pod.
    CONVERGE_ASSIGN_OR_RETURN(Reply reply, client.Status());
    return IdentityOf(reply.pid);
  }
  if (!started.ok()) return Annotate(started.status(), "start monitor for `", launch.pod_dir, "`");
  return started;
}

MonitorClient::MonitorClient(std::string pod_dir) : pod_dir_(std::move(pod_dir)) {}

absl::StatusOr<Reply> MonitorClient::Call(const Request& request, absl::Duration timeout) {
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  const std::string what = absl::StrCat("monitor `", pod_dir_, "/", kMonitorSocket, "`");
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError(errno, "socket");
  {
    absl::StatusOr<UnixAddress> address = UnixAddress::For(pod_dir_, kMonitorSocket);
    if (!address.ok()) {
      return absl::UnavailableError(absl::StrCat(what, ": ", address.status().message()));
    }
    for (;;) {
      if (connect(fd.get(), address->sockaddr(), address->length()) == 0) break;
      if (errno == EINTR) continue;
      if (errno == EAGAIN && absl::Now() < deadline) {
        // Backlog full: the monitor is busy; try again shortly.
        absl::SleepFor(absl::Milliseconds(5));
        continue;
      }
      if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR) {
        return absl::UnavailableError(
            absl::StrCat(what, ": not listening (", std::strerror(errno), ")"));
      }
      return ErrnoError(errno, "connect ", what);
    }
  }
  const std::string frame = monitor_protocol::EncodeRequest(request);
  size_t done = 0;
  while (done < frame.size()) {
    ssize_t n = send(fd.get(), frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      CONVERGE_RETURN_IF_ERROR(WaitFd(fd.get(), POLLOUT, deadline, what));
      continue;
    }
    if (n < 0) {
      if (errno == EPIPE || errno == ECONNRESET) {
        return absl::UnavailableError(absl::StrCat(what, ": connection lost"));
      }
      return ErrnoError(errno, "send to ", what);
    }
    done += static_cast<size_t>(n);
  }
  return ReadReply(fd.get(), deadline, what);
}

absl::StatusOr<ProcessIdentity> MonitorClient::CreateContainer(const std::string& id,
                                                               const std::string& container_dir,
                                                               absl::Duration timeout) {
  Request request;
  request.op = Op::kCreate;
  request.container_id = id;
  request.container_dir = container_dir;
  CONVERGE_ASSIGN_OR_RETURN(Reply reply, Call(request, timeout));
  CONVERGE_RETURN_IF_ERROR(monitor_protocol::ReplyStatus(reply));
  ProcessIdentity init;
  init.pid = reply.pid;
  init.start_time = reply.start_time;
  return init;
}

absl::StatusOr<MonitorClient::ExecResult> MonitorClient::Exec(const std::string& id,
                                                              const std::vector<std::string>& args,
                                                              absl::Duration timeout) {
  Request request;
  request.op = Op::kExec;
  request.container_id = id;
  request.args = args;
  absl::Duration wait = absl::InfiniteDuration();
  if (timeout > absl::ZeroDuration()) {
    // At least 1 ms: 0 would mean "no timeout" on the wire.
    request.timeout_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout));
    wait = timeout + kExecGrace;
  }
  CONVERGE_ASSIGN_OR_RETURN(Reply reply, Call(request, wait));
  CONVERGE_RETURN_IF_ERROR(monitor_protocol::ReplyStatus(reply));
  ExecResult result;
  result.exit_code = reply.exit_code;
  result.stdout_data = std::move(reply.stdout_data);
  result.stderr_data = std::move(reply.stderr_data);
  result.stdout_truncated = reply.stdout_truncated;
  result.stderr_truncated = reply.stderr_truncated;
  return result;
}

absl::Status MonitorClient::ReopenLog(const std::string& id) {
  Request request;
  request.op = Op::kReopenLog;
  request.container_id = id;
  CONVERGE_ASSIGN_OR_RETURN(Reply reply, Call(request, kDefaultTimeout));
  return monitor_protocol::ReplyStatus(reply);
}

absl::Status MonitorClient::Shutdown() {
  Request request;
  request.op = Op::kShutdown;
  CONVERGE_ASSIGN_OR_RETURN(Reply reply, Call(request, kDefaultTimeout));
  return monitor_protocol::ReplyStatus(reply);
}

absl::StatusOr<pid_t> MonitorClient::PodPidNamespaceHolder() {
  CONVERGE_ASSIGN_OR_RETURN(Reply reply, Status());
  if (reply.pid_namespace_holder <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the monitor of `", pod_dir_, "` holds no pod pid namespace"));
  }
  return reply.pid_namespace_holder;
}

absl::StatusOr<Reply> MonitorClient::Status() {
  Request request;
  request.op = Op::kStatus;
  CONVERGE_ASSIGN_OR_RETURN(Reply reply, Call(request, kDefaultTimeout));
  CONVERGE_RETURN_IF_ERROR(monitor_protocol::ReplyStatus(reply));
  return reply;
}

}  // namespace converge::process

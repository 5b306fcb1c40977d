#include "executors/process/init/container_init.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"
#include "executors/process/init/mounts.h"
#include "executors/process/init/process_attrs.h"

namespace converge::process {
namespace {

using init_internal::NamespaceFlag;

// The setup channel protocol, child to parent, one record each:
//   'W'                 the init finished setup and now blocks on the exec FIFO
//   'X'                 an exec process finished setup and calls execve; EOF
//                       (the CLOEXEC write end closing) then means it exec'd
//   'E' <code> ':' msg  setup (or, after 'X', the exec) failed; the child exits
constexpr char kInitWaiting = 'W';
constexpr char kExecing = 'X';
constexpr char kError = 'E';

// How long StartCreatedInit sleeps in poll before checking the init again.
constexpr int kStartPollSliceMs = 50;

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent is gone; nobody to tell
    done += static_cast<size_t>(n);
  }
}

[[noreturn]] void FailChild(int sync_fd, const absl::Status& status) {
  WriteAll(sync_fd, absl::StrCat(std::string(1, kError), static_cast<int>(status.code()), ":",
                                 status.message()));
  _exit(1);
}

// A plain fork with namespace flags: no CLONE_VM, so the child has its own
// copy of memory and may allocate. The caller is single-threaded (no other
// thread can hold a libc lock across the copy).
pid_t CloneProcess(unsigned long flags) {
  return static_cast<pid_t>(syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
}

// Sets the caller's pid_for_children to the pid namespace at `path` for the
// lifetime of this object (so the next clone lands in it), then restores the
// caller's own pid_for_children. setns(CLONE_NEWPID) changes only the calling
// thread, which is why the monitor calls this single-threaded.
class PidNamespaceForChildren {
 public:
  static absl::StatusOr<PidNamespaceForChildren> Enter(const std::string& path) {
    PidNamespaceForChildren ns;
    ns.saved_ = UniqueFd(open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC));
    if (!ns.saved_.valid()) return ErrnoError(errno, "open `/proc/self/ns/pid_for_children`");
    UniqueFd target(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target.valid()) return ErrnoError(errno, "open pid namespace `", path, "`");
    if (setns(target.get(), CLONE_NEWPID) != 0) {
      return ErrnoError(errno, "setns pid namespace `", path, "`");
    }
    return ns;
  }

  absl::Status Restore() {
    if (!saved_.valid()) return absl::OkStatus();
    if (setns(saved_.get(), CLONE_NEWPID) != 0) {
      return ErrnoError(errno, "restore the caller's pid namespace for children");
    }
    saved_.Reset();
    return absl::OkStatus();
  }

 private:
  UniqueFd saved_;
};

// Validates the namespace list; returns the clone flags of the fresh ones.
absl::StatusOr<unsigned long> FreshNamespaceFlags(const ContainerSpec& spec,
                                                  std::string* pid_ns_path) {
  unsigned long flags = CLONE_NEWNS;
  std::set<std::string> seen;
  for (const NamespaceSpec& ns : spec.namespaces) {
    if (NamespaceFlag(ns.kind) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown namespace kind `", ns.kind, "`"));
    }
    if (!seen.insert(ns.kind).second) {
      return absl::InvalidArgumentError(absl::StrCat("namespace `", ns.kind, "` given twice"));
    }
    if (ns.kind == "user") {
      return absl::UnimplementedError("user namespaces are not supported yet");
    }
    if (ns.kind == "mnt") {
      if (!ns.path.empty()) {
        return absl::InvalidArgumentError("the mount namespace is always fresh; it has no path");
      }
      continue;
    }
    if (ns.kind == "pid" && !ns.path.empty()) *pid_ns_path = ns.path;
    // A fresh cgroup namespace is unshared by the child after it joined its
    // cgroup, so that the container's cgroup becomes the namespace's root.
    if (ns.path.empty() && ns.kind != "cgroup") flags |= NamespaceFlag(ns.kind);
  }
  return flags;
}

bool IsFresh(const ContainerSpec& spec, const std::string& kind) {
  for (const NamespaceSpec& ns : spec.namespaces) {
    if (ns.kind == kind) return ns.path.empty();
  }
  return false;
}

// The container init, in the cloned child. Returns only on failure.
absl::Status RunInit(const ContainerSpec& spec, int stdout_fd, int stderr_fd, int* sync_fd) {
  using namespace init_internal;  // NOLINT: the steps read best unqualified
  ResetSignalsAndUmask();
  CONVERGE_RETURN_IF_ERROR(JoinCgroups(spec.cgroup_procs_files));
  if (IsFresh(spec, "cgroup") && unshare(CLONE_NEWCGROUP) != 0) {
    return ErrnoError(errno, "unshare the cgroup namespace");
  }
  std::vector<NamespaceSpec> joins;
  for (const NamespaceSpec& ns : spec.namespaces) {
    if (!ns.path.empty() && ns.kind != "pid") joins.push_back(ns);
  }
  CONVERGE_RETURN_IF_ERROR(JoinNamespaces(joins));
  // Through the host's /proc, which the container may not even mount.
  CONVERGE_RETURN_IF_ERROR(ApplyOomScoreAdj(spec.process, "/proc"));
  CONVERGE_ASSIGN_OR_RETURN(*sync_fd, SetUpStdio(stdout_fd, stderr_fd, *sync_fd));
  CONVERGE_ASSIGN_OR_RETURN(UniqueFd fifo, SetUpRootfs(spec));
  if (IsFresh(spec, "uts") && !spec.hostname.empty()) {
    CONVERGE_RETURN_IF_ERROR(SetHostname(spec.hostname));
  }
  CONVERGE_RETURN_IF_ERROR(ApplyRlimits(spec.process));
  CONVERGE_RETURN_IF_ERROR(BecomeContainerProcess(spec.process));
  // Resolved now, so that a missing executable fails CreateContainer.
  CONVERGE_ASSIGN_OR_RETURN(const std::string executable,
                            LookPath(spec.process.args[0], spec.process.env));

  // Reopened through the container's /proc (the host path is unreachable
  // after pivot_root); checked before reporting success, so that a container
  // without /proc fails CreateContainer rather than StartContainer.
  const std::string fifo_path = absl::StrCat("/proc/self/fd/", fifo.get());
  struct stat fifo_stat;
  if (stat(fifo_path.c_str(), &fifo_stat) != 0 || !S_ISFIFO(fifo_stat.st_mode)) {
    return ErrnoError(errno == 0 ? EINVAL : errno, "reach the exec fifo through `", fifo_path,
                      "` (is /proc mounted in the container?)");
  }

  WriteAll(*sync_fd, std::string(1, kInitWaiting));
  // Blocks until StartCreatedInit opens the FIFO for reading.
  int fifo_w;
  do {
    fifo_w = open(fifo_path.c_str(), O_WRONLY | O_CLOEXEC);
  } while (fifo_w < 0 && errno == EINTR);
  absl::Status failed;
  if (fifo_w < 0) {
    failed = ErrnoError(errno, "open exec fifo `", fifo_path, "`");
  } else if (write(fifo_w, "0", 1) != 1) {
    failed = ErrnoError(errno, "write exec fifo");
  } else {
    close(fifo_w);
    fifo.Reset();
    failed = Exec(executable, spec.process);
  }
  // Setup was reported done: the container's stderr is the only witness.
  WriteAll(2, absl::StrCat("converge-init: ", failed.message(), "\n"));
  _exit(ExecFailureExitCode(failed));
}

// An exec process, in the cloned child (already in the container's pid
// namespace). Returns only on failure.
absl::Status RunExec(const ContainerSpec& spec, pid_t init_pid,
                     const std::vector<std::string>& args, int stdout_fd, int stderr_fd,
                     int* sync_fd) {
  using namespace init_internal;  // NOLINT
  ResetSignalsAndUmask();
  CONVERGE_RETURN_IF_ERROR(JoinCgroups(spec.cgroup_procs_files));
  std::vector<NamespaceSpec> joins;
  for (const char* kind : {"cgroup", "ipc", "uts", "net", "mnt"}) {
    joins.push_back({kind, absl::StrCat("/proc/", init_pid, "/ns/", kind)});
  }
  CONVERGE_RETURN_IF_ERROR(JoinNamespaces(joins));
  CONVERGE_ASSIGN_OR_RETURN(*sync_fd, SetUpStdio(stdout_fd, stderr_fd, *sync_fd));
  if (setsid() < 0) return ErrnoError(errno, "setsid");
  // The container's /proc now (we are in its mount and pid namespaces).
  CONVERGE_RETURN_IF_ERROR(ApplyOomScoreAdj(spec.process, "/proc"));
  CONVERGE_RETURN_IF_ERROR(ApplyRlimits(spec.process));
  ProcessSpec process = spec.process;
  process.args = args;
  CONVERGE_RETURN_IF_ERROR(BecomeContainerProcess(process));
  CONVERGE_ASSIGN_OR_RETURN(const std::string executable, LookPath(args[0], process.env));
  WriteAll(*sync_fd, std::string(1, kExecing));
  absl::Status failed = Annotate(Exec(executable, process), "exec in container");
  WriteAll(*sync_fd, absl::StrCat(std::string(1, kError), static_cast<int>(failed.code()), ":",
                                  failed.message()));
  _exit(ExecFailureExitCode(failed));
}

absl::Status CreateFifo(const std::string& path) {
  if (mkfifo(path.c_str(), 0600) == 0) return absl::OkStatus();
  if (errno != EEXIST) return ErrnoError(errno, "mkfifo `", path, "`");
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ErrnoError(errno, "stat `", path, "`");
  if (!S_ISFIFO(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("`", path, "` exists and is not a FIFO"));
  }
  return absl::OkStatus();
}

// The setup channel; both ends close-on-exec.
class SyncPipe {
 public:
  static absl::StatusOr<SyncPipe> Create() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2");
    return SyncPipe(fds[0], fds[1]);
  }
  SyncPipe(SyncPipe&& other) noexcept
      : read_(std::exchange(other.read_, -1)), write_(std::exchange(other.write_, -1)) {}
  SyncPipe& operator=(SyncPipe&&) = delete;
  ~SyncPipe() {
    if (read_ >= 0) close(read_);
    if (write_ >= 0) close(write_);
  }

  // In the child: the write end, the read end closed.
  int ChildEnd() {
    close(std::exchange(read_, -1));
    return write_;
  }
  // In the parent: the read end, handed to the caller; the write end closed.
  int ReleaseParentEnd() {
    close(std::exchange(write_, -1));
    return std::exchange(read_, -1);
  }

 private:
  SyncPipe(int read, int write) : read_(read), write_(write) {}
  int read_;
  int write_;
};

absl::Status ParseError(absl::string_view record) {
  // record = "E<code>:<message>"
  size_t colon = record.find(':');
  int code = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(record.substr(1, colon - 1), &code) ||
      code <= 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::InternalError(absl::StrCat("container init: malformed setup report `", record, "`"));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), record.substr(colon + 1));
}

// Clones a child with `flags` while the caller's pid_for_children is
// `pid_ns` (then restores it); the child runs `child_main` with its end of
// `sync` and reports its failure there. `what` names the process in errors.
template <typename ChildMain>
absl::StatusOr<SpawnedProcess> CloneReporting(unsigned long flags, PidNamespaceForChildren pid_ns,
                                              SyncPipe sync, const char* what,
                                              ChildMain child_main) {
  pid_t pid = CloneProcess(flags);
  if (pid == 0) {
    int sync_fd = sync.ChildEnd();
    absl::Status failed = child_main(&sync_fd);
    FailChild(sync_fd, Annotate(failed, what));
  }
  const int clone_errno = errno;
  absl::Status restored = pid_ns.Restore();
  if (pid < 0) return ErrnoError(clone_errno, "clone ", what);
  if (!restored.ok()) {
    // The monitor's next children would land in the container: unusable.
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return restored;
  }
  SpawnedProcess spawned;
  spawned.pid = pid;
  spawned.sync_fd = sync.ReleaseParentEnd();
  return spawned;
}

}  // namespace

absl::StatusOr<SpawnedProcess> SpawnContainerInit(const ContainerSpec& spec, int stdout_fd,
                                                  int stderr_fd) {
  if (spec.process.args.empty()) return absl::InvalidArgumentError("process.args is empty");
  if (spec.rootfs.empty()) return absl::InvalidArgumentError("rootfs is empty");
  if (spec.exec_fifo.empty()) return absl::InvalidArgumentError("exec_fifo is empty");
  std::string pid_ns_path;
  CONVERGE_ASSIGN_OR_RETURN(const unsigned long flags, FreshNamespaceFlags(spec, &pid_ns_path));
  CONVERGE_RETURN_IF_ERROR(CreateFifo(spec.exec_fifo));
  CONVERGE_ASSIGN_OR_RETURN(SyncPipe sync, SyncPipe::Create());

  PidNamespaceForChildren pid_ns;
  if (!pid_ns_path.empty()) {
    CONVERGE_ASSIGN_OR_RETURN(pid_ns, PidNamespaceForChildren::Enter(pid_ns_path));
  }
  return CloneReporting(flags, std::move(pid_ns), std::move(sync), "container init",
                        [&](int* sync_fd) { return RunInit(spec, stdout_fd, stderr_fd, sync_fd); });
}

absl::StatusOr<SpawnedProcess> SpawnExec(const ContainerSpec& spec, pid_t init_pid,
                                         const std::vector<std::string>& args, int stdout_fd,
                                         int stderr_fd) {
  if (args.empty()) return absl::InvalidArgumentError("exec args are empty");
  if (init_pid <= 0) return absl::InvalidArgumentError("no container init pid");
  CONVERGE_ASSIGN_OR_RETURN(SyncPipe sync, SyncPipe::Create());
  // The exec process must be born in the container's pid namespace: clone
  // with the monitor's pid_for_children pointing there, then point it back.
  // This keeps the exec process a direct child of the monitor (which reaps it
  // and reads its exit status with no relay process), unlike a double fork.
  CONVERGE_ASSIGN_OR_RETURN(
      PidNamespaceForChildren pid_ns,
      PidNamespaceForChildren::Enter(absl::StrCat("/proc/", init_pid, "/ns/pid")));
  return CloneReporting(0, std::move(pid_ns), std::move(sync), "exec in container",
                        [&](int* sync_fd) {
                          return RunExec(spec, init_pid, args, stdout_fd, stderr_fd, sync_fd);
                        });
}

absl::Status AwaitSetup(int sync_fd) {
  UniqueFd fd(sync_fd);
  std::string report;
  char buf[4096];
  for (;;) {
    // The init's report ends with 'W' and then it blocks: stop there.
    if (report.size() == 1 && report[0] == kInitWaiting) return absl::OkStatus();
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read the container init's setup channel");
    }
    if (n == 0) break;
    report.append(buf, static_cast<size_t>(n));
  }
  if (report.empty()) {
    return absl::InternalError("init exited during setup without reporting why");
  }
  if (report[0] == kExecing) {
    if (report.size() == 1) return absl::OkStatus();  // EOF after 'X': exec'd
    if (report[1] == kError) return ParseError(absl::string_view(report).substr(1));
  }
  if (report[0] == kError) return ParseError(report);
  return absl::InternalError(absl::StrCat("init exited during setup; it reported `", report, "`"));
}

absl::Status StartCreatedInit(const std::string& exec_fifo, pid_t init_pid,
                              absl::Duration timeout) {
  // Opening the read side (without blocking) releases the init's blocking
  // open of the write side.
  UniqueFd fifo(open(exec_fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fifo.valid()) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("exec fifo `", exec_fifo,
                                              "` does not exist (started already?)"));
    }
    return ErrnoError(errno, "open exec fifo `", exec_fifo, "`");
  }
  // A pidfd tells an exited init apart from a live one even before it is
  // reaped (kill(pid, 0) succeeds on a zombie).
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, init_pid, 0)));
  if (!pidfd.valid()) {
    if (errno == ESRCH) {
      return absl::FailedPreconditionError(
          absl::StrCat("container init ", init_pid, " exited before start"));
    }
    return ErrnoError(errno, "pidfd_open(", init_pid, ")");
  }
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    char byte;
    ssize_t n = read(fifo.get(), &byte, 1);
    if (n == 1) break;
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return ErrnoError(errno, "read exec fifo `", exec_fifo, "`");
    }
    struct pollfd exited = {pidfd.get(), POLLIN, 0};
    if (poll(&exited, 1, 0) == 1) {
      // A last look: it may have written its byte and exec'd something that
      // exited at once.
      if (read(fifo.get(), &byte, 1) == 1) break;
      return absl::FailedPreconditionError(
          absl::StrCat("container init ", init_pid, " exited before start"));
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("container init ", init_pid, " did not take the exec fifo within ",
                       absl::FormatDuration(timeout)));
    }
    const int slice = static_cast<int>(
        std::min<int64_t>(kStartPollSliceMs, absl::ToInt64Milliseconds(left) + 1));
    // n == 0: no writer (yet: the init may be between its report and its
    // open, or gone): the FIFO would poll as hung up, so wait on the pidfd.
    struct pollfd fds[2] = {{pidfd.get(), POLLIN, 0}, {fifo.get(), POLLIN, 0}};
    if (poll(fds, n == 0 ? 1 : 2, slice) < 0 && errno != EINTR) {
      return ErrnoError(errno, "poll exec fifo `", exec_fifo, "`");
    }
  }
  if (unlink(exec_fifo.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "remove exec fifo `", exec_fifo, "`");
  }
  return absl::OkStatus();
}

}  // namespace converge::process

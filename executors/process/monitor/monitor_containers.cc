// converge-monitor: creating containers, their logs and exits, and exec
// processes. The loop itself is in monitor_loop.cc.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "executors/process/init/container_init.h"
#include "executors/process/monitor/exit_record.h"
#include "executors/process/monitor/monitor.h"
#include "executors/process/monitor/process_identity.h"
#include "executors/process/spec/container_spec_json.h"

namespace converge::process::monitor {

using monitor_protocol::Reply;
using monitor_protocol::Request;

namespace {

constexpr char kSpecFile[] = "spec.json";
constexpr size_t kMaxSpecBytes = 4 << 20;

absl::StatusOr<ContainerSpec> ReadSpec(const std::string& container_dir) {
  CONVERGE_ASSIGN_OR_RETURN(std::string json,
                            ReadFileUpTo(absl::StrCat(container_dir, "/", kSpecFile), kMaxSpecBytes));
  absl::StatusOr<ContainerSpec> spec = ParseContainerSpec(json);
  if (!spec.ok()) return Annotate(spec.status(), "`", container_dir, "/", kSpecFile, "`");
  return spec;
}

// A pipe whose read end the loop drains (non-blocking) and whose write end
// goes to a child (blocking, as programs expect).
absl::Status MakePipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2");
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) return ErrnoError(errno, "fcntl O_NONBLOCK");
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenLog(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!fd.valid()) return ErrnoError(errno, "open log `", path, "`");
  return fd;
}

// The oom_kill counter of the memory cgroup owning `procs_file`: v1's
// memory.oom_control or v2's memory.events, whichever is beside it.
bool CgroupSawOomKill(const std::string& procs_file) {
  const size_t slash = procs_file.rfind('/');
  if (slash == std::string::npos) return false;
  const std::string dir = procs_file.substr(0, slash);
  for (const char* name : {"memory.oom_control", "memory.events"}) {
    absl::StatusOr<std::string> content = ReadFileUpTo(absl::StrCat(dir, "/", name), 64 * 1024);
    if (!content.ok()) continue;
    for (absl::string_view line : absl::StrSplit(*content, '\n')) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, ' ');
      uint64_t count = 0;
      if (kv.first == "oom_kill" && absl::SimpleAtoi(kv.second, &count)) return count > 0;
    }
  }
  return false;
}

// 128 + signal for a killed process, as the shell and containerd report it.
void DecodeWaitStatus(int wait_status, int* exit_code, int* signal) {
  if (WIFSIGNALED(wait_status)) {
    *signal = WTERMSIG(wait_status);
    *exit_code = 128 + *signal;
  } else {
    *signal = 0;
    *exit_code = WEXITSTATUS(wait_status);
  }
}

absl::Status WriteAllFd(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "write");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

void Monitor::ClosePipe(Pipe& pipe) {
  if (pipe.token != 0) RemoveWatch(pipe.token);
  pipe.token = 0;
  pipe.fd.Reset();
}

absl::Status Monitor::TakeSetupReport(SyncChannel& sync) {
  if (sync.token != 0) RemoveWatch(sync.token);
  sync.token = 0;
  const int fd = sync.fd;
  sync.fd = -1;
  return AwaitSetup(fd);
}

void Monitor::CloseSync(SyncChannel& sync) {
  if (sync.token != 0) RemoveWatch(sync.token);
  sync.token = 0;
  if (sync.fd >= 0) close(sync.fd);
  sync.fd = -1;
}

// ---------------------------------------------------------------- create

void Monitor::StartCreate(int connection_id, const Request& request) {
  auto fail = [&](const absl::Status& status) {
    SendReply(connection_id, monitor_protocol::ErrorReply(
                                 Annotate(status, "create container ", request.container_id)));
  };
  if (shutting_down_) {
    fail(absl::UnavailableError("the monitor is shutting down (pod stopping)"));
    return;
  }
  if (request.container_id.empty() || request.container_dir.empty()) {
    fail(absl::InvalidArgumentError("container id and directory are required"));
    return;
  }
  if (containers_.count(request.container_id) != 0) {
    fail(absl::AlreadyExistsError("the monitor already has this container"));
    return;
  }
  absl::StatusOr<ContainerSpec> spec = ReadSpec(request.container_dir);
  if (!spec.ok()) {
    fail(spec.status());
    return;
  }
  if (!spec->id.empty() && spec->id != request.container_id) {
    fail(absl::InvalidArgumentError(absl::StrCat("spec is for container `", spec->id, "`")));
    return;
  }
  // An earlier attempt's init may have been reaped (and its record written)
  // after the daemon cleared the directory: from here on, no record but the
  // new init's can appear, since this loop is the only writer.
  const std::string stale_exit = absl::StrCat(request.container_dir, "/", kExitRecordFile);
  if (unlink(stale_exit.c_str()) != 0 && errno != ENOENT) {
    fail(ErrnoError(errno, "remove stale exit record `", stale_exit, "`"));
    return;
  }
  auto container = std::make_unique<Container>();
  container->id = request.container_id;
  container->dir = request.container_dir;
  container->log_path = spec->log_path;
  container->cgroup_procs_files = spec->cgroup_procs_files;
  UniqueFd out_w, err_w;
  absl::Status made = MakePipe(&container->out.fd, &out_w);
  if (made.ok()) made = MakePipe(&container->err.fd, &err_w);
  if (made.ok() && !container->log_path.empty()) {
    absl::StatusOr<UniqueFd> log = OpenLog(container->log_path);
    if (log.ok()) container->log = *std::move(log);
    made = log.status();
  }
  if (!made.ok()) {
    fail(made);
    return;
  }
  absl::StatusOr<SpawnedProcess> spawned = SpawnContainerInit(*spec, out_w.get(), err_w.get());
  out_w.Reset();
  err_w.Reset();
  if (!spawned.ok()) {
    fail(spawned.status());
    return;
  }
  container->pid = spawned->pid;
  container->sync.fd = spawned->sync_fd;
  container->waiting_connection = connection_id;
  container->out_framer = std::make_unique<LogLineFramer>(LogStream::kStdout);
  container->err_framer = std::make_unique<LogLineFramer>(LogStream::kStderr);
  Watch watch;
  watch.container_id = container->id;
  watch.kind = WatchKind::kContainerOut;
  container->out.token = AddWatch(container->out.fd.get(), EPOLLIN, watch);
  watch.kind = WatchKind::kContainerErr;
  container->err.token = AddWatch(container->err.fd.get(), EPOLLIN, watch);
  watch.kind = WatchKind::kContainerSync;
  container->sync.token = AddWatch(container->sync.fd, EPOLLIN, watch);
  init_pids_[container->pid] = container->id;
  LogLine(absl::StrCat("creating container=", container->id, " init=", container->pid));
  containers_[container->id] = std::move(container);
}

void Monitor::FinishCreate(Container& container) {
  if (container.created || container.sync.fd < 0) return;
  // Readable: the init wrote its whole report ('W': it now blocks on the
  // exec FIFO) or is exiting after an error, so this read does not block
  // for long.
  absl::Status setup = TakeSetupReport(container.sync);
  const int connection = container.waiting_connection;
  container.waiting_connection = 0;
  if (setup.ok()) {
    absl::StatusOr<uint64_t> start = ReadProcessStartTime(container.pid);
    if (start.ok() && init_pids_.count(container.pid) != 0) {
      container.start_time = *start;
      container.created = true;
      Reply reply;
      reply.pid = container.pid;
      reply.start_time = container.start_time;
      SendReply(connection, reply);
      LogLine(absl::StrCat("created container=", container.id, " init=", container.pid));
      return;
    }
    setup = absl::FailedPreconditionError("the container init exited right after its setup");
  }
  SendReply(connection, monitor_protocol::ErrorReply(
                            Annotate(setup, "create container ", container.id)));
  LogLine(absl::StrCat("create failed container=", container.id, ": ", setup.ToString()));
  const std::string id = container.id;  // `container` dies with its entry
  DiscardContainer(id);
}

void Monitor::DiscardContainer(const std::string& id) {
  auto it = containers_.find(id);
  if (it == containers_.end()) return;
  Container& container = *it->second;
  CloseSync(container.sync);
  ClosePipe(container.out);
  ClosePipe(container.err);
  if (init_pids_.erase(container.pid) != 0) {
    // Still a child of ours: the reaper forgets it when it exits.
    kill(container.pid, SIGKILL);
  }
  containers_.erase(it);
}

// ---------------------------------------------------------------- logs

void Monitor::WriteLog(Container& container, absl::string_view records) {
  if (records.empty() || !container.log.valid()) return;
  // A regular local file: a write blocks only briefly, never on the reader.
  absl::Status written = WriteAllFd(container.log.get(), records);
  if (!written.ok() && !container.log_failed) {
    container.log_failed = true;
    LogLine(absl::StrCat("container=", container.id, " log `", container.log_path,
                         "`: records dropped: ", written.ToString()));
  }
}

void Monitor::PumpContainerPipe(Container& container, bool is_stderr, bool drain) {
  Pipe& pipe = is_stderr ? container.err : container.out;
  LogLineFramer& framer = is_stderr ? *container.err_framer : *container.out_framer;
  if (!pipe.fd.valid()) return;
  auto append = [this](absl::string_view record) { records_.append(record.data(), record.size()); };
  bool eof = false;
  do {
    ssize_t n = read(pipe.fd.get(), read_buffer_.data(), read_buffer_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      eof = true;
      break;
    }
    framer.Feed(absl::string_view(read_buffer_.data(), static_cast<size_t>(n)), absl::Now(), append);
    WriteLog(container, records_);
    records_.clear();
  } while (drain);
  if (eof) {
    // End of the stream: flush a pending partial line.
    ClosePipe(pipe);
    framer.Finish(absl::Now(), append);
    WriteLog(container, records_);
    records_.clear();
  }
  if (records_.capacity() > read_buffer_.size() * 2) std::string().swap(records_);
}

absl::Status Monitor::ReopenLog(const std::string& id) {
  auto it = containers_.find(id);
  if (it == containers_.end()) {
    return absl::NotFoundError(absl::StrCat("container ", id, " is not known to the monitor"));
  }
  Container& container = *it->second;
  if (container.log_path.empty()) return absl::OkStatus();
  CONVERGE_ASSIGN_OR_RETURN(UniqueFd log, OpenLog(container.log_path));
  container.log = std::move(log);
  container.log_failed = false;
  return absl::OkStatus();
}

// ---------------------------------------------------------------- exits

void Monitor::ContainerExited(Container& container, int wait_status) {
  if (!container.created) {
    // Died during setup: the sync channel is at EOF now; report the create.
    FinishCreate(container);
    return;
  }
  // Everything the init wrote before exiting is in the pipes now. Whatever
  // else still holds the write ends (a background process in a shared pid
  // namespace) gets EPIPE from now on.
  PumpContainerPipe(container, false, true);
  PumpContainerPipe(container, true, true);
  ClosePipe(container.out);
  ClosePipe(container.err);
  auto append = [this](absl::string_view record) { records_.append(record.data(), record.size()); };
  container.out_framer->Finish(absl::Now(), append);
  container.err_framer->Finish(absl::Now(), append);
  WriteLog(container, records_);
  records_.clear();
  container.log.Reset();

  ExitRecord record;
  DecodeWaitStatus(wait_status, &record.exit_code, &record.signal);
  record.finished_at_unix_nanos = absl::ToUnixNanos(absl::Now());
  for (const std::string& file : container.cgroup_procs_files) {
    if (CgroupSawOomKill(file)) record.oom_killed = true;
  }
  record.reason = record.oom_killed ? "OOMKilled" : record.exit_code == 0 ? "Completed" : "Error";
  absl::Status written = WriteExitRecord(container.dir, record);
  LogLine(absl::StrCat("exited container=", container.id, " code=", record.exit_code,
                       " signal=", record.signal, " oom=", record.oom_killed,
                       written.ok() ? "" : " exit record NOT written: ", written.message()));
  const std::string id = container.id;  // `container` dies with its entry
  containers_.erase(id);
}

// ---------------------------------------------------------------- exec

void Monitor::StartExec(int connection_id, const Request& request) {
  auto fail = [&](const absl::Status& status) {
    SendReply(connection_id, monitor_protocol::ErrorReply(
                                 Annotate(status, "exec in container ", request.container_id)));
  };
  auto it = containers_.find(request.container_id);
  if (it == containers_.end()) {
    fail(absl::NotFoundError("the container is not known to the monitor (exited or never created)"));
    return;
  }
  const Container& container = *it->second;
  if (!container.created) {
    fail(absl::FailedPreconditionError("the container is still being created"));
    return;
  }
  if (request.args.empty()) {
    fail(absl::InvalidArgumentError("no command"));
    return;
  }
  // Re-read rather than kept: a few KiB per container less, and the daemon
  // owns the file.
  absl::StatusOr<ContainerSpec> spec = ReadSpec(container.dir);
  if (!spec.ok()) {
    fail(spec.status());
    return;
  }
  auto exec = std::make_unique<Exec>();
  exec->id = next_exec_++;
  exec->container_id = container.id;
  exec->connection = connection_id;
  UniqueFd out_w, err_w;
  absl::Status made = MakePipe(&exec->out.fd, &out_w);
  if (made.ok()) made = MakePipe(&exec->err.fd, &err_w);
  if (!made.ok()) {
    fail(made);
    return;
  }
  absl::StatusOr<SpawnedProcess> spawned =
      SpawnExec(*spec, container.pid, request.args, out_w.get(), err_w.get());
  out_w.Reset();
  err_w.Reset();
  if (!spawned.ok()) {
    fail(spawned.status());
    return;
  }
  exec->pid = spawned->pid;
  exec->sync.fd = spawned->sync_fd;
  if (request.timeout_ms > 0) exec->deadline_ms = MonotonicMs() + request.timeout_ms;
  Watch watch;
  watch.exec_id = exec->id;
  watch.kind = WatchKind::kExecOut;
  exec->out.token = AddWatch(exec->out.fd.get(), EPOLLIN, watch);
  watch.kind = WatchKind::kExecErr;
  exec->err.token = AddWatch(exec->err.fd.get(), EPOLLIN, watch);
  watch.kind = WatchKind::kExecSync;
  exec->sync.token = AddWatch(exec->sync.fd, EPOLLIN, watch);
  exec_pids_[exec->pid] = exec->id;
  execs_[exec->id] = std::move(exec);
}

void Monitor::ReadExecSetup(Exec& exec) {
  if (exec.setup_read) return;
  // Readable: 'X' (then EOF once execve succeeded, an error if it failed)
  // or an error report followed by the child's exit.
  exec.setup = TakeSetupReport(exec.sync);
  exec.setup_read = true;
}

void Monitor::PumpExecPipe(Exec& exec, bool is_stderr, bool drain) {
  Pipe& pipe = is_stderr ? exec.err : exec.out;
  std::string& data = is_stderr ? exec.err_data : exec.out_data;
  bool& truncated = is_stderr ? exec.err_truncated : exec.out_truncated;
  if (!pipe.fd.valid()) return;
  do {
    ssize_t n = read(pipe.fd.get(), read_buffer_.data(), read_buffer_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      ClosePipe(pipe);
      return;
    }
    // Beyond the cap the output is read and dropped (so the process never
    // blocks on a full pipe), like containerd's ExecSync.
    const size_t room = monitor_protocol::kMaxExecOutput - data.size();
    if (static_cast<size_t>(n) > room) truncated = true;
    data.append(read_buffer_.data(), std::min(room, static_cast<size_t>(n)));
  } while (drain);
}

void Monitor::KillExec(Exec& exec) {
  if (exec.killed) return;
  exec.killed = true;
  // The exec process leads its own process group once set up (setsid);
  // before that, the pid alone.
  kill(-exec.pid, SIGKILL);
  kill(exec.pid, SIGKILL);
}

void Monitor::ExecExited(Exec& exec, int wait_status) {
  // Children that outlive a normally exiting exec process stay (as with
  // containerd and CRI-O); they get EPIPE on the closed pipes. The pid is
  // free now, so its process group is not signalled any more.
  PumpExecPipe(exec, false, true);
  PumpExecPipe(exec, true, true);
  ClosePipe(exec.out);
  ClosePipe(exec.err);
  ReadExecSetup(exec);  // at EOF now: the child is gone
  if (exec.connection != 0) {
    Reply reply;
    if (exec.timed_out) {
      reply = monitor_protocol::ErrorReply(absl::DeadlineExceededError(
          absl::StrCat("exec in container ", exec.container_id, " timed out; killed")));
    } else if (!exec.setup.ok()) {
      reply = monitor_protocol::ErrorReply(exec.setup);
    } else {
      int signal = 0;
      DecodeWaitStatus(wait_status, &reply.exit_code, &signal);
      reply.stdout_data = std::move(exec.out_data);
      reply.stderr_data = std::move(exec.err_data);
      reply.stdout_truncated = exec.out_truncated;
      reply.stderr_truncated = exec.err_truncated;
    }
    SendReply(exec.connection, reply);
  }
  const uint64_t id = exec.id;
  execs_.erase(id);
}

}  // namespace converge::process::monitor

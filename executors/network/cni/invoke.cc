#include "executors/network/cni/invoke.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"
#include "executors/network/cni/config.h"
#include "executors/network/cni/result.h"

namespace converge {
namespace {

constexpr char kPath[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
// How much of stderr/stdout goes into an error message (the end of it).
constexpr size_t kMaxMessageOutput = 1024;
constexpr int kSpawnAttempts = 5;

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The end of `text`, whitespace-trimmed, for an error message.
std::string Trimmed(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() <= kMaxMessageOutput) return std::string(text);
  return absl::StrCat("...", text.substr(text.size() - kMaxMessageOutput));
}

// Makes sure `fd` is not 0, 1 or 2, which the child's dup2 actions write:
// a daemon started with a closed stdin could get a pipe as fd 0.
absl::Status MoveAboveStdio(UniqueFd& fd, const char* what) {
  if (fd.get() > 2) return absl::OkStatus();
  int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return ErrnoError(errno, "F_DUPFD_CLOEXEC ", what);
  fd.Reset(moved);
  return absl::OkStatus();
}

absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end,
                      const char* what) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2 ", what);
  read_end.Reset(fds[0]);
  write_end.Reset(fds[1]);
  CONVERGE_RETURN_IF_ERROR(MoveAboveStdio(read_end, what));
  CONVERGE_RETURN_IF_ERROR(MoveAboveStdio(write_end, what));
  // Only our end is non-blocking; the plugin's end stays blocking.
  if (fcntl(read_end.get(), F_SETFL, O_NONBLOCK) != 0) {
    return ErrnoError(errno, "F_SETFL O_NONBLOCK ", what);
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> StdinMemfd(absl::string_view data) {
  UniqueFd fd(
      static_cast<int>(syscall(SYS_memfd_create, "cni-stdin", MFD_CLOEXEC)));
  if (!fd.valid()) return ErrnoError(errno, "memfd_create for plugin stdin");
  CONVERGE_RETURN_IF_ERROR(MoveAboveStdio(fd, "plugin stdin"));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write plugin stdin memfd");
    }
    done += n;
  }
  if (lseek(fd.get(), 0, SEEK_SET) != 0) {
    return ErrnoError(errno, "lseek plugin stdin memfd");
  }
  return fd;
}

// Collects one pipe into a capped buffer.
struct Sink {
  UniqueFd fd;
  std::string* data;
  bool* truncated;

  // Reads what is available now; closes the pipe at EOF.
  absl::Status Drain(const char* what) {
    char buffer[65536];
    while (fd.valid()) {
      ssize_t n = read(fd.get(), buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return absl::OkStatus();
        return ErrnoError(errno, "read plugin ", what);
      }
      if (n == 0) {
        fd.Reset();
        return absl::OkStatus();
      }
      size_t room =
          kMaxPluginOutputBytes - std::min(kMaxPluginOutputBytes, data->size());
      if (static_cast<size_t>(n) > room) *truncated = true;
      data->append(buffer, std::min<size_t>(n, room));
    }
    return absl::OkStatus();
  }
};

// Waits for `pid` (which has exited or been killed) and records how it ended.
absl::Status Reap(pid_t pid, PluginOutput& output) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno == EINTR) continue;
    return ErrnoError(errno, "waitpid plugin pid ", pid);
  }
  if (WIFEXITED(status)) {
    output.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    output.signal = WTERMSIG(status);
  }
  return absl::OkStatus();
}

// Kills the plugin's process group and the plugin, then reaps it.
void KillAndReap(pid_t pid, PluginOutput& output) {
  kill(-pid, SIGKILL);  // ESRCH if the group is already empty: fine
  kill(pid, SIGKILL);
  absl::Status reaped = Reap(pid, output);
  if (!reaped.ok()) {
    NamedLogger("cni")->error("reap killed plugin pid={} error={}", pid,
                              reaped.ToString());
  }
}

// True once `pid` has exited (left as a zombie for Reap).
absl::StatusOr<bool> HasExited(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return ErrnoError(errno, "waitid plugin pid ", pid);
  }
  return info.si_pid == pid;
}

absl::StatusOr<pid_t> Spawn(const std::string& path, const PluginEnv& env,
                            int stdin_fd, int stdout_fd, int stderr_fd,
                            absl::Time deadline) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int err = posix_spawn_file_actions_init(&actions);
  if (err != 0) return ErrnoError(err, "posix_spawn_file_actions_init");
  err = posix_spawnattr_init(&attr);
  if (err != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return ErrnoError(err, "posix_spawnattr_init");
  }
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  if ((err = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0)) == 0 &&
      (err = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1)) == 0 &&
      (err = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2)) == 0 &&
      (err = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0 &&
      (err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF |
                                                 POSIX_SPAWN_SETPGROUP)) == 0 &&
      (err = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
      (err = posix_spawnattr_setsigdefault(&attr, &all)) == 0) {
    err = posix_spawnattr_setpgroup(&attr, 0);
  }
  std::vector<std::string> environment = PluginEnvironment(env);
  std::vector<char*> envp;
  for (std::string& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string argv0 = path;
  char* argv[] = {argv0.data(), nullptr};
  pid_t pid = -1;
  for (int attempt = 1; err == 0; ++attempt) {
    err = posix_spawn(&pid, path.c_str(), &actions, &attr, argv, envp.data());
    if (err != ETXTBSY || attempt == kSpawnAttempts ||
        absl::Now() + absl::Milliseconds(200) > deadline) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
    err = 0;
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err == ENOENT || err == EACCES || err == ENOEXEC) {
    return absl::FailedPreconditionError(
        ErrnoError(err, "spawn CNI plugin `", path, "`").message());
  }
  if (err != 0) return ErrnoError(err, "spawn CNI plugin `", path, "`");
  return pid;
}

}  // namespace

std::vector<std::string> PluginEnvironment(const PluginEnv& env) {
  return {
      absl::StrCat("CNI_COMMAND=", env.command),
      absl::StrCat("CNI_CONTAINERID=", env.container_id),
      absl::StrCat("CNI_NETNS=", env.netns),
      absl::StrCat("CNI_IFNAME=", env.ifname),
      absl::StrCat("CNI_ARGS=", env.cni_args),
      absl::StrCat("CNI_PATH=", absl::StrJoin(env.bin_dirs, ":")),
      kPath,
  };
}

absl::StatusOr<std::string> FindPlugin(
    absl::string_view type, const std::vector<std::string>& bin_dirs) {
  CONVERGE_RETURN_IF_ERROR(ValidatePluginType(type));
  std::string not_executable;
  for (const std::string& dir : bin_dirs) {
    std::string path = absl::StrCat(dir, "/", type);
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (access(path.c_str(), X_OK) == 0) return path;
    if (not_executable.empty()) {
      not_executable = absl::StrCat(" (", path, " is not executable)");
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("CNI plugin \"", type, "\" not found in ",
                   absl::StrJoin(bin_dirs, ":"), not_executable));
}

absl::StatusOr<PluginOutput> RunPlugin(const std::string& path,
                                       const PluginEnv& env,
                                       absl::string_view stdin_data,
                                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  PluginOutput output;
  CONVERGE_ASSIGN_OR_RETURN(UniqueFd stdin_fd, StdinMemfd(stdin_data));
  Sink out{UniqueFd(), &output.stdout_data, &output.stdout_truncated};
  Sink err{UniqueFd(), &output.stderr_data, &output.stderr_truncated};
  UniqueFd out_write, err_write;
  CONVERGE_RETURN_IF_ERROR(MakePipe(out.fd, out_write, "stdout"));
  CONVERGE_RETURN_IF_ERROR(MakePipe(err.fd, err_write, "stderr"));
  CONVERGE_ASSIGN_OR_RETURN(pid_t pid,
                            Spawn(path, env, stdin_fd.get(), out_write.get(),
                                  err_write.get(), deadline));
  // From here on every path reaps `pid`.
  stdin_fd.Reset();
  out_write.Reset();
  err_write.Reset();
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid() && errno != ENOSYS) {
    absl::Status status = ErrnoError(errno, "pidfd_open plugin pid ", pid);
    KillAndReap(pid, output);
    return status;
  }

  bool exited = false;
  while (!exited) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      KillAndReap(pid, output);
      std::string message = absl::StrCat(
          "CNI plugin ", Basename(path), " ", env.command, " timed out after ",
          absl::FormatDuration(timeout), " and was killed");
      if (!output.stderr_data.empty()) {
        absl::StrAppend(&message, "; stderr: ", Trimmed(output.stderr_data));
      }
      return absl::DeadlineExceededError(message);
    }
    struct pollfd fds[3];
    int n = 0;
    int pid_index = -1;
    for (Sink* sink : {&out, &err}) {
      if (sink->fd.valid()) fds[n++] = {sink->fd.get(), POLLIN, 0};
    }
    if (pidfd.valid()) {
      pid_index = n;
      fds[n++] = {pidfd.get(), POLLIN, 0};
    }
    // Without a pidfd (ENOSYS), look at the process every 20ms. Slices of
    // at most a minute keep the poll timeout within an int.
    absl::Duration slice = std::min(
        left, pidfd.valid() ? absl::Minutes(1) : absl::Milliseconds(20));
    int wait_ms = static_cast<int>(std::max<int64_t>(
        1,
        absl::ToInt64Milliseconds(absl::Ceil(slice, absl::Milliseconds(1)))));
    int ready = poll(fds, n, wait_ms);
    if (ready < 0 && errno != EINTR) {
      absl::Status status = ErrnoError(errno, "poll plugin pid ", pid);
      KillAndReap(pid, output);
      return status;
    }
    absl::Status drained = out.Drain("stdout");
    if (drained.ok()) drained = err.Drain("stderr");
    if (!drained.ok()) {
      KillAndReap(pid, output);
      return drained;
    }
    if (pid_index >= 0) {
      exited = ready > 0 && (fds[pid_index].revents & POLLIN) != 0;
    } else {
      absl::StatusOr<bool> gone = HasExited(pid);
      if (!gone.ok()) {
        KillAndReap(pid, output);
        return gone.status();
      }
      exited = *gone;
    }
  }
  // It exited: what it wrote is in the pipes; take it and stop there, even
  // if a grandchild still holds the write ends.
  absl::Status drained = out.Drain("stdout");
  if (drained.ok()) drained = err.Drain("stderr");
  CONVERGE_RETURN_IF_ERROR(Reap(pid, output));
  CONVERGE_RETURN_IF_ERROR(drained);
  return output;
}

absl::StatusOr<std::string> ExecPlugin(const std::string& path,
                                       const PluginEnv& env,
                                       absl::string_view stdin_data,
                                       absl::Duration timeout) {
  CONVERGE_ASSIGN_OR_RETURN(PluginOutput output,
                            RunPlugin(path, env, stdin_data, timeout));
  const std::string what =
      absl::StrCat("CNI plugin ", Basename(path), " ", env.command);
  if (output.exit_code == 0) {
    if (!output.stderr_data.empty()) {
      NamedLogger("cni")->debug("plugin={} command={} container={} stderr={}",
                                Basename(path), env.command, env.container_id,
                                Trimmed(output.stderr_data));
    }
    if (output.stdout_truncated) {
      return absl::UnknownError(absl::StrCat(what, ": output exceeds ",
                                             kMaxPluginOutputBytes, " bytes"));
    }
    return std::move(output.stdout_data);
  }
  std::string message =
      output.signal != 0
          ? absl::StrCat(what, " killed by signal ", output.signal)
          : absl::StrCat(what, " failed (exit status ", output.exit_code, ")");
  absl::StatusCode code = absl::StatusCode::kUnknown;
  if (std::optional<CniError> error = ParseCniError(output.stdout_data)) {
    absl::StrAppend(&message, ": ", error->Message());
    if (error->code == kCniErrTryAgainLater) {
      code = absl::StatusCode::kUnavailable;
    }
  } else if (!absl::StripAsciiWhitespace(output.stdout_data).empty()) {
    absl::StrAppend(&message, ": output: ", Trimmed(output.stdout_data));
  }
  if (!absl::StripAsciiWhitespace(output.stderr_data).empty()) {
    absl::StrAppend(&message, "; stderr: ", Trimmed(output.stderr_data));
  }
  return absl::Status(code, message);
}

absl::StatusOr<Json> ExecPluginWithResult(const std::string& path,
                                          const PluginEnv& env,
                                          absl::string_view stdin_data,
                                          absl::Duration timeout,
                                          const std::string& config_version) {
  CONVERGE_ASSIGN_OR_RETURN(std::string out,
                            ExecPlugin(path, env, stdin_data, timeout));
  const std::string what =
      absl::StrCat("CNI plugin ", Basename(path), " ", env.command);
  absl::StatusOr<Json> doc = ParseJson(out, "result");
  if (!doc.ok()) {
    return absl::UnknownError(absl::StrCat(what, ": ", doc.status().message()));
  }
  if (doc->is_null()) *doc = Json::object();  // libcni: "null" is {}
  if (doc->is_object() && StringField(*doc, "cniVersion").empty()) {
    (*doc)["cniVersion"] = config_version;
  }
  absl::StatusOr<CniResult> parsed = CniResultFromJson(*doc);
  if (!parsed.ok()) {
    return absl::UnknownError(
        absl::StrCat(what, ": ", parsed.status().message()));
  }
  return doc;
}

absl::StatusOr<std::vector<std::string>> PluginVersionCache::SupportedVersions(
    const std::string& path, absl::Duration timeout) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return ErrnoError(errno, "stat `", path, "`");
  const int64_t mtime_ns =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(path);
    if (it != entries_.end() && it->second.dev == st.st_dev &&
        it->second.ino == st.st_ino && it->second.size == st.st_size &&
        it->second.mtime_ns == mtime_ns) {
      return it->second.versions;
    }
  }
  // libcni's GetVersionInfo: dummy values for plugins built on an old skel.
  PluginEnv env{"VERSION", "", "dummy", "dummy", "", {"dummy"}};
  std::string stdin_data = absl::StrCat(
      "{\"cniVersion\":\"", std::end(kSupportedCniVersions)[-1], "\"}");
  absl::StatusOr<std::string> out = ExecPlugin(path, env, stdin_data, timeout);
  std::vector<std::string> versions;
  if (!out.ok()) {
    // Plugins older than spec 0.2.0 do not know VERSION.
    if (!absl::StrContains(out.status().message(),
                           "unknown CNI_COMMAND: VERSION")) {
      return out.status();
    }
    versions.push_back("0.1.0");
  } else {
    absl::StatusOr<Json> doc = ParseJson(*out, "VERSION output");
    if (!doc.ok() || !doc->is_object()) {
      return absl::UnknownError(
          absl::StrCat("CNI plugin ", Basename(path),
                       " VERSION: not a version object: ", Trimmed(*out)));
    }
    auto supported = doc->find("supportedVersions");
    if (supported != doc->end() && supported->is_array()) {
      for (const Json& version : *supported) {
        if (version.is_string()) versions.push_back(version.get<std::string>());
      }
    } else if (!StringField(*doc, "cniVersion").empty()) {
      versions.push_back(StringField(*doc, "cniVersion"));
    }
  }
  absl::MutexLock lock(&mu_);
  entries_[path] = Entry{st.st_dev, st.st_ino, st.st_size, mtime_ns, versions};
  return versions;
}

absl::Status PluginVersionCache::CheckSupports(const std::string& path,
                                               absl::string_view version,
                                               absl::Duration timeout) {
  CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> versions,
                            SupportedVersions(path, timeout));
  for (const std::string& supported : versions) {
    if (supported == version) return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("CNI plugin \"", Basename(path), "\" (", path,
                   ") does not support config version \"", version,
                   "\" (supports ", absl::StrJoin(versions, ", "), ")"));
}

}  // namespace converge

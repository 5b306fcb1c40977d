// converge-monitor: the per-pod process that parents and reaps the pod's
// container inits and exec processes, writes their CRI logs and exit records,
// and outlives daemon restarts. Started by SpawnMonitor (monitor_client.h):
//
//   converge-monitor --pod-dir=/run/converge/pods/<id> --sandbox-id=<id>
//       [--pod-pid-namespace] [--cgroup-procs=<file>]... [--ready-fd=3]
//
// The start-up result goes to --ready-fd as one protocol Reply (then the fd
// is closed); the monitor's own log is <pod-dir>/monitor.log.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "executors/process/monitor/monitor.h"
#include "executors/process/monitor/unix_socket.h"

namespace {

using converge::process::monitor::Options;

bool ParseArgs(int argc, char** argv, Options* options, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    absl::string_view value;
    auto flag = [&](absl::string_view name) {
      if (!absl::StartsWith(arg, name) || arg.size() <= name.size() || arg[name.size()] != '=') {
        return false;
      }
      value = arg.substr(name.size() + 1);
      return true;
    };
    if (flag("--pod-dir")) {
      options->pod_dir = std::string(value);
    } else if (flag("--sandbox-id")) {
      options->sandbox_id = std::string(value);
    } else if (flag("--cgroup-procs")) {
      options->cgroup_procs_files.emplace_back(value);
    } else if (flag("--ready-fd")) {
      if (!absl::SimpleAtoi(value, &options->ready_fd) || options->ready_fd < 3) {
        *error = absl::StrCat("bad --ready-fd `", value, "`");
        return false;
      }
    } else if (arg == "--pod-pid-namespace") {
      options->pod_pid_namespace = true;
    } else {
      *error = absl::StrCat("unknown argument `", arg, "`");
      return false;
    }
  }
  if (options->pod_dir.empty() || options->pod_dir[0] != '/') {
    *error = "--pod-dir must be an absolute path";
    return false;
  }
  return true;
}

// A clean process whatever the parent left: default signal dispositions and
// an empty mask, no inherited fds but stdio and the ready fd, stdin from
// /dev/null, stdout and stderr to the monitor log.
void ResetProcess(const Options& options) {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  umask(022);
  if (chdir("/") != 0) perror("chdir /");
  const int ready = options.ready_fd;
  if (ready > 3) close_range(3, static_cast<unsigned>(ready - 1), 0);
  close_range(static_cast<unsigned>(ready < 3 ? 3 : ready + 1), UINT_MAX, 0);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0 && null_fd != STDIN_FILENO) {
    dup2(null_fd, STDIN_FILENO);
    close(null_fd);
  }
  const std::string log = absl::StrCat(options.pod_dir, "/", converge::process::kMonitorLogFile);
  int log_fd = open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (log_fd >= 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    if (log_fd > STDERR_FILENO) close(log_fd);
  }
  if (ready >= 0) fcntl(ready, F_SETFD, FD_CLOEXEC);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string error;
  if (!ParseArgs(argc, argv, &options, &error)) {
    fprintf(stderr, "converge-monitor: %s\n", error.c_str());
    return 2;
  }
  ResetProcess(options);
  converge::process::monitor::Monitor monitor(std::move(options));
  return monitor.Run();
}

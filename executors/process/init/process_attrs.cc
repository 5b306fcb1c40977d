#include "executors/process/init/process_attrs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"
#include "executors/process/seccomp/seccomp_profile.h"

namespace converge::process::init_internal {
namespace {

constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

absl::Status WriteFile(const std::string& path, const std::string& content) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open `", path, "`");
  ssize_t n = write(fd.get(), content.data(), content.size());
  if (n < 0) return ErrnoError(errno, "write `", content, "` to `", path, "`");
  if (static_cast<size_t>(n) != content.size()) {
    return absl::InternalError(absl::StrCat("short write to `", path, "`"));
  }
  return absl::OkStatus();
}

// The capabilities of this node's bounding set (bit N = capability N).
absl::StatusOr<uint64_t> ReadBoundingSet() {
  uint64_t set = 0;
  for (int cap = 0; cap < 64; ++cap) {
    int has = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (has < 0) {
      if (errno == EINVAL) break;  // past CAP_LAST_CAP of this kernel
      return ErrnoError(errno, "prctl(PR_CAPBSET_READ, ", cap, ")");
    }
    if (has == 1) set |= uint64_t{1} << cap;
  }
  return set;
}

absl::Status SetCapabilities(const CapabilitySets& caps) {
  __user_cap_header_struct header = {};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2] = {};
  data[0].effective = static_cast<uint32_t>(caps.effective);
  data[1].effective = static_cast<uint32_t>(caps.effective >> 32);
  data[0].permitted = static_cast<uint32_t>(caps.permitted);
  data[1].permitted = static_cast<uint32_t>(caps.permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(caps.inheritable);
  data[1].inheritable = static_cast<uint32_t>(caps.inheritable >> 32);
  if (syscall(SYS_capset, &header, data) != 0) {
    return ErrnoError(errno, "capset(effective=0x", absl::Hex(caps.effective), ", permitted=0x",
                      absl::Hex(caps.permitted), ", inheritable=0x", absl::Hex(caps.inheritable),
                      ")");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return ErrnoError(errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  for (int cap = 0; cap < 64; ++cap) {
    if ((caps.ambient & (uint64_t{1} << cap)) == 0) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
      return ErrnoError(errno, "raise ambient capability ", cap);
    }
  }
  return absl::OkStatus();
}

absl::Status LoadSeccomp(const ProcessSpec& process, uint64_t bounding, bool set_nnp) {
  SeccompLoadOptions options;
  options.capabilities = bounding;
  options.set_no_new_privs = set_nnp;
  return Annotate(LoadSeccompFilter(process.seccomp, options), "load seccomp filter");
}

// 0 when `path` is an executable regular file, else the errno explaining why not.
int ExecutableError(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!S_ISREG(st.st_mode)) return EACCES;
  if (faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) != 0) return errno;
  return 0;
}

}  // namespace

int NamespaceFlag(const std::string& kind) {
  if (kind == "net") return CLONE_NEWNET;
  if (kind == "ipc") return CLONE_NEWIPC;
  if (kind == "uts") return CLONE_NEWUTS;
  if (kind == "pid") return CLONE_NEWPID;
  if (kind == "mnt") return CLONE_NEWNS;
  if (kind == "cgroup") return CLONE_NEWCGROUP;
  if (kind == "user") return CLONE_NEWUSER;
  return 0;
}

void ResetSignalsAndUmask() {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    // Fails (EINVAL) only for the signals glibc reserves; nothing to undo there.
    sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  umask(022);
}

absl::Status JoinCgroups(const std::vector<std::string>& procs_files) {
  for (const std::string& file : procs_files) {
    CONVERGE_RETURN_IF_ERROR(Annotate(WriteFile(file, "0"), "join cgroup"));
  }
  return absl::OkStatus();
}

absl::Status JoinNamespaces(const std::vector<NamespaceSpec>& namespaces) {
  struct Open {
    const NamespaceSpec* spec;
    int flag;
    UniqueFd fd;
  };
  std::vector<Open> opened;
  for (const NamespaceSpec& ns : namespaces) {
    UniqueFd fd(open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(errno, "open ", ns.kind, " namespace `", ns.path, "`");
    opened.push_back({&ns, NamespaceFlag(ns.kind), std::move(fd)});
  }
  // The mount namespace last: it changes the root, which later joins do not
  // need, and it must not come before any path is opened (done above anyway).
  for (int pass = 0; pass < 2; ++pass) {
    for (const Open& ns : opened) {
      if ((ns.flag == CLONE_NEWNS) != (pass == 1)) continue;
      if (setns(ns.fd.get(), ns.flag) != 0) {
        return ErrnoError(errno, "setns ", ns.spec->kind, " namespace `", ns.spec->path, "`");
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> SetUpStdio(int stdout_fd, int stderr_fd, int sync_fd) {
  // Raw fds here: every number except 0-3 is closed at the end anyway, and a
  // failure ends the child.
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return ErrnoError(errno, "open `/dev/null`");
  // Copies above 2 first, so that no dup2 below clobbers a source it needs.
  const int sources[4] = {null_fd, stdout_fd >= 0 ? stdout_fd : null_fd,
                          stderr_fd >= 0 ? stderr_fd : null_fd, sync_fd};
  static const char* const kNames[4] = {"stdin", "stdout", "stderr", "sync"};
  int copies[4];
  for (int i = 0; i < 4; ++i) {
    copies[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, 3);
    if (copies[i] < 0) return ErrnoError(errno, "dup ", kNames[i], " fd ", sources[i]);
  }
  for (int i = 0; i < 3; ++i) {
    if (dup2(copies[i], i) < 0) return ErrnoError(errno, "dup2 ", kNames[i]);
  }
  constexpr int kSyncFd = 3;
  if (copies[3] != kSyncFd && dup3(copies[3], kSyncFd, O_CLOEXEC) < 0) {
    return ErrnoError(errno, "dup3 sync fd");
  }
  if (syscall(SYS_close_range, kSyncFd + 1, ~0U, 0) != 0) {
    return ErrnoError(errno, "close_range(", kSyncFd + 1, ", ~0)");
  }
  return kSyncFd;
}

absl::Status ApplyOomScoreAdj(const ProcessSpec& process, const std::string& proc) {
  if (!process.set_oom_score_adj) return absl::OkStatus();
  const std::string path = proc + "/self/oom_score_adj";
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open `", path, "`");
  const std::string value = std::to_string(process.oom_score_adj);
  if (write(fd.get(), value.data(), value.size()) < 0) {
    // Lowering it needs CAP_SYS_RESOURCE, which some nodes' root lacks: keep
    // the inherited value, as runc and crun clamp it.
    if ((errno == EPERM || errno == EACCES) && process.oom_score_adj < 0) return absl::OkStatus();
    return ErrnoError(errno, "write `", value, "` to `", path, "`");
  }
  return absl::OkStatus();
}

absl::Status ApplyRlimits(const ProcessSpec& process) {
  for (const Rlimit& limit : process.rlimits) {
    struct rlimit value = {static_cast<rlim_t>(limit.soft), static_cast<rlim_t>(limit.hard)};
    if (setrlimit(static_cast<__rlimit_resource>(limit.resource), &value) != 0) {
      return ErrnoError(errno, "setrlimit(", limit.resource, ", soft=", limit.soft,
                        ", hard=", limit.hard, ")");
    }
  }
  return absl::OkStatus();
}

absl::Status SetHostname(const std::string& hostname) {
  if (sethostname(hostname.data(), hostname.size()) != 0) {
    return ErrnoError(errno, "sethostname `", hostname, "`");
  }
  return absl::OkStatus();
}

absl::Status BecomeContainerProcess(const ProcessSpec& process) {
  CONVERGE_ASSIGN_OR_RETURN(const uint64_t available, ReadBoundingSet());
  CapabilitySets caps = process.capabilities;
  caps.bounding &= available;
  caps.effective &= available;
  caps.permitted &= available;
  caps.inheritable &= available;
  caps.ambient &= available;

  const bool seccomp = process.seccomp.mode != SeccompSpec::Mode::kUnconfined;
  // Without no_new_privs the kernel wants CAP_SYS_ADMIN to load a filter, so
  // it goes first, while the init is still root with every capability (as in
  // runc); the filter must then allow the rest of these steps and the exec,
  // which RuntimeDefault does.
  if (seccomp && !process.no_new_privileges) {
    CONVERGE_RETURN_IF_ERROR(LoadSeccomp(process, caps.bounding, /*set_nnp=*/false));
  }

  for (int cap = 0; cap < 64; ++cap) {
    const uint64_t bit = uint64_t{1} << cap;
    if ((available & bit) == 0 || (caps.bounding & bit) != 0) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return ErrnoError(errno, "drop capability ", cap, " from the bounding set");
    }
  }

  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return ErrnoError(errno, "prctl(PR_SET_KEEPCAPS)");
  std::vector<gid_t> groups(process.additional_gids.begin(), process.additional_gids.end());
  if (setgroups(groups.size(), groups.empty() ? nullptr : groups.data()) != 0) {
    return ErrnoError(errno, "setgroups(", groups.size(), " groups)");
  }
  if (setresgid(process.gid, process.gid, process.gid) != 0) {
    return ErrnoError(errno, "setresgid(", process.gid, ")");
  }
  if (setresuid(process.uid, process.uid, process.uid) != 0) {
    return ErrnoError(errno, "setresuid(", process.uid, ")");
  }
  // As the user, so that its permissions on the path apply.
  const std::string cwd = process.cwd.empty() ? "/" : process.cwd;
  if (chdir(cwd.c_str()) != 0) return ErrnoError(errno, "chdir `", cwd, "`");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
    return ErrnoError(errno, "prctl(PR_SET_KEEPCAPS, 0)");
  }
  CONVERGE_RETURN_IF_ERROR(SetCapabilities(caps));

  if (process.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return ErrnoError(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
  }
  if (seccomp && process.no_new_privileges) {
    CONVERGE_RETURN_IF_ERROR(LoadSeccomp(process, caps.bounding, /*set_nnp=*/true));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LookPath(const std::string& file,
                                     const std::vector<std::string>& env) {
  if (file.empty()) return absl::InvalidArgumentError("exec: empty executable name");
  if (file.find('/') != std::string::npos) {
    int err = ExecutableError(file);
    if (err != 0) return ErrnoError(err, "exec `", file, "`");
    return file;
  }
  std::string path = kDefaultPath;
  for (const std::string& entry : env) {
    if (absl::StartsWith(entry, "PATH=")) path = entry.substr(5);
  }
  int first_error = 0;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    const std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", file);
    int err = ExecutableError(candidate);
    if (err == 0) return candidate;
    if (err != ENOENT && err != ENOTDIR && first_error == 0) first_error = err;
  }
  if (first_error != 0) {
    return ErrnoError(first_error, "exec `", file, "` (found in $PATH but not executable)");
  }
  return absl::NotFoundError(
      absl::StrCat("exec: executable file `", file, "` not found in $PATH (", path, ")"));
}

absl::Status Exec(const std::string& path, const ProcessSpec& process) {
  std::vector<char*> argv;
  for (const std::string& arg : process.args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& var : process.env) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);
  execve(path.c_str(), argv.data(), envp.data());
  return ErrnoError(errno, "exec `", path, "`");
}

int ExecFailureExitCode(const absl::Status& status) {
  return status.code() == absl::StatusCode::kNotFound ? 127 : 126;
}

}  // namespace converge::process::init_internal

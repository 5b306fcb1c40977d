// The process-attribute steps of the container init and of exec processes:
// cgroup and namespace joins, stdio, rlimits, oom_score_adj, hostname, the
// user, capabilities, no_new_privs and seccomp, and the executable lookup.
// Internal to executors/process/init; every function runs in the cloned
// child (a copy of the monitor, not sharing its memory) and reports failures
// as statuses carrying the operation, the quoted path and errno.
#ifndef CONVERGE_EXECUTORS_PROCESS_INIT_PROCESS_ATTRS_H_
#define CONVERGE_EXECUTORS_PROCESS_INIT_PROCESS_ATTRS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executors/process/spec/container_spec.h"

namespace converge::process::init_internal {

// The CLONE_NEW* flag of a namespace kind ("net", "pid", ...); 0 if unknown.
int NamespaceFlag(const std::string& kind);

// Puts the caller back to default signal dispositions, an empty signal mask
// and umask 022, whatever the monitor had set up.
void ResetSignalsAndUmask();

// Writes "0" (the writer itself) into every cgroup.procs file.
absl::Status JoinCgroups(const std::vector<std::string>& procs_files);

// setns(2) into every namespace file of `namespaces` (kind + path), all opened
// before the first setns so that joining one cannot change what the next path
// names; "mnt" is joined last.
absl::Status JoinNamespaces(const std::vector<NamespaceSpec>& namespaces);

// stdin = /dev/null, stdout/stderr = the given fds (/dev/null when < 0),
// `sync_fd` moved to fd 3 (close-on-exec) and every other fd closed. Returns
// the new sync fd (3).
absl::StatusOr<int> SetUpStdio(int stdout_fd, int stderr_fd, int sync_fd);

// Writes oom_score_adj through `proc` (the procfs mount to use, e.g. "/proc").
// A negative value the kernel refuses (no CAP_SYS_RESOURCE) leaves the
// current value in place and is not an error.
absl::Status ApplyOomScoreAdj(const ProcessSpec& process, const std::string& proc);

absl::Status ApplyRlimits(const ProcessSpec& process);

absl::Status SetHostname(const std::string& hostname);

// Becomes the spec's user with its capabilities, no_new_privs and seccomp
// filter, and changes into its cwd:
//   [seccomp, when no_new_privs is off: loading it needs CAP_SYS_ADMIN]
//   drop the bounding set (needs CAP_SETPCAP, so before the user change)
//   PR_SET_KEEPCAPS, setgroups, setresgid, setresuid, chdir(cwd), clear KEEPCAPS
//   capset(effective, permitted, inheritable), ambient (cleared, then raised)
//   PR_SET_NO_NEW_PRIVS, [seccomp, when no_new_privs is on]
// Capabilities this node does not have in its bounding set (CAP_SYS_RESOURCE
// here) are left out of every set rather than failing the container.
absl::Status BecomeContainerProcess(const ProcessSpec& process);

// The executable execve will run, looked up as execvpe/Go's LookPath do: a
// name with a slash is used as is, otherwise each directory of PATH in `env`
// (default /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin) is
// tried. NOT_FOUND or PERMISSION_DENIED naming the executable otherwise.
absl::StatusOr<std::string> LookPath(const std::string& file, const std::vector<std::string>& env);

// execve(2); returns only on failure, with that failure.
absl::Status Exec(const std::string& path, const ProcessSpec& process);

// The exit status a shell would give for a failed exec of this error: 127
// for a missing file, 126 otherwise.
int ExecFailureExitCode(const absl::Status& status);

}  // namespace converge::process::init_internal

#endif  // CONVERGE_EXECUTORS_PROCESS_INIT_PROCESS_ATTRS_H_

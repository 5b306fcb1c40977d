// The container init: the process the monitor creates for a container, which
// joins the pod's namespaces and the container cgroup, builds the mount
// namespace (rootfs bind, /proc, /dev, /sys, CRI mounts, masked and read-only
// paths, pivot_root), becomes the container's user with its capabilities,
// no_new_privs and seccomp filter, and then waits on the exec FIFO until
// StartContainer; then it execs the container's process (runc create/start).
// Exec processes get the same treatment inside an existing container.
//
// Runs inside converge-monitor, which must be single-threaded when it calls
// these: they may setns(CLONE_NEWPID) the caller for the duration of a clone,
// and the child is a raw clone(2) without CLONE_VM that goes on allocating,
// which is only safe when no other thread can hold a libc lock at the clone.
//
//   CONVERGE_ASSIGN_OR_RETURN(SpawnedProcess init,
//                             SpawnContainerInit(spec, stdout_w, stderr_w));
//   absl::Status setup = AwaitSetup(init.sync_fd);  // blocked on the FIFO now
//   ... later, in the daemon:
//   CONVERGE_RETURN_IF_ERROR(StartCreatedInit(spec.exec_fifo, init_pid, absl::Seconds(10)));
#ifndef CONVERGE_EXECUTORS_PROCESS_INIT_CONTAINER_INIT_H_
#define CONVERGE_EXECUTORS_PROCESS_INIT_CONTAINER_INIT_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executors/process/spec/container_spec.h"

namespace converge::process {

struct SpawnedProcess {
  pid_t pid = -1;
  // Read end of the setup channel (close-on-exec): the child writes one
  // report here (waiting on the FIFO / about to exec / an error), and the
  // write end closes when it execs or exits. Owned by the caller; AwaitSetup
  // closes it.
  int sync_fd = -1;
};

// Clones the container init as a child of the caller (CLONE_NEWNS, plus
// CLONE_NEWPID when the spec asks for a fresh pid namespace, or entering the
// spec's pid namespace path: the caller's pid_for_children is pointed there
// around the clone and restored right after). stdin is /dev/null; stdout and
// stderr are the given fds (duplicated into the child; < 0 means /dev/null).
// Creates spec.exec_fifo (mkfifo 0600) unless it already is a FIFO.
// Errors: INVALID_ARGUMENT for an unusable spec (no args, unknown or doubled
// namespace kind, a "mnt" path), UNIMPLEMENTED for "user", else the errno of
// mkfifo/pipe/setns/clone. Everything after the clone is reported through
// AwaitSetup.
absl::StatusOr<SpawnedProcess> SpawnContainerInit(const ContainerSpec& spec, int stdout_fd,
                                                  int stderr_fd);

// Clones a process that runs `args` inside the running container whose init is
// `init_pid`: its cgroup (spec.cgroup_procs_files), namespaces (via
// /proc/<init_pid>/ns/{cgroup,ipc,uts,net,mnt}; pid by pointing the caller's
// pid_for_children at /proc/<init_pid>/ns/pid around the clone, so the
// process stays a direct child of the caller), and the spec's user, groups,
// capabilities, no_new_privs, seccomp, rlimits, oom_score_adj and cwd, with
// `args` and the spec's env. It leads its own session and process group, so
// that a timeout can kill it with everything it started.
absl::StatusOr<SpawnedProcess> SpawnExec(const ContainerSpec& spec, pid_t init_pid,
                                         const std::vector<std::string>& args, int stdout_fd,
                                         int stderr_fd);

// Blocks until the child reported its setup result and closes `sync_fd`.
// For an init, OK means it is blocked on the exec FIFO, its executable found;
// for an exec process, OK means execve succeeded (an execve failure is still
// reported). Otherwise the child's error with its status code and message
// (the operation, the quoted path and errno, e.g. "container init: bind mount
// source `/data` for `/data`: No such file or directory (errno 2)"), or
// INTERNAL when the child died without a report; the child has exited by then
// or is about to (the caller reaps it).
absl::Status AwaitSetup(int sync_fd);

// StartContainer's half of the FIFO protocol, run by the daemon: opens the
// FIFO for reading, which releases the blocked init, and waits (up to
// `timeout`) for its byte. FAILED_PRECONDITION when the init `init_pid` is
// gone (watched with a pidfd, so an unreaped zombie counts as gone),
// DEADLINE_EXCEEDED on timeout, NOT_FOUND when the FIFO does not exist
// (already started or never created). Removes the FIFO once the byte was
// read, so a second start is NOT_FOUND. Holds two fds only while it runs.
absl::Status StartCreatedInit(const std::string& exec_fifo, pid_t init_pid,
                              absl::Duration timeout);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_INIT_CONTAINER_INIT_H_

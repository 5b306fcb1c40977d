// Running one CNI plugin binary (libcni's pkg/invoke), safely from a
// multi-threaded daemon.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::string path,
//                             FindPlugin("bridge", {"/usr/lib/cni"}));
//   PluginEnv env{"ADD", sandbox_id, netns, "eth0", cni_args, bin_dirs};
//   CONVERGE_ASSIGN_OR_RETURN(
//       Json result, ExecPluginWithResult(path, env, stdin_bytes,
//                                         absl::Seconds(60), "1.0.0"));
//
// How a plugin runs:
//   * posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) + exec; no fork of a
//     multi-threaded process), in a process group of its own, with every
//     signal at its default disposition and none blocked (the daemon blocks
//     SIGTERM/SIGINT and ignores SIGPIPE, which exec would pass on), and
//     every fd above 2 closed in the child;
//   * environment: exactly CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
//     CNI_IFNAME, CNI_ARGS, CNI_PATH (bin dirs joined by ':') and
//     PATH=/usr/sbin:/usr/bin:/sbin:/bin (plugins run iptables, ip...);
//   * stdin: the config in a memfd (no pipe, so no SIGPIPE and no deadlock
//     whatever the plugin reads or does not); stdout and stderr: O_CLOEXEC
//     pipes read in a poll(2) loop, each kept up to kMaxPluginOutputBytes
//     (the rest is read and dropped, so the plugin never blocks on a full
//     pipe);
//   * a pidfd tells when the plugin exited, so a grandchild that keeps the
//     pipes open cannot hold the call; after the exit the pipes are drained
//     of what is already in them;
//   * at the deadline the whole process group gets SIGKILL and the plugin
//     is reaped before returning: no zombies, on any path. (A grandchild
//     that left the group is out of reach; none of the standard plugins do.)
//   * ETXTBSY from exec (a binary being replaced) is retried a few times
//     within the deadline, as libcni does.
// The caller must not reap children it did not spawn (waitpid(-1)) nor set
// SIGCHLD to SIG_IGN: the plugin's exit status would be lost (INTERNAL).
//
// Error codes:
//   FAILED_PRECONDITION  plugin not found / not executable in the bin dirs,
//                        or it does not support the config's version.
//   DEADLINE_EXCEEDED    the plugin ran past the timeout and was killed.
//   UNAVAILABLE          the plugin failed with CNI error code 11 ("try
//                        again later").
//   UNKNOWN              the plugin failed: non-zero exit or killed by a
//                        signal (message: its error object's msg/details
//                        and code, else its stdout, plus a trimmed stderr),
//                        or it succeeded with output that is not a result.
//   others               from errno via ErrnoError (pipe, memfd, spawn...).
#ifndef CONVERGE_EXECUTORS_NETWORK_CNI_INVOKE_H_
#define CONVERGE_EXECUTORS_NETWORK_CNI_INVOKE_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "executors/network/cni/json_util.h"

namespace converge {

inline constexpr size_t kMaxPluginOutputBytes = 1 << 20;

// The CNI parameters of one invocation (SPEC section 2).
struct PluginEnv {
  std::string command;  // ADD, DEL, CHECK or VERSION
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string cni_args;
  std::vector<std::string> bin_dirs;  // becomes CNI_PATH
};

// "KEY=value" strings, in the order listed in the header comment.
std::vector<std::string> PluginEnvironment(const PluginEnv& env);

// The first `<dir>/<type>` over `bin_dirs` that is a regular file and
// executable. FAILED_PRECONDITION `CNI plugin "bridge" not found in
// /usr/lib/cni:/opt/cni/bin` otherwise; INVALID_ARGUMENT for a type that is
// not a bare file name.
absl::StatusOr<std::string> FindPlugin(
    absl::string_view type, const std::vector<std::string>& bin_dirs);

// What a plugin printed and how it ended.
struct PluginOutput {
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that killed it, else 0
};

// Runs the plugin at `path` to completion or until `timeout`. Returns the
// output whatever the exit status; errors are only for not being able to run
// it (spawn, pipes) and DEADLINE_EXCEEDED.
absl::StatusOr<PluginOutput> RunPlugin(const std::string& path,
                                       const PluginEnv& env,
                                       absl::string_view stdin_data,
                                       absl::Duration timeout);

// RunPlugin, and turns a failure into a status (see the error codes above).
// Returns stdout on exit status 0. stderr of a successful run is logged at
// debug level.
absl::StatusOr<std::string> ExecPlugin(const std::string& path,
                                       const PluginEnv& env,
                                       absl::string_view stdin_data,
                                       absl::Duration timeout);

// ExecPlugin for ADD: stdout must be a CNI result. A result without
// cniVersion gets `config_version` (libcni's fixupResultVersion). The
// returned object is the plugin's result as printed (plus that fix), checked
// with CniResultFromJson.
absl::StatusOr<Json> ExecPluginWithResult(const std::string& path,
                                          const PluginEnv& env,
                                          absl::string_view stdin_data,
                                          absl::Duration timeout,
                                          const std::string& config_version);

// The spec versions a plugin supports (VERSION command), remembered per
// binary (path, device, inode, size, mtime) so that a replaced binary is
// asked again. Thread-safe.
class PluginVersionCache {
 public:
  absl::StatusOr<std::vector<std::string>> SupportedVersions(
      const std::string& path, absl::Duration timeout);

  // OK iff the plugin at `path` supports `version`; FAILED_PRECONDITION
  // `CNI plugin "bridge" (<path>) does not support config version "1.1.0"
  // (supports 0.1.0, ...)` otherwise.
  absl::Status CheckSupports(const std::string& path, absl::string_view version,
                             absl::Duration timeout);

 private:
  struct Entry {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    std::vector<std::string> versions;
  };
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_CNI_INVOKE_H_

// NamespaceExecutor creates a pod's network, IPC and UTS namespaces and keeps
// them alive without a pause container: each namespace is "pinned" by
// bind-mounting its nsfs file onto a pin file under the daemon's state
// directory, exactly like `ip netns add`. A pinned namespace lives until the
// pin is unmounted and the last process inside it exits.
//
//   LinuxNamespaceExecutor ns;
//   CONVERGE_RETURN_IF_ERROR(ns.PreparePinRoot("/run/converge/ns"));
//   CONVERGE_RETURN_IF_ERROR(ns.Create(
//       {{NamespaceKind::kNet, "/run/converge/ns/<sandbox>-net"},
//        {NamespaceKind::kIpc, "/run/converge/ns/<sandbox>-ipc"},
//        {NamespaceKind::kUts, "/run/converge/ns/<sandbox>-uts"}},
//       NamespaceSetup{"my-pod",  // hostname
//                      {{"net.ipv4.ip_unprivileged_port_start", "0"},
//                       {"kernel.shm_rmid_forced", "1"}}}));
//   ...
//   CONVERGE_ASSIGN_OR_RETURN(bool pinned, ns.IsPinned(pin));  // observe
//   CONVERGE_RETURN_IF_ERROR(ns.Remove(pin));                  // teardown
//
// Thread safety: every method may be called from any thread. Calls on
// distinct pin paths run in parallel; the caller (the reconciler, which never
// works on one pod from two workers) must not race Create and Remove on the
// same pin path.
//
// Idempotence:
//   - PreparePinRoot / ReleasePinRoot: idempotent; repeating them (e.g. after
//     a daemon restart) never stacks mounts.
//   - Create: NOT idempotent by design. It is called only for pins observed
//     missing; a pin path that already holds a namespace is refused with
//     ALREADY_EXISTS (re-observe, do not overmount: that would hide and leak
//     the old namespace). A stale *unmounted* pin file, as a crash leaves
//     behind, is reused.
//     Create is all-or-nothing: on failure it unmounts and unlinks whatever
//     it made, so the next attempt starts from the same state.
//   - Remove: idempotent; an absent pin is OK.
//   - IsPinned: no side effects.
//
// Error codes (besides those mapped from errno by ErrnoError, whose message
// names the operation, the quoted path and errno):
//   INVALID_ARGUMENT    empty or duplicate pins, relative path, hostname too
//                       long or given without a UTS pin; a sysctl that is
//                       malformed, not namespaced, without a pin of its
//                       namespace, unknown to the kernel or whose value the
//                       kernel rejects (see ValidateCreateArgs).
//   ALREADY_EXISTS      Create: a pin path already holds a namespace.
//   FAILED_PRECONDITION a pin path or pin root exists but has the wrong type
//                       (e.g. a directory where a pin file should be).
//   NOT_FOUND           the pin's parent directory does not exist.
#ifndef CONVERGE_EXECUTORS_NAMESPACE_NAMESPACE_H_
#define CONVERGE_EXECUTORS_NAMESPACE_NAMESPACE_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge {

enum class NamespaceKind { kNet, kIpc, kUts };

// "net", "ipc" or "uts": the name under /proc/<pid>/ns/.
absl::string_view NamespaceKindName(NamespaceKind kind);

// One namespace to create and the file that will pin it.
struct PinSpec {
  NamespaceKind kind;
  std::string pin_path;  // absolute
};

// HOST_NAME_MAX on Linux; sethostname(2) refuses anything longer.
inline constexpr std::size_t kMaxHostnameLength = 64;

// A sysctl value is written in one write(2); /proc/sys takes at most a page.
inline constexpr std::size_t kMaxSysctlValueLength = 4096;

// What Create sets up inside the fresh namespaces before pinning them
// (PodSandboxConfig.hostname and PodSandboxConfig.linux.sysctls).
struct NamespaceSetup {
  // Set in the UTS namespace; empty keeps the copy of the daemon's hostname.
  std::string hostname;
  // Sysctl name -> value, written to /proc/sys inside the new namespaces. A
  // name is in dot form ("net.ipv4.ip_forward") or slash form
  // ("net/ipv4/ip_forward"); see ParseSysctlName. Each must belong to one of
  // the namespaces being created: a caller re-creating only some of a pod's
  // namespaces passes only their sysctls (the others were set when the
  // surviving namespaces were made).
  std::map<std::string, std::string> sysctls;
};

// A pod sysctl name, checked and normalised.
struct SysctlName {
  // Dot form, as sysctl(8) prints it: a '/' stands for a dot inside a
  // component, e.g. "net.ipv4.conf.eth0/100.forwarding".
  std::string name;
  // The file to write, e.g. "/proc/sys/net/ipv4/conf/eth0.100/forwarding".
  std::string proc_path;
  // The namespace that holds it: kNet or kIpc.
  NamespaceKind kind;
};

// Parses a sysctl name given in dot form or in slash form (as runc and
// systemd-sysctl do: if the first separator is a '/', the name is a path
// below /proc/sys and dots in it are literal). Only sysctls that a pod's own
// namespaces isolate are accepted, the set kubelet calls namespaced:
//   net.*                                                  -> kNet
//   kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*      -> kIpc
// kernel.hostname and kernel.domainname are refused (the hostname has a field
// of its own). Names use only [a-z0-9_.-/], and no component may be empty,
// "." or "..". Errors are INVALID_ARGUMENT naming the sysctl.
absl::StatusOr<SysctlName> ParseSysctlName(absl::string_view name);

// The argument checks Create performs before touching the system, shared by
// every implementation so that the fake and the real one agree. Rules: at
// least one pin; absolute, distinct paths; distinct kinds; hostname at most
// kMaxHostnameLength bytes without NUL, and non-empty only with a UTS pin.
// An empty hostname with a UTS pin keeps the copy of the daemon's hostname.
// Every sysctl name parses (ParseSysctlName), its namespace is among `pins`,
// no two names denote the same sysctl (e.g. "a.b" and "a/b"), and each value
// is non-empty, at most kMaxSysctlValueLength bytes, without newline or NUL.
// Whether the kernel knows the sysctl and accepts the value only Create can
// tell.
absl::Status ValidateCreateArgs(const std::vector<PinSpec>& pins,
                                const NamespaceSetup& setup);

class NamespaceExecutor {
 public:
  virtual ~NamespaceExecutor() = default;

  // Creates `dir` (mkdir -p; a leaf it creates gets mode 0711) and makes it a
  // mount point of its own with shared propagation, so that pins propagate into
  // mount namespaces created later and their unmounts propagate too.
  virtual absl::Status PreparePinRoot(const std::string& dir) = 0;

  // Unmounts every mount at `dir` (and so every pin below it); leaves the
  // directory. For tests and uninstall; the daemon never calls it.
  virtual absl::Status ReleasePinRoot(const std::string& dir) = 0;

  // Creates fresh namespaces of the kinds in `pins` in one step, so that they
  // belong together; sets `setup.hostname` in the UTS namespace if one is
  // among them and writes each of `setup.sysctls` in its namespace; then pins
  // each namespace at its path (a file created with mode 0444).
  virtual absl::Status Create(const std::vector<PinSpec>& pins,
                              const NamespaceSetup& setup) = 0;

  // True iff `pin_path` is a mounted nsfs file; false if absent or a plain
  // (stale) file.
  virtual absl::StatusOr<bool> IsPinned(const std::string& pin_path) = 0;

  // Unmounts the pin (every stacked mount of it) and unlinks the file.
  virtual absl::Status Remove(const std::string& pin_path) = 0;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NAMESPACE_NAMESPACE_H_

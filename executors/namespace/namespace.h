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
//       "my-pod"));
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
//                       long or given without a UTS pin.
//   ALREADY_EXISTS      Create: a pin path already holds a namespace.
//   FAILED_PRECONDITION a pin path or pin root exists but has the wrong type
//                       (e.g. a directory where a pin file should be).
//   NOT_FOUND           the pin's parent directory does not exist.
#ifndef CONVERGE_EXECUTORS_NAMESPACE_NAMESPACE_H_
#define CONVERGE_EXECUTORS_NAMESPACE_NAMESPACE_H_

#include <cstddef>
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

// The argument checks Create performs before touching the system, shared by
// every implementation so that the fake and the real one agree. Rules: at
// least one pin; absolute, distinct paths; distinct kinds; hostname at most
// kMaxHostnameLength bytes without NUL, and non-empty only with a UTS pin.
// An empty hostname with a UTS pin keeps the copy of the daemon's hostname.
absl::Status ValidateCreateArgs(const std::vector<PinSpec>& pins,
                                const std::string& hostname);

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
  // belong together, sets `hostname` in the UTS namespace if one is among
  // them, and pins each at its path (a file created with mode 0444).
  virtual absl::Status Create(const std::vector<PinSpec>& pins,
                              const std::string& hostname) = 0;

  // True iff `pin_path` is a mounted nsfs file; false if absent or a plain
  // (stale) file.
  virtual absl::StatusOr<bool> IsPinned(const std::string& pin_path) = 0;

  // Unmounts the pin (every stacked mount of it) and unlinks the file.
  virtual absl::Status Remove(const std::string& pin_path) = 0;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NAMESPACE_NAMESPACE_H_

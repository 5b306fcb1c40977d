// LinuxNamespaceExecutor is the NamespaceExecutor for the real kernel; it
// needs CAP_SYS_ADMIN (root).
//
//   LinuxNamespaceExecutor ns;
//   CONVERGE_RETURN_IF_ERROR(ns.PreparePinRoot("/run/converge/ns"));
//   CONVERGE_RETURN_IF_ERROR(
//       ns.Create({{NamespaceKind::kNet, "/run/converge/ns/abc-net"}},
//                 NamespaceSetup{"", {{"net.ipv4.ip_forward", "1"}}}));
//
// How: Create runs unshare(2) for all requested kinds at once on a dedicated
// short-lived thread (the daemon is multi-threaded and must not fork;
// unsharing net/ipc/uts affects only the calling thread), sets the hostname
// there, writes the sysctls to /proc/sys from that thread (the kernel resolves
// net and ipc sysctls through the namespaces of the task that opens the file,
// so they land in the new namespaces and not the host's), and opens
// /proc/thread-self/ns/<kind>. Those fds keep the new
// namespaces alive after the thread exits, and the calling thread
// bind-mounts each one (through /proc/self/fd/N) onto its pin file.
//
// The pin root is bound onto itself, moved into a peer group of its own and
// made shared (like `ip netns`, minus its peer-group sharing with the parent
// mount: on a host whose / is shared that would add a second, hidden mount
// under the parent for every pin).
//
// Thread safety: see namespace.h. PreparePinRoot/ReleasePinRoot serialise on
// a mutex within the process and on flock(2) of the directory across
// processes.
#ifndef CONVERGE_EXECUTORS_NAMESPACE_LINUX_NAMESPACE_H_
#define CONVERGE_EXECUTORS_NAMESPACE_LINUX_NAMESPACE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "executors/namespace/namespace.h"

namespace converge {

class LinuxNamespaceExecutor : public NamespaceExecutor {
 public:
  LinuxNamespaceExecutor() = default;
  LinuxNamespaceExecutor(const LinuxNamespaceExecutor&) = delete;
  LinuxNamespaceExecutor& operator=(const LinuxNamespaceExecutor&) = delete;

  absl::Status PreparePinRoot(const std::string& dir) override;
  absl::Status ReleasePinRoot(const std::string& dir) override;
  absl::Status Create(const std::vector<PinSpec>& pins,
                      const NamespaceSetup& setup) override;
  absl::StatusOr<bool> IsPinned(const std::string& pin_path) override;
  absl::Status Remove(const std::string& pin_path) override;

 private:
  // Checking "is it a mount point yet" and binding must be one step, or two
  // callers would both bind and stack mounts.
  absl::Mutex pin_root_mu_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NAMESPACE_LINUX_NAMESPACE_H_

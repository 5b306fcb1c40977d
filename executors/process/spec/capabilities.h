// Linux capabilities for containers: the name table (CAP_CHOWN = 0 ...
// CAP_CHECKPOINT_RESTORE = 40), containerd's default set, and the sets a
// container's process gets from its CRI security context. Pure: no I/O.
//
//   CONVERGE_ASSIGN_OR_RETURN(int cap, ParseCapability("net_admin"));  // 12
//   CONVERGE_ASSIGN_OR_RETURN(
//       CapabilitySets caps,
//       ResolveCapabilities(config.linux().security_context(), user.uid));
//
// The sets are bit masks over capabilities 0..kLastCapability. A kernel that
// knows fewer (see /proc/sys/kernel/cap_last_cap) cannot grant the rest: the
// container init drops the bits above its cap_last_cap, as runc ignores
// capabilities its kernel does not know.
#ifndef CONVERGE_EXECUTORS_PROCESS_SPEC_CAPABILITIES_H_
#define CONVERGE_EXECUTORS_PROCESS_SPEC_CAPABILITIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/cri/api.pb.h"
#include "executors/process/spec/container_spec.h"

namespace converge::process {

// CAP_CHECKPOINT_RESTORE (Linux 5.9), the highest capability converge knows.
inline constexpr int kLastCapability = 40;

// "CAP_CHOWN" for 0, ...; "" outside 0..kLastCapability.
absl::string_view CapabilityName(int capability);

// The capability's number. Accepts "NET_ADMIN" (CRI's spelling) and
// "CAP_NET_ADMIN", in any case, as containerd does (it upper-cases the name
// and adds "CAP_"). "ALL" is not a capability here (ResolveCapabilities
// handles it). Unknown: INVALID_ARGUMENT `unknown capability "X"`.
absl::StatusOr<int> ParseCapability(absl::string_view name);

// Bits 0..kLastCapability.
uint64_t AllCapabilities();

// containerd's default set (pkg/oci defaultUnixCaps, the same as Docker's):
// CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID,
// SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
uint64_t DefaultCapabilities();

// "CAP_CHOWN", ... for each bit of `mask`, lowest first (for messages, tests
// and debugging).
std::vector<std::string> CapabilityNames(uint64_t mask);

// The capability sets for a container whose process runs as `uid`:
//   - privileged: every capability (containerd's WithPrivileged);
//   - otherwise DefaultCapabilities(), then as containerd's
//     WithCapabilities: "ALL" (any case) in add_capabilities makes it every
//     capability, "ALL" in drop_capabilities makes it empty (drop ALL wins
//     over add ALL), then the other added names are added and the other
//     dropped names removed (dropping wins over adding the same name). So
//     add ALL + drop X is all but X, and drop ALL + add X is just X.
// Bounding and permitted are that set. Ambient is add_ambient_capabilities
// ("ALL" meaning the whole set); each must be in the set, because the kernel
// raises an ambient capability only if it is permitted and inheritable.
// containerd clears ambient capabilities (WithoutAmbientCaps); converge
// implements KEP-2763 instead. Inheritable is the ambient set and nothing
// more (containerd and runc keep it empty since CVE-2022-24769). Effective is
// the set for uid 0; for any other uid only the ambient set, which is what a
// non-root process keeps across execve(2) under runc anyway (file
// capabilities aside, which the bounding set still allows).
//
// Errors: INVALID_ARGUMENT naming the entry, e.g.
// `linux.security_context.capabilities.add_capabilities[1]: unknown
// capability "NET_ADMN"`.
absl::StatusOr<CapabilitySets> ResolveCapabilities(
    const runtime::v1::LinuxContainerSecurityContext& security, uint32_t uid);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SPEC_CAPABILITIES_H_

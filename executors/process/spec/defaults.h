// What a container gets when its CRI config says nothing, and how converge
// reads the security-profile fields: containerd's CRI plugin's choices
// (pkg/oci/spec.go populateDefaultUnixSpec and mounts.go, internal/cri/server
// buildLinuxSpec, internal/cri/sputil), written down once. Pure.
//
//   spec.mounts = DefaultMounts();
//   spec.devices = DefaultDevices();
//   CONVERGE_ASSIGN_OR_RETURN(SeccompChoice seccomp,
//                             ChooseSeccompProfile(config.linux().security_context()));
//
// Rlimits: none. containerd's CRI removes the OCI default RLIMIT_NOFILE
// 1024:1024 (internal/cri/opts WithoutDefaultSecuritySettings, for
// containerd/cri#515), so a container inherits the limits of the process that
// starts it; containerd 2.x's containerd.service no longer sets LimitNOFILE,
// so that is systemd's default (soft 1024, hard 524288). converge does the
// same: ContainerSpec.process.rlimits stays empty and the container inherits
// converge-monitor's limits, which the daemon's unit therefore should not
// raise (or the monitor should restore before it spawns the init).
#ifndef CONVERGE_EXECUTORS_PROCESS_SPEC_DEFAULTS_H_
#define CONVERGE_EXECUTORS_PROCESS_SPEC_DEFAULTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/cri/api.pb.h"
#include "executors/process/spec/container_spec.h"

namespace converge::process {

// In order: /proc (proc; nosuid,noexec,nodev), /dev (tmpfs; nosuid,
// strictatime, "mode=755,size=65536k"), /dev/pts (devpts; nosuid,noexec,
// "newinstance,ptmxmode=0666,mode=0620,gid=5"), /dev/shm (tmpfs "shm";
// nosuid,noexec,nodev, "mode=1777,size=65536k"), /dev/mqueue (mqueue;
// nosuid,noexec,nodev), /sys (sysfs; nosuid,noexec,nodev,ro). containerd's
// list minus /run, which its CRI plugin removes (oci.WithoutRunMount).
std::vector<MountSpec> DefaultMounts();

// containerd's default masked paths (/proc/acpi, /proc/asound, /proc/kcore,
// /proc/keys, /proc/latency_stats, /proc/timer_list, /proc/timer_stats,
// /proc/sched_debug, /sys/firmware, /sys/devices/virtual/powercap,
// /proc/scsi), the same as kubelet's DefaultProcMount list.
std::vector<std::string> DefaultMaskedPaths();

// /proc/bus, /proc/fs, /proc/irq, /proc/sys, /proc/sysrq-trigger.
std::vector<std::string> DefaultReadonlyPaths();

// /dev/null 1:3, /dev/zero 1:5, /dev/full 1:7, /dev/random 1:8,
// /dev/urandom 1:9, /dev/tty 5:0: character devices, mode 0666, root-owned
// (runc's AllowedDevices that it creates).
std::vector<ContainerSpec::Device> DefaultDevices();

// Which seccomp profile the security context asks for, before privilege and
// the profile's content are considered (BuildContainerSpec does that).
struct SeccompChoice {
  enum class Type { kUnconfined, kRuntimeDefault, kLocalhost };
  Type type = Type::kUnconfined;
  // kLocalhost: the profile file on the host, absolute.
  std::string localhost_path;
};

// containerd's rules (internal/cri/server containerSpecOpts, sputil):
//   - `seccomp` when the field is present: RuntimeDefault, Unconfined, or
//     Localhost with localhost_ref (a "localhost/" prefix is trimmed);
//     localhost_ref set for another type is INVALID_ARGUMENT;
//   - else the deprecated seccomp_profile_path: "runtime/default" and
//     "docker/default" -> RuntimeDefault, "unconfined" -> Unconfined,
//     "localhost/<path>" -> Localhost <path>, anything else INVALID_ARGUMENT;
//   - else Unconfined. containerd's unset_seccomp_profile option is "" by
//     default, which means unconfined; kubelet sends RuntimeDefault itself
//     when the pod asks for it or its seccompDefault setting is on, and
//     Unconfined otherwise.
// The Localhost path must be absolute, without "." or ".." components and
// without NUL (kubelet sends <root-dir>/seccomp/<localhostProfile>); which
// directory it lies in is kubelet's business, since kubelet's API validation
// already confines localhostProfile to its seccomp directory and converge does
// not know kubelet's root dir. Errors name
// `linux.security_context.seccomp.localhost_ref` or
// `linux.security_context.seccomp_profile_path`.
absl::StatusOr<SeccompChoice> ChooseSeccompProfile(
    const runtime::v1::LinuxContainerSecurityContext& security);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SPEC_DEFAULTS_H_

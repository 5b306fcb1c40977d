// BuildContainerSpec: the daemon-side, pure half of CreateContainer. It turns
// the CRI request, the image config and what the sandbox already has (pinned
// namespaces, pod files) into the ContainerSpec the monitor and the container
// init consume, deciding every policy question the way containerd's CRI
// plugin does (internal/cri/server buildLinuxSpec); the differences are
// listed below. No I/O: the caller reads files and passes their contents.
//
//   ContainerSpecInputs in;
//   in.container_id = id;
//   in.sandbox_id = sandbox.id();
//   in.config = request.config();
//   in.sandbox_config = sandbox.config();
//   in.image = image.runtime_config();
//   in.rootfs = rootfs;
//   in.passwd = ReadFileOrEmpty(rootfs + "/etc/passwd");  // after the mount
//   in.group = ReadFileOrEmpty(rootfs + "/etc/group");
//   in.pod_namespaces = {{"net", pins.net}, {"ipc", pins.ipc}, {"uts", pins.uts}};
//   in.pid_namespace_holder = "/proc/4242/ns/pid";  // pod pid mode POD only
//   in.pod_files_dir = "/run/converge/pods/<id>/files";
//   CONVERGE_ASSIGN_OR_RETURN(std::optional<std::string> profile,
//                             LocalhostSeccompProfilePath(in.config));
//   if (profile) in.seccomp_localhost_profile = ReadFile(*profile);  // missing: the caller's
//                                                                   // INVALID_ARGUMENT
//   CONVERGE_ASSIGN_OR_RETURN(ContainerSpec spec, BuildContainerSpec(in));
//
// Errors: INVALID_ARGUMENT naming the field (relative to ContainerConfig, e.g.
// "mounts[2].container_path", "linux.security_context.capabilities.
// add_capabilities[1]", "image config StopSignal"); NOT_FOUND from ResolveUser;
// UNIMPLEMENTED naming a field converge does not support yet; and
// FAILED_PRECONDITION when the config asks for a pod namespace the sandbox did
// not pin.
//
// Where converge differs from containerd, on purpose:
//   - Host paths are never created (containerd MkdirAll's missing ones);
//     CheckMountSources (api/container_validation.h) refuses them instead.
//   - Masked and read-only paths default to containerd's OCI lists when the
//     security context gives none; containerd's CRI uses empty lists then
//     (containerd#5029) and relies on kubelet, which always sends them except
//     for procMount Unmasked, which needs user namespaces (UNIMPLEMENTED here).
//   - add_ambient_capabilities is honoured (containerd clears ambient caps).
//   - A privileged container gets a Localhost seccomp profile it names
//     (containerd runs every privileged container unconfined). RuntimeDefault
//     stays unconfined for privileged containers, because kubelet's
//     seccompDefault sends it for every container, privileged or not.
//   - No /sys/fs/cgroup mount yet (containerd adds a read-only "cgroup" mount;
//     the init does not implement cgroup mounts).
//   - Privileged containers get only the default devices; the host's /dev
//     (containerd's WithHostDevices) is out of scope for now.
//   - CRI devices, CDI devices, image volumes, id-mapped mounts, recursive
//     read-only mounts, user namespaces and pid mode TARGET are UNIMPLEMENTED
//     rather than ignored.
#ifndef CONVERGE_EXECUTORS_PROCESS_SPEC_BUILD_SPEC_H_
#define CONVERGE_EXECUTORS_PROCESS_SPEC_BUILD_SPEC_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/cri/api.pb.h"
#include "api/records.pb.h"
#include "executors/process/spec/container_spec.h"

namespace converge::process {

struct ContainerSpecInputs {
  std::string container_id;
  std::string sandbox_id;
  runtime::v1::ContainerConfig config;
  runtime::v1::PodSandboxConfig sandbox_config;
  records::ImageRuntimeConfig image;
  // The mounted rootfs on the host.
  std::string rootfs;
  // Contents of the rootfs's /etc/passwd and /etc/group ("" when missing).
  std::string passwd;
  std::string group;
  // The sandbox's namespace pins by kind ("net", "ipc", "uts"); only those the
  // sandbox pinned (no "net" for a hostNetwork pod).
  std::map<std::string, std::string> pod_namespaces;
  // "/proc/<pid>/ns/pid" of the pod's pid-namespace holder; set only when the
  // pod's pid mode is POD.
  std::string pid_namespace_holder;
  // The sandbox files dir holding "hostname" and "resolv.conf"
  // (reconciler/pod_files.h). Empty: neither is bound.
  std::string pod_files_dir;
  // The pod's shared /dev/shm (a tmpfs the sandbox mounted on the host), bound
  // into every container of a pod with its own ipc namespace, as containerd
  // binds the sandbox's shm. Empty: each container gets its own tmpfs.
  std::string pod_shm_path;
  // Whether the node runs cgroup v2: then a non-privileged container gets a
  // fresh cgroup namespace, as containerd does.
  bool cgroup_v2 = false;
  std::vector<std::string> cgroup_procs_files;
  // For HOSTNAME (and a fresh uts namespace) when the sandbox sets no hostname.
  std::string node_hostname;
  // The content of the file LocalhostSeccompProfilePath(config) names, read
  // by the caller; nullopt when no Localhost profile applies.
  std::optional<std::string> seccomp_localhost_profile;
};

absl::StatusOr<ContainerSpec> BuildContainerSpec(const ContainerSpecInputs& in);

// The host file the caller must read into seccomp_localhost_profile, or
// nullopt when the container's seccomp profile is not Localhost (or the
// container is privileged and asks for no Localhost profile). Errors as
// ChooseSeccompProfile (defaults.h).
absl::StatusOr<std::optional<std::string>> LocalhostSeccompProfilePath(
    const runtime::v1::ContainerConfig& config);

// sandbox log_directory + "/" + config log_path; "" if either is empty.
std::string ContainerLogPath(const runtime::v1::PodSandboxConfig& sandbox,
                             const runtime::v1::ContainerConfig& config);

// A signal name or number as moby/sys/signal ParseSignal reads an image's
// StopSignal: "SIGQUIT", "QUIT", "quit", "3", "SIGRTMIN+3", "RTMAX-2"
// (RTMIN = 34, RTMAX = 64: the kernel's numbers, not glibc's). Numbers must be
// 1..64. Linux's generic numbering (x86-64, arm64). INVALID_ARGUMENT
// otherwise, without a field name (callers add theirs).
absl::StatusOr<int> ParseSignal(absl::string_view signal);

// The stop signal: config.stop_signal unless SIGNAL_RUNTIME_DEFAULT (CRI
// 1.33+, containerd's criSignalToOCIStopSignal), else the image's StopSignal,
// else SIGTERM. Errors name "stop_signal" or "image config StopSignal".
absl::StatusOr<int> ResolveStopSignal(const runtime::v1::ContainerConfig& config,
                                      const records::ImageRuntimeConfig& image);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SPEC_BUILD_SPEC_H_

// Validation of CreateContainer and UpdateContainerResources requests, run by
// the CRI handler before anything is stored. Pure, except CheckMountSources,
// which stats host paths, and CheckSeccompProfile, which reads a Localhost
// profile. Errors are INVALID_ARGUMENT naming the field as the
// request spells it ("config.mounts[2].host_path",
// "config.linux.resources.cpu_period"), or UNIMPLEMENTED for what converge
// does not support yet (pid mode TARGET, user namespaces, devices, image
// volumes, id-mapped and recursive read-only mounts, AppArmor Localhost).
//
//   CONVERGE_RETURN_IF_ERROR(ValidateCreateContainer(*request));
//   CONVERGE_RETURN_IF_ERROR(CheckMountSources(request->config()));
//   ...
//   CONVERGE_RETURN_IF_ERROR(ValidateUpdateContainerResources(request->linux()));
#ifndef CONVERGE_API_CONTAINER_VALIDATION_H_
#define CONVERGE_API_CONTAINER_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "api/cri/api.pb.h"

namespace converge {

// pod_sandbox_id set; config.metadata.name a valid name (the sandbox rules:
// non-empty, at most 253 bytes, no '/', ';', '=' or control characters);
// config.image.image set; config.log_path relative without "."/".."/empty
// components; working_dir absolute when set; envs keys non-empty without '='
// or NUL, values without NUL; labels and annotations at most 256 KiB each in
// total (Kubernetes' annotation limit) with non-empty keys; mounts:
// container_path absolute without ".." components, host_path absolute, no
// NUL, recursive_read_only only with readonly (containerd); capability names
// parse; seccomp and AppArmor profiles consistent; namespace modes
// supported; a privileged container only in a privileged sandbox
// (containerd); stop_signal known; resources as
// ValidateUpdateContainerResources (under "config.linux.resources").
absl::Status ValidateCreateContainer(const runtime::v1::CreateContainerRequest& request);

// Stats every mount's host_path: a missing one is INVALID_ARGUMENT
// "config.mounts[2].host_path: \"/x\" does not exist" (containerd creates it;
// converge does not, since kubelet creates what it needs and anything else is
// a mistake); other stat failures carry errno with their usual code.
absl::Status CheckMountSources(const runtime::v1::ContainerConfig& config);

// A Localhost seccomp profile must exist and compile: INVALID_ARGUMENT naming
// the field (seccomp.localhost_ref or seccomp_profile_path) otherwise, so that
// nothing is created for a container that could never start.
absl::Status CheckSeccompProfile(const runtime::v1::ContainerConfig& config);

// Fields named "linux.<field>" as in UpdateContainerResourcesRequest:
//   cpu_shares 0 (unset) or 2..262144 (the kernel's range for cpu.shares);
//   cpu_period 0 or 1000..1000000 µs (the kernel's CFS bounds);
//   cpu_quota 0, -1 (unlimited) or >= 1000 µs;
//   memory_limit_in_bytes >= 0, without a minimum: runc and containerd's CRI
//     enforce none (the 6 MiB floor is Docker's daemon, not runc);
//   memory_swap_limit_in_bytes -1, 0, or >= the memory limit when both are
//     set (runc refuses memory+swap below memory);
//   oom_score_adj -1000..1000;
//   cpuset_cpus / cpuset_mems lists like "0-3,5" (ascending ranges);
//   hugepage_limits: page sizes like the kernel's names ("2MB", "1GB",
//     "64KB": a power of two with KB, MB or GB), each at most once;
//   unified: keys "<controller>.<file>" without '/', not "cgroup.*" (the
//     core files that place processes), values without NUL or newline.
absl::Status ValidateUpdateContainerResources(const runtime::v1::LinuxContainerResources& resources);

}  // namespace converge

#endif  // CONVERGE_API_CONTAINER_VALIDATION_H_

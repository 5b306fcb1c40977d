// The cgroup limits a CRI LinuxContainerResources asks for. Pure.
//
// CRI uses 0 for "not set" in every numeric field (kubelet always sends the
// whole message), so zeros leave the cgroup's value alone; -1 quota means
// unlimited. oom_score_adj belongs to the process (the container spec), and
// `unified` (raw cgroup v2 files) is not applied yet.
#ifndef CONVERGE_RECONCILER_CONTAINER_RESOURCES_H_
#define CONVERGE_RECONCILER_CONTAINER_RESOURCES_H_

#include "api/cri/api.pb.h"
#include "executors/cgroup/cgroup.h"

namespace converge {

CgroupResources CgroupResourcesFromCri(const runtime::v1::LinuxContainerResources& resources);

}  // namespace converge

#endif  // CONVERGE_RECONCILER_CONTAINER_RESOURCES_H_

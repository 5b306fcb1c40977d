#include "reconciler/container_resources.h"

namespace converge {

CgroupResources CgroupResourcesFromCri(const runtime::v1::LinuxContainerResources& resources) {
  CgroupResources out;
  if (resources.cpu_shares() > 0) out.cpu_shares = resources.cpu_shares();
  if (resources.cpu_quota() != 0) out.cpu_quota = resources.cpu_quota();
  if (resources.cpu_period() > 0) out.cpu_period = resources.cpu_period();
  if (!resources.cpuset_cpus().empty()) out.cpuset_cpus = resources.cpuset_cpus();
  if (!resources.cpuset_mems().empty()) out.cpuset_mems = resources.cpuset_mems();
  if (resources.memory_limit_in_bytes() > 0) {
    out.memory_limit_bytes = resources.memory_limit_in_bytes();
  }
  if (resources.memory_swap_limit_in_bytes() != 0) {
    out.memory_swap_limit_bytes = resources.memory_swap_limit_in_bytes();
  }
  for (const auto& limit : resources.hugepage_limits()) {
    out.hugepage_limits[limit.page_size()] = limit.limit();
  }
  return out;
}

}  // namespace converge

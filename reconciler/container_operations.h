// What the CRI handlers may ask of running containers beyond writing intent:
// ExecSync (kubelet's exec probes run every few seconds; writing them to the
// store would be pure cost) and statistics. Both read kernel state and change
// none. The reconciler implements it, checking the container against its
// actual record before it asks an executor, so handlers still never call
// executors themselves.
#ifndef CONVERGE_RECONCILER_CONTAINER_OPERATIONS_H_
#define CONVERGE_RECONCILER_CONTAINER_OPERATIONS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executors/cgroup/cgroup.h"
#include "executors/process/process_executor.h"

namespace converge {

class ContainerOperations {
 public:
  virtual ~ContainerOperations() = default;

  // NOT_FOUND for an unknown container, FAILED_PRECONDITION when it is not
  // running, DEADLINE_EXCEEDED when `timeout` (if positive) passed: the exec
  // and what it started are killed by then.
  virtual absl::StatusOr<ExecOutput> ExecSync(const std::string& container_id,
                                              const std::vector<std::string>& args,
                                              absl::Duration timeout) = 0;
  // cgroup statistics; NOT_FOUND when the container or sandbox has no cgroup.
  virtual absl::StatusOr<CgroupStats> ContainerStats(const std::string& container_id) = 0;
  virtual absl::StatusOr<CgroupStats> SandboxStats(const std::string& sandbox_id) = 0;
  // Bytes and inodes of a container's writable layer.
  virtual absl::StatusOr<std::pair<uint64_t, uint64_t>> WritableLayerUsage(
      const std::string& container_id) = 0;
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_CONTAINER_OPERATIONS_H_

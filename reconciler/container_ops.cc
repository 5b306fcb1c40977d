// Requests about running containers that change no state and so do not go
// through the store: ExecSync (kubelet's exec probes) and statistics. The CRI
// handlers reach the executors only through these, after the reconciler
// checked the container against its actual record.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "reconciler/reconciler.h"

namespace converge {
namespace {

struct Located {
  SandboxRecord sandbox;
  records::ContainerActual container;
};

absl::StatusOr<Located> Locate(const StateReader& store, const std::string& container_id) {
  std::optional<std::string> sandbox_id = store.FindContainerSandbox(container_id);
  std::optional<SandboxRecord> sandbox;
  if (sandbox_id) sandbox = store.GetSandbox(*sandbox_id);
  if (sandbox && sandbox->actual) {
    for (const records::ContainerActual& container : sandbox->actual->containers()) {
      if (container.id() == container_id) return Located{*sandbox, container};
    }
  }
  return absl::NotFoundError(absl::StrCat("container \"", container_id, "\" not found"));
}

}  // namespace

absl::StatusOr<ExecOutput> Reconciler::ExecSync(const std::string& container_id,
                                                const std::vector<std::string>& args,
                                                absl::Duration timeout) {
  CONVERGE_ASSIGN_OR_RETURN(Located located, Locate(*store_, container_id));
  if (located.container.phase() != records::CONTAINER_PHASE_RUNNING ||
      located.sandbox.actual->monitor_dir().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", container_id, " is not running"));
  }
  return metrics_->TimeExecutor("process", "exec", [&] {
    return executors_.processes->Exec(located.sandbox.actual->monitor_dir(), container_id, args,
                                      timeout);
  });
}

absl::StatusOr<CgroupStats> Reconciler::ContainerStats(const std::string& container_id) {
  CONVERGE_ASSIGN_OR_RETURN(Located located, Locate(*store_, container_id));
  if (located.container.cgroup_path().empty()) {
    return absl::NotFoundError(absl::StrCat("container ", container_id, " has no cgroup"));
  }
  return executors_.cgroups->Stats(located.container.cgroup_path());
}

absl::StatusOr<CgroupStats> Reconciler::SandboxStats(const std::string& sandbox_id) {
  std::optional<SandboxRecord> sandbox = store_->GetSandbox(sandbox_id);
  if (!sandbox || !sandbox->actual || sandbox->actual->cgroup_path().empty()) {
    return absl::NotFoundError(absl::StrCat("sandbox ", sandbox_id, " has no cgroup"));
  }
  return executors_.cgroups->Stats(sandbox->actual->cgroup_path());
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> Reconciler::WritableLayerUsage(
    const std::string& container_id) {
  CONVERGE_ASSIGN_OR_RETURN(Located located, Locate(*store_, container_id));
  if (located.container.snapshot_key().empty()) return std::make_pair(uint64_t{0}, uint64_t{0});
  return executors_.snapshots->Usage(located.container.snapshot_key());
}

}  // namespace converge

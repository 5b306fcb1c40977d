// One reconcile pass of a sandbox: observe the host, plan, apply the plan in
// numbered steps, record the outcome. Every handle is written to the actual
// record before the object it names is created, so a crash between any two
// lines leaves a record that the next pass can finish or undo.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crash_points.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "reconciler/network_config.h"
#include "reconciler/pod_files.h"
#include "reconciler/reconciler.h"

namespace converge {
namespace {

using records::SandboxActual;

absl::StatusOr<NamespaceKind> KindFromName(const std::string& name) {
  for (NamespaceKind kind : {NamespaceKind::kNet, NamespaceKind::kIpc, NamespaceKind::kUts}) {
    if (NamespaceKindName(kind) == name) return kind;
  }
  return absl::InternalError(absl::StrCat("unknown namespace kind \"", name, "\""));
}

bool HasPin(const SandboxActual& actual, const std::string& kind) {
  for (const auto& pin : actual.pins()) {
    if (pin.kind() == kind) return true;
  }
  return false;
}

std::string PinPathOf(const SandboxActual& actual, const std::string& kind) {
  for (const auto& pin : actual.pins()) {
    if (pin.kind() == kind) return pin.path();
  }
  return "";
}

// The hostname and the sysctls that belong to the namespaces in `pins`; the
// others were set when the surviving namespaces were made. Handlers accepted
// only sysctls that parse.
NamespaceSetup SetupFor(const records::SandboxDesired& desired, const std::vector<PinSpec>& pins) {
  NamespaceSetup setup;
  for (const PinSpec& pin : pins) {
    if (pin.kind == NamespaceKind::kUts) setup.hostname = desired.config().hostname();
  }
  for (const auto& [name, value] : desired.config().linux().sysctls()) {
    absl::StatusOr<SysctlName> parsed = ParseSysctlName(name);
    if (!parsed.ok()) continue;
    for (const PinSpec& pin : pins) {
      if (pin.kind == parsed->kind) setup.sysctls[name] = value;
    }
  }
  return setup;
}

absl::StatusOr<NetworkRequest> NetworkRequestFor(const SandboxRecord& record,
                                                 const SandboxActual& actual) {
  NetworkRequest request;
  request.sandbox_id = record.id;
  if (record.desired) {
    const auto& metadata = record.desired->config().metadata();
    request.pod_name = metadata.name();
    request.pod_namespace = metadata.namespace_();
    request.pod_uid = metadata.uid();
    CONVERGE_ASSIGN_OR_RETURN(request.runtime_config,
                              CniRuntimeConfig(record.desired->config()));
  }
  request.netns_path = PinPathOf(actual, "net");
  return request;
}

}  // namespace

absl::StatusOr<ObservedSandbox> Reconciler::Observe(const SandboxRecord& record,
                                                    const SandboxLayout& layout) {
  ObservedSandbox observed;
  if (record.actual && !record.actual->boot_id().empty()) {
    observed.same_boot = record.actual->boot_id() == options_.boot_id;
  }
  absl::flat_hash_set<std::string> kinds(layout.namespaces.begin(), layout.namespaces.end());
  if (record.actual) {
    for (const auto& pin : record.actual->pins()) kinds.insert(pin.kind());
  }
  for (const std::string& kind : kinds) {
    std::string path = record.actual && HasPin(*record.actual, kind)
                           ? PinPathOf(*record.actual, kind)
                           : PinPath(record.id, kind);
    CONVERGE_ASSIGN_OR_RETURN(bool pinned, executors_.namespaces->IsPinned(path));
    if (pinned) observed.mounted_pins.insert(kind);
  }
  std::string cgroup = layout.cgroup_path;
  if (cgroup.empty() && record.actual) cgroup = record.actual->cgroup_path();
  if (!cgroup.empty()) {
    CONVERGE_ASSIGN_OR_RETURN(observed.cgroup_exists, executors_.cgroups->Exists(cgroup));
  }
  if (!layout.files_dir.empty()) {
    CONVERGE_ASSIGN_OR_RETURN(observed.files_present,
                              executors_.files->Exists(layout.files_dir, PodFileNames()));
  }
  return observed;
}

std::vector<std::string> Disagreements(const SandboxActual& actual,
                                       const ObservedSandbox& observed) {
  std::vector<std::string> out;
  if (!observed.same_boot) out.push_back("handles are from another boot");
  for (const auto& pin : actual.pins()) {
    if (!observed.mounted_pins.contains(pin.kind())) {
      out.push_back(absl::StrCat(pin.kind(), " pin `", pin.path(), "` is recorded but not mounted"));
    }
  }
  for (const std::string& kind : observed.mounted_pins) {
    if (!HasPin(actual, kind)) out.push_back(absl::StrCat(kind, " pin is mounted but not recorded"));
  }
  if (!actual.cgroup_path().empty() && !observed.cgroup_exists) {
    out.push_back(absl::StrCat("cgroup `", actual.cgroup_path(), "` is recorded but missing"));
  }
  if (!actual.files_dir().empty() && !observed.files_present) {
    out.push_back(absl::StrCat("files in `", actual.files_dir(), "` are recorded but missing"));
  }
  return out;
}

SandboxLayout Reconciler::LayoutOf(const SandboxRecord& record) const {
  SandboxLayout layout;
  if (record.desired) {
    layout = LayoutFor(*record.desired, options_.default_cgroup_parent, options_.state_dir);
  }
  // A recorded handle wins over a recomputed one: the daemon's default parent
  // may have changed since, and the recorded object is the one to undo.
  if (record.actual && !record.actual->cgroup_path().empty()) {
    layout.cgroup_path = record.actual->cgroup_path();
  }
  if (record.actual && !record.actual->files_dir().empty()) {
    layout.files_dir = record.actual->files_dir();
  }
  return layout;
}

std::vector<LiveObservation> Reconciler::ObserveLive() {
  std::vector<LiveObservation> out;
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    LiveObservation live;
    live.id = record.id;
    absl::StatusOr<ObservedSandbox> observed = Observe(record, LayoutOf(record));
    if (!observed.ok()) {
      live.error = observed.status().ToString();
    } else {
      live.observed = *observed;
      if (record.actual) live.disagreements = Disagreements(*record.actual, *observed);
    }
    out.push_back(std::move(live));
  }
  return out;
}

absl::Status Reconciler::ReconcileSandbox(const std::string& id) {
  std::optional<SandboxRecord> record = store_->GetSandbox(id);
  if (!record) return absl::OkStatus();
  const SandboxLayout layout = LayoutOf(*record);

  SandboxActual actual;
  if (record->actual) {
    actual = *record->actual;
  } else {
    actual.set_schema_version(kSchemaVersion);
    actual.set_id(id);
    actual.set_phase(records::SANDBOX_PHASE_CREATING);
  }
  absl::StatusOr<ObservedSandbox> observed = Observe(*record, layout);
  if (!observed.ok()) {
    return RecordOutcome(*record, actual, Annotate(observed.status(), "observe"), false);
  }
  PodActions plan = ComputePodActions(record->desired, record->actual, *observed, layout);
  if (!plan.empty()) {
    NamedLogger("reconciler")->info("reconcile id={} plan={}", id, plan.DebugString());
  }
  const bool wants_ready =
      record->desired && record->desired->stage() == records::SANDBOX_STAGE_READY;
  // A sandbox that failed by itself (its namespaces vanished) is torn down
  // like a stopped one: its containers are killed first.
  const bool lost = wants_ready && (PlanMarksNotReady(plan) ||
                                    (record->actual &&
                                     record->actual->phase() == records::SANDBOX_PHASE_NOTREADY));
  std::optional<records::SandboxDesired> planned = record->desired;
  if (lost) planned->set_stage(records::SANDBOX_STAGE_NOTREADY);
  absl::flat_hash_map<std::string, absl::Status> failed;
  ContainerPlan containers;
  // Containers are planned on the actual state as the sandbox steps left it.
  auto sync_containers = [&]() -> absl::Status {
    if (executors_.processes == nullptr) return absl::OkStatus();
    containers = ComputeContainerActions(planned ? &*planned : nullptr, &actual,
                                         ObserveContainers(actual), clock_->Now());
    if (!containers.empty()) {
      NamedLogger("reconciler")->info("reconcile id={} containers={}", id,
                                      containers.DebugString());
    }
    return ApplyContainerPlan(containers, *record, &actual, &failed);
  };
  absl::Status applied;
  absl::Status containers_synced;
  bool pending = false;
  if (wants_ready && !lost) {
    applied = Apply(plan, *record, layout, &actual);
    if (applied.ok()) containers_synced = sync_containers();
  } else {
    // Teardown waits until no container process of the pod can still run.
    containers_synced = sync_containers();
    if (containers.quiescent) {
      applied = Apply(plan, *record, layout, &actual);
    } else {
      pending = true;
    }
  }
  RecordContainerOutcomes(*record, failed, &actual);
  if (containers.recheck_at) queue_->AddAfter(id, *containers.recheck_at - clock_->Now());
  absl::Status recorded = RecordOutcome(*record, std::move(actual), applied, pending);
  return recorded.ok() ? containers_synced : recorded;
}

absl::Status Reconciler::Apply(const PodActions& plan, const SandboxRecord& record,
                               const SandboxLayout& layout, SandboxActual* actual) {
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const PodAction& step = plan.steps[i];
    CrashPoint(absl::StrCat("before:", PodActionKindName(step.kind)));
    absl::Status status = ApplyStep(step, record, layout, actual);
    metrics_->CountAction(step.kind, status.ok());
    CrashPoint(absl::StrCat("after:", PodActionKindName(step.kind)));
    if (!status.ok()) {
      return Annotate(status, "step ", i + 1, "/", plan.steps.size(), " ",
                      PodActionKindName(step.kind));
    }
  }
  return absl::OkStatus();
}

absl::Status Reconciler::ApplyStep(const PodAction& step, const SandboxRecord& record,
                                   const SandboxLayout& layout, SandboxActual* actual) {
  const int64_t now = absl::ToUnixNanos(clock_->Now());
  switch (step.kind) {
    case PodAction::Kind::kCreateNamespaces: {
      std::vector<PinSpec> pins;
      for (const std::string& kind : step.kinds) {
        CONVERGE_ASSIGN_OR_RETURN(NamespaceKind ns_kind, KindFromName(kind));
        pins.push_back({ns_kind, PinPath(record.id, kind)});
        if (!HasPin(*actual, kind)) {
          auto* pin = actual->add_pins();
          pin->set_kind(kind);
          pin->set_path(PinPath(record.id, kind));
        }
      }
      actual->set_boot_id(options_.boot_id);
      CONVERGE_RETURN_IF_ERROR(Persist(actual));
      CrashPoint("persisted:create-namespaces");
      return metrics_->TimeExecutor("namespace", "create", [&] {
        return executors_.namespaces->Create(pins, SetupFor(*record.desired, pins));
      });
    }
    case PodAction::Kind::kSetupNetwork: {
      // Marked first, and durably: teardown is owed even if setup dies half
      // way, and IPAM allocations outlive a reboot.
      actual->set_network_attached(true);
      CONVERGE_RETURN_IF_ERROR(Persist(actual, ActualWriter::Durability::kSynced));
      CrashPoint("persisted:setup-network");
      CONVERGE_ASSIGN_OR_RETURN(NetworkRequest request, NetworkRequestFor(record, *actual));
      // What the executor will set up, kept before it starts, so teardown
      // after a crash during setup uses exactly that.
      request.record_intent = [this, actual](const std::string& intent) {
        actual->set_network_result(intent);
        return Persist(actual, ActualWriter::Durability::kSynced);
      };
      CONVERGE_ASSIGN_OR_RETURN(
          NetworkResult result,
          metrics_->TimeExecutor("network", "setup", [&] { return executors_.network->Setup(request); }));
      actual->set_network_result(result.result_json);
      actual->clear_ips();
      for (const std::string& ip : result.ips) actual->add_ips(ip);
      actual->set_network_ready(true);
      return Persist(actual, ActualWriter::Durability::kSynced);
    }
    case PodAction::Kind::kCreateCgroup:
      actual->set_cgroup_path(layout.cgroup_path);
      actual->set_boot_id(options_.boot_id);
      CONVERGE_RETURN_IF_ERROR(Persist(actual));
      CrashPoint("persisted:create-cgroup");
      return metrics_->TimeExecutor("cgroup", "create",
                                    [&] { return executors_.cgroups->Create(layout.cgroup_path); });
    case PodAction::Kind::kWriteFiles: {
      actual->set_files_dir(layout.files_dir);
      CONVERGE_RETURN_IF_ERROR(Persist(actual));
      CONVERGE_ASSIGN_OR_RETURN(std::string host_resolv_conf, executors_.files->HostResolvConf());
      return metrics_->TimeExecutor("files", "write", [&] {
        return executors_.files->Write(layout.files_dir,
                                       RenderPodFiles(*record.desired, host_resolv_conf));
      });
    }
    case PodAction::Kind::kMarkReady:
      actual->set_phase(records::SANDBOX_PHASE_READY);
      actual->set_ready_at_unix_nanos(now);
      return Persist(actual);
    case PodAction::Kind::kMarkNotReady:
      actual->set_phase(records::SANDBOX_PHASE_NOTREADY);
      actual->set_notready_at_unix_nanos(now);
      actual->set_notready_reason(step.reason);
      return Persist(actual);
    case PodAction::Kind::kTeardownNetwork: {
      NetworkResult cached;
      cached.result_json = actual->network_result();
      cached.ips.assign(actual->ips().begin(), actual->ips().end());
      CONVERGE_ASSIGN_OR_RETURN(NetworkRequest request, NetworkRequestFor(record, *actual));
      CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor(
          "network", "teardown", [&] { return executors_.network->Teardown(request, cached); }));
      actual->set_network_attached(false);
      actual->set_network_ready(false);
      actual->clear_network_result();
      actual->clear_ips();
      return Persist(actual, ActualWriter::Durability::kSynced);
    }
    case PodAction::Kind::kRemoveNamespaces:
      // Network teardown comes first in the plan: CNI DEL needs the netns.
      while (actual->pins_size() > 0) {
        CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor(
            "namespace", "remove", [&] { return executors_.namespaces->Remove(actual->pins(0).path()); }));
        CrashPoint("removed-pin");
        actual->mutable_pins()->DeleteSubrange(0, 1);
        CONVERGE_RETURN_IF_ERROR(Persist(actual));
      }
      return absl::OkStatus();
    case PodAction::Kind::kRemoveCgroup:
      CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor(
          "cgroup", "remove", [&] { return executors_.cgroups->Remove(actual->cgroup_path()); }));
      actual->clear_cgroup_path();
      return Persist(actual);
    case PodAction::Kind::kRemoveFiles:
      CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor(
          "files", "remove", [&] { return executors_.files->Remove(actual->files_dir()); }));
      actual->clear_files_dir();
      return Persist(actual);
    case PodAction::Kind::kDeleteActual:
      CONVERGE_RETURN_IF_ERROR(store_->DeleteSandboxActual(record.id));
      if (record.desired) {
        metrics_->ObserveConvergence("sandbox", clock_->Now() -
                                     absl::FromUnixNanos(record.desired->updated_at_unix_nanos()));
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unhandled pod action");
}

absl::Status Reconciler::Persist(SandboxActual* actual, ActualWriter::Durability durability) {
  actual->set_updated_at_unix_nanos(absl::ToUnixNanos(clock_->Now()));
  return store_->PutSandboxActual(*actual, durability);
}

absl::Status Reconciler::RecordOutcome(const SandboxRecord& record, SandboxActual actual,
                                       const absl::Status& result, bool pending) {
  const bool wants_gone =
      !record.desired || record.desired->stage() == records::SANDBOX_STAGE_REMOVED;
  std::optional<SandboxRecord> current = store_->GetSandbox(record.id);
  // Removal finished (or there was never anything to remove): no record left to update.
  if (wants_gone && (!current || !current->actual)) return result;

  const int64_t generation = record.desired ? record.desired->generation() : 0;
  actual.set_attempted_generation(generation);
  if (result.ok() && pending) {
    actual.clear_last_error();
    actual.clear_last_error_code();
  } else if (result.ok()) {
    if (record.desired && actual.observed_generation() < generation) {
      metrics_->ObserveConvergence("sandbox", clock_->Now() -
                                   absl::FromUnixNanos(record.desired->updated_at_unix_nanos()));
    }
    actual.set_observed_generation(generation);
    actual.clear_last_error();
    actual.clear_last_error_code();
    actual.set_retries(0);
    actual.clear_next_retry_unix_nanos();
  } else {
    actual.set_last_error(std::string(result.message()));
    actual.set_last_error_code(static_cast<int32_t>(result.code()));
    actual.set_retries(actual.retries() + 1);
  }
  if (current && current->actual) {
    SandboxActual stored = *current->actual;
    stored.clear_updated_at_unix_nanos();
    SandboxActual candidate = actual;
    candidate.clear_updated_at_unix_nanos();
    // Resyncs of converged sandboxes must not write.
    if (stored.SerializeAsString() == candidate.SerializeAsString()) return result;
  }
  absl::Status persisted = Persist(&actual);
  return result.ok() ? persisted : result;
}

absl::Status Reconciler::RecordRetry(const std::string& id, absl::Duration delay) {
  std::optional<SandboxRecord> current = store_->GetSandbox(id);
  if (!current || !current->actual) return absl::OkStatus();
  SandboxActual actual = *current->actual;
  actual.set_next_retry_unix_nanos(absl::ToUnixNanos(clock_->Now() + delay));
  return Persist(&actual);
}

}  // namespace converge

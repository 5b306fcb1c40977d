// The container half of a pod's reconcile pass: observe the pod's monitor and
// container inits, plan with ComputeContainerActions, apply step by step.
// Like the sandbox steps, every handle (state dir, snapshot, cgroup, monitor,
// init) is persisted before the object it names is made, so a crash between
// any two lines leaves a record the next pass can finish or undo.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "common/crash_points.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "reconciler/container_resources.h"
#include "executors/process/spec/build_spec.h"
#include "reconciler/reconciler.h"

namespace converge {
namespace {

using records::ContainerActual;
using records::ContainerDesired;
using records::SandboxActual;

constexpr int kLostExitCode = 255;
// How long a kill waits for a half-made container's cgroup to empty.
constexpr absl::Duration kKillWait = absl::Seconds(5);

ContainerActual* MutableActual(SandboxActual* actual, const std::string& id) {
  for (ContainerActual& container : *actual->mutable_containers()) {
    if (container.id() == id) return &container;
  }
  return nullptr;
}

const ContainerDesired* DesiredOf(const SandboxRecord& record, const std::string& id) {
  return FindContainer(record.desired ? &*record.desired : nullptr, id);
}

ProcessId ToProcessId(const records::ProcessHandle& handle) {
  return ProcessId{handle.pid(), handle.start_time()};
}

void SetHandle(const ProcessId& id, records::ProcessHandle* handle) {
  handle->set_pid(id.pid);
  handle->set_start_time(id.start_time);
}

std::string ExitReason(const ContainerExit& exit) {
  if (exit.oom_killed) return "OOMKilled";
  return exit.exit_code == 0 ? "Completed" : "Error";
}

}  // namespace

bool Reconciler::SameBoot(const SandboxActual& actual) const {
  return actual.boot_id().empty() || actual.boot_id() == options_.boot_id;
}

std::string Reconciler::PodDir(const std::string& sandbox_id) const {
  return absl::StrCat(options_.state_dir, "/pods/", sandbox_id);
}

std::string Reconciler::ContainerDir(const std::string& container_id) const {
  return absl::StrCat(options_.state_dir, "/containers/", container_id);
}

ObservedPod Reconciler::ObserveContainers(const SandboxActual& actual) {
  ObservedPod observed;
  if (executors_.processes == nullptr) return observed;
  // Pids and start times from another boot name nothing of ours.
  if (!SameBoot(actual)) return observed;
  observed.monitor_alive =
      actual.monitor().pid() != 0 && executors_.processes->IsAlive(ToProcessId(actual.monitor()));
  for (const ContainerActual& container : actual.containers()) {
    if (container.phase() != records::CONTAINER_PHASE_CREATED &&
        container.phase() != records::CONTAINER_PHASE_RUNNING) {
      continue;
    }
    ObservedContainer& seen = observed.containers[container.id()];
    seen.init_alive = container.init().pid() != 0 &&
                      executors_.processes->IsAlive(ToProcessId(container.init()));
    absl::StatusOr<std::optional<ContainerExit>> exit =
        executors_.processes->ReadExit(container.state_dir());
    // An unreadable record counts as present: recording it reports the error.
    seen.exit_recorded = !exit.ok() || exit->has_value();
  }
  return observed;
}

absl::Status Reconciler::ApplyContainerPlan(const ContainerPlan& plan, const SandboxRecord& record,
                                            SandboxActual* actual,
                                            absl::flat_hash_map<std::string, absl::Status>* failed) {
  absl::Status first_error;
  for (const ContainerAction& step : plan.steps) {
    // One container's failure does not hold back the others; its later steps
    // are skipped.
    if (!step.container_id.empty() && failed->contains(step.container_id)) continue;
    CrashPoint(absl::StrCat("before:", ContainerActionKindName(step.kind)));
    absl::Status status = ApplyContainerStep(step, record, actual);
    CrashPoint(absl::StrCat("after:", ContainerActionKindName(step.kind)));
    metrics_->CountContainerAction(ContainerActionKindName(step.kind), status.ok());
    if (status.ok()) continue;
    status = Annotate(status, ContainerActionKindName(step.kind));
    if (first_error.ok()) first_error = status;
    if (step.container_id.empty()) {
      // A pod-level step (the monitor) failed: every container waits for it.
      for (const ContainerAction& other : plan.steps) {
        if (!other.container_id.empty()) failed->emplace(other.container_id, status);
      }
    } else {
      failed->emplace(step.container_id, status);
    }
  }
  return first_error;
}

absl::Status Reconciler::ApplyContainerStep(const ContainerAction& step,
                                            const SandboxRecord& record, SandboxActual* actual) {
  ProcessExecutor* processes = executors_.processes;
  const int64_t now = absl::ToUnixNanos(clock_->Now());
  const std::string& id = step.container_id;
  switch (step.kind) {
    case ContainerAction::Kind::kStartMonitor:
      return StartMonitor(record, actual);
    case ContainerAction::Kind::kStopMonitor: {
      CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor("process", "monitor_stop", [&] {
        return processes->StopMonitor(
            actual->monitor_dir(), SameBoot(*actual) ? ToProcessId(actual->monitor()) : ProcessId{});
      }));
      processes->Unwatch(record.id);
      actual->clear_monitor();
      actual->clear_pid_holder();
      actual->clear_monitor_dir();
      return Persist(actual);
    }
    case ContainerAction::Kind::kCreate:
      return CreateContainer(id, record, actual);
    default:
      break;
  }

  ContainerActual* container = MutableActual(actual, id);
  const ContainerDesired* desired = DesiredOf(record, id);
  if (container == nullptr) {
    if (step.kind != ContainerAction::Kind::kMarkExited) {
      return absl::InternalError(absl::StrCat("container ", id, " has no actual record"));
    }
    container = actual->add_containers();
    container->set_id(id);
  }
  switch (step.kind) {
    case ContainerAction::Kind::kStart: {
      absl::Status started = metrics_->TimeExecutor("process", "start", [&] {
        return processes->StartContainer(container->state_dir(), ToProcessId(container->init()));
      });
      // The FIFO goes once the init took its byte: if the daemon died right
      // after, the init runs and only the record is behind.
      if (absl::IsNotFound(started) && processes->IsAlive(ToProcessId(container->init()))) {
        started = absl::OkStatus();
      }
      CONVERGE_RETURN_IF_ERROR(started);
      container->set_phase(records::CONTAINER_PHASE_RUNNING);
      container->set_started_at_unix_nanos(now);
      return Persist(actual);
    }
    case ContainerAction::Kind::kRecordExit: {
      CONVERGE_ASSIGN_OR_RETURN(std::optional<ContainerExit> exit,
                                processes->ReadExit(container->state_dir()));
      if (!exit) return absl::InternalError("exit record vanished");
      // What the init left behind (in a shared pid namespace) goes with it.
      CONVERGE_RETURN_IF_ERROR(KillContainerProcesses(*actual, *container, /*wait=*/false));
      container->set_phase(records::CONTAINER_PHASE_EXITED);
      container->set_exit_code(exit->exit_code);
      container->set_finished_at_unix_nanos(exit->finished_at_unix_nanos);
      container->set_reason(ExitReason(*exit));
      if (container->started_at_unix_nanos() == 0 && exit->exit_code != 0) {
        container->set_message("the container's init exited before it was started");
      }
      return Persist(actual);
    }
    case ContainerAction::Kind::kMarkLost:
    case ContainerAction::Kind::kMarkExitUnknown:
      CONVERGE_RETURN_IF_ERROR(KillContainerProcesses(*actual, *container, /*wait=*/false));
      container->set_phase(records::CONTAINER_PHASE_EXITED);
      container->set_exit_code(kLostExitCode);
      container->set_finished_at_unix_nanos(now);
      container->set_reason(step.kind == ContainerAction::Kind::kMarkLost ? "MonitorExited"
                                                                          : "ExitUnknown");
      container->set_message(step.reason);
      NamedLogger("reconciler")->warn("container lost id={} sandbox={} reason={}", id, record.id,
                                      step.reason);
      return Persist(actual);
    case ContainerAction::Kind::kMarkExited:
      container->set_phase(records::CONTAINER_PHASE_EXITED);
      container->set_exit_code(128 + SIGKILL);
      container->set_finished_at_unix_nanos(now);
      container->set_reason("Error");
      container->set_message(step.reason);
      return Persist(actual);
    case ContainerAction::Kind::kNoteInitGone:
      container->set_init_gone_at_unix_nanos(now);
      return Persist(actual);
    case ContainerAction::Kind::kSignal: {
      const int signal = container->stop_signal() > 0 ? container->stop_signal() : SIGTERM;
      const int64_t timeout = desired != nullptr ? desired->stop_timeout_seconds() : 0;
      container->set_stop_signaled_at_unix_nanos(now);
      container->set_stop_deadline_unix_nanos(now + timeout * 1000000000LL);
      CONVERGE_RETURN_IF_ERROR(Persist(actual));
      return metrics_->TimeExecutor("process", "signal", [&] {
        return processes->Signal(ToProcessId(container->init()), signal);
      });
    }
    case ContainerAction::Kind::kKill:
      return KillContainerProcesses(*actual, *container,
                                    /*wait=*/container->phase() == records::CONTAINER_PHASE_CREATING);
    case ContainerAction::Kind::kUpdateResources: {
      CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor("cgroup", "update", [&] {
        return executors_.cgroups->SetResources(container->cgroup_path(),
                                                CgroupResourcesFromCri(desired->resources()));
      }));
      *container->mutable_resources() = desired->resources();
      return Persist(actual);
    }
    case ContainerAction::Kind::kReopenLog:
      CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor("process", "reopen_log", [&] {
        return processes->ReopenLog(actual->monitor_dir(), id);
      }));
      container->set_log_generation(desired->log_generation());
      return Persist(actual);
    case ContainerAction::Kind::kCleanup:
      return CleanupContainer(container, actual);
    case ContainerAction::Kind::kForget: {
      auto* containers = actual->mutable_containers();
      for (int i = 0; i < containers->size(); ++i) {
        if (containers->Get(i).id() == id) {
          containers->DeleteSubrange(i, 1);
          break;
        }
      }
      return Persist(actual);
    }
    default:
      return absl::InternalError("unhandled container action");
  }
}

absl::Status Reconciler::StartMonitor(const SandboxRecord& record, SandboxActual* actual) {
  ProcessExecutor* processes = executors_.processes;
  actual->set_monitor_dir(PodDir(record.id));
  CONVERGE_RETURN_IF_ERROR(Persist(actual));
  CrashPoint("persisted:start-monitor");
  MonitorRequest request;
  request.sandbox_id = record.id;
  request.pod_dir = actual->monitor_dir();
  request.pod_pid_namespace =
      record.desired &&
      record.desired->config().linux().security_context().namespace_options().pid() ==
          runtime::v1::POD;
  CONVERGE_ASSIGN_OR_RETURN(request.cgroup_procs_files,
                            executors_.cgroups->ProcsFiles(actual->cgroup_path()));
  CONVERGE_ASSIGN_OR_RETURN(ProcessId monitor, metrics_->TimeExecutor("process", "monitor_spawn", [&] {
    return processes->StartMonitor(request);
  }));
  SetHandle(monitor, actual->mutable_monitor());
  if (request.pod_pid_namespace) {
    CONVERGE_ASSIGN_OR_RETURN(ProcessId holder, processes->PodPidHolder(request.pod_dir));
    SetHandle(holder, actual->mutable_pid_holder());
  }
  processes->WatchMonitor(record.id, monitor);
  return Persist(actual);
}

absl::Status Reconciler::CreateContainer(const std::string& id, const SandboxRecord& record,
                                         SandboxActual* actual) {
  const ContainerDesired* desired = DesiredOf(record, id);
  if (desired == nullptr) return absl::InternalError(absl::StrCat("container ", id, " not desired"));
  ContainerActual* container = MutableActual(actual, id);
  if (container == nullptr) {
    container = actual->add_containers();
    container->set_id(id);
  }
  // Every handle first: a crash from here on leaves a CREATING entry whose
  // objects the next pass kills and reuses, or cleans up.
  const auto& sandbox_config = record.desired->config();
  container->set_phase(records::CONTAINER_PHASE_CREATING);
  container->set_state_dir(ContainerDir(id));
  container->set_snapshot_key(id);
  container->set_cgroup_path(ContainerCgroupPath(actual->cgroup_path(), id));
  container->set_image_id(desired->image_id());
  container->set_log_path(process::ContainerLogPath(sandbox_config, desired->config()));
  container->set_created_at_unix_nanos(absl::ToUnixNanos(clock_->Now()));
  container->clear_init();
  CONVERGE_RETURN_IF_ERROR(Persist(actual));
  CrashPoint("persisted:create-container");

  // A create interrupted earlier may have left an init waiting on its FIFO.
  CONVERGE_RETURN_IF_ERROR(KillContainerProcesses(*actual, *container, /*wait=*/true));

  std::optional<records::ImageRecord> image = store_->GetImage(desired->image_id());
  if (!image) {
    return absl::FailedPreconditionError(
        absl::StrCat("image ", desired->image_ref(), " (", desired->image_id(),
                     ") is no longer present; pull it again"));
  }
  std::vector<Digest> chain;
  for (const auto& layer : image->layers()) {
    CONVERGE_ASSIGN_OR_RETURN(Digest digest, Digest::Parse(layer.chain_id()));
    chain.push_back(digest);
  }
  SnapshotRequest snapshot_request;
  snapshot_request.key = container->snapshot_key();
  snapshot_request.lower_dirs = executors_.images->LayerDirs(chain);
  CONVERGE_ASSIGN_OR_RETURN(Snapshot snapshot, metrics_->TimeExecutor("snapshot", "prepare", [&] {
    return executors_.snapshots->Prepare(snapshot_request);
  }));
  container->set_rootfs(snapshot.rootfs);

  CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor("cgroup", "create", [&] {
    return executors_.cgroups->Create(container->cgroup_path());
  }));
  const bool privileged = desired->config().linux().security_context().privileged();
  if (!privileged) {
    CONVERGE_RETURN_IF_ERROR(
        executors_.cgroups->SetDevices(container->cgroup_path(), DefaultDeviceRules()));
  }
  CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor("cgroup", "update", [&] {
    return executors_.cgroups->SetResources(container->cgroup_path(),
                                            CgroupResourcesFromCri(desired->resources()));
  }));
  *container->mutable_resources() = desired->resources();

  CONVERGE_ASSIGN_OR_RETURN(process::ContainerSpec spec,
                            SpecFor(*desired, record, *actual, *container, *image));
  container->set_stop_signal(spec.stop_signal);
  if (!spec.log_path.empty()) CONVERGE_RETURN_IF_ERROR(executors_.processes->PrepareLogDir(spec.log_path));

  ContainerCreate create;
  create.pod_dir = actual->monitor_dir();
  create.container_dir = container->state_dir();
  create.spec = std::move(spec);
  CONVERGE_ASSIGN_OR_RETURN(ProcessId init, metrics_->TimeExecutor("process", "create", [&] {
    return executors_.processes->CreateContainer(create);
  }));
  executors_.processes->WatchContainer(record.id, container->state_dir());
  SetHandle(init, container->mutable_init());
  container->set_phase(records::CONTAINER_PHASE_CREATED);
  container->set_log_generation(desired->log_generation());
  return Persist(actual);
}

absl::StatusOr<process::ContainerSpec> Reconciler::SpecFor(const ContainerDesired& desired,
                                                           const SandboxRecord& record,
                                                           const SandboxActual& actual,
                                                           const ContainerActual& container,
                                                           const records::ImageRecord& image) {
  ProcessExecutor* processes = executors_.processes;
  process::ContainerSpecInputs in;
  in.container_id = desired.id();
  in.sandbox_id = record.id;
  in.config = desired.config();
  // Kubelet sends the container's resources again on update; the spec is
  // built from what is enforced now.
  *in.config.mutable_linux()->mutable_resources() = desired.resources();
  in.sandbox_config = record.desired->config();
  in.image = image.runtime_config();
  in.rootfs = container.rootfs();
  CONVERGE_ASSIGN_OR_RETURN(in.passwd, processes->ReadRootfsFile(container.rootfs(), "/etc/passwd"));
  CONVERGE_ASSIGN_OR_RETURN(in.group, processes->ReadRootfsFile(container.rootfs(), "/etc/group"));
  for (const auto& pin : actual.pins()) in.pod_namespaces[pin.kind()] = pin.path();
  if (actual.pid_holder().pid() != 0) {
    in.pid_namespace_holder = absl::StrCat("/proc/", actual.pid_holder().pid(), "/ns/pid");
  }
  in.pod_files_dir = actual.files_dir();
  in.cgroup_v2 = executors_.cgroups->Version() == 2;
  CONVERGE_ASSIGN_OR_RETURN(in.cgroup_procs_files,
                            executors_.cgroups->ProcsFiles(container.cgroup_path()));
  in.node_hostname = options_.node_hostname;
  CONVERGE_ASSIGN_OR_RETURN(std::optional<std::string> profile,
                            process::LocalhostSeccompProfilePath(desired.config()));
  if (profile) {
    CONVERGE_ASSIGN_OR_RETURN(in.seccomp_localhost_profile, processes->ReadHostFile(*profile));
  }
  return process::BuildContainerSpec(in);
}

absl::Status Reconciler::KillContainerProcesses(const SandboxActual& pod,
                                                const ContainerActual& container, bool wait) {
  // A pid from another boot names someone else's process: only the cgroup
  // (recreated by nobody but us) is killed then.
  if (container.init().pid() != 0 && SameBoot(pod)) {
    CONVERGE_RETURN_IF_ERROR(
        executors_.processes->Signal(ToProcessId(container.init()), SIGKILL));
  }
  if (container.cgroup_path().empty()) return absl::OkStatus();
  CONVERGE_ASSIGN_OR_RETURN(bool exists, executors_.cgroups->Exists(container.cgroup_path()));
  if (!exists) return absl::OkStatus();
  CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor("cgroup", "kill", [&] {
    return executors_.cgroups->KillAll(container.cgroup_path(), SIGKILL);
  }));
  if (!wait) return absl::OkStatus();
  const absl::Time give_up = absl::Now() + kKillWait;
  while (true) {
    CONVERGE_ASSIGN_OR_RETURN(std::vector<pid_t> pids,
                              executors_.cgroups->Pids(container.cgroup_path()));
    if (pids.empty()) return absl::OkStatus();
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          pids.size(), " processes still in cgroup `", container.cgroup_path(), "` after SIGKILL"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

absl::Status Reconciler::CleanupContainer(ContainerActual* container, SandboxActual* actual) {
  CONVERGE_RETURN_IF_ERROR(KillContainerProcesses(*actual, *container, /*wait=*/true));
  if (!container->cgroup_path().empty()) {
    CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor("cgroup", "remove", [&] {
      return executors_.cgroups->Remove(container->cgroup_path());
    }));
    container->clear_cgroup_path();
    CONVERGE_RETURN_IF_ERROR(Persist(actual));
  }
  if (!container->snapshot_key().empty()) {
    CONVERGE_RETURN_IF_ERROR(metrics_->TimeExecutor("snapshot", "remove", [&] {
      return executors_.snapshots->Remove(container->snapshot_key());
    }));
    container->clear_snapshot_key();
    container->clear_rootfs();
    CONVERGE_RETURN_IF_ERROR(Persist(actual));
  }
  if (!container->state_dir().empty()) {
    CONVERGE_RETURN_IF_ERROR(executors_.processes->RemoveContainerDir(container->state_dir()));
    container->clear_state_dir();
    CONVERGE_RETURN_IF_ERROR(Persist(actual));
  }
  return absl::OkStatus();
}

void Reconciler::RecordContainerOutcomes(
    const SandboxRecord& record, const absl::flat_hash_map<std::string, absl::Status>& failed,
    SandboxActual* actual) {
  if (!record.desired) return;
  for (const ContainerDesired& desired : record.desired->containers()) {
    ContainerActual* container = MutableActual(actual, desired.id());
    auto it = failed.find(desired.id());
    if (container == nullptr && it != failed.end()) {
      // A pod-level step (the monitor) failed before the container had an
      // entry: one without handles carries the error to CreateContainer.
      container = actual->add_containers();
      container->set_id(desired.id());
      container->set_phase(records::CONTAINER_PHASE_CREATING);
    }
    if (container == nullptr) continue;
    container->set_attempted_generation(desired.generation());
    if (it != failed.end()) {
      container->set_last_error(std::string(it->second.message()));
      container->set_last_error_code(static_cast<int32_t>(it->second.code()));
      container->set_retries(container->retries() + 1);
      continue;
    }
    container->clear_last_error();
    container->clear_last_error_code();
    container->set_retries(0);
    if (ContainerConverged(&*record.desired, desired, container) &&
        container->observed_generation() < desired.generation()) {
      container->set_observed_generation(desired.generation());
      metrics_->ObserveConvergence(
          "container", clock_->Now() - absl::FromUnixNanos(desired.updated_at_unix_nanos()));
    }
  }
}

}  // namespace converge

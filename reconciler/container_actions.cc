#include "reconciler/container_actions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"

namespace converge {
namespace {

using records::ContainerActual;
using records::ContainerDesired;
using records::ContainerStage;

bool SameResources(const ContainerDesired& desired, const ContainerActual& actual) {
  return google::protobuf::util::MessageDifferencer::Equals(desired.resources(), actual.resources());
}

class Planner {
 public:
  Planner(const records::SandboxDesired* desired, const records::SandboxActual* actual,
          const ObservedPod& observed, absl::Time now)
      : desired_(desired), actual_(actual), observed_(observed), now_(now) {}

  ContainerPlan Plan() {
    std::vector<std::string> order;
    if (desired_ != nullptr) {
      for (const ContainerDesired& container : desired_->containers()) order.push_back(container.id());
    }
    if (actual_ != nullptr) {
      for (const ContainerActual& container : actual_->containers()) {
        if (FindContainer(desired_, container.id()) == nullptr) order.push_back(container.id());
      }
    }
    for (const std::string& id : order) PlanContainer(id);
    const bool pod_stays = desired_ != nullptr && desired_->stage() == records::SANDBOX_STAGE_READY;
    if (!pod_stays && plan_.quiescent && actual_ != nullptr && !actual_->monitor_dir().empty()) {
      Add(ContainerAction::Kind::kStopMonitor, "");
    }
    return std::move(plan_);
  }

 private:
  void Add(ContainerAction::Kind kind, const std::string& id, std::string reason = "") {
    plan_.steps.push_back({kind, id, std::move(reason)});
  }
  void RecheckAt(absl::Time when) {
    if (!plan_.recheck_at || when < *plan_.recheck_at) plan_.recheck_at = when;
  }
  void Remove(const std::string& id) {
    Add(ContainerAction::Kind::kCleanup, id);
    Add(ContainerAction::Kind::kForget, id);
  }

  void PlanContainer(const std::string& id) {
    const ContainerDesired* desired = FindContainer(desired_, id);
    const ContainerActual* actual = FindContainer(actual_, id);
    const ContainerStage stage = EffectiveStage(desired_, desired);
    const records::ContainerPhase phase =
        actual != nullptr ? actual->phase() : records::CONTAINER_PHASE_UNSPECIFIED;
    auto observed_it = observed_.containers.find(id);
    const ObservedContainer observed =
        observed_it == observed_.containers.end() ? ObservedContainer{} : observed_it->second;

    switch (phase) {
      case records::CONTAINER_PHASE_UNSPECIFIED:
      case records::CONTAINER_PHASE_CREATING:
        return PlanUncreated(id, stage, actual);
      case records::CONTAINER_PHASE_CREATED:
      case records::CONTAINER_PHASE_RUNNING:
        return PlanLive(id, stage, desired, *actual, observed);
      case records::CONTAINER_PHASE_EXITED:
        if (stage == records::CONTAINER_STAGE_REMOVED) Remove(id);
        return;
      default:
        return;
    }
  }

  void PlanUncreated(const std::string& id, ContainerStage stage, const ContainerActual* actual) {
    const bool half_made = actual != nullptr;  // CREATING: handles may name live objects
    if (stage <= records::CONTAINER_STAGE_RUNNING) {
      const bool sandbox_ready = actual_ != nullptr &&
                                 actual_->phase() == records::SANDBOX_PHASE_READY;
      // A sandbox still being set up is finished first in the same pass; one
      // that became NOTREADY by itself takes no new containers (kubelet
      // recreates the pod).
      if (!sandbox_ready) return;
      if (!observed_.monitor_alive && !monitor_planned_) {
        Add(ContainerAction::Kind::kStartMonitor, "");
        monitor_planned_ = true;
      }
      Add(ContainerAction::Kind::kCreate, id);
      if (stage == records::CONTAINER_STAGE_RUNNING) Add(ContainerAction::Kind::kStart, id);
      plan_.quiescent = false;
      return;
    }
    if (half_made) Add(ContainerAction::Kind::kKill, id);
    if (stage == records::CONTAINER_STAGE_STOPPED) {
      Add(ContainerAction::Kind::kMarkExited, id, "stopped before it was started");
    } else if (half_made) {
      Remove(id);
    }
  }

  void PlanLive(const std::string& id, ContainerStage stage, const ContainerDesired* desired,
                const ContainerActual& actual, const ObservedContainer& observed) {
    if (observed.exit_recorded) {
      Add(ContainerAction::Kind::kRecordExit, id);
      if (stage == records::CONTAINER_STAGE_REMOVED) Remove(id);
      return;
    }
    if (!observed_.monitor_alive) {
      Add(ContainerAction::Kind::kMarkLost, id,
          observed.init_alive
              ? "the pod's converge-monitor exited; converge killed the container, whose output "
                "and exit status nobody could collect any more"
              : "the pod's converge-monitor exited before it recorded the container's exit");
      if (stage == records::CONTAINER_STAGE_REMOVED) Remove(id);
      return;
    }
    if (!observed.init_alive) {
      // Reaped, and the monitor is writing the exit record right now; one
      // that never comes (the monitor could not write it) loses the container.
      if (actual.init_gone_at_unix_nanos() == 0) {
        Add(ContainerAction::Kind::kNoteInitGone, id);
      } else if (now_ - absl::FromUnixNanos(actual.init_gone_at_unix_nanos()) >=
                 kExitRecordTimeout) {
        Add(ContainerAction::Kind::kMarkExitUnknown, id,
            absl::StrCat("the pod's converge-monitor recorded no exit for the container within ",
                         absl::FormatDuration(kExitRecordTimeout),
                         " (see its monitor.log)"));
        if (stage == records::CONTAINER_STAGE_REMOVED) Remove(id);
        return;
      }
      plan_.quiescent = false;
      RecheckAt(now_ + kExitRecordGrace);
      return;
    }
    plan_.quiescent = false;
    const bool started = actual.phase() == records::CONTAINER_PHASE_RUNNING;
    switch (stage) {
      case records::CONTAINER_STAGE_CREATED:
        return;
      case records::CONTAINER_STAGE_RUNNING:
        if (!started) {
          Add(ContainerAction::Kind::kStart, id);
          return;
        }
        if (desired != nullptr && !SameResources(*desired, actual)) {
          Add(ContainerAction::Kind::kUpdateResources, id);
        }
        if (desired != nullptr && desired->log_generation() > actual.log_generation()) {
          Add(ContainerAction::Kind::kReopenLog, id);
        }
        return;
      default:
        break;
    }
    // STOPPED or REMOVED while a process runs. Only StopContainer grants a
    // grace period; a stopping or removed pod kills at once, as containerd's
    // StopPodSandbox does (kubelet stopped the containers gracefully before).
    const bool pod_ready = desired_ != nullptr && desired_->stage() == records::SANDBOX_STAGE_READY;
    const bool own_stop = pod_ready && desired != nullptr &&
                          desired->stage() >= records::CONTAINER_STAGE_STOPPED;
    const int64_t timeout = own_stop ? desired->stop_timeout_seconds() : 0;
    if (!started || stage == records::CONTAINER_STAGE_REMOVED || timeout <= 0) {
      Add(ContainerAction::Kind::kKill, id);
      RecheckAt(now_ + absl::Seconds(1));
      return;
    }
    if (actual.stop_signaled_at_unix_nanos() == 0) {
      Add(ContainerAction::Kind::kSignal, id);
      RecheckAt(now_ + absl::Seconds(timeout));
      return;
    }
    // A later, more impatient StopContainer shortens the grace period.
    const absl::Time deadline =
        std::min(absl::FromUnixNanos(actual.stop_deadline_unix_nanos()),
                 absl::FromUnixNanos(actual.stop_signaled_at_unix_nanos()) + absl::Seconds(timeout));
    if (now_ >= deadline) {
      Add(ContainerAction::Kind::kKill, id);
      RecheckAt(now_ + absl::Seconds(1));
    } else {
      RecheckAt(deadline);
    }
  }

  const records::SandboxDesired* const desired_;
  const records::SandboxActual* const actual_;
  const ObservedPod& observed_;
  const absl::Time now_;
  ContainerPlan plan_;
  bool monitor_planned_ = false;
};

}  // namespace

const ContainerDesired* FindContainer(const records::SandboxDesired* sandbox,
                                      const std::string& id) {
  if (sandbox == nullptr) return nullptr;
  for (const ContainerDesired& container : sandbox->containers()) {
    if (container.id() == id) return &container;
  }
  return nullptr;
}

const ContainerActual* FindContainer(const records::SandboxActual* sandbox,
                                     const std::string& id) {
  if (sandbox == nullptr) return nullptr;
  for (const ContainerActual& container : sandbox->containers()) {
    if (container.id() == id) return &container;
  }
  return nullptr;
}

const char* ContainerActionKindName(ContainerAction::Kind kind) {
  switch (kind) {
    case ContainerAction::Kind::kStartMonitor: return "start-monitor";
    case ContainerAction::Kind::kCreate: return "create";
    case ContainerAction::Kind::kStart: return "start";
    case ContainerAction::Kind::kRecordExit: return "record-exit";
    case ContainerAction::Kind::kMarkLost: return "mark-lost";
    case ContainerAction::Kind::kMarkExited: return "mark-exited";
    case ContainerAction::Kind::kNoteInitGone: return "note-init-gone";
    case ContainerAction::Kind::kMarkExitUnknown: return "mark-exit-unknown";
    case ContainerAction::Kind::kSignal: return "signal";
    case ContainerAction::Kind::kKill: return "kill";
    case ContainerAction::Kind::kUpdateResources: return "update-resources";
    case ContainerAction::Kind::kReopenLog: return "reopen-log";
    case ContainerAction::Kind::kCleanup: return "cleanup";
    case ContainerAction::Kind::kForget: return "forget";
    case ContainerAction::Kind::kStopMonitor: return "stop-monitor";
  }
  return "unknown";
}

std::string ContainerPlan::DebugString() const {
  return absl::StrJoin(steps, " ", [](std::string* out, const ContainerAction& step) {
    absl::StrAppend(out, ContainerActionKindName(step.kind));
    if (!step.container_id.empty()) absl::StrAppend(out, "(", step.container_id, ")");
  });
}

std::string ContainerCgroupPath(const std::string& sandbox_cgroup,
                                const std::string& container_id) {
  const size_t slash = sandbox_cgroup.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : sandbox_cgroup.substr(0, slash);
  return absl::StrCat(parent, "/converge-", container_id);
}

ContainerStage EffectiveStage(const records::SandboxDesired* sandbox,
                              const ContainerDesired* container) {
  if (container == nullptr || sandbox == nullptr ||
      sandbox->stage() == records::SANDBOX_STAGE_REMOVED) {
    return records::CONTAINER_STAGE_REMOVED;
  }
  if (sandbox->stage() == records::SANDBOX_STAGE_NOTREADY) {
    return std::max(container->stage(), records::CONTAINER_STAGE_STOPPED);
  }
  return container->stage();
}

bool ContainerConverged(const records::SandboxDesired* sandbox, const ContainerDesired& desired,
                        const ContainerActual* actual) {
  const ContainerStage stage = EffectiveStage(sandbox, &desired);
  if (stage == records::CONTAINER_STAGE_REMOVED) return actual == nullptr;
  if (actual == nullptr) return false;
  const records::ContainerPhase phase = actual->phase();
  switch (stage) {
    case records::CONTAINER_STAGE_CREATED:
      return phase == records::CONTAINER_PHASE_CREATED || phase == records::CONTAINER_PHASE_EXITED;
    case records::CONTAINER_STAGE_RUNNING:
      if (phase == records::CONTAINER_PHASE_EXITED) return true;
      return phase == records::CONTAINER_PHASE_RUNNING && SameResources(desired, *actual) &&
             actual->log_generation() >= desired.log_generation();
    case records::CONTAINER_STAGE_STOPPED:
      return phase == records::CONTAINER_PHASE_EXITED;
    default:
      return false;
  }
}

ContainerPlan ComputeContainerActions(const records::SandboxDesired* desired,
                                      const records::SandboxActual* actual,
                                      const ObservedPod& observed, absl::Time now) {
  return Planner(desired, actual, observed, now).Plan();
}

}  // namespace converge

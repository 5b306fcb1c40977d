// ComputeContainerActions: the container half of the pod plan. Given a pod's
// desired and actual records and what observe() found (is each init still the
// recorded process, is there an exit record, is the monitor alive), it returns
// the ordered container steps. Pure; table-tested.
//
//   ContainerPlan plan = ComputeContainerActions(desired, actual, observed, now);
//   VLOG: plan.DebugString() == "start-monitor create(c1) start(c1)"
//
// Rules (docs/containers.md has the state machine):
//  * A container's effective stage is its desired stage, raised to STOPPED
//    when the sandbox is not READY and to REMOVED when the sandbox is removed
//    or the container has no desired entry (an orphan).
//  * Not yet created (no actual entry, or CREATING after a crash half way):
//    created while the stage is CREATED or RUNNING and the sandbox is READY;
//    the pod's monitor is started first if it does not run. Creating again is
//    safe: it kills whatever runs in the container's cgroup first.
//  * CREATED or RUNNING: an exit record is recorded; an init that is gone
//    without one is waited for (the monitor writes it right after reaping),
//    for kExitRecordTimeout at most, unless the monitor is dead too: then the container is lost, its cgroup
//    killed and it is reported exited with reason "MonitorExited" — never as
//    exited 0. A monitor that died while the init lives is lost the same way
//    (no one collects its output or its exit any more).
//  * RUNNING wanted: a created container is started; a running one gets
//    resource updates and log reopens. An exited container satisfies RUNNING.
//  * STOPPED wanted: the stop signal, then SIGKILL of every process in the
//    cgroup once the grace period (stop_timeout) passed; a zero timeout or a
//    container that was never started is killed at once.
//  * REMOVED wanted: killed if needed, then its rootfs, cgroup and state dir
//    are cleaned up and its actual entry is dropped.
//  * The monitor is stopped when the sandbox is no longer READY and no
//    container process can still run (`quiescent`); sandbox teardown waits
//    for that too.
#ifndef CONVERGE_RECONCILER_CONTAINER_ACTIONS_H_
#define CONVERGE_RECONCILER_CONTAINER_ACTIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "api/records.pb.h"

namespace converge {

struct ObservedContainer {
  // The recorded init pid runs with the recorded start time.
  bool init_alive = false;
  // The monitor's exit record is present.
  bool exit_recorded = false;
};

struct ObservedPod {
  bool monitor_alive = false;
  absl::flat_hash_map<std::string, ObservedContainer> containers;
};

struct ContainerAction {
  enum class Kind {
    kStartMonitor,
    kCreate,
    kStart,
    kRecordExit,
    kMarkLost,      // the monitor died; reason: why; the cgroup is killed first
    kMarkExitUnknown,  // the monitor never recorded the exit; killed likewise
    kMarkExited,    // never started and no longer wanted: reported as exited
    kNoteInitGone,  // the init is gone and its exit record is due
    kSignal,        // the stop signal, and the grace period's deadline
    kKill,          // SIGKILL to every process of the container's cgroup
    kUpdateResources,
    kReopenLog,
    kCleanup,       // rootfs, cgroup and state dir
    kForget,        // drop the actual entry
    kStopMonitor,
  };
  Kind kind;
  std::string container_id;  // empty for the pod-level monitor steps
  std::string reason;

  bool operator==(const ContainerAction& other) const {
    return kind == other.kind && container_id == other.container_id && reason == other.reason;
  }
};

struct ContainerPlan {
  std::vector<ContainerAction> steps;
  // Look again at this time even if nothing wakes the pod (a stop's grace
  // period ends; an exit record is due).
  std::optional<absl::Time> recheck_at;
  // After the plan, no container process of the pod can still run and (when
  // the sandbox is removed) no container is left: the sandbox may be torn down.
  bool quiescent = true;

  bool empty() const { return steps.empty(); }
  std::string DebugString() const;
};

const char* ContainerActionKindName(ContainerAction::Kind kind);

// The container `id` in a sandbox's desired or actual record; null if absent.
const records::ContainerDesired* FindContainer(const records::SandboxDesired* sandbox,
                                               const std::string& id);
const records::ContainerActual* FindContainer(const records::SandboxActual* sandbox,
                                              const std::string& id);

// How often to look for an exit record after the init is gone while the
// monitor lives, and when to give up on it (the monitor failed to write it).
inline constexpr absl::Duration kExitRecordGrace = absl::Milliseconds(100);
inline constexpr absl::Duration kExitRecordTimeout = absl::Seconds(10);

// A container's cgroup: a sibling of its sandbox's (which holds the pod's
// monitor), named after the container, inside the pod's cgroup parent.
// Siblings rather than children, because cgroup v2 allows processes only in
// leaves.
std::string ContainerCgroupPath(const std::string& sandbox_cgroup, const std::string& container_id);

// The stage a container is effectively held to (see above).
records::ContainerStage EffectiveStage(const records::SandboxDesired* sandbox,
                                       const records::ContainerDesired* container);

// Whether the container's actual state satisfies its desired entry; its
// observed_generation may then advance.
bool ContainerConverged(const records::SandboxDesired* sandbox,
                        const records::ContainerDesired& desired,
                        const records::ContainerActual* actual);

ContainerPlan ComputeContainerActions(const records::SandboxDesired* desired,
                                      const records::SandboxActual* actual,
                                      const ObservedPod& observed, absl::Time now);

}  // namespace converge

#endif  // CONVERGE_RECONCILER_CONTAINER_ACTIONS_H_

// ComputePodActions: the pure decision at the heart of the reconciler. Given
// a sandbox's desired record, its actual record and what observe() found on
// the host, it returns the ordered steps that move actual towards desired.
// It has no side effects; the reconciler applies the plan step by step.
//
//   PodActions plan = ComputePodActions(desired, actual, observed, layout);
//   VLOG: plan.DebugString() == "create-namespaces(net,ipc,uts) setup-network ..."
//
// Rules (see docs/architecture.md):
//  * READY is reached by creating the missing namespaces, network and cgroup
//    while the sandbox was never READY (setup may resume after a crash).
//  * A READY sandbox whose namespaces vanished, or whose handles predate a
//    reboot, becomes NOTREADY for good: kubelet recreates the pod; repairing it
//    behind kubelet's back would change its network identity. A missing
//    cgroup alone is recreated (it carries no identity).
//  * Teardown follows the recorded handles, not the observation, so that it
//    also undoes objects created just before a crash.
#ifndef CONVERGE_RECONCILER_POD_ACTIONS_H_
#define CONVERGE_RECONCILER_POD_ACTIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "api/records.pb.h"

namespace converge {

// What observe() saw on the host for one sandbox.
struct ObservedSandbox {
  // The actual record's boot_id is this boot's (trivially true without one).
  bool same_boot = true;
  // Kinds ("net", "ipc", "uts") whose pin is a mounted namespace.
  absl::flat_hash_set<std::string> mounted_pins;
  bool cgroup_exists = false;
  // The sandbox's generated files are all present.
  bool files_present = false;
};

// Where a sandbox's objects live, derived from daemon configuration.
struct SandboxLayout {
  // Namespace kinds the sandbox needs pinned, in creation order.
  std::vector<std::string> namespaces;
  std::string cgroup_path;
  bool needs_network = false;
  // `<state>/sandboxes/<id>`: resolv.conf and hostname for the containers.
  std::string files_dir;
};

struct PodAction {
  enum class Kind {
    kCreateNamespaces,  // kinds: which namespaces to create together
    kSetupNetwork,
    kCreateCgroup,
    kWriteFiles,
    kMarkReady,
    kMarkNotReady,  // reason: why, shown to kubelet and in the dump
    kTeardownNetwork,
    kRemoveNamespaces,
    kRemoveCgroup,
    kRemoveFiles,
    kDeleteActual,
  };
  Kind kind;
  std::vector<std::string> kinds;
  std::string reason;

  bool operator==(const PodAction& other) const {
    return kind == other.kind && kinds == other.kinds && reason == other.reason;
  }
};

struct PodActions {
  std::vector<PodAction> steps;

  bool empty() const { return steps.empty(); }
  std::string DebugString() const;
};

const char* PodActionKindName(PodAction::Kind kind);

// Whether the plan marks the sandbox NOTREADY (it was stopped, or lost).
bool PlanMarksNotReady(const PodActions& plan);

// The layout a desired sandbox asks for: which namespaces to pin (those in
// POD mode), the pod cgroup `<cgroup_parent or default>/converge-<id>` and
// the files directory `<state_dir>/sandboxes/<id>`.
SandboxLayout LayoutFor(const records::SandboxDesired& desired,
                        const std::string& default_cgroup_parent, const std::string& state_dir);

PodActions ComputePodActions(const std::optional<records::SandboxDesired>& desired,
                             const std::optional<records::SandboxActual>& actual,
                             const ObservedSandbox& observed,
                             const SandboxLayout& layout);

}  // namespace converge

#endif  // CONVERGE_RECONCILER_POD_ACTIONS_H_

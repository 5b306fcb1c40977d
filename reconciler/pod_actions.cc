#include "reconciler/pod_actions.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace converge {
namespace {

using records::SandboxActual;
using records::SandboxDesired;

void AppendTeardown(const SandboxActual& actual, PodActions* plan) {
  if (actual.network_attached()) {
    plan->steps.push_back({PodAction::Kind::kTeardownNetwork, {}, ""});
  }
  if (actual.pins_size() > 0) {
    std::vector<std::string> kinds;
    for (const auto& pin : actual.pins()) kinds.push_back(pin.kind());
    plan->steps.push_back({PodAction::Kind::kRemoveNamespaces, kinds, ""});
  }
  if (!actual.cgroup_path().empty()) {
    plan->steps.push_back({PodAction::Kind::kRemoveCgroup, {}, ""});
  }
  if (!actual.files_dir().empty()) {
    plan->steps.push_back({PodAction::Kind::kRemoveFiles, {}, ""});
  }
}

// Why a READY sandbox can no longer be READY, or "" if it still can.
std::string LostReason(const SandboxActual& actual, const ObservedSandbox& observed) {
  if (!observed.same_boot) return "node rebooted since the sandbox was created";
  for (const auto& pin : actual.pins()) {
    if (!observed.mounted_pins.contains(pin.kind())) {
      return absl::StrCat(pin.kind(), " namespace pin `", pin.path(), "` is gone");
    }
  }
  return "";
}

void AppendSetup(const SandboxActual* actual, const ObservedSandbox& observed,
                 const SandboxLayout& layout, PodActions* plan) {
  std::vector<std::string> missing;
  for (const std::string& kind : layout.namespaces) {
    if (!observed.mounted_pins.contains(kind)) missing.push_back(kind);
  }
  const bool net_missing = std::find(missing.begin(), missing.end(), "net") != missing.end();
  const bool attached = actual != nullptr && actual->network_attached();
  const bool network_ready = actual != nullptr && actual->network_ready() && !net_missing;
  // A half-done setup, or one whose netns vanished, is undone before it is
  // redone, so that nothing it allocated (an IP) is orphaned.
  if (attached && !network_ready) {
    plan->steps.push_back({PodAction::Kind::kTeardownNetwork, {}, ""});
  }
  if (!missing.empty()) {
    plan->steps.push_back({PodAction::Kind::kCreateNamespaces, missing, ""});
  }
  if (layout.needs_network && !network_ready) {
    plan->steps.push_back({PodAction::Kind::kSetupNetwork, {}, ""});
  }
  if (!observed.cgroup_exists) {
    plan->steps.push_back({PodAction::Kind::kCreateCgroup, {}, ""});
  }
  if (!observed.files_present) {
    plan->steps.push_back({PodAction::Kind::kWriteFiles, {}, ""});
  }
  plan->steps.push_back({PodAction::Kind::kMarkReady, {}, ""});
}

}  // namespace

const char* PodActionKindName(PodAction::Kind kind) {
  switch (kind) {
    case PodAction::Kind::kCreateNamespaces:
      return "create-namespaces";
    case PodAction::Kind::kSetupNetwork:
      return "setup-network";
    case PodAction::Kind::kCreateCgroup:
      return "create-cgroup";
    case PodAction::Kind::kWriteFiles:
      return "write-files";
    case PodAction::Kind::kMarkReady:
      return "mark-ready";
    case PodAction::Kind::kMarkNotReady:
      return "mark-notready";
    case PodAction::Kind::kTeardownNetwork:
      return "teardown-network";
    case PodAction::Kind::kRemoveNamespaces:
      return "remove-namespaces";
    case PodAction::Kind::kRemoveCgroup:
      return "remove-cgroup";
    case PodAction::Kind::kRemoveFiles:
      return "remove-files";
    case PodAction::Kind::kDeleteActual:
      return "delete-actual";
  }
  return "unknown";
}

bool PlanMarksNotReady(const PodActions& plan) {
  for (const PodAction& step : plan.steps) {
    if (step.kind == PodAction::Kind::kMarkNotReady) return true;
  }
  return false;
}

std::string PodActions::DebugString() const {
  if (steps.empty()) return "(nothing to do)";
  return absl::StrJoin(steps, " ", [](std::string* out, const PodAction& step) {
    absl::StrAppend(out, PodActionKindName(step.kind));
    if (!step.kinds.empty()) absl::StrAppend(out, "(", absl::StrJoin(step.kinds, ","), ")");
    if (!step.reason.empty()) absl::StrAppend(out, "[", step.reason, "]");
  });
}

SandboxLayout LayoutFor(const SandboxDesired& desired, const std::string& default_cgroup_parent,
                        const std::string& state_dir) {
  SandboxLayout layout;
  const auto& options = desired.config().linux().security_context().namespace_options();
  // A host-network pod also keeps the host's UTS namespace (as containerd does).
  if (options.network() == runtime::v1::POD) {
    layout.namespaces = {"net", "uts"};
    layout.needs_network = true;
  }
  if (options.ipc() == runtime::v1::POD) layout.namespaces.push_back("ipc");
  std::string parent = desired.config().linux().cgroup_parent();
  if (parent.empty()) parent = default_cgroup_parent;
  while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
  layout.cgroup_path =
      absl::StrCat(parent == "/" ? "" : parent, "/converge-", desired.id());
  layout.files_dir = absl::StrCat(state_dir, "/sandboxes/", desired.id());
  return layout;
}

PodActions ComputePodActions(const std::optional<SandboxDesired>& desired,
                             const std::optional<SandboxActual>& actual,
                             const ObservedSandbox& observed,
                             const SandboxLayout& layout) {
  PodActions plan;
  const bool wants_ready =
      desired.has_value() && desired->stage() == records::SANDBOX_STAGE_READY;
  const bool wants_removed =
      !desired.has_value() || desired->stage() == records::SANDBOX_STAGE_REMOVED;
  const auto phase =
      actual.has_value() ? actual->phase() : records::SANDBOX_PHASE_UNSPECIFIED;

  if (wants_ready && phase != records::SANDBOX_PHASE_NOTREADY) {
    if (phase == records::SANDBOX_PHASE_READY) {
      std::string lost = LostReason(*actual, observed);
      if (lost.empty()) {
        // Neither carries identity: recreated if someone removed them.
        if (!observed.cgroup_exists) {
          plan.steps.push_back({PodAction::Kind::kCreateCgroup, {}, ""});
        }
        if (!observed.files_present) {
          plan.steps.push_back({PodAction::Kind::kWriteFiles, {}, ""});
        }
        return plan;
      }
      plan.steps.push_back({PodAction::Kind::kMarkNotReady, {}, lost});
      AppendTeardown(*actual, &plan);
      return plan;
    }
    if (!observed.same_boot) {
      // Setup was interrupted by a reboot; the request that asked for it is long gone.
      plan.steps.push_back(
          {PodAction::Kind::kMarkNotReady, {}, "node rebooted during sandbox setup"});
      AppendTeardown(*actual, &plan);
      return plan;
    }
    AppendSetup(actual ? &*actual : nullptr, observed, layout, &plan);
    return plan;
  }

  if (actual.has_value()) {
    if (phase != records::SANDBOX_PHASE_NOTREADY && !wants_removed) {
      plan.steps.push_back({PodAction::Kind::kMarkNotReady, {}, "stopped"});
    }
    AppendTeardown(*actual, &plan);
    if (wants_removed) plan.steps.push_back({PodAction::Kind::kDeleteActual, {}, ""});
  } else if (desired.has_value() && !wants_removed) {
    // Stopped before it was ever set up: record that it is not ready.
    plan.steps.push_back({PodAction::Kind::kMarkNotReady, {}, "stopped"});
  }
  return plan;
}

}  // namespace converge

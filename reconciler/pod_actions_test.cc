#include "reconciler/pod_actions.h"

#include <functional>

#include "gtest/gtest.h"

namespace converge {
namespace {

using Kind = PodAction::Kind;
using records::SandboxActual;
using records::SandboxDesired;

SandboxDesired BaseDesired() {
  SandboxDesired desired;
  desired.set_id("abc");
  desired.set_stage(records::SANDBOX_STAGE_READY);
  desired.set_generation(1);
  desired.mutable_config()->mutable_linux()->set_cgroup_parent("/kubepods/pod1");
  return desired;
}

// A sandbox that reached READY with every handle in place.
SandboxActual ReadyActual() {
  SandboxActual actual;
  actual.set_id("abc");
  actual.set_phase(records::SANDBOX_PHASE_READY);
  for (const char* kind : {"net", "uts", "ipc"}) {
    auto* pin = actual.add_pins();
    pin->set_kind(kind);
    pin->set_path(std::string("/run/converge/ns/abc-") + kind);
  }
  actual.set_cgroup_path("/kubepods/pod1/converge-abc");
  actual.set_files_dir("/run/converge/sandboxes/abc");
  actual.set_network_attached(true);
  actual.set_network_ready(true);
  actual.set_observed_generation(1);
  return actual;
}

ObservedSandbox AllPresent() {
  ObservedSandbox observed;
  observed.mounted_pins = {"net", "uts", "ipc"};
  observed.cgroup_exists = true;
  observed.files_present = true;
  return observed;
}

struct Case {
  std::string name;
  std::function<void(std::optional<SandboxDesired>&, std::optional<SandboxActual>&,
                     ObservedSandbox&)>
      mutate;
  std::vector<PodAction> want;
};

const PodAction kCreateAll{Kind::kCreateNamespaces, {"net", "uts", "ipc"}, ""};
const PodAction kSetupNetwork{Kind::kSetupNetwork, {}, ""};
const PodAction kCreateCgroup{Kind::kCreateCgroup, {}, ""};
const PodAction kWriteFiles{Kind::kWriteFiles, {}, ""};
const PodAction kMarkReady{Kind::kMarkReady, {}, ""};
const PodAction kRemoveFiles{Kind::kRemoveFiles, {}, ""};
const PodAction kTeardownNetwork{Kind::kTeardownNetwork, {}, ""};
const PodAction kRemoveAll{Kind::kRemoveNamespaces, {"net", "uts", "ipc"}, ""};
const PodAction kRemoveCgroup{Kind::kRemoveCgroup, {}, ""};
const PodAction kDeleteActual{Kind::kDeleteActual, {}, ""};
PodAction NotReady(const std::string& reason) { return {Kind::kMarkNotReady, {}, reason}; }

std::string Describe(const std::vector<PodAction>& steps) { return PodActions{steps}.DebugString(); }

TEST(ComputePodActions, Table) {
  const std::vector<Case> cases = {
      {"new sandbox is created in full",
       [](auto& d, auto& a, auto& o) { a.reset(); o = {}; },
       {kCreateAll, kSetupNetwork, kCreateCgroup, kWriteFiles, kMarkReady}},
      {"host network and ipc pin nothing and skip the network",
       [](auto& d, auto& a, auto& o) {
         auto* ns = d->mutable_config()->mutable_linux()->mutable_security_context()->mutable_namespace_options();
         ns->set_network(runtime::v1::NODE);
         ns->set_ipc(runtime::v1::NODE);
         a.reset();
         o = {};
       },
       {kCreateCgroup, kWriteFiles, kMarkReady}},
      {"host network keeps a private ipc namespace",
       [](auto& d, auto& a, auto& o) {
         d->mutable_config()->mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(runtime::v1::NODE);
         a.reset();
         o = {};
       },
       {{Kind::kCreateNamespaces, {"ipc"}, ""}, kCreateCgroup, kWriteFiles, kMarkReady}},
      {"setup resumes after a crash: only the missing pieces",
       [](auto& d, auto& a, auto& o) {
         a->set_phase(records::SANDBOX_PHASE_CREATING);
         a->set_network_attached(false);
         a->set_network_ready(false);
         o.mounted_pins = {"net", "uts", "ipc"};
         o.cgroup_exists = false;
       },
       {kSetupNetwork, kCreateCgroup, kMarkReady}},
      {"network setup interrupted: undone, then redone",
       [](auto& d, auto& a, auto& o) {
         a->set_phase(records::SANDBOX_PHASE_CREATING);
         a->set_network_ready(false);
       },
       {kTeardownNetwork, kSetupNetwork, kMarkReady}},
      {"a pin lost during setup is recreated; its network is undone and redone",
       [](auto& d, auto& a, auto& o) {
         a->set_phase(records::SANDBOX_PHASE_CREATING);
         o.mounted_pins = {"uts", "ipc"};
       },
       {kTeardownNetwork, {Kind::kCreateNamespaces, {"net"}, ""}, kSetupNetwork, kMarkReady}},
      {"a lost ipc pin during setup leaves the network alone",
       [](auto& d, auto& a, auto& o) {
         a->set_phase(records::SANDBOX_PHASE_CREATING);
         o.mounted_pins = {"net", "uts"};
       },
       {{Kind::kCreateNamespaces, {"ipc"}, ""}, kMarkReady}},
      {"ready and intact: nothing to do", [](auto& d, auto& a, auto& o) {}, {}},
      {"ready with its cgroup removed behind our back: recreate it",
       [](auto& d, auto& a, auto& o) { o.cgroup_exists = false; },
       {kCreateCgroup}},
      {"ready with its files deleted: rewrite them",
       [](auto& d, auto& a, auto& o) { o.files_present = false; },
       {kWriteFiles}},
      {"ready but a pin vanished: notready for good, tear down",
       [](auto& d, auto& a, auto& o) { o.mounted_pins.erase("net"); },
       {NotReady("net namespace pin `/run/converge/ns/abc-net` is gone"), kTeardownNetwork,
        kRemoveAll, kRemoveCgroup, kRemoveFiles}},
      {"ready before a reboot: notready, tear down",
       [](auto& d, auto& a, auto& o) {
         o.same_boot = false;
         o.mounted_pins.clear();
       },
       {NotReady("node rebooted since the sandbox was created"), kTeardownNetwork, kRemoveAll,
        kRemoveCgroup, kRemoveFiles}},
      {"setup interrupted by a reboot: notready, tear down",
       [](auto& d, auto& a, auto& o) {
         a->set_phase(records::SANDBOX_PHASE_CREATING);
         o.same_boot = false;
       },
       {NotReady("node rebooted during sandbox setup"), kTeardownNetwork, kRemoveAll,
        kRemoveCgroup, kRemoveFiles}},
      {"notready stays notready even if desired says ready",
       [](auto& d, auto& a, auto& o) {
         a->set_phase(records::SANDBOX_PHASE_NOTREADY);
         a->clear_pins();
         a->clear_cgroup_path();
         a->clear_files_dir();
         a->set_network_attached(false);
       },
       {}},
      {"stop tears everything down",
       [](auto& d, auto& a, auto& o) { d->set_stage(records::SANDBOX_STAGE_NOTREADY); },
       {NotReady("stopped"), kTeardownNetwork, kRemoveAll, kRemoveCgroup, kRemoveFiles}},
      {"stop finishes a teardown interrupted by a crash",
       [](auto& d, auto& a, auto& o) {
         d->set_stage(records::SANDBOX_STAGE_NOTREADY);
         a->set_phase(records::SANDBOX_PHASE_NOTREADY);
         a->set_network_attached(false);
         a->mutable_pins()->DeleteSubrange(0, 2);
       },
       {{Kind::kRemoveNamespaces, {"ipc"}, ""}, kRemoveCgroup, kRemoveFiles}},
      {"stopped before any reconcile just records notready",
       [](auto& d, auto& a, auto& o) {
         d->set_stage(records::SANDBOX_STAGE_NOTREADY);
         a.reset();
       },
       {NotReady("stopped")}},
      {"stopped and torn down: nothing to do",
       [](auto& d, auto& a, auto& o) {
         d->set_stage(records::SANDBOX_STAGE_NOTREADY);
         a->set_phase(records::SANDBOX_PHASE_NOTREADY);
         a->clear_pins();
         a->clear_cgroup_path();
         a->clear_files_dir();
         a->set_network_attached(false);
       },
       {}},
      {"remove of a ready sandbox tears down and deletes the record",
       [](auto& d, auto& a, auto& o) { d->set_stage(records::SANDBOX_STAGE_REMOVED); },
       {kTeardownNetwork, kRemoveAll, kRemoveCgroup, kRemoveFiles, kDeleteActual}},
      {"an orphan actual record (no desired) is torn down",
       [](auto& d, auto& a, auto& o) { d.reset(); },
       {kTeardownNetwork, kRemoveAll, kRemoveCgroup, kRemoveFiles, kDeleteActual}},
      {"removed and gone: nothing to do",
       [](auto& d, auto& a, auto& o) {
         d->set_stage(records::SANDBOX_STAGE_REMOVED);
         a.reset();
       },
       {}},
  };
  for (const Case& c : cases) {
    std::optional<SandboxDesired> desired = BaseDesired();
    std::optional<SandboxActual> actual = ReadyActual();
    ObservedSandbox observed = AllPresent();
    c.mutate(desired, actual, observed);
    SandboxLayout layout = desired ? LayoutFor(*desired, "/converge", "/run/converge") : SandboxLayout{};
    PodActions got = ComputePodActions(desired, actual, observed, layout);
    EXPECT_EQ(got.DebugString(), Describe(c.want)) << c.name;
  }
}

TEST(LayoutFor, CgroupUnderParentOrDefault) {
  SandboxDesired desired = BaseDesired();
  EXPECT_EQ(LayoutFor(desired, "/converge", "/run/converge").cgroup_path, "/kubepods/pod1/converge-abc");
  desired.mutable_config()->mutable_linux()->set_cgroup_parent("/kubepods/pod1/");
  EXPECT_EQ(LayoutFor(desired, "/converge", "/run/converge").cgroup_path, "/kubepods/pod1/converge-abc");
  desired.mutable_config()->mutable_linux()->clear_cgroup_parent();
  EXPECT_EQ(LayoutFor(desired, "/converge", "/run/converge").cgroup_path, "/converge/converge-abc");
  EXPECT_EQ(LayoutFor(desired, "/", "/run/converge").cgroup_path, "/converge-abc");
}

TEST(PodActions, DebugString) {
  PodActions plan{{kCreateAll, NotReady("why")}};
  EXPECT_EQ(plan.DebugString(), "create-namespaces(net,uts,ipc) mark-notready[why]");
  EXPECT_EQ(PodActions{}.DebugString(), "(nothing to do)");
}

}  // namespace
}  // namespace converge

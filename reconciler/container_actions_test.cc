#include "reconciler/container_actions.h"

#include <functional>

#include "gtest/gtest.h"

namespace converge {
namespace {

using Kind = ContainerAction::Kind;
using records::ContainerActual;
using records::ContainerDesired;
using records::SandboxActual;
using records::SandboxDesired;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

// A READY pod wanting one running container "c1", not created yet.
SandboxDesired BaseDesired() {
  SandboxDesired desired;
  desired.set_id("pod");
  desired.set_stage(records::SANDBOX_STAGE_READY);
  ContainerDesired* container = desired.add_containers();
  container->set_id("c1");
  container->set_stage(records::CONTAINER_STAGE_RUNNING);
  container->set_generation(2);
  container->set_stop_timeout_seconds(30);
  return desired;
}

SandboxActual BaseActual() {
  SandboxActual actual;
  actual.set_id("pod");
  actual.set_phase(records::SANDBOX_PHASE_READY);
  actual.set_cgroup_path("/kubepods/pod1/converge-pod");
  return actual;
}

// Gives the pod a live monitor and c1 an actual entry in `phase` whose init
// is alive.
void WithContainer(SandboxActual& actual, ObservedPod& observed, records::ContainerPhase phase) {
  actual.set_monitor_dir("/run/converge/pods/pod");
  actual.mutable_monitor()->set_pid(100);
  observed.monitor_alive = true;
  ContainerActual* container = actual.add_containers();
  container->set_id("c1");
  container->set_phase(phase);
  container->mutable_init()->set_pid(200);
  container->set_cgroup_path("/kubepods/pod1/converge-c1");
  observed.containers["c1"].init_alive = phase != records::CONTAINER_PHASE_EXITED;
}

ContainerActual& C1(SandboxActual& actual) { return *actual.mutable_containers(0); }
ContainerDesired& C1(SandboxDesired& desired) { return *desired.mutable_containers(0); }

ContainerAction Pod(Kind kind) { return {kind, "", ""}; }
ContainerAction On(Kind kind, const std::string& id = "c1", const std::string& reason = "") {
  return {kind, id, reason};
}

struct Case {
  std::string name;
  std::function<void(SandboxDesired&, SandboxActual&, ObservedPod&)> mutate;
  std::vector<ContainerAction> want;
  bool quiescent;
  std::optional<absl::Duration> recheck_in;
};

std::string Describe(const std::vector<ContainerAction>& steps) {
  ContainerPlan plan;
  plan.steps = steps;
  return plan.DebugString();
}

TEST(ComputeContainerActions, Table) {
  const std::string kLostLive =
      "the pod's converge-monitor exited; converge killed the container, whose output and exit "
      "status nobody could collect any more";
  const std::string kLostDead =
      "the pod's converge-monitor exited before it recorded the container's exit";
  const std::vector<Case> cases = {
      {"first container starts the monitor, then is created and started",
       [](auto&, auto&, auto&) {},
       {Pod(Kind::kStartMonitor), On(Kind::kCreate), On(Kind::kStart)},
       false, std::nullopt},
      {"a container wanted CREATED is only created",
       [](auto& d, auto&, auto&) { C1(d).set_stage(records::CONTAINER_STAGE_CREATED); },
       {Pod(Kind::kStartMonitor), On(Kind::kCreate)},
       false, std::nullopt},
      {"two new containers share one monitor start",
       [](auto& d, auto&, auto&) {
         ContainerDesired* c2 = d.add_containers();
         c2->set_id("c2");
         c2->set_stage(records::CONTAINER_STAGE_CREATED);
       },
       {Pod(Kind::kStartMonitor), On(Kind::kCreate), On(Kind::kStart), On(Kind::kCreate, "c2")},
       false, std::nullopt},
      {"a sandbox that is not ready (lost) takes no new container",
       [](auto&, auto& a, auto&) { a.set_phase(records::SANDBOX_PHASE_NOTREADY); },
       {}, true, std::nullopt},
      {"a create interrupted by a crash is redone (the create kills leftovers itself)",
       [](auto&, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_CREATING);
       },
       {On(Kind::kCreate), On(Kind::kStart)}, false, std::nullopt},
      {"a created container wanted RUNNING is started",
       [](auto&, auto& a, auto& o) { WithContainer(a, o, records::CONTAINER_PHASE_CREATED); },
       {On(Kind::kStart)}, false, std::nullopt},
      {"a running container that matches needs nothing",
       [](auto&, auto& a, auto& o) { WithContainer(a, o, records::CONTAINER_PHASE_RUNNING); },
       {}, false, std::nullopt},
      {"new resources are applied live",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         C1(d).mutable_resources()->set_cpu_shares(512);
       },
       {On(Kind::kUpdateResources)}, false, std::nullopt},
      {"a log reopen asked for is done",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         C1(d).set_log_generation(1);
       },
       {On(Kind::kReopenLog)}, false, std::nullopt},
      {"an exit record is recorded",
       [](auto&, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         o.containers["c1"] = {false, true};
       },
       {On(Kind::kRecordExit)}, true, std::nullopt},
      {"a gone init without a record is noted and waited for while the monitor lives",
       [](auto&, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         o.containers["c1"].init_alive = false;
       },
       {On(Kind::kNoteInitGone)}, false, kExitRecordGrace},
      {"the exit record is still awaited within its timeout",
       [](auto&, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         o.containers["c1"].init_alive = false;
         C1(a).set_init_gone_at_unix_nanos(absl::ToUnixNanos(kNow - absl::Seconds(2)));
       },
       {}, false, kExitRecordGrace},
      {"an exit record that never comes loses the container",
       [](auto&, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         o.containers["c1"].init_alive = false;
         C1(a).set_init_gone_at_unix_nanos(absl::ToUnixNanos(kNow - kExitRecordTimeout));
       },
       {On(Kind::kMarkExitUnknown, "c1",
           "the pod's converge-monitor recorded no exit for the container within 10s (see its "
           "monitor.log)")},
       true, std::nullopt},
      {"a dead monitor with a live init: the container is lost and killed",
       [](auto&, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         o.monitor_alive = false;
       },
       {On(Kind::kMarkLost, "c1", kLostLive)}, true, std::nullopt},
      {"a dead monitor without an exit record: lost, never exited 0",
       [](auto&, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         o.monitor_alive = false;
         o.containers["c1"].init_alive = false;
       },
       {On(Kind::kMarkLost, "c1", kLostDead)}, true, std::nullopt},
      {"an exited container wanted RUNNING stays exited (kubelet restarts)",
       [](auto&, auto& a, auto& o) { WithContainer(a, o, records::CONTAINER_PHASE_EXITED); },
       {}, true, std::nullopt},
      {"stop sends the stop signal and waits out the grace period",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         C1(d).set_stage(records::CONTAINER_STAGE_STOPPED);
       },
       {On(Kind::kSignal)}, false, absl::Seconds(30)},
      {"stop before the deadline only waits",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         C1(d).set_stage(records::CONTAINER_STAGE_STOPPED);
         C1(a).set_stop_signaled_at_unix_nanos(absl::ToUnixNanos(kNow - absl::Seconds(10)));
         C1(a).set_stop_deadline_unix_nanos(absl::ToUnixNanos(kNow + absl::Seconds(20)));
       },
       {}, false, absl::Seconds(20)},
      {"stop past the deadline kills",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         C1(d).set_stage(records::CONTAINER_STAGE_STOPPED);
         C1(a).set_stop_signaled_at_unix_nanos(absl::ToUnixNanos(kNow - absl::Seconds(31)));
         C1(a).set_stop_deadline_unix_nanos(absl::ToUnixNanos(kNow - absl::Seconds(1)));
       },
       {On(Kind::kKill)}, false, absl::Seconds(1)},
      {"a second stop with a shorter timeout shortens the grace period",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         C1(d).set_stage(records::CONTAINER_STAGE_STOPPED);
         C1(d).set_stop_timeout_seconds(5);
         C1(a).set_stop_signaled_at_unix_nanos(absl::ToUnixNanos(kNow - absl::Seconds(10)));
         C1(a).set_stop_deadline_unix_nanos(absl::ToUnixNanos(kNow + absl::Seconds(20)));
       },
       {On(Kind::kKill)}, false, absl::Seconds(1)},
      {"a pod stopping during a container's grace period kills it at once",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         d.set_stage(records::SANDBOX_STAGE_NOTREADY);
         C1(d).set_stage(records::CONTAINER_STAGE_STOPPED);
         C1(a).set_stop_signaled_at_unix_nanos(absl::ToUnixNanos(kNow - absl::Seconds(1)));
         C1(a).set_stop_deadline_unix_nanos(absl::ToUnixNanos(kNow + absl::Seconds(29)));
       },
       {On(Kind::kKill)}, false, absl::Seconds(1)},
      {"stop with timeout 0 kills at once",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         C1(d).set_stage(records::CONTAINER_STAGE_STOPPED);
         C1(d).set_stop_timeout_seconds(0);
       },
       {On(Kind::kKill)}, false, absl::Seconds(1)},
      {"a created container that is stopped is killed (never started)",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_CREATED);
         C1(d).set_stage(records::CONTAINER_STAGE_STOPPED);
       },
       {On(Kind::kKill)}, false, absl::Seconds(1)},
      {"a container never created and stopped is reported exited",
       [](auto& d, auto&, auto&) { C1(d).set_stage(records::CONTAINER_STAGE_STOPPED); },
       {On(Kind::kMarkExited, "c1", "stopped before it was started")}, true, std::nullopt},
      {"removal of an exited container cleans up and forgets",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_EXITED);
         C1(d).set_stage(records::CONTAINER_STAGE_REMOVED);
       },
       {On(Kind::kCleanup), On(Kind::kForget)}, true, std::nullopt},
      {"removal of a running container kills first",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         C1(d).set_stage(records::CONTAINER_STAGE_REMOVED);
       },
       {On(Kind::kKill)}, false, absl::Seconds(1)},
      {"removal of a half-created container kills, cleans up and forgets",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_CREATING);
         C1(d).set_stage(records::CONTAINER_STAGE_REMOVED);
       },
       {On(Kind::kKill), On(Kind::kCleanup), On(Kind::kForget)}, true, std::nullopt},
      {"an orphan actual entry is removed",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_EXITED);
         d.clear_containers();
       },
       {On(Kind::kCleanup), On(Kind::kForget)}, true, std::nullopt},
      {"a stopping sandbox kills running containers before its teardown",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_RUNNING);
         d.set_stage(records::SANDBOX_STAGE_NOTREADY);
       },
       {On(Kind::kKill)}, false, absl::Seconds(1)},
      {"a stopped sandbox whose containers exited stops its monitor",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_EXITED);
         d.set_stage(records::SANDBOX_STAGE_NOTREADY);
       },
       {Pod(Kind::kStopMonitor)}, true, std::nullopt},
      {"a removed sandbox removes its containers and its monitor",
       [](auto& d, auto& a, auto& o) {
         WithContainer(a, o, records::CONTAINER_PHASE_EXITED);
         d.set_stage(records::SANDBOX_STAGE_REMOVED);
       },
       {On(Kind::kCleanup), On(Kind::kForget), Pod(Kind::kStopMonitor)}, true, std::nullopt},
  };
  for (const Case& c : cases) {
    SandboxDesired desired = BaseDesired();
    SandboxActual actual = BaseActual();
    ObservedPod observed;
    c.mutate(desired, actual, observed);
    ContainerPlan plan = ComputeContainerActions(&desired, &actual, observed, kNow);
    EXPECT_EQ(plan.DebugString(), Describe(c.want)) << c.name;
    EXPECT_EQ(plan.steps, c.want) << c.name;
    EXPECT_EQ(plan.quiescent, c.quiescent) << c.name;
    if (c.recheck_in) {
      ASSERT_TRUE(plan.recheck_at.has_value()) << c.name;
      EXPECT_EQ(*plan.recheck_at, kNow + *c.recheck_in) << c.name;
    } else {
      EXPECT_FALSE(plan.recheck_at.has_value()) << c.name;
    }
  }
}

TEST(ContainerCgroupPath, IsASiblingOfTheSandboxCgroup) {
  EXPECT_EQ(ContainerCgroupPath("/kubepods/pod1/converge-pod", "c1"), "/kubepods/pod1/converge-c1");
  EXPECT_EQ(ContainerCgroupPath("/converge-pod", "c1"), "/converge-c1");
}

TEST(ContainerConverged, FollowsTheEffectiveStage) {
  SandboxDesired sandbox = BaseDesired();
  ContainerDesired desired = sandbox.containers(0);
  ContainerActual actual;
  actual.set_id("c1");
  EXPECT_FALSE(ContainerConverged(&sandbox, desired, nullptr));
  actual.set_phase(records::CONTAINER_PHASE_CREATED);
  EXPECT_FALSE(ContainerConverged(&sandbox, desired, &actual));
  actual.set_phase(records::CONTAINER_PHASE_RUNNING);
  EXPECT_TRUE(ContainerConverged(&sandbox, desired, &actual));
  desired.set_log_generation(1);
  EXPECT_FALSE(ContainerConverged(&sandbox, desired, &actual));
  actual.set_log_generation(1);
  EXPECT_TRUE(ContainerConverged(&sandbox, desired, &actual));
  actual.set_phase(records::CONTAINER_PHASE_EXITED);
  EXPECT_TRUE(ContainerConverged(&sandbox, desired, &actual)) << "an exit satisfies RUNNING";
  sandbox.set_stage(records::SANDBOX_STAGE_NOTREADY);
  actual.set_phase(records::CONTAINER_PHASE_RUNNING);
  EXPECT_FALSE(ContainerConverged(&sandbox, desired, &actual)) << "a stopping pod's container";
  sandbox.set_stage(records::SANDBOX_STAGE_REMOVED);
  EXPECT_TRUE(ContainerConverged(&sandbox, desired, nullptr));
}

}  // namespace
}  // namespace converge

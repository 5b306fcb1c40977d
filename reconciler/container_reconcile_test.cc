// The container half of the reconciler, on fake executors: plans are applied
// in order, handles are recorded, exits and lost monitors are reported, stops
// honour the grace period, and sandbox teardown waits for its containers.
#include <signal.h>

#include <algorithm>
#include <filesystem>

#include "absl/time/clock.h"
#include "common/testing/fake_clock.h"
#include "common/testing/status_testing.h"
#include "executors/cgroup/testing/fake_cgroup.h"
#include "executors/files/testing/fake_sandbox_files.h"
#include "executors/image/snapshot/testing/fake_snapshotter.h"
#include "executors/image/testing/fake_image_executor.h"
#include "executors/namespace/testing/fake_namespace.h"
#include "executors/network/testing/fake_network.h"
#include "executors/process/testing/fake_process_executor.h"
#include "gtest/gtest.h"
#include "reconciler/reconciler.h"

namespace converge {
namespace {

constexpr char kImageId[] = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
constexpr char kChainId[] = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

class ContainerReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.Sub("state");
    auto store = Store::Open(dir_.Sub("db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    records::ImageRecord image;
    image.set_id(kImageId);
    image.add_layers()->set_chain_id(kChainId);
    image.mutable_runtime_config()->add_cmd("sleep");
    image.mutable_runtime_config()->add_cmd("3600");
    records::ImageRefActual ref;
    ref.set_reference("docker.io/library/busybox:latest");
    ref.set_image_id(kImageId);
    ASSERT_TRUE(store_->PutImageRef(ref, &image).ok());

    ReconcilerOptions options;
    options.state_dir = state_;
    options.boot_id = "boot-1";
    options.node_hostname = "node";
    Executors executors{&namespaces_, &cgroups_, &network_, &files_};
    executors.processes = &processes_;
    executors.snapshots = &snapshots_;
    executors.images = &images_;
    auto reconciler = Reconciler::Create(store_.get(), executors, options, &clock_);
    ASSERT_TRUE(reconciler.ok()) << reconciler.status();
    reconciler_ = *std::move(reconciler);
  }

  void TearDown() override {
    reconciler_.reset();
    store_.reset();
  }

  // Pod "pod1", READY, with container "c1" at `stage`.
  void PutPod(records::SandboxStage sandbox_stage, records::ContainerStage stage,
              int64_t stop_timeout = 30) {
    std::optional<SandboxRecord> current = store_->GetSandbox("pod1");
    records::SandboxDesired desired;
    if (current && current->desired) {
      desired = *current->desired;
      desired.set_generation(desired.generation() + 1);
    } else {
      desired.set_schema_version(kSchemaVersion);
      desired.set_id("pod1");
      desired.set_generation(1);
      auto* config = desired.mutable_config();
      config->mutable_metadata()->set_name("web");
      config->mutable_metadata()->set_uid("u1");
      config->mutable_linux()->set_cgroup_parent("/kubepods/podu1");
      config->set_log_directory("/var/log/pods/web");
      desired.add_containers()->set_id("c1");
    }
    desired.set_stage(sandbox_stage);
    records::ContainerDesired* c1 = desired.mutable_containers(0);
    c1->set_stage(stage);
    c1->set_generation(c1->generation() + 1);
    c1->set_image_id(kImageId);
    c1->set_stop_timeout_seconds(stop_timeout);
    c1->mutable_config()->mutable_metadata()->set_name("app");
    c1->mutable_config()->set_log_path("app/0.log");
    ASSERT_TRUE(store_->PutSandboxDesired(desired).ok());
  }

  absl::Status Reconcile() { return reconciler_->ReconcileSandbox("pod1"); }

  records::SandboxActual Actual() {
    auto record = store_->GetSandbox("pod1");
    return record && record->actual ? *record->actual : records::SandboxActual();
  }
  records::ContainerActual C1() {
    const records::SandboxActual actual = Actual();
    for (const auto& container : actual.containers()) {
      if (container.id() == "c1") return container;
    }
    return records::ContainerActual();
  }
  std::string ContainerDir() const { return state_ + "/containers/c1"; }
  std::string PodDir() const { return state_ + "/pods/pod1"; }

  TempTestDir dir_;
  std::string state_;
  std::unique_ptr<Store> store_;
  FakeClock clock_;
  FakeNamespaceExecutor namespaces_;
  FakeCgroupDriver cgroups_;
  FakeNetworkExecutor network_;
  FakeSandboxFiles files_;
  FakeProcessExecutor processes_;
  FakeSnapshotter snapshots_;
  FakeImageExecutor images_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ContainerReconcileTest, CreatesStartsAndRecordsHandles) {
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  records::SandboxActual actual = Actual();
  EXPECT_EQ(actual.monitor_dir(), PodDir());
  EXPECT_NE(actual.monitor().pid(), 0);
  EXPECT_TRUE(processes_.MonitorRunning(PodDir()));
  records::ContainerActual c1 = C1();
  EXPECT_EQ(c1.phase(), records::CONTAINER_PHASE_RUNNING);
  EXPECT_EQ(c1.observed_generation(), 1);
  EXPECT_EQ(c1.state_dir(), ContainerDir());
  EXPECT_EQ(c1.cgroup_path(), "/kubepods/podu1/converge-c1");
  EXPECT_EQ(c1.rootfs(), "/fake/snapshots/c1/rootfs");
  EXPECT_EQ(c1.log_path(), "/var/log/pods/web/app/0.log");
  EXPECT_NE(c1.started_at_unix_nanos(), 0);
  EXPECT_TRUE(processes_.Started(ContainerDir()));
  EXPECT_EQ(snapshots_.LowerDirs("c1"),
            std::vector<std::string>{"/fake/layers/" + std::string(kChainId).substr(7)});
  EXPECT_TRUE(*cgroups_.Exists("/kubepods/podu1/converge-c1"));
  process::ContainerSpec spec = processes_.SpecOf(ContainerDir());
  EXPECT_EQ(spec.process.args, (std::vector<std::string>{"sleep", "3600"}));
  EXPECT_EQ(spec.rootfs, c1.rootfs());

  // Converged: a second pass changes nothing.
  const int64_t updated = Actual().updated_at_unix_nanos();
  ASSERT_OK(Reconcile());
  EXPECT_EQ(Actual().updated_at_unix_nanos(), updated);
}

TEST_F(ContainerReconcileTest, RecordsExitCodesAndOom) {
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  ContainerExit exit;
  exit.exit_code = 3;
  exit.finished_at_unix_nanos = 42;
  processes_.Exit(ContainerDir(), exit);
  ASSERT_OK(Reconcile());
  records::ContainerActual c1 = C1();
  EXPECT_EQ(c1.phase(), records::CONTAINER_PHASE_EXITED);
  EXPECT_EQ(c1.exit_code(), 3);
  EXPECT_EQ(c1.reason(), "Error");
  EXPECT_EQ(c1.finished_at_unix_nanos(), 42);
  // An exit satisfies RUNNING: nothing restarts it.
  ASSERT_OK(Reconcile());
  EXPECT_EQ(C1().phase(), records::CONTAINER_PHASE_EXITED);
  EXPECT_EQ(cgroups_.kills(),
            (std::vector<std::pair<std::string, int>>{{"/kubepods/podu1/converge-c1", SIGKILL}}))
      << "leftovers of the init are killed when its exit is recorded";
}

TEST_F(ContainerReconcileTest, StopWaitsOutTheGracePeriodThenKills) {
  processes_.IgnoreSignal(SIGTERM);
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_STOPPED, /*stop_timeout=*/30);
  ASSERT_OK(Reconcile());
  EXPECT_EQ(processes_.SignalsSent(ContainerDir()), std::vector<int>{SIGTERM});
  EXPECT_EQ(C1().phase(), records::CONTAINER_PHASE_RUNNING);
  EXPECT_LT(C1().observed_generation(), 2) << "not stopped yet";
  clock_.Advance(absl::Seconds(10));
  ASSERT_OK(Reconcile());
  EXPECT_EQ(processes_.SignalsSent(ContainerDir()), std::vector<int>{SIGTERM}) << "still in grace";
  clock_.Advance(absl::Seconds(21));
  ASSERT_OK(Reconcile());
  EXPECT_EQ(processes_.SignalsSent(ContainerDir()), (std::vector<int>{SIGTERM, SIGKILL}));
  ASSERT_OK(Reconcile());
  EXPECT_EQ(C1().phase(), records::CONTAINER_PHASE_EXITED);
  EXPECT_EQ(C1().exit_code(), 128 + SIGKILL);
  EXPECT_EQ(C1().observed_generation(), 2);
}

TEST_F(ContainerReconcileTest, ADeadMonitorLosesItsContainersLoudly) {
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  processes_.KillMonitor(PodDir(), /*with_inits=*/false);
  ASSERT_OK(Reconcile());
  records::ContainerActual c1 = C1();
  EXPECT_EQ(c1.phase(), records::CONTAINER_PHASE_EXITED);
  EXPECT_EQ(c1.exit_code(), 255);
  EXPECT_EQ(c1.reason(), "MonitorExited");
  EXPECT_NE(c1.message().find("converge-monitor exited"), std::string::npos) << c1.message();
  EXPECT_EQ(cgroups_.kills(),
            (std::vector<std::pair<std::string, int>>{{"/kubepods/podu1/converge-c1", SIGKILL}}));
}

TEST_F(ContainerReconcileTest, CreateFailureIsRecordedOnTheContainerAndRetried) {
  processes_.InjectError("CreateContainer",
                         absl::InvalidArgumentError("mount `/data`: source does not exist"));
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  EXPECT_FALSE(Reconcile().ok());
  records::ContainerActual c1 = C1();
  EXPECT_EQ(c1.phase(), records::CONTAINER_PHASE_CREATING);
  EXPECT_EQ(c1.attempted_generation(), 1);
  EXPECT_EQ(c1.last_error_code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(c1.last_error().find("source does not exist"), std::string::npos) << c1.last_error();
  EXPECT_EQ(Actual().phase(), records::SANDBOX_PHASE_READY) << "the pod itself is fine";
  ASSERT_OK(Reconcile());
  EXPECT_EQ(C1().phase(), records::CONTAINER_PHASE_RUNNING);
  EXPECT_TRUE(C1().last_error().empty());
}

TEST_F(ContainerReconcileTest, SandboxTeardownWaitsForItsContainers) {
  processes_.IgnoreSignal(SIGTERM);
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  PutPod(records::SANDBOX_STAGE_NOTREADY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  // The container was killed at once (StopPodSandbox has no grace period);
  // its exit is not recorded yet, so the network is still up.
  EXPECT_EQ(processes_.SignalsSent(ContainerDir()), std::vector<int>{SIGKILL});
  EXPECT_TRUE(network_.IsSetUp("pod1"));
  ASSERT_OK(Reconcile());
  EXPECT_EQ(C1().phase(), records::CONTAINER_PHASE_EXITED);
  EXPECT_FALSE(processes_.MonitorRunning(PodDir()));
  EXPECT_FALSE(network_.IsSetUp("pod1"));
  EXPECT_EQ(Actual().phase(), records::SANDBOX_PHASE_NOTREADY);

  PutPod(records::SANDBOX_STAGE_REMOVED, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  EXPECT_FALSE(store_->GetSandbox("pod1")->actual.has_value());
  EXPECT_FALSE(*cgroups_.Exists("/kubepods/podu1/converge-c1"));
  EXPECT_EQ(snapshots_.LowerDirs("c1"), std::nullopt);
}

TEST_F(ContainerReconcileTest, ALostSandboxKillsItsContainersBeforeItsTeardown) {
  processes_.IgnoreSignal(SIGTERM);
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  ASSERT_TRUE(namespaces_.DropPin(state_ + "/ns/pod1-net"));
  ASSERT_OK(Reconcile());
  EXPECT_EQ(processes_.SignalsSent(ContainerDir()), std::vector<int>{SIGKILL}) << "at once";
  EXPECT_TRUE(network_.IsSetUp("pod1")) << "torn down only once nothing runs";
  ASSERT_OK(Reconcile());
  EXPECT_EQ(C1().phase(), records::CONTAINER_PHASE_EXITED);
  EXPECT_EQ(Actual().phase(), records::SANDBOX_PHASE_NOTREADY);
  EXPECT_FALSE(network_.IsSetUp("pod1"));
  EXPECT_FALSE(processes_.MonitorRunning(PodDir()));
}

TEST_F(ContainerReconcileTest, StartCollectsContainerObjectsNoRecordNames) {
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  // Left by something else that used this root and state.
  ASSERT_OK(snapshots_.Prepare({"stray", {"/fake/layers/x"}}).status());
  std::filesystem::create_directories(state_ + "/pods/stray-pod");
  std::filesystem::create_directories(state_ + "/containers/stray");
  std::filesystem::create_directories(ContainerDir());
  std::filesystem::create_directories(PodDir());
  std::filesystem::create_directories(state_ + "/ns");  // the fake pins no root
  ASSERT_OK(reconciler_->Start());
  reconciler_->Stop();
  EXPECT_EQ(snapshots_.LowerDirs("stray"), std::nullopt);
  EXPECT_NE(snapshots_.LowerDirs("c1"), std::nullopt) << "the container's own is kept";
  std::vector<std::string> calls = processes_.Calls();
  EXPECT_NE(std::find(calls.begin(), calls.end(), "StopMonitor"), calls.end());
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "RemoveContainerDir"), 1);
  EXPECT_TRUE(processes_.MonitorRunning(PodDir())) << "the pod's own monitor is kept";
}

TEST_F(ContainerReconcileTest, RemovalCleansEverythingUp) {
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_REMOVED);
  ASSERT_OK(Reconcile());  // kill
  ASSERT_OK(Reconcile());  // exit recorded, cleanup, forget
  EXPECT_EQ(Actual().containers_size(), 0);
  EXPECT_FALSE(*cgroups_.Exists("/kubepods/podu1/converge-c1"));
  EXPECT_EQ(snapshots_.LowerDirs("c1"), std::nullopt);
  EXPECT_EQ(store_->FindContainerSandbox("c1"), std::optional<std::string>("pod1"))
      << "the desired tombstone stays until the handlers purge it";
  EXPECT_TRUE(processes_.MonitorRunning(PodDir())) << "the pod still runs";
}

TEST_F(ContainerReconcileTest, ExecAndStatsGoThroughTheActualRecord) {
  EXPECT_TRUE(absl::IsNotFound(reconciler_->ExecSync("c1", {"true"}, absl::Seconds(1)).status()));
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_CREATED);
  ASSERT_OK(Reconcile());
  EXPECT_TRUE(absl::IsFailedPrecondition(
      reconciler_->ExecSync("c1", {"true"}, absl::Seconds(1)).status()))
      << "a container that is not running";
  PutPod(records::SANDBOX_STAGE_READY, records::CONTAINER_STAGE_RUNNING);
  ASSERT_OK(Reconcile());
  ASSERT_OK_AND_ASSIGN(ExecOutput output,
                       reconciler_->ExecSync("c1", {"echo", "hi"}, absl::Seconds(1)));
  EXPECT_EQ(output.stdout_data, "echo\nhi\n");
  EXPECT_OK(reconciler_->ContainerStats("c1").status());
}

}  // namespace
}  // namespace converge

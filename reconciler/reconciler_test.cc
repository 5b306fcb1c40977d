#include "reconciler/reconciler.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/time/clock.h"
#include "common/testing/fake_clock.h"
#include "executors/cgroup/testing/fake_cgroup.h"
#include "executors/files/testing/fake_sandbox_files.h"
#include "executors/namespace/testing/fake_namespace.h"
#include "executors/network/testing/fake_network.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

constexpr char kBoot[] = "boot-1";

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.Sub("state");
    auto store = Store::Open(dir_.Sub("db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    MakeReconciler(kBoot);
  }

  void TearDown() override {
    reconciler_.reset();
    store_.reset();
  }

  void MakeReconciler(const std::string& boot_id) {
    ReconcilerOptions options;
    options.state_dir = state_;
    options.boot_id = boot_id;
    options.workers = 2;
    options.resync_period = absl::Seconds(10);
    reconciler_.reset();
    auto reconciler = Reconciler::Create(store_.get(), Executors{&namespaces_, &cgroups_, &network_, &files_},
                                         options, &clock_);
    ASSERT_TRUE(reconciler.ok()) << reconciler.status();
    reconciler_ = *std::move(reconciler);
  }

  records::SandboxDesired PutDesired(records::SandboxStage stage, int64_t generation) {
    records::SandboxDesired desired;
    desired.set_schema_version(kSchemaVersion);
    desired.set_id("pod1");
    desired.set_stage(stage);
    desired.set_generation(generation);
    auto* config = desired.mutable_config();
    config->mutable_metadata()->set_name("web");
    config->mutable_metadata()->set_namespace_("default");
    config->mutable_metadata()->set_uid("u1");
    config->set_hostname("web-host");
    config->mutable_linux()->set_cgroup_parent("/kubepods/podu1");
    EXPECT_TRUE(store_->PutSandboxDesired(desired).ok());
    return desired;
  }

  records::SandboxActual Actual() {
    auto record = store_->GetSandbox("pod1");
    EXPECT_TRUE(record.has_value() && record->actual.has_value());
    return record && record->actual ? *record->actual : records::SandboxActual();
  }

  std::string Pin(const std::string& kind) {
    return state_ + "/ns/pod1-" + kind;
  }

  TempTestDir dir_;
  std::string state_;
  std::unique_ptr<Store> store_;
  FakeClock clock_;
  FakeNamespaceExecutor namespaces_;
  FakeCgroupDriver cgroups_;
  FakeNetworkExecutor network_;
  FakeSandboxFiles files_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ReconcilerTest, CreatesEverythingAndRecordsHandles) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());

  records::SandboxActual actual = Actual();
  EXPECT_EQ(actual.phase(), records::SANDBOX_PHASE_READY);
  EXPECT_EQ(actual.observed_generation(), 1);
  EXPECT_EQ(actual.boot_id(), kBoot);
  ASSERT_EQ(actual.pins_size(), 3);
  EXPECT_EQ(actual.pins(0).path(), Pin("net"));
  EXPECT_EQ(actual.cgroup_path(), "/kubepods/podu1/converge-pod1");
  EXPECT_TRUE(actual.network_attached());
  for (const char* kind : {"net", "uts", "ipc"}) {
    EXPECT_TRUE(namespaces_.GetPin(Pin(kind)).has_value()) << kind;
  }
  EXPECT_EQ(namespaces_.GetPin(Pin("uts"))->hostname, "web-host");
  EXPECT_TRUE(*cgroups_.Exists("/kubepods/podu1/converge-pod1"));
  EXPECT_TRUE(network_.IsSetUp("pod1"));
  EXPECT_EQ(actual.files_dir(), state_ + "/sandboxes/pod1");
  EXPECT_EQ(files_.Files(state_ + "/sandboxes/pod1")["hostname"], "web-host\n");
  EXPECT_EQ(files_.Files(state_ + "/sandboxes/pod1")["resolv.conf"], "nameserver 192.0.2.53\n");

  // A second pass finds nothing to do and writes nothing.
  int64_t updated = actual.updated_at_unix_nanos();
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  EXPECT_EQ(Actual().updated_at_unix_nanos(), updated);
}

TEST_F(ReconcilerTest, HandlesArePersistedBeforeCreationAndSetupResumes) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  cgroups_.InjectError(FakeCgroupDriver::Op::kCreate, absl::PermissionDeniedError("mkdir denied"));
  absl::Status first = reconciler_->ReconcileSandbox("pod1");
  EXPECT_EQ(first.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(first.message().find("step 3/5 create-cgroup"), std::string::npos) << first;

  records::SandboxActual actual = Actual();
  EXPECT_EQ(actual.phase(), records::SANDBOX_PHASE_CREATING);
  EXPECT_EQ(actual.cgroup_path(), "/kubepods/podu1/converge-pod1") << "recorded before mkdir";
  EXPECT_EQ(actual.pins_size(), 3);
  EXPECT_EQ(actual.attempted_generation(), 1);
  EXPECT_EQ(actual.observed_generation(), 0);
  EXPECT_EQ(actual.retries(), 1u);
  EXPECT_NE(actual.last_error().find("step 3/5 create-cgroup: mkdir denied"), std::string::npos)
      << actual.last_error();

  namespaces_.ClearCallLog();
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  actual = Actual();
  EXPECT_EQ(actual.phase(), records::SANDBOX_PHASE_READY);
  EXPECT_TRUE(actual.last_error().empty());
  EXPECT_EQ(actual.retries(), 0u);
  for (const std::string& call : namespaces_.CallLog()) {
    EXPECT_EQ(call.find("create"), std::string::npos) << "namespaces were not made twice: " << call;
  }
}

TEST_F(ReconcilerTest, FailedNamespaceCreateLeavesPinsRecordedForTeardown) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  namespaces_.InjectError(FakeNamespaceExecutor::Op::kCreate, absl::InternalError("unshare failed"));
  EXPECT_FALSE(reconciler_->ReconcileSandbox("pod1").ok());
  EXPECT_EQ(Actual().pins_size(), 3);

  PutDesired(records::SANDBOX_STAGE_REMOVED, 2);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  EXPECT_FALSE(store_->GetSandbox("pod1")->actual.has_value());
  EXPECT_TRUE(namespaces_.Pins().empty());
}

TEST_F(ReconcilerTest, StopTearsDownThenRemoveDeletes) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  PutDesired(records::SANDBOX_STAGE_NOTREADY, 2);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());

  records::SandboxActual actual = Actual();
  EXPECT_EQ(actual.phase(), records::SANDBOX_PHASE_NOTREADY);
  EXPECT_EQ(actual.notready_reason(), "stopped");
  EXPECT_EQ(actual.observed_generation(), 2);
  EXPECT_EQ(actual.pins_size(), 0);
  EXPECT_TRUE(actual.cgroup_path().empty());
  EXPECT_FALSE(actual.network_attached());
  EXPECT_TRUE(namespaces_.Pins().empty());
  EXPECT_FALSE(*cgroups_.Exists("/kubepods/podu1/converge-pod1"));
  EXPECT_FALSE(network_.IsSetUp("pod1"));
  EXPECT_TRUE(files_.Files(state_ + "/sandboxes/pod1").empty());
  EXPECT_TRUE(actual.files_dir().empty());

  PutDesired(records::SANDBOX_STAGE_REMOVED, 3);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  EXPECT_FALSE(store_->GetSandbox("pod1")->actual.has_value());
}

TEST_F(ReconcilerTest, TeardownRetriesUntilTheCgroupEmpties) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  cgroups_.SetPopulated("/kubepods/podu1/converge-pod1", true);
  PutDesired(records::SANDBOX_STAGE_NOTREADY, 2);
  EXPECT_EQ(reconciler_->ReconcileSandbox("pod1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Actual().cgroup_path(), "/kubepods/podu1/converge-pod1");
  EXPECT_EQ(Actual().pins_size(), 0) << "earlier steps stay done";

  cgroups_.SetPopulated("/kubepods/podu1/converge-pod1", false);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  EXPECT_TRUE(Actual().cgroup_path().empty());
  EXPECT_EQ(Actual().observed_generation(), 2);
}

TEST_F(ReconcilerTest, LostPinMakesSandboxNotReadyForGood) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  ASSERT_TRUE(namespaces_.DropPin(Pin("net")));
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  records::SandboxActual actual = Actual();
  EXPECT_EQ(actual.phase(), records::SANDBOX_PHASE_NOTREADY);
  EXPECT_NE(actual.notready_reason().find("net namespace pin"), std::string::npos);
  EXPECT_TRUE(namespaces_.Pins().empty()) << "the other pins are torn down";
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  EXPECT_EQ(Actual().phase(), records::SANDBOX_PHASE_NOTREADY) << "never recreated";
}

TEST_F(ReconcilerTest, RebootMakesSandboxNotReady) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  MakeReconciler("boot-2");
  ASSERT_TRUE(reconciler_->ReconcileSandbox("pod1").ok());
  EXPECT_EQ(Actual().phase(), records::SANDBOX_PHASE_NOTREADY);
  EXPECT_EQ(Actual().notready_reason(), "node rebooted since the sandbox was created");
}

TEST_F(ReconcilerTest, StartCollectsOrphanPinsAndWorkersConverge) {
  namespaces_.AddPin(state_ + "/ns/stranger-net",
                     FakeNamespaceExecutor::Pin{NamespaceKind::kNet});
  // The fake lists no directory, so the real orphan scan needs the pin root
  // on disk; the scan itself is covered by the daemon's root tests.
  std::filesystem::create_directories(state_ + "/ns");
  std::ofstream(state_ + "/ns/stranger-net").put('\n');

  ASSERT_TRUE(reconciler_->Start().ok());
  EXPECT_FALSE(namespaces_.GetPin(state_ + "/ns/stranger-net").has_value());

  PutDesired(records::SANDBOX_STAGE_READY, 1);
  auto [record, done] = store_->AwaitSandbox(
      "pod1", absl::Now() + absl::Seconds(30), [](const SandboxRecord& r) {
        return r.actual && r.actual->observed_generation() >= 1;
      });
  EXPECT_TRUE(done);
  EXPECT_EQ(record.actual->phase(), records::SANDBOX_PHASE_READY);
  reconciler_->Stop();
}

TEST_F(ReconcilerTest, ResyncNoticesDriftAndFailuresBackOff) {
  std::filesystem::create_directories(state_ + "/ns");
  cgroups_.InjectError(FakeCgroupDriver::Op::kCreate, absl::UnavailableError("busy"));
  ASSERT_TRUE(reconciler_->Start().ok());
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  auto [failed, failed_done] = store_->AwaitSandbox(
      "pod1", absl::Now() + absl::Seconds(30), [](const SandboxRecord& r) {
        return r.actual && r.actual->next_retry_unix_nanos() != 0;
      });
  ASSERT_TRUE(failed_done);
  EXPECT_EQ(failed.actual->last_error().find("step 3/5 create-cgroup: busy"), 0u);
  EXPECT_EQ(failed.actual->next_retry_unix_nanos(),
            absl::ToUnixNanos(clock_.Now() + absl::Milliseconds(100)));

  clock_.Advance(absl::Milliseconds(100));  // the backoff expires
  auto [ready, ready_done] = store_->AwaitSandbox(
      "pod1", absl::Now() + absl::Seconds(30), [](const SandboxRecord& r) {
        return r.actual && r.actual->phase() == records::SANDBOX_PHASE_READY;
      });
  ASSERT_TRUE(ready_done);

  namespaces_.DropPin(Pin("ipc"));
  clock_.Advance(absl::Seconds(10));  // resync
  auto [lost, lost_done] = store_->AwaitSandbox(
      "pod1", absl::Now() + absl::Seconds(30), [](const SandboxRecord& r) {
        return r.actual && r.actual->phase() == records::SANDBOX_PHASE_NOTREADY;
      });
  EXPECT_TRUE(lost_done);
  reconciler_->Stop();
}

TEST_F(ReconcilerTest, RecordedCgroupWinsOverANewDefaultParent) {
  records::SandboxDesired desired = PutDesired(records::SANDBOX_STAGE_READY, 1);
  desired.mutable_config()->mutable_linux()->clear_cgroup_parent();
  ASSERT_TRUE(store_->PutSandboxDesired(desired).ok());
  ASSERT_OK(reconciler_->ReconcileSandbox("pod1"));
  EXPECT_EQ(Actual().cgroup_path(), "/converge/converge-pod1");

  // Restarted with another --default_cgroup_parent: nothing is recreated,
  // and teardown removes the cgroup that was really made.
  ReconcilerOptions options;
  options.state_dir = state_;
  options.boot_id = kBoot;
  options.default_cgroup_parent = "/elsewhere";
  reconciler_.reset();
  reconciler_ = *Reconciler::Create(store_.get(), Executors{&namespaces_, &cgroups_, &network_, &files_},
                                    options, &clock_);
  ASSERT_OK(reconciler_->ReconcileSandbox("pod1"));
  EXPECT_EQ(Actual().cgroup_path(), "/converge/converge-pod1");
  EXPECT_FALSE(*cgroups_.Exists("/elsewhere/converge-pod1"));
  PutDesired(records::SANDBOX_STAGE_NOTREADY, 2);
  ASSERT_OK(reconciler_->ReconcileSandbox("pod1"));
  EXPECT_FALSE(*cgroups_.Exists("/converge/converge-pod1"));
}

TEST_F(ReconcilerTest, NetworkSetupFailureIsUndoneBeforeRetry) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  network_.InjectError(FakeNetworkExecutor::Op::kSetup, absl::InternalError("ADD failed"));
  EXPECT_FALSE(reconciler_->ReconcileSandbox("pod1").ok());
  EXPECT_TRUE(Actual().network_attached()) << "teardown is owed";
  EXPECT_FALSE(Actual().network_ready());
  EXPECT_EQ(Actual().network_result(), "intent:pod1") << "what setup began with is kept for teardown";
  network_.ClearCallLog();
  ASSERT_OK(reconciler_->ReconcileSandbox("pod1"));
  std::vector<std::string> calls = network_.CallLog();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0].rfind("Teardown(pod1", 0), 0u) << calls[0];
  EXPECT_NE(calls[0].find("intent:pod1"), std::string::npos) << "teardown got the intent: " << calls[0];
  EXPECT_EQ(calls[1].rfind("Setup(pod1", 0), 0u) << calls[1];
  EXPECT_TRUE(Actual().network_ready());
  EXPECT_EQ(Actual().phase(), records::SANDBOX_PHASE_READY);
}

TEST_F(ReconcilerTest, ResyncDoesNotCutBackoffShort) {
  std::filesystem::create_directories(state_ + "/ns");
  ReconcilerOptions options;
  options.state_dir = state_;
  options.boot_id = kBoot;
  options.resync_period = absl::Milliseconds(50);
  options.queue.base_delay = absl::Minutes(1);
  options.queue.max_delay = absl::Minutes(1);
  reconciler_.reset();
  reconciler_ = *Reconciler::Create(store_.get(), Executors{&namespaces_, &cgroups_, &network_, &files_},
                                    options, &clock_);
  cgroups_.InjectError(FakeCgroupDriver::Op::kCreate, absl::UnavailableError("busy"));
  ASSERT_OK(reconciler_->Start());
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  ASSERT_TRUE(store_->AwaitSandbox("pod1", absl::Now() + absl::Seconds(30),
                                   [](const SandboxRecord& r) {
                                     return r.actual && r.actual->next_retry_unix_nanos() != 0;
                                   })
                  .second);
  for (int i = 0; i < 10; ++i) clock_.Advance(absl::Milliseconds(50));  // ten resyncs
  absl::SleepFor(absl::Milliseconds(100));  // let a wrongly woken worker run
  EXPECT_EQ(Actual().retries(), 1u);
  EXPECT_EQ(Actual().phase(), records::SANDBOX_PHASE_CREATING);

  clock_.Advance(absl::Minutes(1));  // the backoff is over
  EXPECT_TRUE(store_->AwaitSandbox("pod1", absl::Now() + absl::Seconds(30),
                                   [](const SandboxRecord& r) {
                                     return r.actual &&
                                            r.actual->phase() == records::SANDBOX_PHASE_READY;
                                   })
                  .second);
  reconciler_->Stop();
}

TEST_F(ReconcilerTest, ObserveLiveReportsWhereTheHostDisagrees) {
  PutDesired(records::SANDBOX_STAGE_READY, 1);
  ASSERT_OK(reconciler_->ReconcileSandbox("pod1"));
  std::vector<LiveObservation> live = reconciler_->ObserveLive();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_TRUE(live[0].disagreements.empty());
  EXPECT_TRUE(live[0].observed.cgroup_exists);

  namespaces_.DropPin(Pin("net"));
  files_.DropDir(state_ + "/sandboxes/pod1");
  live = reconciler_->ObserveLive();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].disagreements,
            (std::vector<std::string>{
                "net pin `" + Pin("net") + "` is recorded but not mounted",
                "files in `" + state_ + "/sandboxes/pod1` are recorded but missing"}));
  EXPECT_EQ(Actual().phase(), records::SANDBOX_PHASE_READY) << "observing changes nothing";
}

TEST_F(ReconcilerTest, NetworkReadinessComesFromTheExecutor) {
  std::filesystem::create_directories(state_ + "/ns");
  network_.SetReady(absl::FailedPreconditionError("CNI is not configured"));
  ASSERT_TRUE(reconciler_->Start().ok());
  EXPECT_EQ(reconciler_->NetworkReadiness().message(), "CNI is not configured");
  reconciler_->Stop();
}

}  // namespace
}  // namespace converge

#include "executors/cgroup/testing/fake_cgroup.h"

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using Op = FakeCgroupDriver::Op;

TEST(FakeCgroupDriver, CreateMakesParentsAndRemoveTakesOnlyTheLeaf) {
  FakeCgroupDriver cgroups(/*version=*/1);
  EXPECT_EQ(cgroups.Name(), "cgroupfs");
  EXPECT_EQ(cgroups.Version(), 1);
  ASSERT_TRUE(cgroups.Create("/pod1/c1").ok());
  ASSERT_TRUE(cgroups.Create("/pod1/c1").ok());  // idempotent
  ASSERT_TRUE(cgroups.Create("/pod1-x").ok());
  EXPECT_THAT(cgroups.cgroups(), ElementsAre("/pod1", "/pod1-x", "/pod1/c1"));
  EXPECT_EQ(cgroups.Exists("/pod1/c1").value_or(false), true);

  absl::Status busy = cgroups.Remove("/pod1");  // has a child
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition) << busy;
  EXPECT_THAT(std::string(busy.message()), HasSubstr("`/pod1`"));

  ASSERT_TRUE(cgroups.Remove("/pod1/c1").ok());
  ASSERT_TRUE(cgroups.Remove("/pod1/c1").ok());  // absent is OK
  EXPECT_THAT(cgroups.cgroups(), ElementsAre("/pod1", "/pod1-x"));
  EXPECT_EQ(cgroups.Exists("/pod1/c1").value_or(true), false);
}

TEST(FakeCgroupDriver, InjectErrorFailsOnlyTheNextCallOfThatOp) {
  FakeCgroupDriver cgroups;
  cgroups.InjectError(Op::kCreate, absl::PermissionDeniedError("mkdir"));
  cgroups.InjectError(Op::kExists, absl::InternalError("stat"));

  EXPECT_EQ(cgroups.Create("/a").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(cgroups.cgroups(), ElementsAre());  // no effect
  EXPECT_EQ(cgroups.Exists("/a").status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(cgroups.Create("/a").ok());
  EXPECT_EQ(cgroups.Exists("/a").value_or(false), true);
  EXPECT_TRUE(cgroups.Remove("/a").ok());
  EXPECT_THAT(cgroups.calls(),
              ElementsAre("create /a", "exists /a", "create /a", "exists /a",
                          "remove /a"));
}

TEST(FakeCgroupDriver, PopulatedCgroupCannotBeRemoved) {
  FakeCgroupDriver cgroups;
  ASSERT_TRUE(cgroups.Create("/a").ok());
  cgroups.SetPopulated("/a", true);
  EXPECT_EQ(cgroups.Remove("/a").code(), absl::StatusCode::kFailedPrecondition);
  cgroups.SetPopulated("/a", false);
  EXPECT_TRUE(cgroups.Remove("/a").ok());
}

TEST(FakeCgroupDriver, ValidatesPathsLikeTheRealDriver) {
  FakeCgroupDriver cgroups;
  EXPECT_EQ(cgroups.Create("/a/../b").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cgroups.Remove("relative").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cgroups.Exists("/").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cgroups.cgroups(), ElementsAre());
}

TEST(FakeCgroupDriver, ConcurrentCallsAreSafe) {
  FakeCgroupDriver cgroups;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cgroups, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string path = absl::StrCat("/pod/", t, "-", i);
        EXPECT_TRUE(cgroups.Create(path).ok());
        EXPECT_TRUE(cgroups.Remove(path).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(cgroups.calls().size(), 800u);
  EXPECT_THAT(cgroups.cgroups(), ElementsAre("/pod"));
}

TEST(FakeCgroupDriver, SetResourcesMergesFieldsOfSuccessiveCalls) {
  FakeCgroupDriver cgroups;
  CgroupResources limits;
  limits.cpu_shares = 512;
  limits.memory_limit_bytes = 1 << 20;
  limits.hugepage_limits["2MB"] = 4 << 20;
  EXPECT_EQ(cgroups.SetResources("/a", limits).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(cgroups.Create("/a").ok());
  ASSERT_TRUE(cgroups.SetResources("/a", limits).ok());
  CgroupResources update;
  update.memory_limit_bytes = 2 << 20;
  ASSERT_TRUE(cgroups.SetResources("/a", update).ok());
  CgroupResources kept = cgroups.resources("/a");
  EXPECT_EQ(kept.cpu_shares, 512u);
  EXPECT_EQ(kept.memory_limit_bytes, 2 << 20);
  EXPECT_EQ(kept.hugepage_limits["2MB"], 4u << 20);
  EXPECT_FALSE(kept.pids_limit.has_value());
}

TEST(FakeCgroupDriver, StatsPidsAndKillAll) {
  FakeCgroupDriver cgroups;
  ASSERT_TRUE(cgroups.Create("/pod/c1/sub").ok());
  CgroupStats stats;
  stats.memory_usage_bytes = 4096;
  stats.oom_kill_count = 1;
  cgroups.SetStats("/pod/c1", stats);
  auto got = cgroups.Stats("/pod/c1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->memory_usage_bytes, 4096u);
  EXPECT_EQ(got->oom_kill_count, 1u);
  EXPECT_FALSE(got->pids_current.has_value());

  cgroups.SetPids("/pod/c1", {7, 3});
  cgroups.SetPids("/pod/c1/sub", {5});
  EXPECT_THAT(cgroups.Pids("/pod/c1").value(), ElementsAre(3, 5, 7));
  EXPECT_EQ(cgroups.Remove("/pod/c1/sub").code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(cgroups.KillAll("/pod/c1", SIGTERM).ok());
  EXPECT_THAT(cgroups.Pids("/pod/c1").value(), ElementsAre(3, 5, 7));
  ASSERT_TRUE(cgroups.KillAll("/pod/c1", SIGKILL).ok());
  EXPECT_THAT(cgroups.Pids("/pod/c1").value(), IsEmpty());
  EXPECT_THAT(cgroups.kills(), ElementsAre(Pair("/pod/c1", SIGTERM),
                                           Pair("/pod/c1", SIGKILL)));
  EXPECT_TRUE(cgroups.Remove("/pod/c1/sub").ok());
  EXPECT_THAT(cgroups.ProcsFiles("/pod/c1").value(),
              ElementsAre("/fake/cgroup/pod/c1/cgroup.procs"));
  EXPECT_EQ(cgroups.Stats("/nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FakeCgroupDriver, DevicesAndInjectedErrorsOfNewOps) {
  FakeCgroupDriver cgroups(/*version=*/1);
  ASSERT_TRUE(cgroups.Create("/c").ok());
  EXPECT_FALSE(cgroups.devices("/c").has_value());
  ASSERT_TRUE(cgroups.SetDevices("/c", DefaultDeviceRules()).ok());
  EXPECT_EQ(cgroups.devices("/c"), DefaultDeviceRules());
  EXPECT_EQ(cgroups.SetDevices("/c", {{true, 'x', 1, 3, "rwm"}}).code(),
            absl::StatusCode::kInvalidArgument);

  cgroups.InjectError(Op::kKillAll, absl::DeadlineExceededError("freeze"));
  cgroups.InjectError(Op::kStats, absl::InternalError("read"));
  EXPECT_EQ(cgroups.KillAll("/c", SIGKILL).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(cgroups.kills(), IsEmpty());
  EXPECT_EQ(cgroups.Stats("/c").status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(cgroups.KillAll("/c", SIGKILL).ok());
  EXPECT_THAT(cgroups.calls(),
              ElementsAre("create /c", "set_devices /c", "set_devices /c",
                          "kill_all /c 9", "stats /c", "kill_all /c 9"));
}

}  // namespace
}  // namespace converge

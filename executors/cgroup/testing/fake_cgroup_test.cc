#include "executors/cgroup/testing/fake_cgroup.h"

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

}  // namespace
}  // namespace converge

#include "executors/image/snapshot/testing/fake_snapshotter.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::ElementsAre;
using Op = FakeSnapshotter::Op;

TEST(FakeSnapshotter, PrepareListRemove) {
  FakeSnapshotter snapshots("/snap");
  ASSERT_OK_AND_ASSIGN(Snapshot rw, snapshots.Prepare({"c2", {"/l/base", "/l/app"}}));
  EXPECT_EQ(rw.rootfs, "/snap/c2/rootfs");
  EXPECT_EQ(rw.upper_dir, "/snap/c2/upper");
  EXPECT_TRUE(rw.mounted);
  ASSERT_OK_AND_ASSIGN(Snapshot ro, snapshots.Prepare({"c1", {"/l/base"}, true}));
  EXPECT_TRUE(ro.read_only);
  EXPECT_EQ(ro.upper_dir, "");
  EXPECT_EQ(*snapshots.LowerDirs("c2"), (std::vector<std::string>{"/l/base", "/l/app"}));

  ASSERT_OK_AND_ASSIGN(std::vector<Snapshot> listed, snapshots.List());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].key, "c1");
  EXPECT_EQ(listed[1].key, "c2");

  ASSERT_OK(snapshots.Remove("c2"));
  ASSERT_OK(snapshots.Remove("c2"));  // absent is OK
  EXPECT_FALSE(snapshots.LowerDirs("c2").has_value());
  EXPECT_THAT(snapshots.calls(),
              ElementsAre("prepare c2", "prepare c1", "list", "remove c2", "remove c2"));
}

TEST(FakeSnapshotter, RemountKeepsUsageAndReadOnlyMismatchFails) {
  FakeSnapshotter snapshots;
  ASSERT_OK(snapshots.Prepare({"c1", {"/l/base"}}).status());
  snapshots.SetUsage("c1", 4096, 3);
  EXPECT_TRUE(snapshots.Unmount("c1"));
  EXPECT_FALSE(snapshots.Unmount("absent"));
  ASSERT_OK_AND_ASSIGN(std::vector<Snapshot> listed, snapshots.List());
  EXPECT_FALSE(listed[0].mounted);
  ASSERT_OK_AND_ASSIGN(Snapshot again, snapshots.Prepare({"c1", {"/l/base"}}));
  EXPECT_TRUE(again.mounted);
  ASSERT_OK_AND_ASSIGN(auto usage, snapshots.Usage("c1"));
  EXPECT_EQ(usage, std::make_pair(uint64_t{4096}, uint64_t{3}));
  EXPECT_EQ(snapshots.Prepare({"c1", {"/l/base"}, true}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(snapshots.Usage("absent").status().code(), absl::StatusCode::kNotFound);
}

TEST(FakeSnapshotter, InjectErrorFailsOnlyTheNextCallOfThatOp) {
  FakeSnapshotter snapshots;
  snapshots.InjectError(Op::kPrepare, absl::ResourceExhaustedError("mount: ENOSPC"));
  snapshots.InjectError(Op::kRemove, absl::UnavailableError("umount: EBUSY"));
  EXPECT_EQ(snapshots.Prepare({"c1", {"/l"}}).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(snapshots.LowerDirs("c1").has_value());  // no effect
  ASSERT_OK(snapshots.Prepare({"c1", {"/l"}}).status());
  EXPECT_EQ(snapshots.Remove("c1").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(snapshots.LowerDirs("c1").has_value());
  ASSERT_OK(snapshots.Remove("c1"));
}

TEST(FakeSnapshotter, ValidatesLikeTheRealOne) {
  FakeSnapshotter snapshots;
  EXPECT_EQ(snapshots.Prepare({"../x", {"/l"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(snapshots.Prepare({"c1", {"relative"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(snapshots.Remove("a/b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(snapshots.Usage("").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(std::vector<Snapshot> listed, snapshots.List());
  EXPECT_TRUE(listed.empty());
}

TEST(FakeSnapshotter, ConcurrentCallsAreSafe) {
  FakeSnapshotter snapshots;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&snapshots, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string key = absl::StrCat("c", t, "-", i);
        EXPECT_TRUE(snapshots.Prepare({key, {"/l"}}).ok());
        EXPECT_TRUE(snapshots.Remove(key).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(snapshots.calls().size(), 800u);
}

}  // namespace
}  // namespace converge

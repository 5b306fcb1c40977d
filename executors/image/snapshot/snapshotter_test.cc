#include "executors/image/snapshot/snapshotter.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::HasSubstr;

TEST(ValidateSnapshotKey, AcceptsContainerIds) {
  for (const std::string& key :
       std::vector<std::string>{"c", "0123abcdef", "web-1.v2_x", std::string(128, 'a'), "..."}) {
    EXPECT_TRUE(ValidateSnapshotKey(key).ok()) << key;
  }
}

TEST(ValidateSnapshotKey, RejectsAnythingThatIsNotOneDirectoryName) {
  for (const std::string& key :
       std::vector<std::string>{"", ".", "..", "../x", "a/b", "/abs", "sp ace", "new\nline",
                                std::string(129, 'a'), std::string("nul\0x", 5), "caf\xc3\xa9"}) {
    absl::Status status = ValidateSnapshotKey(key);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(std::string(status.message()), HasSubstr("snapshot key")) << key;
  }
}

TEST(ValidateSnapshotRequest, LowerDirsMustBeAbsoluteWithoutDotComponents) {
  EXPECT_TRUE(ValidateSnapshotRequest({"c1", {}}).ok());
  EXPECT_TRUE(ValidateSnapshotRequest({"c1", {"/layers/a", "/layers/b.c"}}).ok());
  for (const std::string& dir :
       std::vector<std::string>{"", "layers/a", "/layers/../etc", "/layers/./a", "/layers/.."}) {
    absl::Status status = ValidateSnapshotRequest({"c1", {"/layers/a", dir}});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << dir;
    EXPECT_THAT(std::string(status.message()), HasSubstr("`" + dir + "`"));
  }
  EXPECT_EQ(ValidateSnapshotRequest({"../c1", {"/layers/a"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DescribeSnapshot, LaysOutTheKeyDirectory) {
  Snapshot rw = DescribeSnapshot("/snap", "c1", false);
  EXPECT_EQ(rw.key, "c1");
  EXPECT_EQ(rw.rootfs, "/snap/c1/rootfs");
  EXPECT_EQ(rw.upper_dir, "/snap/c1/upper");
  EXPECT_EQ(rw.work_dir, "/snap/c1/work");
  EXPECT_FALSE(rw.read_only);
  EXPECT_FALSE(rw.mounted);
  Snapshot ro = DescribeSnapshot("/snap", "c1", true);
  EXPECT_EQ(ro.rootfs, "/snap/c1/rootfs");
  EXPECT_EQ(ro.upper_dir, "");
  EXPECT_EQ(ro.work_dir, "");
  EXPECT_TRUE(ro.read_only);
}

}  // namespace
}  // namespace converge

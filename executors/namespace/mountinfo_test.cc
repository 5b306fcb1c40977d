#include "executors/namespace/mountinfo.h"

#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(ParseMountInfo, FieldsOptionalTagsAndEscapes) {
  absl::StatusOr<std::vector<MountInfo>> mounts = ParseMountInfo(
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
      "90 27 0:4 net:[4026532290] /run/a\\040b/net rw shared:7 master:1 - "
      "nsfs nsfs rw\n"
      "91 27 0:50 / /x rw - tmpfs  rw\n");
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 3u);
  EXPECT_EQ((*mounts)[0].mount_point, "/");
  EXPECT_FALSE((*mounts)[0].shared());

  const MountInfo& pin = (*mounts)[1];
  EXPECT_EQ(pin.mount_id, 90);
  EXPECT_EQ(pin.parent_id, 27);
  EXPECT_EQ(pin.root, "net:[4026532290]");
  EXPECT_EQ(pin.mount_point, "/run/a b/net");
  EXPECT_EQ(pin.optional_fields,
            (std::vector<std::string>{"shared:7", "master:1"}));
  EXPECT_TRUE(pin.shared());
  EXPECT_EQ(pin.fs_type, "nsfs");

  EXPECT_EQ((*mounts)[2].fs_type, "tmpfs");
  EXPECT_EQ((*mounts)[2].source, "");  // empty source keeps its field
  EXPECT_EQ((*mounts)[2].super_options, "rw");
}

TEST(ParseMountInfo, RejectsMalformedLine) {
  EXPECT_EQ(ParseMountInfo("27 1 254:0 / /\n").status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(
      ParseMountInfo("x 1 254:0 / / rw - ext4 /dev/vda rw\n").status().code(),
      absl::StatusCode::kInternal);
}

TEST(ReadMountInfo, FindsRoot) {
  absl::StatusOr<int> count = CountMountsAt("/");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_GE(*count, 1);
}

}  // namespace
}  // namespace converge

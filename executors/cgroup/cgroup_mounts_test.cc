#include "executors/cgroup/cgroup_mounts.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> MountPoints(const std::vector<CgroupHierarchy>& hs) {
  std::vector<std::string> out;
  for (const CgroupHierarchy& h : hs) out.push_back(h.mount_point);
  return out;
}

// This machine's layout: separate cpu and cpuacct, named systemd, hybrid
// unified, and an unrelated ext4 root.
constexpr char kSeparate[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup "
    "rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup "
    "rw,cpuset,clone_children\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:9 master:3 - "
    "cgroup cgroup rw,xattr,release_agent=/lib/systemd/x,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

TEST(FindV1Hierarchies, SeparateMountsNamedHierarchyAndNoUnified) {
  auto hierarchies = FindV1Hierarchies(kSeparate, "/sys/fs/cgroup");
  ASSERT_TRUE(hierarchies.ok()) << hierarchies.status();
  EXPECT_THAT(
      *hierarchies,
      ElementsAre(CgroupHierarchy{"/sys/fs/cgroup/cpu", {"cpu"}},
                  CgroupHierarchy{"/sys/fs/cgroup/cpuacct", {"cpuacct"}},
                  CgroupHierarchy{"/sys/fs/cgroup/cpuset", {"cpuset"}},
                  CgroupHierarchy{"/sys/fs/cgroup/systemd", {"name=systemd"}}));
  EXPECT_TRUE((*hierarchies)[3].HasController("name=systemd"));
  EXPECT_FALSE((*hierarchies)[3].HasController("cpu"));
}

TEST(FindV1Hierarchies, CoMountedCpuCpuacctIsOneHierarchy) {
  // systemd's layout: one mount "cpu,cpuacct" (symlinks cpu and cpuacct are
  // not mounts), and here also a bind mount of the same view at "cpu".
  constexpr char kCoMounted[] =
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "33 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct\n"
      "34 31 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
  auto hierarchies = FindV1Hierarchies(kCoMounted, "/sys/fs/cgroup/");
  ASSERT_TRUE(hierarchies.ok()) << hierarchies.status();
  EXPECT_THAT(
      *hierarchies,
      ElementsAre(CgroupHierarchy{"/sys/fs/cgroup/cpu", {"cpu", "cpuacct"}},
                  CgroupHierarchy{"/sys/fs/cgroup/pids", {"pids"}}));
}

TEST(FindV1Hierarchies, OvermountedMountPointKeepsTopmost) {
  constexpr char kOvermounted[] =
      "32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "50 32 0:40 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,pids\n";
  auto hierarchies = FindV1Hierarchies(kOvermounted, "/sys/fs/cgroup");
  ASSERT_TRUE(hierarchies.ok()) << hierarchies.status();
  EXPECT_THAT(*hierarchies,
              ElementsAre(CgroupHierarchy{"/sys/fs/cgroup/memory", {"pids"}}));
}

TEST(FindV1Hierarchies, OnlyAtOrBelowTheMountRoot) {
  constexpr char kElsewhere[] =
      "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
      "33 31 0:30 / /sys/fs/cgroupx/cpu rw - cgroup cgroup rw,cpu\n"
      "34 31 0:31 / /run/my\\040cg rw - cgroup cgroup rw,name=test\n";
  auto below = FindV1Hierarchies(kElsewhere, "/sys/fs/cgroup");
  ASSERT_TRUE(below.ok()) << below.status();
  EXPECT_THAT(MountPoints(*below), ElementsAre("/sys/fs/cgroup/cpu"));
  auto at = FindV1Hierarchies(kElsewhere, "/sys/fs/cgroup/cpu");
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_THAT(MountPoints(*at), ElementsAre("/sys/fs/cgroup/cpu"));
  auto escaped = FindV1Hierarchies(kElsewhere, "/run/my cg");
  ASSERT_TRUE(escaped.ok()) << escaped.status();
  EXPECT_THAT(*escaped,
              ElementsAre(CgroupHierarchy{"/run/my cg", {"name=test"}}));
  auto none = FindV1Hierarchies(kElsewhere, "/nowhere");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());
}

TEST(FindV1Hierarchies, MalformedLineIsInternal) {
  auto hierarchies = FindV1Hierarchies(
      "32 31 0:29 / /sys/fs/cgroup/cpu rw cgroup cgroup rw,cpu\n",
      "/sys/fs/cgroup");
  EXPECT_EQ(hierarchies.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(hierarchies.status().message()),
              HasSubstr("malformed mountinfo line 1"));
}

}  // namespace
}  // namespace converge

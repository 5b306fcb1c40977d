#include "reconciler/container_resources.h"

#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(CgroupResourcesFromCri, ZerosLeaveTheCgroupAlone) {
  CgroupResources out = CgroupResourcesFromCri(runtime::v1::LinuxContainerResources());
  EXPECT_FALSE(out.cpu_shares || out.cpu_quota || out.cpu_period || out.cpuset_cpus ||
               out.cpuset_mems || out.memory_limit_bytes || out.memory_swap_limit_bytes);
  EXPECT_TRUE(out.hugepage_limits.empty());
}

TEST(CgroupResourcesFromCri, MapsEveryLimit) {
  runtime::v1::LinuxContainerResources in;
  in.set_cpu_shares(512);
  in.set_cpu_quota(-1);
  in.set_cpu_period(100000);
  in.set_cpuset_cpus("0-1");
  in.set_cpuset_mems("0");
  in.set_memory_limit_in_bytes(64 << 20);
  in.set_memory_swap_limit_in_bytes(128 << 20);
  auto* hugepages = in.add_hugepage_limits();
  hugepages->set_page_size("2MB");
  hugepages->set_limit(4 << 20);
  CgroupResources out = CgroupResourcesFromCri(in);
  EXPECT_EQ(out.cpu_shares, 512u);
  EXPECT_EQ(out.cpu_quota, -1);
  EXPECT_EQ(out.cpu_period, 100000u);
  EXPECT_EQ(out.cpuset_cpus, "0-1");
  EXPECT_EQ(out.cpuset_mems, "0");
  EXPECT_EQ(out.memory_limit_bytes, 64 << 20);
  EXPECT_EQ(out.memory_swap_limit_bytes, 128 << 20);
  EXPECT_EQ(out.hugepage_limits.at("2MB"), 4u << 20);
}

}  // namespace
}  // namespace converge

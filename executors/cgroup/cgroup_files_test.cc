// Table tests of the pure control-file parsers, with samples in the kernel's
// formats (v1 memory.stat / memory.oom_control, v2 memory.events / cpu.stat).
#include "executors/cgroup/cgroup_files.h"

#include <map>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Keyed = std::map<std::string, uint64_t>;

TEST(ParseFlatKeyed, KernelFormatsAndJunk) {
  struct Case {
    std::string name;
    std::string content;
    Keyed want;
  };
  const Case kCases[] = {
      {"v1 memory.stat",
       "cache 8192\nrss 4096\nhierarchical_memory_limit 9223372036854771712\n"
       "total_rss 4096\ntotal_inactive_file 8192\ntotal_pgfault 120\n"
       "total_pgmajfault 2\n",
       {{"cache", 8192},
        {"rss", 4096},
        {"hierarchical_memory_limit", 9223372036854771712ULL},
        {"total_rss", 4096},
        {"total_inactive_file", 8192},
        {"total_pgfault", 120},
        {"total_pgmajfault", 2}}},
      {"v1 memory.oom_control",
       "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
       {{"oom_kill_disable", 0}, {"under_oom", 0}, {"oom_kill", 3}}},
      {"v2 memory.events",
       "low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n",
       {{"low", 0},
        {"high", 0},
        {"max", 17},
        {"oom", 2},
        {"oom_kill", 1},
        {"oom_group_kill", 0}}},
      {"v2 cpu.stat",
       "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n"
       "core_sched.force_idle_usec 0",  // no final newline
       {{"usage_usec", 1500},
        {"user_usec", 1000},
        {"system_usec", 500},
        {"nr_periods", 0},
        {"core_sched.force_idle_usec", 0}}},
      {"empty", "", {}},
      {"malformed lines are skipped",
       "good 1\nnovalue\nthree fields 2\nneg -1\nplus +2\nhex 0x10\n"
       "  spaced\t 7  \nbig 99999999999999999999\n\n",
       {{"good", 1}, {"spaced", 7}}},
      {"last repeated key wins", "a 1\na 2\n", {{"a", 2}}},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(ParseFlatKeyed(c.content), c.want) << c.name;
  }
}

TEST(ParseSingleValue, NumbersMaxAndV1Unlimited) {
  struct Case {
    std::string content;
    std::optional<uint64_t> want;
  };
  const Case kCases[] = {
      {"0\n", 0},
      {"8388608\n", 8388608},
      {"max\n", std::nullopt},
      {"9223372036854771712\n", std::nullopt},  // v1 unlimited, 4K pages
      {"9223372036854775807", std::nullopt},    // LONG_MAX
      {"  42  ", 42},
  };
  for (const Case& c : kCases) {
    auto got = ParseSingleValue(c.content, "f");
    ASSERT_TRUE(got.ok()) << c.content << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.content;
  }
  for (const std::string bad : {"", "-1", "abc", "1 2", "+3"}) {
    auto got = ParseSingleValue(bad, "/x/memory.current");
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal) << bad;
    EXPECT_THAT(std::string(got.status().message()),
                HasSubstr("`/x/memory.current`"));
  }
}

TEST(ParsePidList, LinesAndErrors) {
  EXPECT_THAT(ParsePidList("1\n22\n333\n", "f").value(),
              ElementsAre(1, 22, 333));
  EXPECT_THAT(ParsePidList("", "f").value(), ElementsAre());
  EXPECT_EQ(ParsePidList("1\nx\n", "f").status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(ParsePidList("0\n", "f").status().code(),
            absl::StatusCode::kInternal);
}

TEST(CpuSharesToWeight, RuncFormula) {
  struct Case {
    uint64_t shares;
    uint64_t weight;
  };
  const Case kCases[] = {
      {2, 1},            // minimum
      {1, 1},            // below the kernel's minimum: clamped to 2
      {0, 1},            // ditto (callers treat 0 as unset before this)
      {1024, 39},        // the default: 1 + 1022 * 9999 / 262142 = 39.98
      {512, 20},         //
      {100, 4},          // kubelet's 100m
      {262144, 10000},   // maximum
      {1000000, 10000},  // clamped
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(CpuSharesToWeight(c.shares), c.weight) << c.shares;
  }
}

TEST(WorkingSet, UsageMinusInactiveFileNeverNegative) {
  EXPECT_EQ(WorkingSet(100, 30), 70u);
  EXPECT_EQ(WorkingSet(100, 100), 0u);
  EXPECT_EQ(WorkingSet(10, 30), 0u);
  EXPECT_EQ(WorkingSet(10, 0), 10u);
}

TEST(ValidateHugepageSize, KernelNamesOnly) {
  for (const std::string ok : {"2MB", "1GB", "64KB", "32MB", "16GB"}) {
    EXPECT_TRUE(ValidateHugepageSize(ok).ok()) << ok;
  }
  for (const std::string bad :
       {"", "MB", "2mb", "2M", "02MB", "2MB/../x", "../2MB", "2 MB", "2TB"}) {
    EXPECT_EQ(ValidateHugepageSize(bad).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(V2SwapMax, RuncConversion) {
  struct Case {
    std::optional<int64_t> memory;
    std::optional<int64_t> swap;
    std::optional<std::string> want;  // nullopt: leave memory.swap.max
  };
  const Case kCases[] = {
      {std::nullopt, std::nullopt, std::nullopt},
      {100, std::nullopt, std::nullopt},
      {100, 0, std::nullopt},
      {0, std::nullopt, "max"},  // unlimited memory: unlimited swap
      {-1, 0, "max"},
      {100, -1, "max"},
      {100, 100, "0"},  // memory+swap == memory: no swap
      {100, 250, "150"},
  };
  for (const Case& c : kCases) {
    auto got = V2SwapMax(c.memory, c.swap);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want) << c.memory.value_or(-99) << " "
                            << c.swap.value_or(-99);
  }
  EXPECT_EQ(V2SwapMax(std::nullopt, 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(V2SwapMax(0, 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto below = V2SwapMax(200, 100);
  EXPECT_EQ(below.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(below.status().message()), HasSubstr("below"));
}

}  // namespace
}  // namespace converge

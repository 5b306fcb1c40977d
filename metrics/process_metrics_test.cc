#include "metrics/process_metrics.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/status_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metrics_testing.h"

namespace converge::metrics {
namespace {

using ::testing::HasSubstr;

// Fields 3.. of a stat line with utime 150, stime 50, starttime 12345, vsize
// 100 MiB and rss 2560 pages.
constexpr char kStatTail[] =
    " S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 4 0 12345 "
    "104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0";

struct ParseCase {
  std::string name;
  std::string content;
  absl::StatusCode code;
};

TEST(ParseProcStatTest, Fields) {
  const ParseCase cases[] = {
      {"plain", std::string("4242 (converged)") + kStatTail,
       absl::StatusCode::kOk},
      // The command is whatever the process set, parentheses and spaces
      // included; only the last ')' ends it.
      {"tricky command", std::string("4242 (a) b) S 1 (c)") + kStatTail,
       absl::StatusCode::kOk},
      {"no parenthesis", "4242 converged S 1",
       absl::StatusCode::kInvalidArgument},
      {"truncated", "4242 (converged) S 1 4242 4242 0 -1",
       absl::StatusCode::kInvalidArgument},
      {"not a number",
       "4242 (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 many 50 0 0 20 0 4 0 "
       "12345 104857600 2560",
       absl::StatusCode::kInvalidArgument},
      {"empty", "", absl::StatusCode::kInvalidArgument},
  };
  for (const ParseCase& c : cases) {
    absl::StatusOr<ProcStat> stat = ParseProcStat(c.content, 100, 4096);
    ASSERT_EQ(stat.status().code(), c.code) << c.name << ": " << stat.status();
    if (!stat.ok()) continue;
    EXPECT_EQ(stat->cpu_seconds, 2) << c.name;
    EXPECT_EQ(stat->virtual_memory_bytes, 104857600) << c.name;
    EXPECT_EQ(stat->resident_memory_bytes, 2560 * 4096) << c.name;
    EXPECT_EQ(stat->start_ticks_after_boot, 12345) << c.name;
  }
}

TEST(ParseBootTimeTest, Lines) {
  EXPECT_EQ(*ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocs 3\n"),
            1700000000);
  EXPECT_THAT(ParseBootTime("cpu  1 2 3\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "no btime"));
  EXPECT_THAT(ParseBootTime("btime soon\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "malformed btime"));
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

// A /proc with just what the collector reads: a known process, not ours.
class FakeProcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.Sub("self/fd"));
    for (const char* fd : {"0", "1", "2"})
      WriteFile(dir_.Sub("self/fd/") + fd, "");
    WriteFile(dir_.Sub("self/stat"),
              std::string("4242 (converged)") + kStatTail);
    WriteFile(dir_.Sub("stat"), "cpu  1 2 3\nbtime 1700000000\n");
    options_.version = "v1.2.3-test";
    options_.proc_root = dir_.path().string();
  }

  TempTestDir dir_;
  ProcessMetricsOptions options_;
  const double ticks_ = sysconf(_SC_CLK_TCK);
  const double page_size_ = sysconf(_SC_PAGESIZE);
};

TEST_F(FakeProcTest, ExportsWhatProcSays) {
  Registry registry;
  ASSERT_OK(RegisterProcessMetrics(&registry, options_));
  const std::string text = registry.Exposition();
  EXPECT_EQ(SampleValue(text, "process_cpu_seconds_total"), 200 / ticks_);
  EXPECT_EQ(SampleValue(text, "process_virtual_memory_bytes"), 104857600);
  EXPECT_EQ(SampleValue(text, "process_resident_memory_bytes"),
            2560 * page_size_);
  EXPECT_EQ(SampleValue(text, "process_start_time_seconds"),
            1700000000 + 12345 / ticks_);
  EXPECT_EQ(SampleValue(text, "process_open_fds"), 3);
  EXPECT_GT(SampleValue(text, "process_max_fds"), 0);
  EXPECT_EQ(SampleValue(text, "converge_build_info{version=\"v1.2.3-test\"}"),
            1);
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_open_fds gauge\n"));
}

TEST_F(FakeProcTest, EveryScrapeRereadsProc) {
  Registry registry;
  ASSERT_OK(RegisterProcessMetrics(&registry, options_));
  WriteFile(dir_.Sub("self/stat"),
            "4242 (converged) S 1 4242 4242 0 -1 4194560 100 0 0 0 300 100 0 0 "
            "20 0 4 0 12345 209715200 5120 0");
  WriteFile(dir_.Sub("self/fd/3"), "");
  const std::string text = registry.Exposition();
  EXPECT_EQ(SampleValue(text, "process_cpu_seconds_total"), 400 / ticks_);
  EXPECT_EQ(SampleValue(text, "process_virtual_memory_bytes"), 209715200);
  EXPECT_EQ(SampleValue(text, "process_open_fds"), 4);
}

TEST_F(FakeProcTest, UnreadableProcKeepsLastValues) {
  Registry registry;
  ASSERT_OK(RegisterProcessMetrics(&registry, options_));
  std::filesystem::remove(dir_.Sub("self/stat"));
  const std::string text = registry.Exposition();
  EXPECT_EQ(SampleValue(text, "process_virtual_memory_bytes"), 104857600);
  EXPECT_EQ(SampleValue(text, "process_open_fds"), 3);  // Still refreshed.
}

TEST_F(FakeProcTest, RegistrationErrors) {
  {
    Registry registry;
    ASSERT_OK(RegisterProcessMetrics(&registry, options_));
    EXPECT_THAT(RegisterProcessMetrics(&registry, options_),
                StatusIs(absl::StatusCode::kAlreadyExists,
                         "`process_start_time_seconds` is already registered"));
  }
  {
    std::filesystem::remove(dir_.Sub("stat"));
    Registry registry;
    EXPECT_THAT(RegisterProcessMetrics(&registry, options_),
                StatusIs(absl::StatusCode::kNotFound, "/stat`"));
  }
}

TEST(ProcessMetricsTest, RealProcIsPlausible) {
  Registry registry;
  ProcessMetricsOptions options;
  options.version = "dev";
  ASSERT_OK(RegisterProcessMetrics(&registry, options));
  const std::string text = registry.Exposition();
  const double rss = SampleValue(text, "process_resident_memory_bytes");
  EXPECT_GT(rss, 1 << 20);
  EXPECT_GE(SampleValue(text, "process_virtual_memory_bytes"), rss);
  const double open_fds = SampleValue(text, "process_open_fds");
  EXPECT_GE(open_fds, 3);
  EXPECT_GE(SampleValue(text, "process_max_fds"), open_fds);
  EXPECT_GE(SampleValue(text, "process_cpu_seconds_total"), 0);
  // This test process started moments ago.
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  const double start = SampleValue(text, "process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GE(start, now - 600);
  EXPECT_EQ(SampleValue(text, "converge_build_info{version=\"dev\"}"), 1);
}

}  // namespace
}  // namespace converge::metrics

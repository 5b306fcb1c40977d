#include "cmd/convergectl/container_logs.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

std::vector<LogRecord> Parse(const std::vector<std::string>& lines) {
  std::vector<LogRecord> records;
  for (const std::string& line : lines) {
    auto record = ParseLogRecord(line);
    EXPECT_TRUE(record.ok()) << line << ": " << record.status();
    if (record.ok()) records.push_back(*record);
  }
  return records;
}

constexpr char kT[] = "2026-11-27T16:11:57.123456789Z";

std::string Rec(const char* stream, const char* tag, const std::string& content) {
  return absl::StrCat(kT, " ", stream, " ", tag, " ", content);
}

TEST(JoinLogRecords, Table) {
  const LogStream out = LogStream::kStdout, err = LogStream::kStderr;
  struct Case {
    std::string name;
    std::vector<std::string> records;
    std::vector<LogLine> want;
  };
  const Case cases[] = {
      {"empty", {}, {}},
      {"full lines", {Rec("stdout", "F", "a"), Rec("stderr", "F", "b")},
       {{out, "a\n"}, {err, "b\n"}}},
      {"partial joined with the next",
       {Rec("stdout", "P", "hel"), Rec("stdout", "P", "lo "), Rec("stdout", "F", "world")},
       {{out, "hello world\n"}}},
      {"other stream in between",
       {Rec("stdout", "P", "abc"), Rec("stderr", "F", "oops"), Rec("stdout", "F", "def")},
       {{err, "oops\n"}, {out, "abcdef\n"}}},
      {"unfinished at the end, in the order started",
       {Rec("stderr", "P", "e1"), Rec("stdout", "P", "o1"), Rec("stdout", "F", ""),
        Rec("stdout", "P", "o2")},
       {{out, "o1\n"}, {err, "e1"}, {out, "o2"}}},
      {"empty full line", {Rec("stdout", "F", "")}, {{out, "\n"}}},
      {"content keeps its spaces", {Rec("stdout", "F", "  a  b ")}, {{out, "  a  b \n"}}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(JoinLogRecords(Parse(c.records)), c.want) << c.name;
  }
}

TEST(LastLines, Tail) {
  const std::vector<LogLine> lines = {{LogStream::kStdout, "1\n"},
                                      {LogStream::kStderr, "2\n"},
                                      {LogStream::kStdout, "3\n"}};
  EXPECT_EQ(LastLines(lines, -1), lines);
  EXPECT_EQ(LastLines(lines, 5), lines);
  EXPECT_EQ(LastLines(lines, 0), std::vector<LogLine>{});
  EXPECT_EQ(LastLines(lines, 2), (std::vector<LogLine>{lines[1], lines[2]}));
}

TEST(LogRecordSplitter, WaitsForTheNewline) {
  LogRecordSplitter splitter;
  EXPECT_EQ(splitter.Feed("a\nb"), std::vector<std::string>{"a"});
  EXPECT_EQ(splitter.pending(), "b");
  EXPECT_EQ(splitter.Feed("c"), std::vector<std::string>{});
  EXPECT_EQ(splitter.Feed("\n\nd\n"), (std::vector<std::string>{"bc", "", "d"}));
  EXPECT_EQ(splitter.pending(), "");
}

// A log file in a temporary directory, written the way the monitor writes.
class LogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/convergectl-logs-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/0.log";
  }
  void TearDown() override {
    for (const std::string& file : created_) std::remove(file.c_str());
    ::rmdir(dir_.c_str());
  }
  void Append(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::app) << text;
    created_.push_back(path);
  }
  // What the reader printed, stdout and stderr apart.
  absl::Status Print(int64_t tail, bool follow, const LogFollowOptions& options) {
    return PrintLogFile(path_, tail, follow, options,
                        [this](LogStream stream, absl::string_view text) {
                          (stream == LogStream::kStdout ? out_ : err_).append(text.data(),
                                                                              text.size());
                        });
  }

  std::string dir_;
  std::string path_;
  std::vector<std::string> created_;
  std::string out_;
  std::string err_;
};

TEST_F(LogFileTest, PrintsTailSplitByStream) {
  Append(path_, Rec("stdout", "F", "one") + "\n" + Rec("stderr", "F", "two") + "\n" +
                    Rec("stdout", "P", "thr") + "\n" + Rec("stdout", "F", "ee") + "\n" +
                    "garbage\n" + Rec("stdout", "F", "incomplete, no newline yet"));
  std::vector<std::string> bad;
  LogFollowOptions options;
  options.on_bad_record = [&](const absl::Status& status) {
    bad.push_back(std::string(status.message()));
  };
  ASSERT_TRUE(Print(-1, /*follow=*/false, options).ok());
  EXPECT_EQ(out_, "one\nthree\n");
  EXPECT_EQ(err_, "two\n");
  EXPECT_EQ(bad.size(), 1u);
  out_.clear();
  err_.clear();
  ASSERT_TRUE(Print(1, /*follow=*/false, options).ok());
  EXPECT_EQ(out_, "three\n");
  EXPECT_EQ(err_, "");
}

TEST_F(LogFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(Print(-1, false, LogFollowOptions()).code(), absl::StatusCode::kNotFound);
}

TEST_F(LogFileTest, FollowsAppendsAndRotationUntilExit) {
  Append(path_, Rec("stdout", "F", "before") + "\n" + Rec("stdout", "P", "half ") + "\n");
  // Each time the reader catches up, the "container" does its next step.
  std::vector<std::function<void()>> steps = {
      // The partial line is finished, and a record follows in two writes.
      [&] { Append(path_, Rec("stdout", "F", "line") + "\n" + Rec("stderr", "F", "wa")); },
      [&] { Append(path_, "rn\n"); },
      // Nothing new: the reader just waits.
      [] {},
      // kubelet rotates: rename, then the monitor writes a last record to the
      // old file before it reopens at the path.
      [&] {
        const std::string rotated = path_ + ".20261127-161200";
        ASSERT_EQ(std::rename(path_.c_str(), rotated.c_str()), 0);
        created_.push_back(rotated);
        Append(rotated, Rec("stdout", "F", "last in old") + "\n");
      },
      [&] { Append(path_, Rec("stdout", "F", "first in new") + "\n"); },
      // Written just before the exit is noticed: still printed.
      [&] { Append(path_, Rec("stdout", "F", "bye") + "\n"); },
  };
  size_t step = 0;
  int sleeps = 0;
  LogFollowOptions options;
  options.keep_following = [&] {
    if (step == steps.size()) return false;
    steps[step++]();
    return true;
  };
  options.sleep = [&](absl::Duration) { ++sleeps; };
  ASSERT_TRUE(Print(-1, /*follow=*/true, options).ok());
  EXPECT_EQ(out_, "before\nhalf line\nlast in old\nfirst in new\nbye\n");
  EXPECT_EQ(err_, "warn\n");
  EXPECT_EQ(step, steps.size());
  EXPECT_GE(sleeps, 4);
}

TEST_F(LogFileTest, FollowRereadsATruncatedFile) {
  Append(path_, Rec("stdout", "F", "a long first line") + "\n");
  int step = 0;
  LogFollowOptions options;
  options.keep_following = [&] {
    if (step++ > 0) return false;
    std::ofstream(path_, std::ios::trunc) << Rec("stdout", "F", "b") << "\n";
    return true;
  };
  options.sleep = [](absl::Duration) {};
  ASSERT_TRUE(Print(-1, /*follow=*/true, options).ok());
  EXPECT_EQ(out_, "a long first line\nb\n");
}

}  // namespace
}  // namespace converge

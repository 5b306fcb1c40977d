// Table tests for the CRI log format: Go-compatible timestamps, framing as
// containerd frames (every case also fed whole and byte by byte, since the
// output must not depend on read boundaries), parsing as kubelet parses, and
// a randomized frame-then-parse round trip.
#include "executors/process/log/cri_log.h"

#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/testing/status_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixNanos(1475713029669794202);
constexpr char kStamp[] = "2016-10-06T00:17:09.669794202Z";

// "abc…z" repeated from letter `start`: a cut in the wrong place shows up as
// a wrong letter.
std::string Pattern(size_t n, size_t start = 0) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (start + i) % 26);
  return s;
}

std::string Rec(absl::string_view tag, absl::string_view content,
                absl::string_view stream = "stdout") {
  return absl::StrCat(kStamp, " ", stream, " ", tag, " ", content, "\n");
}

std::vector<std::string> Frame(LogStream stream, size_t max_line,
                               const std::vector<std::string>& chunks,
                               bool finish) {
  std::vector<std::string> records;
  auto collect = [&](absl::string_view r) { records.emplace_back(r); };
  LogLineFramer framer(stream, max_line);
  for (const std::string& chunk : chunks) framer.Feed(chunk, kNow, collect);
  if (finish) framer.Finish(kNow, collect);
  return records;
}

TEST(FormatRfc3339NanoTest, MatchesGo) {
  const struct {
    absl::Time t;
    std::string want;
  } kCases[] = {
      {kNow, "2016-10-06T00:17:09.669794202Z"},
      {absl::FromUnixNanos(1475713029669794200),
       "2016-10-06T00:17:09.6697942Z"},
      {absl::FromUnixNanos(1475713029100000000), "2016-10-06T00:17:09.1Z"},
      {absl::FromUnixSeconds(1475713029), "2016-10-06T00:17:09Z"},
      {absl::FromUnixNanos(1475713029000000001),
       "2016-10-06T00:17:09.000000001Z"},
      {absl::UnixEpoch(), "1970-01-01T00:00:00Z"},
      // Go keeps nanoseconds only and truncates toward the past.
      {absl::FromUnixNanos(5) + absl::Nanoseconds(0.75),
       "1970-01-01T00:00:00.000000005Z"},
      {absl::FromUnixNanos(-1), "1969-12-31T23:59:59.999999999Z"},
      {absl::UnixEpoch() - absl::Nanoseconds(0.25),
       "1969-12-31T23:59:59.999999999Z"},
      {absl::FromCivil(absl::CivilSecond(2024, 2, 29, 23, 59, 59),
                       absl::UTCTimeZone()),
       "2024-02-29T23:59:59Z"},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(FormatRfc3339Nano(c.t), c.want);
  }
}

struct FramerCase {
  std::string name;
  size_t max_line;
  std::vector<std::string> chunks;
  bool finish;
  std::vector<std::string> want;
};

constexpr size_t kMax = kDefaultMaxLogLine;

std::vector<FramerCase> FramerCases() {
  return {
      {"single full line",
       kMax,
       {"hello world\n"},
       false,
       {Rec("F", "hello world")}},
      {"several lines in one chunk",
       kMax,
       {"a\nbb\nccc\n"},
       false,
       {Rec("F", "a"), Rec("F", "bb"), Rec("F", "ccc")}},
      {"line across chunks",
       kMax,
       {"hel", "lo wo", "rld\n"},
       false,
       {Rec("F", "hello world")}},
      {"lines and a pending rest",
       kMax,
       {"a\nb", "c\nd"},
       false,
       {Rec("F", "a"), Rec("F", "bc")}},
      {"empty lines",
       kMax,
       {"\n", "\n\n"},
       false,
       {Rec("F", ""), Rec("F", ""), Rec("F", "")}},
      {"spaces kept", kMax, {"  a  b \n"}, false, {Rec("F", "  a  b ")}},
      {"empty chunks ignored",
       kMax,
       {"", "a", "", "\n"},
       false,
       {Rec("F", "a")}},
      {"unterminated line waits", kMax, {"abc"}, false, {}},
      // containerd: no newline before EOF, so the remainder is partial.
      {"finish flushes pending as P", kMax, {"abc"}, true, {Rec("P", "abc")}},
      {"finish with nothing pending", kMax, {"abc\n"}, true, {Rec("F", "abc")}},
      {"finish on empty stream", kMax, {}, true, {}},

      {"exactly max_line with newline",
       kMax,
       {Pattern(kMax) + "\n"},
       false,
       {Rec("F", Pattern(kMax))}},
      {"exactly max_line waits for the next byte",
       kMax,
       {Pattern(kMax)},
       false,
       {}},
      {"exactly max_line at finish",
       kMax,
       {Pattern(kMax)},
       true,
       {Rec("P", Pattern(kMax))}},
      {"max_line+1 with newline",
       kMax,
       {Pattern(kMax + 1) + "\n"},
       false,
       {Rec("P", Pattern(kMax)), Rec("F", Pattern(1, kMax))}},
      {"max_line+1 at finish",
       kMax,
       {Pattern(kMax + 1)},
       true,
       {Rec("P", Pattern(kMax)), Rec("P", Pattern(1, kMax))}},
      {"3*max_line+5 with newline",
       kMax,
       {Pattern(3 * kMax + 5) + "\n"},
       false,
       {Rec("P", Pattern(kMax)), Rec("P", Pattern(kMax, kMax)),
        Rec("P", Pattern(kMax, 2 * kMax)), Rec("F", Pattern(5, 3 * kMax))}},
      {"3*max_line+5 at finish",
       kMax,
       {Pattern(3 * kMax + 5)},
       true,
       {Rec("P", Pattern(kMax)), Rec("P", Pattern(kMax, kMax)),
        Rec("P", Pattern(kMax, 2 * kMax)), Rec("P", Pattern(5, 3 * kMax))}},
      {"3*max_line+5 without finish keeps the rest",
       kMax,
       {Pattern(3 * kMax + 5)},
       false,
       {Rec("P", Pattern(kMax)), Rec("P", Pattern(kMax, kMax)),
        Rec("P", Pattern(kMax, 2 * kMax))}},
      {"multiple of max_line gives no empty F",
       4,
       {"abcdefgh\n"},
       false,
       {Rec("P", "abcd"), Rec("F", "efgh")}},
      {"max_line 1",
       1,
       {"ab\n\n"},
       false,
       {Rec("P", "a"), Rec("F", "b"), Rec("F", "")}},

      // containerd's readLine drops "\r\n" whole and keeps any other "\r".
      {"CRLF dropped", kMax, {"a\r\n"}, false, {Rec("F", "a")}},
      {"CRLF alone", kMax, {"\r\n"}, false, {Rec("F", "")}},
      {"inner CR kept", kMax, {"a\rb\n"}, false, {Rec("F", "a\rb")}},
      {"only the CR before LF dropped",
       kMax,
       {"a\r\r\n"},
       false,
       {Rec("F", "a\r")}},
      {"CRLF across chunks",
       kMax,
       {"a\r", "\nb\n"},
       false,
       {Rec("F", "a"), Rec("F", "b")}},
      {"CR then other byte across chunks",
       kMax,
       {"a\r", "b\n"},
       false,
       {Rec("F", "a\rb")}},
      {"CR then CRLF across chunks",
       kMax,
       {"a\r", "\r\n"},
       false,
       {Rec("F", "a\r")}},
      {"CR at end of stream kept", kMax, {"a\r"}, true, {Rec("P", "a\r")}},
      {"CRLF after a full max_line",
       4,
       {"abcd\r\n"},
       false,
       {Rec("F", "abcd")}},
      {"CR after a full max_line starts the next record",
       4,
       {"abcd\rx\n"},
       false,
       {Rec("P", "abcd"), Rec("F", "\rx")}},
      {"CR as the last byte of a split",
       4,
       {"abc\rx\n"},
       false,
       {Rec("P", "abc\r"), Rec("F", "x")}},
      {"CR after a full max_line at finish",
       4,
       {"abcd\r"},
       true,
       {Rec("P", "abcd"), Rec("P", "\r")}},
  };
}

std::vector<std::string> ByteByByte(const std::vector<std::string>& chunks) {
  std::vector<std::string> bytes;
  for (const std::string& chunk : chunks) {
    for (char c : chunk) bytes.emplace_back(1, c);
  }
  return bytes;
}

TEST(LogLineFramerTest, FramesLikeContainerd) {
  for (const FramerCase& c : FramerCases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Frame(LogStream::kStdout, c.max_line, c.chunks, c.finish),
              c.want);
    EXPECT_EQ(Frame(LogStream::kStdout, c.max_line,
                    {absl::StrJoin(c.chunks, "")}, c.finish),
              c.want)
        << "fed whole";
    EXPECT_EQ(
        Frame(LogStream::kStdout, c.max_line, ByteByByte(c.chunks), c.finish),
        c.want)
        << "fed byte by byte";
  }
}

TEST(LogLineFramerTest, Stderr) {
  EXPECT_EQ(Frame(LogStream::kStderr, 2, {"oops\n", "x"}, true),
            (std::vector<std::string>{Rec("P", "oo", "stderr"),
                                      Rec("F", "ps", "stderr"),
                                      Rec("P", "x", "stderr")}));
}

TEST(LogLineFramerTest, StampsRecordsWhenTheyComplete) {
  const absl::Time t1 = absl::FromUnixSeconds(1);
  const absl::Time t2 = absl::FromUnixSeconds(2);
  const absl::Time t3 = absl::FromUnixSeconds(3);
  std::vector<std::string> records;
  auto collect = [&](absl::string_view r) { records.emplace_back(r); };
  LogLineFramer framer(LogStream::kStdout, 4);
  framer.Feed("ab", t1, collect);
  framer.Feed("cdefg\nh", t2, collect);
  framer.Finish(t3, collect);
  EXPECT_EQ(records, (std::vector<std::string>{
                         "1970-01-01T00:00:02Z stdout P abcd\n",
                         "1970-01-01T00:00:02Z stdout F efg\n",
                         "1970-01-01T00:00:03Z stdout P h\n",
                     }));
}

TEST(LogLineFramerTest, UsableAgainAfterFinish) {
  std::vector<std::string> records;
  auto collect = [&](absl::string_view r) { records.emplace_back(r); };
  LogLineFramer framer(LogStream::kStdout);
  framer.Feed("a\r", kNow, collect);
  framer.Finish(kNow, collect);
  framer.Feed("\nb\n", kNow, collect);
  EXPECT_EQ(records, (std::vector<std::string>{Rec("P", "a\r"), Rec("F", ""),
                                               Rec("F", "b")}));
}

TEST(ParseLogRecordTest, Valid) {
  const struct {
    std::string line;
    absl::Time time;
    LogStream stream;
    bool partial;
    std::string content;
  } kCases[] = {
      {Rec("F", "hello world"), kNow, LogStream::kStdout, false, "hello world"},
      {Rec("P", "part", "stderr"), kNow, LogStream::kStderr, true, "part"},
      {absl::StrCat(kStamp, " stdout F no newline"), kNow, LogStream::kStdout,
       false, "no newline"},
      {Rec("F", ""), kNow, LogStream::kStdout, false, ""},
      {Rec("F", " a  b "), kNow, LogStream::kStdout, false, " a  b "},
      {Rec("F", "a\rb\r"), kNow, LogStream::kStdout, false, "a\rb\r"},
      // containerd stamps local time; kubelet accepts any offset.
      {"2016-10-06T02:17:09.669794202+02:00 stdout F x\n", kNow,
       LogStream::kStdout, false, "x"},
      {"2016-10-05T19:47:09.669794202-04:30 stdout F x\n", kNow,
       LogStream::kStdout, false, "x"},
      {"2016-10-06T00:17:09Z stdout F x\n", absl::FromUnixSeconds(1475713029),
       LogStream::kStdout, false, "x"},
      {"2016-10-06T00:17:09.1Z stdout F x\n",
       absl::FromUnixNanos(1475713029100000000), LogStream::kStdout, false,
       "x"},
      // Further tags are reserved for forward compatibility.
      {absl::StrCat(kStamp, " stdout P:future x\n"), kNow, LogStream::kStdout,
       true, "x"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.line);
    ASSERT_OK_AND_ASSIGN(LogRecord record, ParseLogRecord(c.line));
    EXPECT_EQ(record.time, c.time);
    EXPECT_EQ(record.stream, c.stream);
    EXPECT_EQ(record.partial, c.partial);
    EXPECT_EQ(record.content, c.content);
  }
}

TEST(ParseLogRecordTest, Invalid) {
  const struct {
    std::string line;
    std::string reason;
  } kCases[] = {
      {"", "timestamp is not found"},
      {"2016-10-06T00:17:09Z", "timestamp is not found"},
      {"yesterday stdout F x", "not YYYY-MM-DDTHH:MM:SS"},
      {"infinite-future stdout F x", "not YYYY-MM-DDTHH:MM:SS"},
      {" 2016-10-06T00:17:09Z stdout F x", "not YYYY-MM-DDTHH:MM:SS"},
      {"2016-10-06 00:17:09Z stdout F x", "not YYYY-MM-DDTHH:MM:SS"},
      {"2016-10-06T00:17:09 stdout F x", "no Z or +hh:mm offset"},
      {"2016-10-06T00:17:09+0200 stdout F x", "offset is not hh:mm"},
      {"2016-10-06T00:17:09.Z stdout F x", "fraction has no digits"},
      {"2016-10-06T00:17:09.6697942021Z stdout F x", "fraction over 9 digits"},
      {"2016-10-06T00:17:09Zz stdout F x", "trailing bytes"},
      {"2016-13-06T00:17:09Z stdout F x", "out of range"},
      {"2015-02-29T00:17:09Z stdout F x", "out of range"},
      {"2016-10-06T24:00:00Z stdout F x", "out of range"},
      {"2016-10-06T23:59:60Z stdout F x", "out of range"},
      {absl::StrCat(kStamp, " stdout"), "stream type is not found"},
      {absl::StrCat(kStamp, " stdin F x"), "unexpected stream type \"stdin\""},
      {absl::StrCat(kStamp, " stdout F"), "log tag is not found"},
      {absl::StrCat(kStamp, " stdout X x"), "unexpected log tag \"X\""},
      {absl::StrCat(kStamp, " stdout  x"), "unexpected log tag"},
      {absl::StrCat(kStamp, " stdout F a\nb"), "newline inside a record"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.line);
    const absl::StatusOr<LogRecord> record = ParseLogRecord(c.line);
    EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(record.status().message(), HasSubstr(c.reason));
  }
}

// Frames random bytes in random chunks, parses every record back and joins
// them as kubelet does: the container's bytes come back, except that "\r\n"
// reads as "\n", which containerd does too.
TEST(RoundTripTest, RandomData) {
  std::mt19937 rng(20240601);
  for (const bool with_cr : {false, true}) {
    for (const size_t max_line : {1, 3, 16, 1000}) {
      for (int trial = 0; trial < 20; ++trial) {
        SCOPED_TRACE(absl::StrCat("with_cr=", with_cr, " max_line=", max_line,
                                  " trial=", trial));
        // Mostly letters, with newlines, CRs, spaces and NULs to cut at.
        const std::string alphabet = with_cr ? std::string("ab \n\n\r\0\xff", 8)
                                             : std::string("ab \n\0\xff", 6);
        std::string input(std::uniform_int_distribution<size_t>(0, 3000)(rng),
                          ' ');
        for (char& c : input) {
          c = alphabet[std::uniform_int_distribution<size_t>(
              0, alphabet.size() - 1)(rng)];
        }

        std::vector<std::string> records;
        auto collect = [&](absl::string_view r) { records.emplace_back(r); };
        LogLineFramer framer(LogStream::kStderr, max_line);
        absl::Time now = kNow;
        for (size_t pos = 0; pos < input.size();) {
          const size_t n = std::uniform_int_distribution<size_t>(1, 64)(rng);
          framer.Feed(absl::string_view(input).substr(pos, n), now, collect);
          pos += n;
          now += absl::Nanoseconds(100);
        }
        framer.Finish(now, collect);

        std::string joined;
        absl::Time last = absl::InfinitePast();
        for (size_t i = 0; i < records.size(); ++i) {
          ASSERT_OK_AND_ASSIGN(LogRecord record, ParseLogRecord(records[i]));
          EXPECT_EQ(record.stream, LogStream::kStderr);
          EXPECT_GE(record.time, last);
          EXPECT_LE(record.time, now);
          last = record.time;
          EXPECT_LE(record.content.size(), max_line);
          // Only the end of stream leaves a short partial record.
          if (record.partial && i + 1 < records.size()) {
            EXPECT_EQ(record.content.size(), max_line);
          }
          joined += record.content;
          if (!record.partial) joined += "\n";
        }
        EXPECT_EQ(joined, absl::StrReplaceAll(input, {{"\r\n", "\n"}}));
      }
    }
  }
}

}  // namespace
}  // namespace converge

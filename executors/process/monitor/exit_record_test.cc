#include "executors/process/monitor/exit_record.h"

#include <fstream>
#include <string>

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge::process {
namespace {

ExitRecord Sample() {
  ExitRecord record;
  record.exit_code = 137;
  record.signal = 9;
  record.finished_at_unix_nanos = 1700000000123456789;
  record.oom_killed = true;
  record.reason = "OOMKilled";
  return record;
}

TEST(ExitRecordTest, RoundTrip) {
  ASSERT_OK_AND_ASSIGN(ExitRecord parsed, ParseExitRecord(SerializeExitRecord(Sample())));
  EXPECT_EQ(parsed, Sample());
  ExitRecord plain;
  plain.exit_code = 3;
  plain.finished_at_unix_nanos = 1;
  plain.reason = "Error";
  ASSERT_OK_AND_ASSIGN(ExitRecord again, ParseExitRecord(SerializeExitRecord(plain)));
  EXPECT_EQ(again, plain);
}

TEST(ExitRecordTest, OptionalAndUnknownFields) {
  ASSERT_OK_AND_ASSIGN(
      ExitRecord parsed,
      ParseExitRecord(R"({"exit_code":1,"finished_at_unix_nanos":5,"future":[1,2]})"));
  EXPECT_EQ(parsed.exit_code, 1);
  EXPECT_EQ(parsed.signal, 0);
  EXPECT_FALSE(parsed.oom_killed);
  EXPECT_EQ(parsed.reason, "");
}

TEST(ExitRecordTest, GarbledIsInvalidArgument) {
  const std::string full = SerializeExitRecord(Sample());
  for (const std::string& bad : {
           std::string(""),
           full.substr(0, full.size() / 2),  // truncated
           std::string("[1,2]"),
           std::string(R"({"finished_at_unix_nanos":5})"),  // no exit code
           std::string(R"({"exit_code":"3","finished_at_unix_nanos":5})"),
           std::string(R"({"exit_code":3})"),
           std::string(R"({"exit_code":99999999999,"finished_at_unix_nanos":5})"),
           std::string(R"({"exit_code":1.5,"finished_at_unix_nanos":5})"),
           std::string(R"({"exit_code":1,"finished_at_unix_nanos":5,"oom_killed":1})"),
           std::string(R"({"exit_code":1,"finished_at_unix_nanos":5,"reason":7})"),
       }) {
    EXPECT_EQ(ParseExitRecord(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ExitRecordTest, WriteThenRead) {
  TempTestDir dir;
  ASSERT_OK_AND_ASSIGN(std::optional<ExitRecord> none, ReadExitRecord(dir.path().string()));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK(WriteExitRecord(dir.path().string(), Sample()));
  ASSERT_OK_AND_ASSIGN(std::optional<ExitRecord> read, ReadExitRecord(dir.path().string()));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(*read, Sample());
  // Overwritten atomically; no temporary file left behind.
  ExitRecord second = Sample();
  second.exit_code = 0;
  ASSERT_OK(WriteExitRecord(dir.path().string(), second));
  ASSERT_OK_AND_ASSIGN(read, ReadExitRecord(dir.path().string()));
  EXPECT_EQ(read->exit_code, 0);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(ExitRecordTest, ReadGarbledFile) {
  TempTestDir dir;
  std::ofstream(dir.Sub(kExitRecordFile)) << "{\"exit_code\":";
  EXPECT_EQ(ReadExitRecord(dir.path().string()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ExitRecordTest, WriteIntoMissingDirFails) {
  TempTestDir dir;
  EXPECT_EQ(WriteExitRecord(dir.Sub("missing"), Sample()).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace converge::process

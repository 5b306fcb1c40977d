#include "common/read_file.h"

#include <fstream>

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(ReadFileUpTo, ReadsWholeFilesWithinTheLimit) {
  TempTestDir dir;
  const std::string path = dir.Sub("f");
  std::ofstream(path) << std::string(20000, 'x');
  ASSERT_OK_AND_ASSIGN(std::string content, ReadFileUpTo(path, 20000));
  EXPECT_EQ(content, std::string(20000, 'x'));
}

TEST(ReadFileUpTo, RefusesLargerFilesAndNamesMissingOnes) {
  TempTestDir dir;
  const std::string path = dir.Sub("f");
  std::ofstream(path) << std::string(20001, 'x');
  absl::StatusOr<std::string> content = ReadFileUpTo(path, 20000);
  EXPECT_TRUE(absl::IsInvalidArgument(content.status())) << content.status();
  EXPECT_EQ(content.status().message(), "`" + path + "` is larger than 20000 bytes");
  content = ReadFileUpTo(dir.Sub("missing"), 10);
  EXPECT_TRUE(absl::IsNotFound(content.status())) << content.status();
  EXPECT_NE(content.status().message().find(dir.Sub("missing")), absl::string_view::npos);
}

}  // namespace
}  // namespace converge

#include "executors/cgroup/cgroup.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::HasSubstr;

TEST(ValidateCgroupPath, AcceptsKubeletStylePaths) {
  for (const std::string path :
       {"/a", "/kubepods/besteffort/pod123/converge-0123abcd",
        "/kubepods.slice/x...y", "/.hidden", "/a..b"}) {
    EXPECT_TRUE(ValidateCgroupPath(path).ok())
        << path << ": " << ValidateCgroupPath(path);
  }
}

TEST(ValidateCgroupPath, RejectsUntrustedPaths) {
  struct Case {
    std::string path;
    std::string reason;
  };
  const Case kCases[] = {
      {"", "not absolute"},
      {"a/b", "not absolute"},
      {"/", "root"},
      {"//a", "empty component"},
      {"/a//b", "empty component"},
      {"/a/", "empty component"},
      {"/a/./b", "`.` or `..`"},
      {"/..", "`.` or `..`"},
      {"/a/../../etc", "`.` or `..`"},
      {"/a/..", "`.` or `..`"},
      {std::string("/a\0b", 4), "NUL"},
      {"/a\nb", "newline"},
      {"/" + std::string(256, 'x'), "component longer than 255"},
      {std::string(kMaxCgroupPathLength / 2, '/') + "x" +
           std::string(kMaxCgroupPathLength / 2, 'y'),
       "longer than 2048"},
  };
  for (const Case& c : kCases) {
    absl::Status status = ValidateCgroupPath(c.path);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.reason));
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("invalid cgroup path"));
  }
}

TEST(ValidateCgroupPath, EscapesThePathInTheMessage) {
  absl::Status status = ValidateCgroupPath(std::string("/a\0z", 4));
  EXPECT_THAT(std::string(status.message()), HasSubstr("`/a\\x00z`"));
}

}  // namespace
}  // namespace converge

#include "executors/cgroup/cgroup.h"

#include <string>
#include <vector>

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

TEST(DeviceRule, ToStringAndValidation) {
  EXPECT_EQ((DeviceRule{true, 'c', 1, 3, "rwm"}).ToString(), "c 1:3 rwm");
  EXPECT_EQ((DeviceRule{true, 'b', -1, -1, "m"}).ToString(), "b *:* m");
  EXPECT_EQ((DeviceRule{false, 'c', 136, -1, "rw"}).ToString(), "c 136:* rw");
  EXPECT_EQ(DeviceRule().ToString(), "a *:* rwm");
  const DeviceRule kBad[] = {
      {true, 'x', 1, 3, "rwm"}, {true, 'c', -2, 3, "rwm"},
      {true, 'c', 1, 3, ""},    {true, 'c', 1, 3, "rwx"},
      {true, 'c', 1, 3, "rwmr"},
  };
  for (const DeviceRule& rule : kBad) {
    absl::Status status = ValidateDeviceRule(rule);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
        << rule.ToString();
    EXPECT_THAT(std::string(status.message()), HasSubstr("device rule"));
  }
}

TEST(DefaultDeviceRules, RuncAllowlist) {
  std::vector<std::string> lines;
  for (const DeviceRule& rule : DefaultDeviceRules()) {
    EXPECT_TRUE(rule.allow);
    EXPECT_TRUE(ValidateDeviceRule(rule).ok()) << rule.ToString();
    lines.push_back(rule.ToString());
  }
  EXPECT_THAT(lines, ::testing::UnorderedElementsAre(
                         "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm",
                         "c 1:7 rwm", "c 5:0 rwm", "c 1:8 rwm", "c 1:9 rwm",
                         "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm",
                         "c 10:200 rwm"));
}

}  // namespace
}  // namespace converge

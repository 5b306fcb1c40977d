#include "executors/cgroup/cgroup.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace converge {
namespace {

// NAME_MAX: longer components fail mkdir with ENAMETOOLONG anyway; rejecting
// them here reports a request error instead of an internal one.
constexpr size_t kMaxComponentLength = 255;

absl::Status Invalid(const std::string& path, absl::string_view reason) {
  // CHexEscape keeps NULs and newlines visible in logs.
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid cgroup path `", absl::CHexEscape(path), "`: ", reason));
}

}  // namespace

absl::Status ValidateCgroupPath(const std::string& path) {
  if (path.empty() || path[0] != '/') return Invalid(path, "not absolute");
  if (path == "/") return Invalid(path, "the root is not a cgroup we manage");
  if (path.size() > kMaxCgroupPathLength) {
    return Invalid(
        path, absl::StrCat("longer than ", kMaxCgroupPathLength, " bytes"));
  }
  if (path.find('\0') != std::string::npos) return Invalid(path, "has NUL");
  // The kernel refuses '\n' too: it would make /proc/<pid>/cgroup ambiguous.
  if (path.find('\n') != std::string::npos) {
    return Invalid(path, "has a newline");
  }
  std::vector<absl::string_view> components =
      absl::StrSplit(absl::string_view(path).substr(1), '/');
  for (absl::string_view component : components) {
    if (component.empty()) return Invalid(path, "has an empty component");
    if (component == "." || component == "..") {
      return Invalid(path, "has a `.` or `..` component");
    }
    if (component.size() > kMaxComponentLength) {
      return Invalid(path, absl::StrCat("has a component longer than ",
                                        kMaxComponentLength, " bytes"));
    }
  }
  return absl::OkStatus();
}

namespace {

std::string DeviceNumber(int64_t number) {
  return number < 0 ? "*" : std::to_string(number);
}

}  // namespace

std::string DeviceRule::ToString() const {
  return absl::StrCat(std::string(1, type), " ", DeviceNumber(major), ":",
                      DeviceNumber(minor), " ", access);
}

absl::Status ValidateDeviceRule(const DeviceRule& rule) {
  auto invalid = [&rule](absl::string_view reason) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid device rule `", absl::CHexEscape(rule.ToString()),
                     "`: ", reason));
  };
  if (rule.type != 'a' && rule.type != 'c' && rule.type != 'b') {
    return invalid("type is not a, c or b");
  }
  if (rule.major < -1 || rule.minor < -1) {
    return invalid("major and minor must be -1 (any) or >= 0");
  }
  if (rule.access.empty() || rule.access.size() > 3 ||
      rule.access.find_first_not_of("rwm") != std::string::npos) {
    return invalid("access must be a non-empty subset of `rwm`");
  }
  return absl::OkStatus();
}

std::vector<DeviceRule> DefaultDeviceRules() {
  return {
      {true, 'c', -1, -1, "m"},     // mknod of any char device
      {true, 'b', -1, -1, "m"},     // mknod of any block device
      {true, 'c', 1, 3, "rwm"},     // /dev/null
      {true, 'c', 1, 5, "rwm"},     // /dev/zero
      {true, 'c', 1, 7, "rwm"},     // /dev/full
      {true, 'c', 5, 0, "rwm"},     // /dev/tty
      {true, 'c', 1, 8, "rwm"},     // /dev/random
      {true, 'c', 1, 9, "rwm"},     // /dev/urandom
      {true, 'c', 5, 1, "rwm"},     // /dev/console
      {true, 'c', 136, -1, "rwm"},  // /dev/pts/*
      {true, 'c', 5, 2, "rwm"},     // /dev/ptmx
      {true, 'c', 10, 200, "rwm"},  // /dev/net/tun
  };
}

}  // namespace converge

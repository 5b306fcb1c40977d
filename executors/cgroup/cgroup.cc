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

}  // namespace converge

#include "executors/cgroup/cgroup_mounts.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace converge {
namespace {

// Super options of a v1 cgroup mount that are not controllers.
const std::set<absl::string_view>& NonControllerOptions() {
  static const auto* options = new std::set<absl::string_view>{
      "rw",    "ro",   "noprefix",       "clone_children",
      "xattr", "none", "cpuset_v2_mode", "favordynmods",
  };
  return *options;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(absl::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() &&
        std::all_of(field.begin() + i + 1, field.begin() + i + 4,
                    [](char c) { return c >= '0' && c <= '7'; })) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 +
                                      (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

bool AtOrBelow(absl::string_view path, absl::string_view root) {
  if (root == "/") return absl::StartsWith(path, "/");
  return path == root ||
         (absl::StartsWith(path, root) && path[root.size()] == '/');
}

struct Mount {
  std::string device_and_root;  // "major:minor root": identifies the view
  CgroupHierarchy hierarchy;
};

}  // namespace

bool CgroupHierarchy::HasController(absl::string_view controller) const {
  return absl::c_linear_search(controllers, controller);
}

absl::StatusOr<std::vector<CgroupHierarchy>> FindV1Hierarchies(
    absl::string_view mountinfo, absl::string_view mount_root) {
  while (mount_root.size() > 1 && absl::EndsWith(mount_root, "/")) {
    mount_root.remove_suffix(1);
  }
  std::map<std::string, Mount> by_mount_point;  // last line wins
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    // id parent major:minor root mount_point options [optional...] - fstype
    // source super_options
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 10 || dash - fields.begin() < 6 ||
        fields.end() - dash != 4) {
      return absl::InternalError(absl::StrCat("malformed mountinfo line ",
                                              line_number, ": `", line, "`"));
    }
    if (dash[1] != "cgroup") continue;
    std::string mount_point = Unescape(fields[4]);
    if (!AtOrBelow(mount_point, mount_root)) continue;
    Mount mount;
    mount.device_and_root = absl::StrCat(fields[2], " ", Unescape(fields[3]));
    mount.hierarchy.mount_point = mount_point;
    for (absl::string_view option : absl::StrSplit(dash[3], ',')) {
      if (NonControllerOptions().count(option) > 0 ||
          absl::StartsWith(option, "release_agent=")) {
        continue;
      }
      mount.hierarchy.controllers.emplace_back(option);
    }
    by_mount_point[mount_point] = std::move(mount);
  }
  // std::map iterates in mount point order, so the first view of a hierarchy
  // in sorted order is the one kept.
  std::set<std::string> seen;
  std::vector<CgroupHierarchy> hierarchies;
  for (auto& [mount_point, mount] : by_mount_point) {
    if (!seen.insert(mount.device_and_root).second) continue;
    hierarchies.push_back(std::move(mount.hierarchy));
  }
  return hierarchies;
}

}  // namespace converge

#include "executors/image/snapshot/snapshotter.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace converge {

constexpr size_t kMaxKeyLength = 128;

Snapshot DescribeSnapshot(const std::string& root, const std::string& key, bool read_only) {
  const std::string dir = absl::StrCat(root, "/", key);
  Snapshot snapshot;
  snapshot.key = key;
  snapshot.rootfs = dir + "/rootfs";
  if (!read_only) {
    snapshot.upper_dir = dir + "/upper";
    snapshot.work_dir = dir + "/work";
  }
  snapshot.read_only = read_only;
  return snapshot;
}

absl::Status ValidateSnapshotKey(const std::string& key) {
  const auto invalid = [&key](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot key `", key, "`: ", why));
  };
  if (key.empty() || key.size() > kMaxKeyLength) {
    return invalid(absl::StrCat("must be 1 to ", kMaxKeyLength, " characters"));
  }
  for (char c : key) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') {
      return invalid("may contain only letters, digits, '_', '.' and '-'");
    }
  }
  if (key == "." || key == "..") return invalid("names a directory other than its own");
  return absl::OkStatus();
}

absl::Status ValidateSnapshotRequest(const SnapshotRequest& request) {
  if (absl::Status status = ValidateSnapshotKey(request.key); !status.ok()) return status;
  for (const std::string& dir : request.lower_dirs) {
    bool dot_component = false;
    for (absl::string_view part : absl::StrSplit(dir, '/')) {
      dot_component |= part == "." || part == "..";
    }
    if (dir.empty() || dir[0] != '/' || dot_component) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot ", request.key, ": lower dir `", dir,
                       "` must be an absolute path without `.` or `..` components"));
    }
  }
  return absl::OkStatus();
}

}  // namespace converge

#include "executors/namespace/mountinfo.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "executors/namespace/unique_fd.h"

namespace converge {
namespace {

constexpr char kMountInfoPath[] = "/proc/thread-self/mountinfo";

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

// The kernel escapes space, tab, newline and backslash as \ooo (octal).
std::string Unescape(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\' && i + 3 < in.size() && IsOctal(in[i + 1]) &&
        IsOctal(in[i + 2]) && IsOctal(in[i + 3])) {
      out.push_back(static_cast<char>(
          (in[i + 1] - '0') * 64 + (in[i + 2] - '0') * 8 + (in[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

absl::StatusOr<MountInfo> ParseLine(absl::string_view line) {
  // Fields are separated by exactly one space; an empty source stays a field.
  std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
  // id parent major:minor root mount_point options [optional...] - type src
  size_t dash = 6;
  while (dash < fields.size() && fields[dash] != "-") ++dash;
  MountInfo info;
  if (dash + 2 >= fields.size() ||
      !absl::SimpleAtoi(fields[0], &info.mount_id) ||
      !absl::SimpleAtoi(fields[1], &info.parent_id)) {
    return absl::InternalError(
        absl::StrCat("malformed mountinfo line `", line, "`"));
  }
  info.root = Unescape(fields[3]);
  info.mount_point = Unescape(fields[4]);
  for (size_t i = 6; i < dash; ++i) {
    info.optional_fields.emplace_back(fields[i]);
  }
  info.fs_type = std::string(fields[dash + 1]);
  info.source = Unescape(fields[dash + 2]);
  if (dash + 3 < fields.size()) info.super_options = Unescape(fields[dash + 3]);
  return info;
}

}  // namespace

bool MountInfo::shared() const {
  for (const std::string& field : optional_fields) {
    if (absl::StartsWith(field, "shared:")) return true;
  }
  return false;
}

absl::StatusOr<std::vector<MountInfo>> ParseMountInfo(absl::string_view text) {
  std::vector<MountInfo> mounts;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::StatusOr<MountInfo> info = ParseLine(line);
    if (!info.ok()) return info.status();
    mounts.push_back(*std::move(info));
  }
  return mounts;
}

absl::StatusOr<std::vector<MountInfo>> ReadMountInfo() {
  UniqueFd fd(open(kMountInfoPath, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open `", kMountInfoPath, "`");
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read `", kMountInfoPath, "`");
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return ParseMountInfo(text);
}

absl::StatusOr<int> CountMountsAt(const std::string& path) {
  absl::StatusOr<std::vector<MountInfo>> mounts = ReadMountInfo();
  if (!mounts.ok()) return mounts.status();
  int count = 0;
  for (const MountInfo& mount : *mounts) {
    if (mount.mount_point == path) ++count;
  }
  return count;
}

}  // namespace converge

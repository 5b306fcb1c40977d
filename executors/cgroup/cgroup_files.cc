#include "executors/cgroup/cgroup_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"

namespace converge {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open `", path, "`");
  std::string content;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status status = ErrnoError(errno, "read `", path, "`");
      close(fd);
      return status;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  if (close(fd) != 0) return ErrnoError(errno, "close `", path, "`");
  return content;
}

absl::StatusOr<std::optional<std::string>> ReadFileIfExists(
    const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path);
  if (content.ok()) return std::optional<std::string>(*std::move(content));
  if (content.status().code() == absl::StatusCode::kNotFound) {
    return std::optional<std::string>();
  }
  return content.status();
}

absl::Status WriteFile(const std::string& path, absl::string_view value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open `", path, "`");
  ssize_t n;
  do {
    n = write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    absl::Status status =
        ErrnoError(errno, "write `", value, "` to `", path, "`");
    close(fd);
    return status;
  }
  if (static_cast<size_t>(n) != value.size()) {
    close(fd);
    return absl::InternalError(
        absl::StrCat("short write to `", path, "`: ", n, " of ", value.size()));
  }
  if (close(fd) != 0) return ErrnoError(errno, "close `", path, "`");
  return absl::OkStatus();
}

bool FileExists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

absl::StatusOr<bool> MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0) return true;
  int err = errno;
  if (err == ENOTDIR) {
    absl::Status status = ErrnoError(err, "mkdir `", dir, "`");
    return absl::InvalidArgumentError(absl::StrCat(
        status.message(), " (a parent is a control file, not a cgroup)"));
  }
  if (err != EEXIST) return ErrnoError(err, "mkdir `", dir, "`");
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoError(errno, "stat `", dir, "`");
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("`", dir, "` exists and is a control file, not a cgroup"));
  }
  return false;
}

absl::StatusOr<std::vector<std::string>> ChildDirs(const std::string& dir) {
  std::vector<std::string> children;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    // Removed meanwhile (a child cgroup going away while we walk).
    if (errno == ENOENT) return children;
    return ErrnoError(errno, "opendir `", dir, "`");
  }
  errno = 0;
  while (dirent* entry = readdir(d)) {
    const absl::string_view name = entry->d_name;
    // cgroupfs fills d_type; every directory in it is a cgroup.
    if (entry->d_type == DT_DIR && name != "." && name != "..") {
      children.push_back(absl::StrCat(dir, "/", name));
    }
  }
  const int err = errno;
  closedir(d);
  if (err != 0) return ErrnoError(err, "readdir `", dir, "`");
  return children;
}

std::map<std::string, uint64_t> ParseFlatKeyed(absl::string_view content) {
  std::map<std::string, uint64_t> out;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    uint64_t value;
    if (fields.size() != 2 || !absl::SimpleAtoi(fields[1], &value) ||
        fields[1][0] == '-' || fields[1][0] == '+') {
      continue;
    }
    out[std::string(fields[0])] = value;
  }
  return out;
}

absl::StatusOr<std::optional<uint64_t>> ParseSingleValue(
    absl::string_view content, absl::string_view what) {
  // LONG_MAX rounded down to a page: v1's "unlimited". Real limits and
  // usages are far below.
  constexpr uint64_t kUnlimitedV1 = 0x7ffffffffffff000ULL;
  const absl::string_view value = absl::StripAsciiWhitespace(content);
  if (value == "max") return std::optional<uint64_t>();
  uint64_t number;
  if (value.empty() || value[0] == '-' || value[0] == '+' ||
      !absl::SimpleAtoi(value, &number)) {
    return absl::InternalError(absl::StrCat(
        "malformed `", what, "`: `", absl::CHexEscape(value.substr(0, 64)),
        "` is neither a number nor `max`"));
  }
  if (number >= kUnlimitedV1) return std::optional<uint64_t>();
  return std::optional<uint64_t>(number);
}

absl::StatusOr<std::vector<pid_t>> ParsePidList(absl::string_view content,
                                                absl::string_view what) {
  std::vector<pid_t> pids;
  for (absl::string_view line :
       absl::StrSplit(content, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    int32_t pid;
    if (!absl::SimpleAtoi(line, &pid) || pid <= 0) {
      return absl::InternalError(absl::StrCat(
          "malformed `", what, "`: `", absl::CHexEscape(line.substr(0, 64)),
          "` is not a pid"));
    }
    pids.push_back(pid);
  }
  return pids;
}

uint64_t CpuSharesToWeight(uint64_t shares) {
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t WorkingSet(uint64_t usage, uint64_t inactive_file) {
  return usage > inactive_file ? usage - inactive_file : 0;
}

absl::Status ValidateHugepageSize(absl::string_view size) {
  const bool ok =
      size.size() > 2 && size.size() <= 12 &&
      (absl::EndsWith(size, "KB") || absl::EndsWith(size, "MB") ||
       absl::EndsWith(size, "GB")) &&
      std::all_of(size.begin(), size.end() - 2, absl::ascii_isdigit) &&
      size[0] != '0';
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid hugepage size `", absl::CHexEscape(size),
                   "`: want digits then KB, MB or GB, e.g. `2MB`"));
}

absl::StatusOr<std::optional<std::string>> V2SwapMax(
    std::optional<int64_t> memory, std::optional<int64_t> swap) {
  const bool swap_unset = !swap.has_value() || *swap == 0;
  const bool memory_unlimited = memory.has_value() && *memory <= 0;
  if (swap_unset) {
    // v1 would refuse memory above memory+swap; v2 just follows the same
    // rule for consistency: unlimited memory means unlimited swap.
    if (memory_unlimited) return std::optional<std::string>("max");
    return std::optional<std::string>();
  }
  if (*swap < 0) return std::optional<std::string>("max");
  if (!memory.has_value() || memory_unlimited) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory+swap limit ", *swap, " needs a memory limit (cgroup v2 "
        "memory.swap.max is swap only, computed as memory+swap - memory)"));
  }
  if (*swap < *memory) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory+swap limit ", *swap,
                     " is below the memory limit ", *memory));
  }
  return std::optional<std::string>(std::to_string(*swap - *memory));
}

}  // namespace converge

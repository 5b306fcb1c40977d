#include "executors/process/monitor/process_identity.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "executors/namespace/unique_fd.h"

namespace converge::process {
namespace {

struct StatFields {
  char state = '?';
  uint64_t start_time = 0;
};

absl::StatusOr<StatFields> ReadStat(pid_t pid) {
  if (pid <= 0) return absl::InvalidArgumentError(absl::StrCat("invalid pid ", pid));
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ESRCH) {
      return absl::NotFoundError(absl::StrCat("process ", pid, " does not exist"));
    }
    return ErrnoError(errno, "open `", path, "`");
  }
  // The line is well under 1 KiB, but comm may hold anything up to 16 bytes.
  char buffer[1024];
  ssize_t n;
  do {
    n = read(fd.get(), buffer, sizeof(buffer) - 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == ESRCH) return absl::NotFoundError(absl::StrCat("process ", pid, " does not exist"));
    return ErrnoError(errno, "read `", path, "`");
  }
  absl::string_view line(buffer, static_cast<size_t>(n));
  // "pid (comm) state ppid ...": comm may contain spaces and ')'.
  const size_t paren = line.rfind(')');
  if (paren == absl::string_view::npos || paren + 2 >= line.size()) {
    return absl::InternalError(absl::StrCat("`", path, "`: malformed"));
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(line.substr(paren + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); field 22 is fields[19].
  StatFields stat;
  if (fields.size() < 20 || fields[0].size() != 1 ||
      !absl::SimpleAtoi(fields[19], &stat.start_time)) {
    return absl::InternalError(absl::StrCat("`", path, "`: malformed"));
  }
  stat.state = fields[0][0];
  return stat;
}

}  // namespace

absl::StatusOr<uint64_t> ReadProcessStartTime(pid_t pid) {
  absl::StatusOr<StatFields> stat = ReadStat(pid);
  if (!stat.ok()) return stat.status();
  return stat->start_time;
}

bool IsSameProcess(const ProcessIdentity& id) {
  absl::StatusOr<StatFields> stat = ReadStat(id.pid);
  return stat.ok() && stat->start_time == id.start_time && stat->state != 'Z' &&
         stat->state != 'X';
}

}  // namespace converge::process

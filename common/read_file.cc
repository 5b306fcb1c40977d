#include "common/read_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace converge {

absl::StatusOr<std::string> ReadFdUpTo(int fd, const std::string& display, size_t limit) {
  std::string content;
  char buffer[8192];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "read `", display, "`");
    if (n == 0) return content;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("`", display, "` is larger than ", limit, " bytes"));
    }
  }
}

absl::StatusOr<std::string> ReadFileUpTo(const std::string& path, size_t limit) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open `", path, "`");
  absl::StatusOr<std::string> content = ReadFdUpTo(fd, path, limit);
  close(fd);
  return content;
}

}  // namespace converge

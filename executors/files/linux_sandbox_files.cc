#include "executors/files/linux_sandbox_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace converge {
namespace {

absl::Status WriteAll(int fd, const std::string& content, const std::string& path) {
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write `", path, "`");
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Writes `content` to `path` through a temporary file and rename(2), so that
// readers (and a crash) see the old file or the new one, never half of one.
absl::Status ReplaceFile(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return ErrnoError(errno, "open `", temporary, "`");
  absl::Status status = WriteAll(fd, content, temporary);
  if (status.ok() && fchmod(fd, 0644) != 0) status = ErrnoError(errno, "chmod `", temporary, "`");
  if (close(fd) != 0 && status.ok()) status = ErrnoError(errno, "close `", temporary, "`");
  if (status.ok() && rename(temporary.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, "rename `", temporary, "` to `", path, "`");
  }
  if (!status.ok()) unlink(temporary.c_str());
  return status;
}

}  // namespace

absl::Status LinuxSandboxFiles::Write(const std::string& dir,
                                      const std::map<std::string, std::string>& files) {
  CONVERGE_RETURN_IF_ERROR(ValidateSandboxFiles(dir, files));
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return ErrnoError(error.value(), "mkdir -p `", dir, "`");
  if (chmod(dir.c_str(), 0755) != 0) return ErrnoError(errno, "chmod `", dir, "`");
  for (const auto& [name, content] : files) {
    CONVERGE_RETURN_IF_ERROR(ReplaceFile(absl::StrCat(dir, "/", name), content));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> LinuxSandboxFiles::Exists(const std::string& dir,
                                               const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(dir, "/", name);
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return false;
      return ErrnoError(errno, "stat `", path, "`");
    }
    if (!S_ISREG(st.st_mode)) return false;
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoError(errno, "stat `", dir, "`");
  }
  return S_ISDIR(st.st_mode);
}

absl::Status LinuxSandboxFiles::Remove(const std::string& dir) {
  CONVERGE_RETURN_IF_ERROR(ValidateSandboxFiles(dir, {}));
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  if (error) return ErrnoError(error.value(), "rm -r `", dir, "`");
  return absl::OkStatus();
}

absl::StatusOr<std::string> LinuxSandboxFiles::HostResolvConf() {
  int fd = open(host_resolv_conf_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // A node without one resolves nothing by name; the pod gets the same.
    if (errno == ENOENT) return std::string();
    return ErrnoError(errno, "open `", host_resolv_conf_, "`");
  }
  std::string content;
  char buffer[4096];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      close(fd);
      return ErrnoError(saved, "read `", host_resolv_conf_, "`");
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > (1 << 20)) break;  // resolv.conf is tiny; do not trust its size
  }
  close(fd);
  return content;
}

}  // namespace converge

#include "executors/image/unpack/rooted_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"

namespace converge {
namespace {

// RESOLVE_IN_ROOT fails with EAGAIN when a rename or mount anywhere on the
// host raced with a `..` lookup; a busy node sees that now and then.
constexpr int kOpenat2Attempts = 32;

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};

}  // namespace

std::string CleanEntryPath(absl::string_view name) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  return absl::StrJoin(parts, "/");
}

std::pair<std::string, std::string> SplitParent(const std::string& path) {
  if (path.empty()) return {"", "."};
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

int OpenDirInRoot(int root_fd, const std::string& path) {
  struct open_how how = {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  const char* name = path.empty() ? "." : path.c_str();
  long fd = -1;
  for (int attempt = 0; attempt < kOpenat2Attempts; ++attempt) {
    fd = syscall(SYS_openat2, root_fd, name, &how, sizeof(how));
    if (fd >= 0 || errno != EAGAIN) break;
  }
  return static_cast<int>(fd);
}

absl::StatusOr<UniqueFd> MakeDirsInRoot(int root_fd, const std::string& root_name,
                                        const std::string& path) {
  UniqueFd dir(OpenDirInRoot(root_fd, path));
  if (dir.valid()) return dir;
  if (errno != ENOENT) return ErrnoError(errno, "open `", root_name, "/", path, "`");
  // Walk down from the root, creating each missing component inside the
  // directory its prefix resolved to.
  dir = UniqueFd(OpenDirInRoot(root_fd, ""));
  if (!dir.valid()) return ErrnoError(errno, "open `", root_name, "`");
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string prefix = path.substr(0, end);
    const std::string name = path.substr(start, end - start);
    UniqueFd next(OpenDirInRoot(root_fd, prefix));
    if (!next.valid()) {
      if (errno != ENOENT) return ErrnoError(errno, "open `", root_name, "/", prefix, "`");
      if (mkdirat(dir.get(), name.c_str(), 0755) != 0) {
        // It exists yet did not resolve: a symlink to a directory the tree
        // lacks. Following it would mean creating its target; refuse.
        if (errno == EEXIST) {
          return absl::InvalidArgumentError(
              absl::StrCat("`", root_name, "/", prefix, "` is a symlink to a missing directory"));
        }
        return ErrnoError(errno, "mkdir `", root_name, "/", prefix, "`");
      }
      // Exactly 0755 whatever the daemon's umask.
      if (fchmodat(dir.get(), name.c_str(), 0755, 0) != 0) {
        return ErrnoError(errno, "chmod `", root_name, "/", prefix, "`");
      }
      next =
          UniqueFd(openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) return ErrnoError(errno, "open `", root_name, "/", prefix, "`");
    }
    dir = std::move(next);
    start = end + 1;
  }
  return dir;
}

absl::Status RemoveAllAt(int dir_fd, const std::string& name, const std::string& display) {
  if (unlinkat(dir_fd, name.c_str(), 0) == 0) return absl::OkStatus();
  if (errno != EISDIR) return ErrnoError(errno, "unlink `", display, "`");
  int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open `", display, "`");
  std::unique_ptr<DIR, DirCloser> dir(fdopendir(fd));
  if (dir == nullptr) {
    int err = errno;
    close(fd);
    return ErrnoError(err, "fdopendir `", display, "`");
  }
  for (;;) {
    errno = 0;
    struct dirent* entry = readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) return ErrnoError(errno, "readdir `", display, "`");
      break;
    }
    const std::string child = entry->d_name;
    if (child == "." || child == "..") continue;
    absl::Status removed = RemoveAllAt(dirfd(dir.get()), child, absl::StrCat(display, "/", child));
    if (!removed.ok()) return removed;
  }
  if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) {
    return ErrnoError(errno, "rmdir `", display, "`");
  }
  return absl::OkStatus();
}

}  // namespace converge

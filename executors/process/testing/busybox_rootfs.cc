#include "executors/process/testing/busybox_rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace converge::process::testing {
namespace {

absl::Status MakeDirs(const std::string& path, mode_t mode) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return ErrnoError(errno, "mkdir `", prefix, "`");
    }
    if (slash == std::string::npos) break;
  }
  if (chmod(path.c_str(), mode) != 0) return ErrnoError(errno, "chmod `", path, "`");
  return absl::OkStatus();
}

absl::Status WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError(errno, "create `", path, "`");
  ssize_t n = write(fd, content.data(), content.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(content.size())) return ErrnoError(err, "write `", path, "`");
  return absl::OkStatus();
}

absl::Status CopyFile(const std::string& from, const std::string& to, mode_t mode) {
  int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoError(errno, "open `", from, "`");
  struct stat st;
  if (fstat(in, &st) != 0) {
    int err = errno;
    close(in);
    return ErrnoError(err, "stat `", from, "`");
  }
  int out = open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out < 0) {
    int err = errno;
    close(in);
    return ErrnoError(err, "create `", to, "`");
  }
  off_t offset = 0;
  absl::Status status;
  while (offset < st.st_size) {
    ssize_t n = sendfile(out, in, &offset, st.st_size - offset);
    if (n <= 0) {
      status = ErrnoError(n < 0 ? errno : EIO, "copy `", from, "` to `", to, "`");
      break;
    }
  }
  close(in);
  if (close(out) != 0 && status.ok()) status = ErrnoError(errno, "close `", to, "`");
  if (status.ok() && chmod(to.c_str(), mode) != 0) status = ErrnoError(errno, "chmod `", to, "`");
  return status;
}

}  // namespace

const std::vector<std::string>& DefaultBusyboxApplets() {
  static const std::vector<std::string>* const kApplets = new std::vector<std::string>{
      "sh",    "ash",   "cat",   "echo",  "ls",       "id",     "mount",  "umount", "sleep",
      "true",  "false", "touch", "mkdir", "rm",       "rmdir",  "ln",     "ps",     "grep",
      "wc",    "head",  "tail",  "stat",  "hostname", "unshare", "env",   "ping",   "kill",
      "test",  "[",     "printf", "readlink", "chmod", "chown", "cp",     "mv",     "pwd",
      "whoami", "dd",   "sed",   "awk",   "tr",       "find",   "date",   "uname",  "which",
      "pidof", "mknod", "df",    "xargs", "seq",      "tee",    "sort",   "cut",    "nsenter",
      "groups", "setpriv", "ip",  "nproc", "timeout",  "wget",   "nc",     "mkfifo", "dirname",
      "basename", "sync", "usleep", "yes",
  };
  return *kApplets;
}

absl::Status BuildBusyboxRootfs(const std::string& dir, const BusyboxRootfsOptions& options) {
  if (access(options.busybox.c_str(), X_OK) != 0) {
    return ErrnoError(errno, "busybox `", options.busybox, "` (install busybox-static)");
  }
  CONVERGE_RETURN_IF_ERROR(MakeDirs(dir, 0755));
  for (const char* sub : {"bin", "etc", "proc", "sys", "dev", "root", "home/tester", "var",
                          "run"}) {
    CONVERGE_RETURN_IF_ERROR(MakeDirs(absl::StrCat(dir, "/", sub), 0755));
  }
  CONVERGE_RETURN_IF_ERROR(MakeDirs(dir + "/tmp", 01777));
  const std::string home = dir + "/home/tester";
  if (chown(home.c_str(), kTestUid, kTestGid) != 0) {
    return ErrnoError(errno, "chown `", home, "`");
  }
  const std::string busybox = dir + "/bin/busybox";
  CONVERGE_RETURN_IF_ERROR(CopyFile(options.busybox, busybox, 0755));
  std::vector<std::string> applets = DefaultBusyboxApplets();
  applets.insert(applets.end(), options.extra_applets.begin(), options.extra_applets.end());
  for (const std::string& applet : applets) {
    const std::string link_path = absl::StrCat(dir, "/bin/", applet);
    if (link(busybox.c_str(), link_path.c_str()) != 0 && errno != EEXIST) {
      return ErrnoError(errno, "link `", link_path, "` to `", busybox, "`");
    }
  }
  CONVERGE_RETURN_IF_ERROR(WriteFile(dir + "/etc/passwd",
                                     absl::StrCat("root:x:0:0:root:/root:/bin/sh\n",
                                                  "nobody:x:65534:65534:nobody:/:/bin/false\n",
                                                  kTestUser, ":x:", kTestUid, ":", kTestGid,
                                                  ":test user:/home/tester:/bin/sh\n"),
                                     0644));
  CONVERGE_RETURN_IF_ERROR(WriteFile(
      dir + "/etc/group",
      absl::StrCat("root:x:0:\n", "wheel:x:", kWheelGid, ":", kTestUser, "\n", "audio:x:",
                   kAudioGid, ":", kTestUser, "\n", "nogroup:x:65534:\n", kTestUser, ":x:",
                   kTestGid, ":\n"),
      0644));
  return absl::OkStatus();
}

}  // namespace converge::process::testing

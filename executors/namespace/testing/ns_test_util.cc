#include "executors/namespace/testing/ns_test_util.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/dedicated_thread.h"
#include "executors/namespace/unique_fd.h"

namespace converge {

absl::Status RunInNamespace(const std::string& pin_path, int nstype,
                            absl::FunctionRef<void()> fn) {
  UniqueFd fd(open(pin_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open `", pin_path, "`");
  absl::Status inner;
  CONVERGE_RETURN_IF_ERROR(RunOnDedicatedThread([&] {
    if (setns(fd.get(), nstype) != 0) {
      inner = ErrnoError(errno, "setns `", pin_path, "`");
      return;
    }
    fn();
  }));
  return inner;
}

absl::StatusOr<std::string> RunCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "re");
  if (pipe == nullptr) return ErrnoError(errno, "popen `", command, "`");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  if (status == -1) return ErrnoError(errno, "pclose `", command, "`");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("`", command, "` exited with ", status, ": ", out));
  }
  return out;
}

}  // namespace converge

// The real SandboxFilesExecutor: plain files under the daemon's state dir.
#ifndef CONVERGE_EXECUTORS_FILES_LINUX_SANDBOX_FILES_H_
#define CONVERGE_EXECUTORS_FILES_LINUX_SANDBOX_FILES_H_

#include <string>

#include "executors/files/sandbox_files.h"

namespace converge {

class LinuxSandboxFiles final : public SandboxFilesExecutor {
 public:
  // `host_resolv_conf` is where the node's resolver config is read from.
  explicit LinuxSandboxFiles(std::string host_resolv_conf = "/etc/resolv.conf")
      : host_resolv_conf_(std::move(host_resolv_conf)) {}

  absl::Status Write(const std::string& dir,
                     const std::map<std::string, std::string>& files) override;
  absl::StatusOr<bool> Exists(const std::string& dir,
                              const std::vector<std::string>& names) override;
  absl::Status Remove(const std::string& dir) override;
  absl::StatusOr<std::string> HostResolvConf() override;

 private:
  const std::string host_resolv_conf_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_FILES_LINUX_SANDBOX_FILES_H_

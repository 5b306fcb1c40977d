// In-memory SandboxFilesExecutor for reconciler tests.
#ifndef CONVERGE_EXECUTORS_FILES_TESTING_FAKE_SANDBOX_FILES_H_
#define CONVERGE_EXECUTORS_FILES_TESTING_FAKE_SANDBOX_FILES_H_

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "executors/files/sandbox_files.h"

namespace converge {

class FakeSandboxFiles final : public SandboxFilesExecutor {
 public:
  absl::Status Write(const std::string& dir,
                     const std::map<std::string, std::string>& files) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status injected = TakeError(); !injected.ok()) return injected;
    if (absl::Status valid = ValidateSandboxFiles(dir, files); !valid.ok()) return valid;
    for (const auto& [name, content] : files) dirs_[dir][name] = content;
    return absl::OkStatus();
  }
  absl::StatusOr<bool> Exists(const std::string& dir,
                              const std::vector<std::string>& names) override {
    absl::MutexLock lock(&mu_);
    auto it = dirs_.find(dir);
    if (it == dirs_.end()) return false;
    for (const std::string& name : names) {
      if (!it->second.count(name)) return false;
    }
    return true;
  }
  absl::Status Remove(const std::string& dir) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status injected = TakeError(); !injected.ok()) return injected;
    dirs_.erase(dir);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> HostResolvConf() override {
    absl::MutexLock lock(&mu_);
    return host_resolv_conf_;
  }

  // The next Write or Remove fails with `status` and changes nothing.
  void InjectError(absl::Status status) {
    absl::MutexLock lock(&mu_);
    errors_.push_back(std::move(status));
  }
  void SetHostResolvConf(std::string content) {
    absl::MutexLock lock(&mu_);
    host_resolv_conf_ = std::move(content);
  }
  // The files written to `dir`, empty if none.
  std::map<std::string, std::string> Files(const std::string& dir) const {
    absl::MutexLock lock(&mu_);
    auto it = dirs_.find(dir);
    return it == dirs_.end() ? std::map<std::string, std::string>() : it->second;
  }
  void DropDir(const std::string& dir) {
    absl::MutexLock lock(&mu_);
    dirs_.erase(dir);
  }

 private:
  absl::Status TakeError() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (errors_.empty()) return absl::OkStatus();
    absl::Status status = errors_.front();
    errors_.pop_front();
    return status;
  }

  mutable absl::Mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> dirs_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Status> errors_ ABSL_GUARDED_BY(mu_);
  std::string host_resolv_conf_ ABSL_GUARDED_BY(mu_) = "nameserver 192.0.2.53\n";
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_FILES_TESTING_FAKE_SANDBOX_FILES_H_

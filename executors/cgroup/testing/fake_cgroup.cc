#include "executors/cgroup/testing/fake_cgroup.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace converge {
namespace {

const char* OpName(FakeCgroupDriver::Op op) {
  switch (op) {
    case FakeCgroupDriver::Op::kCreate:
      return "create";
    case FakeCgroupDriver::Op::kRemove:
      return "remove";
    case FakeCgroupDriver::Op::kExists:
      return "exists";
  }
  return "unknown";
}

}  // namespace

absl::Status FakeCgroupDriver::BeginCall(Op op, const std::string& path) {
  calls_.push_back(absl::StrCat(OpName(op), " ", path));
  auto it = injected_.find(op);
  if (it == injected_.end() || it->second.empty()) return absl::OkStatus();
  absl::Status status = std::move(it->second.front());
  it->second.pop_front();
  return status;
}

absl::Status FakeCgroupDriver::Create(const std::string& path) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kCreate, path));
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    cgroups_.insert(path.substr(0, slash));
  }
  cgroups_.insert(path);
  return absl::OkStatus();
}

absl::Status FakeCgroupDriver::Remove(const std::string& path) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kRemove, path));
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  auto it = cgroups_.find(path);
  if (it == cgroups_.end()) return absl::OkStatus();
  // Children sort right after "<path>/", not necessarily right after path
  // ("/a-b" < "/a/b").
  auto child = cgroups_.lower_bound(path + "/");
  const bool has_children =
      child != cgroups_.end() && absl::StartsWith(*child, path + "/");
  if (has_children || populated_.count(path) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("remove cgroup `", path,
                     "`: rmdir: Device or resource "
                     "busy (errno 16) (fake); it still has processes or "
                     "child cgroups"));
  }
  cgroups_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<bool> FakeCgroupDriver::Exists(const std::string& path) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kExists, path));
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  return cgroups_.count(path) > 0;
}

void FakeCgroupDriver::InjectError(Op op, absl::Status status) {
  absl::MutexLock lock(&mu_);
  injected_[op].push_back(std::move(status));
}

void FakeCgroupDriver::SetPopulated(const std::string& path, bool populated) {
  absl::MutexLock lock(&mu_);
  if (populated) {
    populated_.insert(path);
  } else {
    populated_.erase(path);
  }
}

std::vector<std::string> FakeCgroupDriver::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

std::vector<std::string> FakeCgroupDriver::cgroups() const {
  absl::MutexLock lock(&mu_);
  return {cgroups_.begin(), cgroups_.end()};
}

}  // namespace converge

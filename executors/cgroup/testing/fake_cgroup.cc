#include "executors/cgroup/testing/fake_cgroup.h"

#include <csignal>
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
    case FakeCgroupDriver::Op::kSetResources:
      return "set_resources";
    case FakeCgroupDriver::Op::kStats:
      return "stats";
    case FakeCgroupDriver::Op::kProcsFiles:
      return "procs_files";
    case FakeCgroupDriver::Op::kPids:
      return "pids";
    case FakeCgroupDriver::Op::kKillAll:
      return "kill_all";
    case FakeCgroupDriver::Op::kSetDevices:
      return "set_devices";
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
  if (has_children || IsPopulated(path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("remove cgroup `", path,
                     "`: rmdir: Device or resource "
                     "busy (errno 16) (fake); it still has processes or "
                     "child cgroups"));
  }
  cgroups_.erase(it);
  resources_.erase(path);
  devices_.erase(path);
  stats_.erase(path);
  pids_.erase(path);
  return absl::OkStatus();
}

absl::StatusOr<bool> FakeCgroupDriver::Exists(const std::string& path) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kExists, path));
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  return cgroups_.count(path) > 0;
}

absl::Status FakeCgroupDriver::CheckExists(const std::string& path) const {
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  if (cgroups_.count(path) > 0) return absl::OkStatus();
  return absl::NotFoundError(
      absl::StrCat("cgroup `", path, "` does not exist (fake)"));
}

bool FakeCgroupDriver::IsPopulated(const std::string& path) const {
  auto pids = pids_.find(path);
  return populated_.count(path) > 0 ||
         (pids != pids_.end() && !pids->second.empty());
}

absl::Status FakeCgroupDriver::SetResources(const std::string& path,
                                            const CgroupResources& resources) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kSetResources, path));
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  CgroupResources& kept = resources_[path];
  auto merge = [](auto& into, const auto& from) {
    if (from) into = from;
  };
  merge(kept.cpu_shares, resources.cpu_shares);
  merge(kept.cpu_quota, resources.cpu_quota);
  merge(kept.cpu_period, resources.cpu_period);
  merge(kept.cpuset_cpus, resources.cpuset_cpus);
  merge(kept.cpuset_mems, resources.cpuset_mems);
  merge(kept.memory_limit_bytes, resources.memory_limit_bytes);
  merge(kept.memory_swap_limit_bytes, resources.memory_swap_limit_bytes);
  merge(kept.pids_limit, resources.pids_limit);
  for (const auto& [size, limit] : resources.hugepage_limits) {
    kept.hugepage_limits[size] = limit;
  }
  return absl::OkStatus();
}

absl::StatusOr<CgroupStats> FakeCgroupDriver::Stats(const std::string& path) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kStats, path));
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  auto it = stats_.find(path);
  CgroupStats stats = it == stats_.end() ? CgroupStats() : it->second;
  if (stats.timestamp == absl::Time()) stats.timestamp = absl::UnixEpoch();
  return stats;
}

absl::StatusOr<std::vector<std::string>> FakeCgroupDriver::ProcsFiles(
    const std::string& path) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kProcsFiles, path));
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  return std::vector<std::string>{
      absl::StrCat("/fake/cgroup", path, "/cgroup.procs")};
}

absl::StatusOr<std::vector<pid_t>> FakeCgroupDriver::Pids(
    const std::string& path) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kPids, path));
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  std::set<pid_t> pids;
  for (const auto& [cgroup, listed] : pids_) {
    if (cgroup == path || absl::StartsWith(cgroup, path + "/")) {
      pids.insert(listed.begin(), listed.end());
    }
  }
  return std::vector<pid_t>(pids.begin(), pids.end());
}

absl::Status FakeCgroupDriver::KillAll(const std::string& path, int signal) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(
      BeginCall(Op::kKillAll, absl::StrCat(path, " ", signal)));
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  kills_.emplace_back(path, signal);
  if (signal == SIGKILL) {
    for (auto& [cgroup, listed] : pids_) {
      if (cgroup == path || absl::StartsWith(cgroup, path + "/")) {
        listed.clear();
      }
    }
  }
  return absl::OkStatus();
}

absl::Status FakeCgroupDriver::SetDevices(
    const std::string& path, const std::vector<DeviceRule>& rules) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kSetDevices, path));
  for (const DeviceRule& rule : rules) {
    CONVERGE_RETURN_IF_ERROR(ValidateDeviceRule(rule));
  }
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  devices_[path] = rules;
  return absl::OkStatus();
}

void FakeCgroupDriver::SetStats(const std::string& path, CgroupStats stats) {
  absl::MutexLock lock(&mu_);
  stats_[path] = std::move(stats);
}

void FakeCgroupDriver::SetPids(const std::string& path,
                               std::vector<pid_t> pids) {
  absl::MutexLock lock(&mu_);
  pids_[path] = std::move(pids);
}

CgroupResources FakeCgroupDriver::resources(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = resources_.find(path);
  return it == resources_.end() ? CgroupResources() : it->second;
}

std::optional<std::vector<DeviceRule>> FakeCgroupDriver::devices(
    const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = devices_.find(path);
  if (it == devices_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<std::string, int>> FakeCgroupDriver::kills() const {
  absl::MutexLock lock(&mu_);
  return kills_;
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

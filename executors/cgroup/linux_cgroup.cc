#include "executors/cgroup/linux_cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <climits>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "executors/cgroup/cgroup_backend.h"
#include "executors/cgroup/cgroup_files.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace converge {

spdlog::logger& CgroupLog() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("cgroup");
  return *logger;
}

std::optional<std::string> ControllerDir(const CgroupLayout& layout,
                                         absl::string_view controller,
                                         const std::string& path) {
  for (const CgroupHierarchy& hierarchy : layout.hierarchies) {
    if (hierarchy.HasController(controller)) {
      return hierarchy.mount_point + path;
    }
  }
  return std::nullopt;
}

absl::Status PollUntil(const std::function<absl::StatusOr<bool>()>& done,
                       absl::Time deadline, absl::string_view what) {
  const absl::Time start = absl::Now();
  absl::Duration sleep = absl::Milliseconds(1);
  for (;;) {
    CONVERGE_ASSIGN_OR_RETURN(bool finished, done());
    if (finished) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, " did not finish within ",
                       absl::FormatDuration(deadline - start)));
    }
    absl::SleepFor(sleep);
    sleep = std::min(sleep * 2, absl::Milliseconds(20));
  }
}

absl::Status ReadValue(const std::string& file, std::optional<uint64_t>* out) {
  CONVERGE_ASSIGN_OR_RETURN(std::optional<std::string> text,
                            ReadFileIfExists(file));
  if (!text) return absl::OkStatus();
  CONVERGE_ASSIGN_OR_RETURN(*out, ParseSingleValue(*text, file));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::map<std::string, uint64_t>>> ReadKeyed(
    const std::string& file) {
  CONVERGE_ASSIGN_OR_RETURN(std::optional<std::string> text,
                            ReadFileIfExists(file));
  if (!text) return std::optional<std::map<std::string, uint64_t>>();
  return std::optional<std::map<std::string, uint64_t>>(ParseFlatKeyed(*text));
}

void CopyKey(const std::optional<std::map<std::string, uint64_t>>& keyed,
             const std::string& key, std::optional<uint64_t>* out,
             uint64_t scale) {
  if (!keyed) return;
  auto it = keyed->find(key);
  if (it != keyed->end()) *out = it->second * scale;
}

namespace {

// How long KillAll waits for a freeze or a thaw.
constexpr absl::Duration kFreezeTimeout = absl::Seconds(5);
// Signalling rounds without a freezer (v1 without a freezer hierarchy).
constexpr int kUnfrozenKillRounds = 5;
// Listings while frozen, until one finds no new process.
constexpr int kFrozenSignalRounds = 10;

absl::Status WithCode(absl::StatusCode code, const absl::Status& status,
                      absl::string_view detail = "") {
  return absl::Status(code, absl::StrCat(status.message(), detail));
}

// Resolves `mount_root` and picks its backend from the filesystem magic.
absl::StatusOr<std::pair<const CgroupBackend*, std::string>> SelectBackend(
    const std::string& mount_root) {
  char resolved[PATH_MAX];
  if (realpath(mount_root.c_str(), resolved) == nullptr) {
    return ErrnoError(errno, "realpath `", mount_root, "`");
  }
  struct statfs fs;
  if (statfs(resolved, &fs) != 0) {
    return ErrnoError(errno, "statfs `", resolved, "`");
  }
  switch (static_cast<unsigned long>(fs.f_type)) {  // NOLINT(runtime/int)
    case CGROUP2_SUPER_MAGIC:
      return std::make_pair(&kV2Backend, std::string(resolved));
    case TMPFS_MAGIC:         // the usual v1 (or hybrid) layout
    case CGROUP_SUPER_MAGIC:  // a single v1 hierarchy as the root
      return std::make_pair(&kV1Backend, std::string(resolved));
    default:
      return absl::FailedPreconditionError(absl::StrFormat(
          "`%s` is not a cgroup mount root (filesystem magic 0x%x)", resolved,
          static_cast<unsigned long>(fs.f_type)));  // NOLINT(runtime/int)
  }
}

// The backend for `mount_root` and what it manages there.
absl::StatusOr<std::pair<const CgroupBackend*, CgroupLayout>> Discover(
    const std::string& mount_root) {
  auto selected = SelectBackend(mount_root);
  if (!selected.ok()) {
    return Annotate(selected.status(), "detect cgroup version");
  }
  const auto& [backend, root] = *selected;
  CgroupLayout layout;
  layout.version = backend->version;
  CONVERGE_ASSIGN_OR_RETURN(layout.hierarchies, backend->discover(root));
  return std::make_pair(backend, std::move(layout));
}

}  // namespace

absl::StatusOr<CgroupLayout> LinuxCgroupDriver::DiscoverLayout(
    const std::string& mount_root) {
  CONVERGE_ASSIGN_OR_RETURN(auto discovered, Discover(mount_root));
  return std::move(discovered.second);
}

absl::StatusOr<std::unique_ptr<CgroupDriver>>
LinuxCgroupDriver::CreateCgroupDriver(const std::string& mount_root) {
  CONVERGE_ASSIGN_OR_RETURN(auto discovered, Discover(mount_root));
  auto& [backend, layout] = discovered;
  std::vector<std::string> names;
  for (const CgroupHierarchy& h : layout.hierarchies) {
    names.push_back(absl::StrCat(h.mount_point, "(",
                                 absl::StrJoin(h.controllers, ","), ")"));
  }
  CgroupLog().info("cgroup driver ready driver={} version={} hierarchies={}",
             kCgroupfsDriverName, layout.version, absl::StrJoin(names, " "));
  return std::unique_ptr<CgroupDriver>(
      new LinuxCgroupDriver(backend, std::move(layout)));
}

LinuxCgroupDriver::LinuxCgroupDriver(const CgroupBackend* backend,
                                     CgroupLayout layout)
    : backend_(backend), layout_(std::move(layout)) {}

std::string LinuxCgroupDriver::Name() const { return kCgroupfsDriverName; }

int LinuxCgroupDriver::Version() const { return backend_->version; }

absl::Status LinuxCgroupDriver::Create(const std::string& path) {
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  return Annotate(CreateValidated(path), "create cgroup `", path, "`");
}

absl::Status LinuxCgroupDriver::CreateValidated(const std::string& path) {
  const std::vector<std::string> components =
      absl::StrSplit(path.substr(1), '/');
  for (const CgroupHierarchy& hierarchy : layout_.hierarchies) {
    std::string dir = hierarchy.mount_point;
    for (size_t i = 0; i < components.size(); ++i) {
      const std::string parent = dir;
      absl::StrAppend(&dir, "/", components[i]);
      CONVERGE_ASSIGN_OR_RETURN(bool made, MakeDir(dir));
      CONVERGE_RETURN_IF_ERROR(backend_->prepare(hierarchy, parent, dir, made,
                                                 i + 1 == components.size()));
    }
  }
  return absl::OkStatus();
}

absl::Status LinuxCgroupDriver::Remove(const std::string& path) {
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  // Every hierarchy is tried even after a failure, so that a retry has less
  // left to do; the first error is reported.
  absl::Status first_error;
  for (const CgroupHierarchy& hierarchy : layout_.hierarchies) {
    const std::string dir = hierarchy.mount_point + path;
    if (rmdir(dir.c_str()) == 0) continue;
    const int err = errno;
    // Absent, or a control file rather than a cgroup: nothing of ours to
    // remove.
    if (err == ENOENT || err == ENOTDIR) continue;
    absl::Status status = ErrnoError(err, "rmdir `", dir, "`");
    if (err == EBUSY || err == ENOTEMPTY) {
      status = WithCode(absl::StatusCode::kFailedPrecondition, status,
                        "; it still has processes or child cgroups");
    }
    if (first_error.ok()) first_error = status;
  }
  return Annotate(first_error, "remove cgroup `", path, "`");
}

absl::StatusOr<bool> LinuxCgroupDriver::Exists(const std::string& path) {
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  size_t present = 0;
  for (const CgroupHierarchy& hierarchy : layout_.hierarchies) {
    const std::string dir = hierarchy.mount_point + path;
    struct stat st;
    if (stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) ++present;
      continue;
    }
    if (errno == ENOENT || errno == ENOTDIR) continue;
    return Annotate(ErrnoError(errno, "stat `", dir, "`"), "check cgroup `",
                    path, "`");
  }
  if (present != 0 && present != layout_.hierarchies.size()) {
    CgroupLog().debug("cgroup partly present path={} present_in={} of={}", path,
                present, layout_.hierarchies.size());
  }
  return present == layout_.hierarchies.size();
}

absl::Status LinuxCgroupDriver::CheckExists(const std::string& path) const {
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  for (const CgroupHierarchy& hierarchy : layout_.hierarchies) {
    const std::string dir = hierarchy.mount_point + path;
    struct stat st;
    if (stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    if (errno == ENOENT || errno == ENOTDIR || errno == 0) {
      return absl::NotFoundError(
          absl::StrCat("cgroup `", path, "` does not exist (no `", dir, "`)"));
    }
    return ErrnoError(errno, "stat `", dir, "`");
  }
  return absl::OkStatus();
}

absl::Status LinuxCgroupDriver::SetResources(const std::string& path,
                                             const CgroupResources& resources) {
  for (const auto& [size, limit] : resources.hugepage_limits) {
    CONVERGE_RETURN_IF_ERROR(ValidateHugepageSize(size));
  }
  for (const std::optional<std::string>* cpuset :
       {&resources.cpuset_cpus, &resources.cpuset_mems}) {
    if (*cpuset && (*cpuset)->find_first_not_of("0123456789,-") !=
                       std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid cpuset list `", absl::CHexEscape(**cpuset),
                       "`: want e.g. `0-3,6`"));
    }
  }
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  return Annotate(backend_->set_resources(layout_, path, resources),
                  "set resources of cgroup `", path, "`");
}

absl::StatusOr<CgroupStats> LinuxCgroupDriver::Stats(const std::string& path) {
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  CgroupStats stats;
  stats.timestamp = absl::Now();
  CONVERGE_RETURN_IF_ERROR(Annotate(backend_->stats(layout_, path, &stats),
                                    "stats of cgroup `", path, "`"));
  return stats;
}

absl::StatusOr<std::vector<std::string>> LinuxCgroupDriver::ProcsFiles(
    const std::string& path) {
  CONVERGE_RETURN_IF_ERROR(ValidateCgroupPath(path));
  std::vector<std::string> files;
  for (const CgroupHierarchy& hierarchy : layout_.hierarchies) {
    files.push_back(hierarchy.mount_point + path + "/cgroup.procs");
  }
  return files;
}

absl::StatusOr<std::vector<pid_t>> LinuxCgroupDriver::Pids(
    const std::string& path) {
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  absl::StatusOr<std::vector<pid_t>> pids = CollectPids(path);
  if (!pids.ok()) {
    return Annotate(pids.status(), "list processes of cgroup `", path, "`");
  }
  return pids;
}

absl::StatusOr<std::vector<pid_t>> LinuxCgroupDriver::CollectPids(
    const std::string& path) const {
  // Every hierarchy, since a process may have joined only some (an
  // interrupted join); a cgroup removed while we walk just has no pids.
  std::set<pid_t> pids;
  for (const CgroupHierarchy& hierarchy : layout_.hierarchies) {
    std::vector<std::string> pending = {hierarchy.mount_point + path};
    while (!pending.empty()) {
      const std::string dir = std::move(pending.back());
      pending.pop_back();
      const std::string file = dir + "/cgroup.procs";
      CONVERGE_ASSIGN_OR_RETURN(std::optional<std::string> text,
                                ReadFileIfExists(file));
      if (!text) continue;
      CONVERGE_ASSIGN_OR_RETURN(std::vector<pid_t> listed,
                                ParsePidList(*text, file));
      pids.insert(listed.begin(), listed.end());
      CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> children,
                                ChildDirs(dir));
      for (std::string& child : children) pending.push_back(std::move(child));
    }
  }
  return std::vector<pid_t>(pids.begin(), pids.end());
}

absl::StatusOr<size_t> LinuxCgroupDriver::SignalAll(
    const std::string& path, int signal, std::set<pid_t>* signalled) const {
  CONVERGE_ASSIGN_OR_RETURN(std::vector<pid_t> pids, CollectPids(path));
  absl::Status first_error;
  size_t count = 0;
  for (pid_t pid : pids) {
    if (signalled != nullptr && !signalled->insert(pid).second) continue;
    ++count;
    if (kill(pid, signal) == 0 || errno == ESRCH) continue;
    if (first_error.ok()) {
      first_error = ErrnoError(errno, "kill(", pid, ", ", signal, ")");
    }
  }
  CONVERGE_RETURN_IF_ERROR(first_error);
  return count;
}

absl::Status LinuxCgroupDriver::KillAll(const std::string& path, int signal) {
  if (signal <= 0 || signal >= NSIG) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid signal ", signal, " for cgroup `", path, "`"));
  }
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  return Annotate(KillAllExisting(path, signal), "signal ", signal,
                  " to every process of cgroup `", path, "`");
}

absl::Status LinuxCgroupDriver::KillAllExisting(const std::string& path,
                                                int signal) {
  if (signal == SIGKILL) {
    CONVERGE_ASSIGN_OR_RETURN(bool killed, backend_->kill_all(layout_, path));
    if (killed) return absl::OkStatus();
  }
  // Frozen, nothing can fork between listing and signalling.
  CONVERGE_ASSIGN_OR_RETURN(
      bool frozen, backend_->set_frozen(layout_, path, true,
                                        absl::Now() + kFreezeTimeout));
  if (!frozen) {
    CgroupLog().warn("no freezer: signalling in rounds, forks may escape "
                     "path={} signal={}",
                     path, signal);
    const int rounds = signal == SIGKILL ? kUnfrozenKillRounds : 1;
    for (int i = 0; i < rounds; ++i) {
      CONVERGE_RETURN_IF_ERROR(SignalAll(path, signal, nullptr).status());
    }
    return absl::OkStatus();
  }
  // A fork that was in flight when the freeze completed can still add a
  // (frozen) child after the listing: list again until nothing new shows up.
  std::set<pid_t> seen;
  absl::Status signalled;
  for (int round = 0; round < kFrozenSignalRounds; ++round) {
    absl::StatusOr<size_t> count = SignalAll(path, signal, &seen);
    if (!count.ok()) {
      signalled = count.status();
      break;
    }
    if (round > 0 && *count == 0) break;
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::StatusOr<bool> thawed = backend_->set_frozen(
      layout_, path, false, absl::Now() + kFreezeTimeout);
  CONVERGE_RETURN_IF_ERROR(signalled);
  return thawed.status();
}

absl::Status LinuxCgroupDriver::SetDevices(
    const std::string& path, const std::vector<DeviceRule>& rules) {
  for (const DeviceRule& rule : rules) {
    CONVERGE_RETURN_IF_ERROR(ValidateDeviceRule(rule));
  }
  CONVERGE_RETURN_IF_ERROR(CheckExists(path));
  return Annotate(backend_->set_devices(layout_, path, rules),
                  "set device rules of cgroup `", path, "`");
}

}  // namespace converge

#include "executors/cgroup/linux_cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace converge {

// The version-specific behaviour, as a table of plain functions (crun's
// libcrun_cgroup_manager). Per-container limits, stats and kill-all will be
// further entries here.
struct CgroupBackend {
  int version;
  // Lists the hierarchies the driver manages under `mount_root`.
  absl::StatusOr<std::vector<CgroupHierarchy>> (*discover)(
      const std::string& mount_root);
  // Readies `dir` (child of `parent` in `hierarchy`) once Create has made
  // (`made`) or found it. `leaf`: it is the requested cgroup, which will hold
  // processes, rather than one of its ancestors.
  absl::Status (*prepare)(const CgroupHierarchy& hierarchy,
                          const std::string& parent, const std::string& dir,
                          bool made, bool leaf);
};

namespace {

spdlog::logger& Log() {
  static const std::shared_ptr<spdlog::logger> logger = NamedLogger("cgroup");
  return *logger;
}

absl::Status WithCode(absl::StatusCode code, const absl::Status& status,
                      absl::string_view detail = "") {
  return absl::Status(code, absl::StrCat(status.message(), detail));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open `", path, "`");
  std::string content;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status status = ErrnoError(errno, "read `", path, "`");
      close(fd);
      return status;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  if (close(fd) != 0) return ErrnoError(errno, "close `", path, "`");
  return content;
}

// cgroup files take one value per write(2), so the value goes in one call.
absl::Status WriteFile(const std::string& path, absl::string_view value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open `", path, "`");
  ssize_t n;
  do {
    n = write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    absl::Status status =
        ErrnoError(errno, "write `", value, "` to `", path, "`");
    close(fd);
    return status;
  }
  if (static_cast<size_t>(n) != value.size()) {
    close(fd);
    return absl::InternalError(
        absl::StrCat("short write to `", path, "`: ", n, " of ", value.size()));
  }
  if (close(fd) != 0) return ErrnoError(errno, "close `", path, "`");
  return absl::OkStatus();
}

// mkdir that accepts an existing directory. Returns whether it made `dir`.
absl::StatusOr<bool> MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0) return true;
  int err = errno;
  if (err == ENOTDIR) {
    return WithCode(absl::StatusCode::kInvalidArgument,
                    ErrnoError(err, "mkdir `", dir, "`"),
                    " (a parent is a control file, not a cgroup)");
  }
  if (err != EEXIST) return ErrnoError(err, "mkdir `", dir, "`");
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoError(errno, "stat `", dir, "`");
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("`", dir, "` exists and is a control file, not a cgroup"));
  }
  return false;
}

// ---- v1: one hierarchy per (group of) controller(s) ----

absl::StatusOr<std::vector<CgroupHierarchy>> DiscoverV1(
    const std::string& mount_root) {
  CONVERGE_ASSIGN_OR_RETURN(std::string mountinfo,
                            ReadFile("/proc/self/mountinfo"));
  CONVERGE_ASSIGN_OR_RETURN(std::vector<CgroupHierarchy> hierarchies,
                            FindV1Hierarchies(mountinfo, mount_root));
  if (hierarchies.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no cgroup v1 hierarchy is mounted at or below `", mount_root, "`"));
  }
  return hierarchies;
}

absl::Status PrepareV1(const CgroupHierarchy& hierarchy,
                       const std::string& parent, const std::string& dir,
                       bool /*made*/, bool /*leaf*/) {
  if (!hierarchy.HasController("cpuset")) return absl::OkStatus();
  // A new v1 cpuset has empty cpus and mems (unless clone_children is set) and
  // the kernel refuses tasks in it, so inherit the parent's, as runc and crun
  // do. Only empty values are filled: configured cgroups keep theirs, and a
  // Create retried after a failure here finishes the job.
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    const std::string own = absl::StrCat(dir, "/", file);
    CONVERGE_ASSIGN_OR_RETURN(std::string value, ReadFile(own));
    if (!absl::StripAsciiWhitespace(value).empty()) continue;
    CONVERGE_ASSIGN_OR_RETURN(std::string inherited,
                              ReadFile(absl::StrCat(parent, "/", file)));
    CONVERGE_RETURN_IF_ERROR(
        WriteFile(own, absl::StripAsciiWhitespace(inherited)));
  }
  return absl::OkStatus();
}

// ---- v2: the unified tree ----

absl::StatusOr<std::vector<CgroupHierarchy>> DiscoverV2(
    const std::string& mount_root) {
  CONVERGE_ASSIGN_OR_RETURN(
      std::string controllers,
      ReadFile(absl::StrCat(mount_root, "/cgroup.controllers")));
  return std::vector<CgroupHierarchy>{
      {mount_root,
       absl::StrSplit(controllers, absl::ByAnyChar(" \n"), absl::SkipEmpty())}};
}

absl::Status PrepareV2(const CgroupHierarchy& /*hierarchy*/,
                       const std::string& /*parent*/, const std::string& dir,
                       bool made, bool leaf) {
  // Delegation is best-effort: a cgroup without controllers still groups
  // processes, which is all Create promises today.
  if (!made || leaf) return absl::OkStatus();
  absl::StatusOr<std::string> available =
      ReadFile(absl::StrCat(dir, "/cgroup.controllers"));
  if (!available.ok()) {
    Log().warn("enabling controllers skipped dir={} error={}", dir,
               available.status().ToString());
    return absl::OkStatus();
  }
  // One write per controller so that one refusal does not cost the others.
  for (absl::string_view controller :
       absl::StrSplit(*available, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    absl::Status status =
        WriteFile(absl::StrCat(dir, "/cgroup.subtree_control"),
                  absl::StrCat("+", controller));
    if (!status.ok()) {
      Log().warn("enabling controller failed dir={} controller={} error={}",
                 dir, std::string(controller), status.ToString());
    }
  }
  return absl::OkStatus();
}

constexpr CgroupBackend kV1Backend = {1, &DiscoverV1, &PrepareV1};
constexpr CgroupBackend kV2Backend = {2, &DiscoverV2, &PrepareV2};

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
  Log().info("cgroup driver ready driver={} version={} hierarchies={}",
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
    Log().debug("cgroup partly present path={} present_in={} of={}", path,
                present, layout_.hierarchies.size());
  }
  return present == layout_.hierarchies.size();
}

}  // namespace converge

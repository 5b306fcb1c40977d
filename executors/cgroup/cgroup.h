// CgroupDriver: creates, removes and observes the cgroups that converge puts
// pods and containers in, through the cgroup filesystem ("cgroupfs" driver,
// the name reported to kubelet in RuntimeConfig). The Linux implementation is
// in linux_cgroup.h; an in-memory fake for tests is in testing/fake_cgroup.h.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<CgroupDriver> cgroups,
//                             LinuxCgroupDriver::CreateCgroupDriver());
//   const std::string path = "/kubepods/besteffort/pod123/converge-abc";
//   CONVERGE_RETURN_IF_ERROR(cgroups->Create(path));   // parents too
//   ...
//   CONVERGE_ASSIGN_OR_RETURN(bool present, cgroups->Exists(path));
//   CONVERGE_RETURN_IF_ERROR(cgroups->Remove(path));   // leaf only
//
// Paths are absolute cgroup paths, the same in every hierarchy, e.g.
// "/kubepods/pod1/c1" is /sys/fs/cgroup/<each v1 hierarchy>/kubepods/pod1/c1
// on cgroup v1 and /sys/fs/cgroup/kubepods/pod1/c1 on cgroup v2. They come
// from CRI requests and are validated by every method (ValidateCgroupPath).
//
// Thread safety: implementations are safe to call from any thread. Calls for
// different paths do not interfere, including ones sharing parents. Calls for
// the same path race like the filesystem does; callers serialise them per pod
// (the reconciler's work queue never runs one key on two workers).
//
// Idempotence: Create of an existing cgroup and Remove of an absent one are OK,
// so a reconciler may repeat any step after a crash or a partial failure.
//
// Error codes (messages carry the operation, the quoted path and errno):
//   INVALID_ARGUMENT     the path fails ValidateCgroupPath, or (Create) goes
//                        through a control file such as "/a/cgroup.procs".
//                        Remove and Exists treat such a path as absent.
//   FAILED_PRECONDITION  Remove of a cgroup that still has processes or child
//                        cgroups (EBUSY); retry after killing / removing them.
//   PERMISSION_DENIED, RESOURCE_EXHAUSTED, INTERNAL, ...  other errnos, mapped
//                        by ErrnoToCode (common/errors.h).
#ifndef CONVERGE_EXECUTORS_CGROUP_CGROUP_H_
#define CONVERGE_EXECUTORS_CGROUP_CGROUP_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace converge {

// The only driver converge implements; kubelet must be configured to match.
inline constexpr char kCgroupfsDriverName[] = "cgroupfs";

class CgroupDriver {
 public:
  virtual ~CgroupDriver() = default;

  // Always kCgroupfsDriverName ("cgroupfs"), whichever cgroup version.
  virtual std::string Name() const = 0;

  // 1 (one hierarchy per controller) or 2 (single unified tree).
  virtual int Version() const = 0;

  // Creates `path` and any missing parents in every hierarchy the driver
  // manages. Existing directories are kept, so this also repairs a cgroup that
  // is missing from some hierarchies.
  virtual absl::Status Create(const std::string& path) = 0;

  // Removes the leaf `path` from every hierarchy; never its parents. Absent
  // (anywhere or everywhere) is OK. A busy cgroup gives FAILED_PRECONDITION;
  // Remove still tries every hierarchy first, so retries finish the rest.
  virtual absl::Status Remove(const std::string& path) = 0;

  // True only if `path` is a cgroup in every hierarchy. Partial presence (some
  // hierarchies only, e.g. after an interrupted Create or Remove, or someone
  // rmdir'ing by hand) is false: it is drift, and Create or Remove fixes it.
  virtual absl::StatusOr<bool> Exists(const std::string& path) = 0;

  // Later: per-container limits, stats and kill-all slot in here, backed by
  // new entries in the per-version backend tables (linux_cgroup.cc).
};

// OK if `path` is acceptable as a cgroup path: absolute, below the root, no
// empty, "." or ".." components, no NUL or newline, components at most 255
// bytes and the whole at most kMaxCgroupPathLength. Otherwise
// INVALID_ARGUMENT naming the (escaped) path and the reason.
inline constexpr size_t kMaxCgroupPathLength = 2048;
absl::Status ValidateCgroupPath(const std::string& path);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_CGROUP_CGROUP_H_

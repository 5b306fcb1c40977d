// LinuxCgroupDriver: the cgroupfs CgroupDriver on the real kernel, for cgroup
// v1 (one hierarchy per controller or group of co-mounted controllers, plus
// named ones like name=systemd) and v2 (one unified tree). The version is
// picked once, at start-up, from the filesystem type of the mount root, and
// selects a backend table (linux_cgroup.cc), crun's libcrun_cgroup_manager
// style; nothing else branches on the version.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<CgroupDriver> cgroups,
//                             LinuxCgroupDriver::CreateCgroupDriver());
//   CONVERGE_RETURN_IF_ERROR(cgroups->Create("/kubepods/pod1/converge-c1"));
//
// See cgroup.h for the contract. Version specifics:
//   v1  the hierarchies are the "cgroup" mounts at or below the mount root in
//       /proc/self/mountinfo, found once at start-up; a hierarchy mounted
//       later is not used until restart. systemd's hybrid "unified" cgroup2
//       mount is not one of them. In a cpuset hierarchy an empty cpuset.cpus /
//       cpuset.mems along the path is filled from the parent, because the
//       kernel refuses to attach tasks to an empty cpuset (ENOSPC).
//   v2  the mount root is the tree. Intermediate cgroups that Create itself
//       makes get all their available controllers enabled in
//       cgroup.subtree_control (best-effort: failures are logged, not
//       returned), so containers below them can have limits later; by the
//       no-internal-processes rule they then cannot hold processes
//       themselves: put processes in leaves only. Pre-existing cgroups (e.g.
//       kubelet's pod cgroup, the mount root) are left as their owner set
//       them. SetResources enables, in every ancestor from the mount root
//       down, the controllers its limits need and the cgroup lacks.
//   The per-version functions (limits, stats, freezing, cgroup.kill, device
//   rules) live in cgroup_v1.cc and cgroup_v2.cc; linux_cgroup.cc holds
//   what both share (pids, signalling, the kill-all sequence).
#ifndef CONVERGE_EXECUTORS_CGROUP_LINUX_CGROUP_H_
#define CONVERGE_EXECUTORS_CGROUP_LINUX_CGROUP_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executors/cgroup/cgroup.h"
#include "executors/cgroup/cgroup_mounts.h"

namespace converge {

// What a driver operates on: its version and its hierarchies (v2: exactly
// one, the mount root).
struct CgroupLayout {
  int version = 0;
  std::vector<CgroupHierarchy> hierarchies;
};

// The per-version function table; defined in linux_cgroup.cc.
struct CgroupBackend;

class LinuxCgroupDriver final : public CgroupDriver {
 public:
  // Detects the cgroup version under `mount_root` (statfs: cgroup2 is v2;
  // tmpfs holding v1 mounts, or a single v1 mount, is v1) and discovers its
  // hierarchies. FAILED_PRECONDITION if it is neither or holds no v1
  // hierarchy; errno errors from realpath/statfs/reading mountinfo.
  static absl::StatusOr<std::unique_ptr<CgroupDriver>> CreateCgroupDriver(
      const std::string& mount_root = "/sys/fs/cgroup");

  // The layout CreateCgroupDriver(mount_root) would use; for tests and
  // diagnostics (e.g. a leak check looking in every hierarchy).
  static absl::StatusOr<CgroupLayout> DiscoverLayout(
      const std::string& mount_root = "/sys/fs/cgroup");

  LinuxCgroupDriver(const LinuxCgroupDriver&) = delete;
  LinuxCgroupDriver& operator=(const LinuxCgroupDriver&) = delete;

  std::string Name() const override;
  int Version() const override;
  absl::Status Create(const std::string& path) override;
  absl::Status Remove(const std::string& path) override;
  absl::StatusOr<bool> Exists(const std::string& path) override;
  absl::Status SetResources(const std::string& path,
                            const CgroupResources& resources) override;
  absl::StatusOr<CgroupStats> Stats(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ProcsFiles(
      const std::string& path) override;
  absl::StatusOr<std::vector<pid_t>> Pids(const std::string& path) override;
  absl::Status KillAll(const std::string& path, int signal) override;
  absl::Status SetDevices(const std::string& path,
                          const std::vector<DeviceRule>& rules) override;

  const CgroupLayout& layout() const { return layout_; }

 private:
  LinuxCgroupDriver(const CgroupBackend* backend, CgroupLayout layout);

  absl::Status CreateValidated(const std::string& path);
  // OK if `path` is valid and a cgroup in every hierarchy, else
  // INVALID_ARGUMENT / NOT_FOUND.
  absl::Status CheckExists(const std::string& path) const;
  absl::StatusOr<std::vector<pid_t>> CollectPids(const std::string& path) const;
  // Signals every pid CollectPids finds that is not yet in `*signalled`
  // (when given; then adds it) and returns how many it signalled. ESRCH is
  // fine.
  absl::StatusOr<size_t> SignalAll(const std::string& path, int signal,
                                   std::set<pid_t>* signalled) const;
  absl::Status KillAllExisting(const std::string& path, int signal);

  // Immutable after construction, hence no lock: every method may run on any
  // thread concurrently.
  const CgroupBackend* const backend_;
  const CgroupLayout layout_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_CGROUP_LINUX_CGROUP_H_

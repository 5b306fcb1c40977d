// FakeCgroupDriver: an in-memory CgroupDriver for tests of code that uses
// cgroups (reconciler, CRI handlers). It keeps the set of existing cgroups,
// validates paths like the real driver, logs every call and can be told to
// fail the next call of an operation or to treat a cgroup as busy. It also
// keeps the resources and device rules set per cgroup, returns the stats and
// pids a test sets, and records KillAll signals (SIGKILL empties the pids).
//
//   cgroups.SetStats("/pod1/c1", stats);        // what Stats returns
//   cgroups.SetPids("/pod1/c1", {42});
//   EXPECT_TRUE(cgroups.KillAll("/pod1/c1", SIGKILL).ok());
//   EXPECT_THAT(cgroups.kills(), ElementsAre(Pair("/pod1/c1", SIGKILL)));
//   EXPECT_THAT(cgroups.Pids("/pod1/c1").value(), IsEmpty());
//
//   FakeCgroupDriver cgroups;
//   cgroups.InjectError(FakeCgroupDriver::Op::kCreate,
//                       absl::PermissionDeniedError("mkdir"));
//   EXPECT_FALSE(cgroups.Create("/pod1/c1").ok());   // injected
//   EXPECT_TRUE(cgroups.Create("/pod1/c1").ok());    // next one works
//   EXPECT_THAT(cgroups.calls(),
//               ElementsAre("create /pod1/c1", "create /pod1/c1"));
//
// Thread-safe: every method takes one internal lock.
#ifndef CONVERGE_EXECUTORS_CGROUP_TESTING_FAKE_CGROUP_H_
#define CONVERGE_EXECUTORS_CGROUP_TESTING_FAKE_CGROUP_H_

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "executors/cgroup/cgroup.h"

namespace converge {

class FakeCgroupDriver : public CgroupDriver {
 public:
  enum class Op {
    kCreate,
    kRemove,
    kExists,
    kSetResources,
    kStats,
    kProcsFiles,
    kPids,
    kKillAll,
    kSetDevices,
  };

  explicit FakeCgroupDriver(int version = 2) : version_(version) {}

  std::string Name() const override { return kCgroupfsDriverName; }
  int Version() const override { return version_; }
  absl::Status Create(const std::string& path) override;
  absl::Status Remove(const std::string& path) override;
  absl::StatusOr<bool> Exists(const std::string& path) override;
  // Merges the set fields into resources(path); NOT_FOUND if absent.
  absl::Status SetResources(const std::string& path,
                            const CgroupResources& resources) override;
  // What SetStats gave (default: empty stats), with a fixed timestamp.
  absl::StatusOr<CgroupStats> Stats(const std::string& path) override;
  // {"/fake/cgroup<path>/cgroup.procs"} (one hierarchy).
  absl::StatusOr<std::vector<std::string>> ProcsFiles(
      const std::string& path) override;
  // What SetPids gave, for `path` and the cgroups below it, sorted.
  absl::StatusOr<std::vector<pid_t>> Pids(const std::string& path) override;
  // Records (path, signal); SIGKILL clears the pids of `path` and below.
  absl::Status KillAll(const std::string& path, int signal) override;
  // Validates and records the rules (both versions).
  absl::Status SetDevices(const std::string& path,
                          const std::vector<DeviceRule>& rules) override;

  // The next call of `op` returns `status` and changes nothing (an OK
  // `status` lets that call run normally). Several injections for one op
  // apply to successive calls.
  void InjectError(Op op, absl::Status status);

  // While `populated`, Remove(path) fails with FAILED_PRECONDITION, like a
  // cgroup with processes in it.
  void SetPopulated(const std::string& path, bool populated);

  // What Stats(path) returns from now on.
  void SetStats(const std::string& path, CgroupStats stats);
  // The processes in `path` (not its children); a populated cgroup's Remove
  // fails like SetPopulated(path, true).
  void SetPids(const std::string& path, std::vector<pid_t> pids);

  // Every call so far, in order, e.g. "create /a/b", "remove /a/b",
  // "exists /a/b", "set_resources /a/b", "stats /a/b", "procs_files /a/b",
  // "pids /a/b", "kill_all /a/b 9", "set_devices /a/b" (including calls that
  // failed).
  std::vector<std::string> calls() const;

  // The accumulated SetResources of `path` (empty if none).
  CgroupResources resources(const std::string& path) const;
  // The last SetDevices of `path`, nullopt if none.
  std::optional<std::vector<DeviceRule>> devices(const std::string& path) const;
  // Every KillAll that got past validation, in order.
  std::vector<std::pair<std::string, int>> kills() const;

  // The cgroups that exist now, parents included, sorted.
  std::vector<std::string> cgroups() const;

 private:
  // Logs the call and pops an injected error for `op`, if any.
  absl::Status BeginCall(Op op, const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // NOT_FOUND unless `path` exists.
  absl::Status CheckExists(const std::string& path) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsPopulated(const std::string& path) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int version_;
  mutable absl::Mutex mu_;
  std::set<std::string> cgroups_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> populated_ ABSL_GUARDED_BY(mu_);
  std::map<Op, std::deque<absl::Status>> injected_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CgroupResources> resources_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<DeviceRule>> devices_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CgroupStats> stats_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<pid_t>> pids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, int>> kills_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_CGROUP_TESTING_FAKE_CGROUP_H_

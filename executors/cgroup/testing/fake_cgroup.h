// FakeCgroupDriver: an in-memory CgroupDriver for tests of code that uses
// cgroups (reconciler, CRI handlers). It keeps the set of existing cgroups,
// validates paths like the real driver, logs every call and can be told to
// fail the next call of an operation or to treat a cgroup as busy.
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
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "executors/cgroup/cgroup.h"

namespace converge {

class FakeCgroupDriver : public CgroupDriver {
 public:
  enum class Op { kCreate, kRemove, kExists };

  explicit FakeCgroupDriver(int version = 2) : version_(version) {}

  std::string Name() const override { return kCgroupfsDriverName; }
  int Version() const override { return version_; }
  absl::Status Create(const std::string& path) override;
  absl::Status Remove(const std::string& path) override;
  absl::StatusOr<bool> Exists(const std::string& path) override;

  // The next call of `op` returns `status` and changes nothing (an OK
  // `status` lets that call run normally). Several injections for one op
  // apply to successive calls.
  void InjectError(Op op, absl::Status status);

  // While `populated`, Remove(path) fails with FAILED_PRECONDITION, like a
  // cgroup with processes in it.
  void SetPopulated(const std::string& path, bool populated);

  // Every call so far, in order, e.g. "create /a/b", "remove /a/b",
  // "exists /a/b" (including calls that failed).
  std::vector<std::string> calls() const;

  // The cgroups that exist now, parents included, sorted.
  std::vector<std::string> cgroups() const;

 private:
  // Logs the call and pops an injected error for `op`, if any.
  absl::Status BeginCall(Op op, const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int version_;
  mutable absl::Mutex mu_;
  std::set<std::string> cgroups_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> populated_ ABSL_GUARDED_BY(mu_);
  std::map<Op, std::deque<absl::Status>> injected_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_CGROUP_TESTING_FAKE_CGROUP_H_

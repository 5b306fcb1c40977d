// FakeSnapshotter: an in-memory Snapshotter for tests of code that prepares
// container root filesystems (reconciler, CRI handlers). No mounts and no
// disk: it keeps the table of snapshots, validates requests like the real one
// (ValidateSnapshotRequest; lower dirs are not checked for existence), logs
// every call and can be told to fail the next call of an operation.
//
//   FakeSnapshotter snapshots;
//   snapshots.InjectError(FakeSnapshotter::Op::kPrepare,
//                         absl::ResourceExhaustedError("mount: ENOSPC"));
//   EXPECT_FALSE(snapshots.Prepare({"c1", {"/layers/base"}}).ok());  // injected
//   EXPECT_TRUE(snapshots.Prepare({"c1", {"/layers/base"}}).ok());   // next one works
//   snapshots.Unmount("c1");  // a reboot: on disk, no longer mounted
//   EXPECT_THAT(snapshots.calls(), ElementsAre("prepare c1", "prepare c1"));
//
// Semantics follow snapshotter.h: Prepare of a mounted snapshot returns it,
// of an unmounted one mounts it again (keeping its usage, i.e. its writes);
// FAILED_PRECONDITION when read_only differs from the existing snapshot;
// Remove of an absent key is OK; Usage of an absent key is NOT_FOUND. An
// injected error is returned before any state changes.
//
// Thread-safe: every method takes one internal lock.
#ifndef CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_TESTING_FAKE_SNAPSHOTTER_H_
#define CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_TESTING_FAKE_SNAPSHOTTER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "executors/image/snapshot/snapshotter.h"

namespace converge {

class FakeSnapshotter : public Snapshotter {
 public:
  enum class Op { kPrepare, kRemove, kList, kUsage };

  // Snapshot paths are made up under `root`, as the real ones are.
  explicit FakeSnapshotter(std::string root = "/fake/snapshots") : root_(std::move(root)) {}

  absl::StatusOr<Snapshot> Prepare(const SnapshotRequest& request) override;
  absl::Status Remove(const std::string& key) override;
  absl::StatusOr<std::vector<Snapshot>> List() override;
  absl::StatusOr<std::pair<uint64_t, uint64_t>> Usage(const std::string& key) override;

  // The next call of `op` returns `status` and changes nothing (an OK
  // `status` lets that call run normally). Several injections for one op
  // apply to successive calls.
  void InjectError(Op op, absl::Status status);

  // Every call so far, in order, e.g. "prepare c1", "remove c1", "list",
  // "usage c1" (including calls that failed).
  std::vector<std::string> calls() const;

  // Simulates a reboot or a stray `umount`: the snapshot stays, unmounted.
  // False when there is no such snapshot.
  bool Unmount(const std::string& key);

  // What Usage reports for a writable snapshot (initially (0, 0)).
  void SetUsage(const std::string& key, uint64_t bytes, uint64_t inodes);

  // The lower dirs (bottom first) of the Prepare that created the snapshot;
  // nullopt when there is none.
  std::optional<std::vector<std::string>> LowerDirs(const std::string& key) const;

 private:
  struct Entry {
    Snapshot snapshot;
    std::vector<std::string> lower_dirs;
    std::pair<uint64_t, uint64_t> usage;
  };

  // Logs the call and pops an injected error for `op`, if any.
  absl::Status BeginCall(Op op, const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string root_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> snapshots_ ABSL_GUARDED_BY(mu_);
  std::map<Op, std::deque<absl::Status>> injected_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_SNAPSHOT_TESTING_FAKE_SNAPSHOTTER_H_

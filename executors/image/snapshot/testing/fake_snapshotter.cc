#include "executors/image/snapshot/testing/fake_snapshotter.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace converge {
namespace {

const char* OpName(FakeSnapshotter::Op op) {
  switch (op) {
    case FakeSnapshotter::Op::kPrepare:
      return "prepare";
    case FakeSnapshotter::Op::kRemove:
      return "remove";
    case FakeSnapshotter::Op::kList:
      return "list";
    case FakeSnapshotter::Op::kUsage:
      return "usage";
  }
  return "unknown";
}

}  // namespace

absl::Status FakeSnapshotter::BeginCall(Op op, const std::string& key) {
  calls_.push_back(key.empty() ? OpName(op) : absl::StrCat(OpName(op), " ", key));
  auto it = injected_.find(op);
  if (it == injected_.end() || it->second.empty()) return absl::OkStatus();
  absl::Status status = std::move(it->second.front());
  it->second.pop_front();
  return status;
}

absl::StatusOr<Snapshot> FakeSnapshotter::Prepare(const SnapshotRequest& request) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kPrepare, request.key));
  CONVERGE_RETURN_IF_ERROR(ValidateSnapshotRequest(request));
  auto it = snapshots_.find(request.key);
  if (it != snapshots_.end()) {
    Snapshot& existing = it->second.snapshot;
    if (existing.read_only != request.read_only) {
      return absl::FailedPreconditionError(
          absl::StrCat("prepare snapshot ", request.key, ": it exists and is ",
                       existing.read_only ? "read-only" : "writable", " (fake)"));
    }
    existing.mounted = true;
    return existing;
  }
  Entry entry;
  entry.snapshot = DescribeSnapshot(root_, request.key, request.read_only);
  entry.snapshot.mounted = true;
  entry.lower_dirs = request.lower_dirs;
  return snapshots_.emplace(request.key, std::move(entry)).first->second.snapshot;
}

absl::Status FakeSnapshotter::Remove(const std::string& key) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kRemove, key));
  CONVERGE_RETURN_IF_ERROR(ValidateSnapshotKey(key));
  snapshots_.erase(key);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Snapshot>> FakeSnapshotter::List() {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kList, ""));
  std::vector<Snapshot> out;
  for (const auto& [key, entry] : snapshots_) out.push_back(entry.snapshot);
  return out;
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> FakeSnapshotter::Usage(const std::string& key) {
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(BeginCall(Op::kUsage, key));
  CONVERGE_RETURN_IF_ERROR(ValidateSnapshotKey(key));
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) {
    return absl::NotFoundError(absl::StrCat("snapshot usage ", key, ": no such snapshot (fake)"));
  }
  if (it->second.snapshot.read_only) return std::pair<uint64_t, uint64_t>(0, 0);
  return it->second.usage;
}

void FakeSnapshotter::InjectError(Op op, absl::Status status) {
  absl::MutexLock lock(&mu_);
  injected_[op].push_back(std::move(status));
}

std::vector<std::string> FakeSnapshotter::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

bool FakeSnapshotter::Unmount(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return false;
  it->second.snapshot.mounted = false;
  return true;
}

void FakeSnapshotter::SetUsage(const std::string& key, uint64_t bytes, uint64_t inodes) {
  absl::MutexLock lock(&mu_);
  auto it = snapshots_.find(key);
  if (it != snapshots_.end()) it->second.usage = {bytes, inodes};
}

std::optional<std::vector<std::string>> FakeSnapshotter::LowerDirs(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return std::nullopt;
  return it->second.lower_dirs;
}

}  // namespace converge

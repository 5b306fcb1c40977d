// RocksDB implementation of Store. Records are decoded once at open into the
// in-memory index; afterwards every read is served from the index and every
// write goes to RocksDB first, then to the index.
#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "store/rocksdb_util.h"
#include "store/schema.h"
#include "store/store.h"

namespace converge {
namespace {

// How often a waiting handler checks whether its client went away.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(500);

class RocksDbStore final : public Store {
 public:
  RocksDbStore(std::unique_ptr<rocksdb::DB> db, FamilyHandles families)
      : db_(std::move(db)), families_(std::move(families)) {}

  ~RocksDbStore() override {
    for (auto& [name, handle] : families_.by_name) {
      db_->DestroyColumnFamilyHandle(handle);
    }
  }

  absl::Status LoadIndex() {
    absl::MutexLock lock(&mu_);
    CONVERGE_RETURN_IF_ERROR(ScanSandboxes(
        db_.get(), families_,
        [this](absl::string_view key, const absl::Status& error) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          Quarantine(key, error);
          return absl::OkStatus();
        },
        &index_));
    CONVERGE_RETURN_IF_ERROR(ScanImages(
        db_.get(), families_,
        [this](absl::string_view key, const absl::Status& error) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          // An image record we cannot read is re-pulled on demand; its
          // content is kept until the record is readable again or removed.
          quarantined_images_.insert(std::string(key));
          NamedLogger("store")->error("image record quarantined key={} error={}",
                                      std::string(key), error.ToString());
          return absl::OkStatus();
        },
        &image_refs_, &images_));
    // A sandbox with either side quarantined is left alone entirely.
    for (const std::string& id : quarantined_) index_.erase(id);
    for (const auto& [id, record] : index_) {
      if (record.desired && IsLive(*record.desired)) {
        names_[SandboxNameKey(record.desired->config().metadata())] = id;
      }
      IndexContainers(id);
    }
    return absl::OkStatus();
  }

  std::optional<SandboxRecord> GetSandbox(const std::string& id) const override {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(id);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<SandboxRecord> ListSandboxes() const override {
    absl::MutexLock lock(&mu_);
    std::vector<SandboxRecord> out;
    out.reserve(index_.size());
    for (const auto& [id, record] : index_) out.push_back(record);
    return out;
  }

  std::optional<std::string> FindSandboxByName(
      const runtime::v1::PodSandboxMetadata& metadata) const override {
    absl::MutexLock lock(&mu_);
    auto it = names_.find(SandboxNameKey(metadata));
    if (it == names_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<std::string> FindContainerSandbox(const std::string& container_id) const override {
    absl::MutexLock lock(&mu_);
    auto it = container_sandboxes_.find(container_id);
    if (it == container_sandboxes_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<std::string> ContainerIds() const override {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    out.reserve(container_sandboxes_.size());
    for (const auto& [id, sandbox] : container_sandboxes_) out.push_back(id);
    return out;
  }

  std::optional<ImageRefRecord> GetImageRef(const std::string& reference) const override {
    absl::MutexLock lock(&mu_);
    auto it = image_refs_.find(reference);
    if (it == image_refs_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<ImageRefRecord> ListImageRefs() const override {
    absl::MutexLock lock(&mu_);
    std::vector<ImageRefRecord> out;
    out.reserve(image_refs_.size());
    for (const auto& [reference, record] : image_refs_) out.push_back(record);
    return out;
  }

  std::optional<records::ImageRecord> GetImage(const std::string& id) const override {
    absl::MutexLock lock(&mu_);
    auto it = images_.find(id);
    if (it == images_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<records::ImageRecord> ListImages() const override {
    absl::MutexLock lock(&mu_);
    std::vector<records::ImageRecord> out;
    out.reserve(images_.size());
    for (const auto& [id, image] : images_) out.push_back(image);
    return out;
  }

  std::pair<ImageRefRecord, bool> AwaitImageRef(
      const std::string& reference, absl::Time deadline,
      const std::function<bool(const ImageRefRecord&)>& done,
      const std::function<bool()>& cancelled) const override {
    return AwaitLocked<ImageRefRecord>(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          auto it = image_refs_.find(reference);
          return it == image_refs_.end() ? ImageRefRecord{reference, std::nullopt, std::nullopt}
                                         : it->second;
        },
        deadline, done, cancelled);
  }

  std::pair<SandboxRecord, bool> AwaitSandbox(
      const std::string& id, absl::Time deadline,
      const std::function<bool(const SandboxRecord&)>& done,
      const std::function<bool()>& cancelled) const override {
    return AwaitLocked<SandboxRecord>(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return LookupLocked(id); }, deadline, done,
        cancelled);
  }

  void CancelWaits() override {
    absl::MutexLock lock(&mu_);
    waits_cancelled_ = true;
    changed_.SignalAll();
  }

  bool WaitsCancelled() const override {
    absl::MutexLock lock(&mu_);
    return waits_cancelled_;
  }

  ListenerId AddListener(Listener listener) override {
    absl::MutexLock lock(&listeners_mu_);
    listeners_[next_listener_] = std::move(listener);
    return next_listener_++;
  }

  void RemoveListener(ListenerId id) override {
    absl::MutexLock lock(&listeners_mu_);
    listeners_.erase(id);
  }

  absl::Status WriteHealth() const override {
    absl::MutexLock lock(&mu_);
    return write_health_;
  }

  std::vector<std::string> QuarantinedIds() const override {
    absl::MutexLock lock(&mu_);
    return std::vector<std::string>(quarantined_.begin(), quarantined_.end());
  }

  std::vector<std::string> QuarantinedImageKeys() const override {
    absl::MutexLock lock(&mu_);
    return std::vector<std::string>(quarantined_images_.begin(), quarantined_images_.end());
  }

  absl::Status PutSandboxDesired(const records::SandboxDesired& desired) override {
    const std::string name_key = SandboxNameKey(desired.config().metadata());
    rocksdb::WriteBatch batch;
    auto* family = families_.Get(schema::kDesiredFamily);
    batch.Put(family, schema::SandboxKey(desired.id()), desired.SerializeAsString());
    if (IsLive(desired)) {
      batch.Put(family, schema::SandboxNameIndexKey(name_key), desired.id());
    } else {
      batch.Delete(family, schema::SandboxNameIndexKey(name_key));
    }
    CONVERGE_RETURN_IF_ERROR(Write(&batch, /*sync=*/true, desired.id()));
    {
      absl::MutexLock lock(&mu_);
      SandboxRecord& record = index_[desired.id()];
      record.id = desired.id();
      record.desired = desired;
      if (IsLive(desired)) {
        names_[name_key] = desired.id();
      } else {
        auto it = names_.find(name_key);
        if (it != names_.end() && it->second == desired.id()) names_.erase(it);
      }
      IndexContainers(desired.id());
      changed_.SignalAll();
    }
    Notify(desired.id(), Family::kDesired);
    return absl::OkStatus();
  }

  absl::Status DeleteSandboxDesired(const std::string& id) override {
    std::optional<SandboxRecord> current = GetSandbox(id);
    if (!current || !current->desired) return absl::OkStatus();
    rocksdb::WriteBatch batch;
    auto* family = families_.Get(schema::kDesiredFamily);
    batch.Delete(family, schema::SandboxKey(id));
    const std::string name_key = SandboxNameKey(current->desired->config().metadata());
    bool owns_name = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = names_.find(name_key);
      owns_name = it != names_.end() && it->second == id;
    }
    if (owns_name) batch.Delete(family, schema::SandboxNameIndexKey(name_key));
    CONVERGE_RETURN_IF_ERROR(Write(&batch, /*sync=*/true, id));
    {
      absl::MutexLock lock(&mu_);
      if (owns_name) names_.erase(name_key);
      auto it = index_.find(id);
      if (it != index_.end()) {
        it->second.desired.reset();
        if (!it->second.actual) index_.erase(it);
      }
      IndexContainers(id);
      changed_.SignalAll();
    }
    Notify(id, Family::kDesired);
    return absl::OkStatus();
  }

  absl::Status PutSandboxActual(const records::SandboxActual& actual,
                                Durability durability) override {
    rocksdb::WriteBatch batch;
    batch.Put(families_.Get(schema::kActualFamily), schema::SandboxKey(actual.id()),
              actual.SerializeAsString());
    CONVERGE_RETURN_IF_ERROR(Write(&batch, durability == Durability::kSynced, actual.id()));
    {
      absl::MutexLock lock(&mu_);
      SandboxRecord& record = index_[actual.id()];
      record.id = actual.id();
      record.actual = actual;
      IndexContainers(actual.id());
      changed_.SignalAll();
    }
    Notify(actual.id(), Family::kActual);
    return absl::OkStatus();
  }

  absl::Status DeleteSandboxActual(const std::string& id) override {
    rocksdb::WriteBatch batch;
    batch.Delete(families_.Get(schema::kActualFamily), schema::SandboxKey(id));
    CONVERGE_RETURN_IF_ERROR(Write(&batch, /*sync=*/false, id));
    {
      absl::MutexLock lock(&mu_);
      auto it = index_.find(id);
      if (it != index_.end()) {
        it->second.actual.reset();
        if (!it->second.desired) index_.erase(it);
      }
      IndexContainers(id);
      changed_.SignalAll();
    }
    Notify(id, Family::kActual);
    return absl::OkStatus();
  }

  absl::Status PutImageDesired(const std::vector<records::ImageDesired>& desired) override {
    rocksdb::WriteBatch batch;
    for (const records::ImageDesired& record : desired) {
      batch.Put(families_.Get(schema::kDesiredFamily), schema::ImageKey(record.reference()),
                record.SerializeAsString());
    }
    CONVERGE_RETURN_IF_ERROR(Write(&batch, /*sync=*/true, "image desired"));
    {
      absl::MutexLock lock(&mu_);
      for (const records::ImageDesired& record : desired) {
        ImageRefRecord& entry = image_refs_[record.reference()];
        entry.reference = record.reference();
        entry.desired = record;
      }
      changed_.SignalAll();
    }
    for (const records::ImageDesired& record : desired) {
      Notify(record.reference(), Family::kImageDesired);
    }
    return absl::OkStatus();
  }

  absl::Status DeleteImageDesired(const std::string& reference) override {
    rocksdb::WriteBatch batch;
    batch.Delete(families_.Get(schema::kDesiredFamily), schema::ImageKey(reference));
    CONVERGE_RETURN_IF_ERROR(Write(&batch, /*sync=*/true, reference));
    UpdateImageRef(reference, [](ImageRefRecord& entry) { entry.desired.reset(); });
    Notify(reference, Family::kImageDesired);
    return absl::OkStatus();
  }

  absl::Status PutImageRef(const records::ImageRefActual& ref,
                           const records::ImageRecord* image) override {
    rocksdb::WriteBatch batch;
    auto* family = families_.Get(schema::kImagesFamily);
    batch.Put(family, schema::ImageRefKey(ref.reference()), ref.SerializeAsString());
    if (image != nullptr) {
      batch.Put(family, schema::ImageKey(image->id()), image->SerializeAsString());
    }
    CONVERGE_RETURN_IF_ERROR(Write(&batch, /*sync=*/false, ref.reference()));
    {
      absl::MutexLock lock(&mu_);
      if (image != nullptr) images_[image->id()] = *image;
    }
    UpdateImageRef(ref.reference(), [&](ImageRefRecord& entry) { entry.actual = ref; });
    Notify(ref.reference(), Family::kImages);
    return absl::OkStatus();
  }

  absl::Status DeleteImageRef(const std::string& reference) override {
    rocksdb::WriteBatch batch;
    batch.Delete(families_.Get(schema::kImagesFamily), schema::ImageRefKey(reference));
    CONVERGE_RETURN_IF_ERROR(Write(&batch, /*sync=*/false, reference));
    UpdateImageRef(reference, [](ImageRefRecord& entry) { entry.actual.reset(); });
    Notify(reference, Family::kImages);
    return absl::OkStatus();
  }

  absl::Status DeleteImage(const std::string& id) override {
    rocksdb::WriteBatch batch;
    batch.Delete(families_.Get(schema::kImagesFamily), schema::ImageKey(id));
    CONVERGE_RETURN_IF_ERROR(Write(&batch, /*sync=*/false, id));
    {
      absl::MutexLock lock(&mu_);
      images_.erase(id);
      changed_.SignalAll();
    }
    Notify(id, Family::kImages);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> GetMeta(
      const std::string& key) const override {
    return ReadMeta(db_.get(), families_, key);
  }

  absl::Status PutMeta(const std::string& key, const std::string& value) override {
    rocksdb::WriteBatch batch;
    batch.Put(families_.Get(schema::kMetaFamily), key, value);
    return Write(&batch, /*sync=*/true, key);
  }

  void SetWriteObserver(WriteObserver observer) override { write_observer_ = std::move(observer); }

  uint64_t ApproximateSizeBytes() const override {
    uint64_t total = 0;
    for (const auto& [name, handle] : families_.by_name) {
      uint64_t size = 0;
      if (db_->GetIntProperty(handle, rocksdb::DB::Properties::kTotalSstFilesSize,
                              &size)) {
        total += size;
      }
      if (db_->GetIntProperty(handle, rocksdb::DB::Properties::kCurSizeAllMemTables,
                              &size)) {
        total += size;
      }
    }
    return total;
  }

 private:
  static bool IsLive(const records::SandboxDesired& desired) {
    return desired.stage() != records::SANDBOX_STAGE_REMOVED;
  }

  template <typename Record, typename Lookup>
  std::pair<Record, bool> AwaitLocked(const Lookup& lookup, absl::Time deadline,
                                      const std::function<bool(const Record&)>& done,
                                      const std::function<bool()>& cancelled) const {
    absl::MutexLock lock(&mu_);
    while (true) {
      Record record = lookup();
      if (done(record)) return {std::move(record), true};
      if (waits_cancelled_ || (cancelled && cancelled()) || absl::Now() >= deadline) {
        return {std::move(record), false};
      }
      changed_.WaitWithDeadline(&mu_, std::min(deadline, absl::Now() + kCancelPoll));
    }
  }

  // Applies `change` to the reference's entry, dropping the entry once both
  // sides are gone, and wakes waiters.
  void UpdateImageRef(const std::string& reference,
                      const std::function<void(ImageRefRecord&)>& change) {
    absl::MutexLock lock(&mu_);
    ImageRefRecord& entry = image_refs_[reference];
    entry.reference = reference;
    change(entry);
    if (!entry.desired && !entry.actual) image_refs_.erase(reference);
    changed_.SignalAll();
  }

  SandboxRecord LookupLocked(const std::string& id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = index_.find(id);
    if (it == index_.end()) return SandboxRecord{id, std::nullopt, std::nullopt};
    return it->second;
  }

  absl::Status Write(rocksdb::WriteBatch* batch, bool sync, absl::string_view what) {
    rocksdb::WriteOptions options;
    options.sync = sync;
    const absl::Time start = absl::Now();
    rocksdb::Status s = db_->Write(options, batch);
    if (write_observer_) write_observer_(sync, absl::Now() - start);
    absl::Status status =
        s.ok() ? absl::OkStatus() : RocksDbError(s, absl::StrCat("write `", what, "`"));
    absl::MutexLock lock(&mu_);
    write_health_ = status;
    return status;
  }

  // Sets aside (and logs) a record that did not decode.
  void Quarantine(absl::string_view key, const absl::Status& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string id(key.substr(std::string(schema::kSandboxPrefix).size()));
    quarantined_.insert(id);
    NamedLogger("store")->error("record quarantined id={} error={}", id, error.ToString());
  }

  void Notify(const std::string& id, Family family) {
    std::vector<Listener> listeners;
    {
      absl::MutexLock lock(&listeners_mu_);
      for (const auto& [listener_id, listener] : listeners_) listeners.push_back(listener);
    }
    for (const auto& listener : listeners) listener(id, family);
  }

  // Points the container index at what sandbox `id` holds now, desired or
  // actual.
  void IndexContainers(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::set<std::string>& held = sandbox_containers_[id];
    for (const std::string& container : held) container_sandboxes_.erase(container);
    held.clear();
    auto it = index_.find(id);
    if (it != index_.end()) {
      if (it->second.desired) {
        for (const auto& container : it->second.desired->containers()) held.insert(container.id());
      }
      if (it->second.actual) {
        for (const auto& container : it->second.actual->containers()) held.insert(container.id());
      }
    }
    for (const std::string& container : held) container_sandboxes_[container] = id;
    if (held.empty()) sandbox_containers_.erase(id);
  }

  const std::unique_ptr<rocksdb::DB> db_;
  const FamilyHandles families_;
  WriteObserver write_observer_;  // Set before concurrent use, then only read.

  mutable absl::Mutex mu_;
  mutable absl::CondVar changed_;
  std::map<std::string, SandboxRecord> index_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> names_ ABSL_GUARDED_BY(mu_);
  // Container id -> sandbox id, and back, for every container either side names.
  std::map<std::string, std::string> container_sandboxes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::set<std::string>> sandbox_containers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ImageRefRecord> image_refs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, records::ImageRecord> images_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> quarantined_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> quarantined_images_ ABSL_GUARDED_BY(mu_);
  absl::Status write_health_ ABSL_GUARDED_BY(mu_);
  bool waits_cancelled_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex listeners_mu_;
  std::map<ListenerId, Listener> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  ListenerId next_listener_ ABSL_GUARDED_BY(listeners_mu_) = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  // Records are small and few; keep the daemon's footprint small too.
  options.max_open_files = 64;
  options.keep_log_file_num = 4;
  options.max_total_wal_size = 64 << 20;
  std::unique_ptr<rocksdb::DB> db;
  CONVERGE_ASSIGN_OR_RETURN(
      FamilyHandles families,
      OpenWithFamilies(options, dir, /*secondary_dir=*/"", &db));
  auto store = std::make_unique<RocksDbStore>(std::move(db), std::move(families));
  CONVERGE_RETURN_IF_ERROR(store->LoadIndex());
  auto schema_version = store->GetMeta("schema_version");
  if (!schema_version.ok()) return schema_version.status();
  if (!schema_version->has_value()) {
    CONVERGE_RETURN_IF_ERROR(
        store->PutMeta("schema_version", absl::StrCat(kSchemaVersion)));
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace converge

// The state store: desired and actual records of pod sandboxes in RocksDB,
// mirrored by an in-memory index so that List/Status never scan the database.
//
// One writer per column family, enforced by the interface each module gets:
// CRI handlers hold a `DesiredWriter`, the reconciler an `ActualWriter`; both
// read through `StateReader`.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(dir));
//   CONVERGE_RETURN_IF_ERROR(store->PutSandboxDesired(desired));  // durable
//   store->AwaitSandbox(id, deadline, [&](const SandboxRecord& r) {
//     return r.actual && r.actual->observed_generation() >= gen;
//   });
//
// Thread safety: every method is safe to call from any thread. Listeners run
// on the writing thread after the write is durable and must not block.
#ifndef CONVERGE_STORE_STORE_H_
#define CONVERGE_STORE_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/records.pb.h"

namespace converge {

// Version written into every record; bump on incompatible change.
inline constexpr uint32_t kSchemaVersion = 1;

// A sandbox as the store knows it: either side may be missing (desired alone
// before the first reconcile; actual alone for an orphan to tear down).
struct SandboxRecord {
  std::string id;
  std::optional<records::SandboxDesired> desired;
  std::optional<records::SandboxActual> actual;
};

// True when actual matches desired: the current desired generation is
// observed without error, or, for a removal (or an orphan), nothing actual is
// left.
bool IsConverged(const SandboxRecord& record);

// An image reference as the store knows it: desired alone before the first
// pull attempt, actual alone after a removal finished.
struct ImageRefRecord {
  std::string reference;
  std::optional<records::ImageDesired> desired;
  std::optional<records::ImageRefActual> actual;
};

// True when the reference's current desired generation was acted on: pulled
// (or removed) without error.
bool IsConverged(const ImageRefRecord& record);

// The identity kubelet retries RunPodSandbox with.
std::string SandboxNameKey(const runtime::v1::PodSandboxMetadata& metadata);

class StateReader {
 public:
  virtual ~StateReader() = default;

  virtual std::optional<SandboxRecord> GetSandbox(const std::string& id) const = 0;
  // Every known sandbox, ordered by id.
  virtual std::vector<SandboxRecord> ListSandboxes() const = 0;
  // The live (not tombstoned) sandbox created for this metadata, if any.
  virtual std::optional<std::string> FindSandboxByName(
      const runtime::v1::PodSandboxMetadata& metadata) const = 0;

  // The sandbox holding container `container_id` (desired or actual side).
  virtual std::optional<std::string> FindContainerSandbox(
      const std::string& container_id) const = 0;
  // Every container id either side of any sandbox names, ordered.
  virtual std::vector<std::string> ContainerIds() const = 0;

  virtual std::optional<ImageRefRecord> GetImageRef(const std::string& reference) const = 0;
  // Every known reference, ordered.
  virtual std::vector<ImageRefRecord> ListImageRefs() const = 0;
  virtual std::optional<records::ImageRecord> GetImage(const std::string& id) const = 0;
  // Every stored image, ordered by id.
  virtual std::vector<records::ImageRecord> ListImages() const = 0;

  // Blocks until `done` holds for the sandbox's record (evaluated after every
  // write), `deadline` passes, `cancelled` returns true (polled about twice a
  // second: the client went away) or CancelWaits() was called. Returns the
  // last record seen and whether `done` held. A missing sandbox is passed as
  // a record with neither side set.
  virtual std::pair<SandboxRecord, bool> AwaitSandbox(
      const std::string& id, absl::Time deadline,
      const std::function<bool(const SandboxRecord&)>& done,
      const std::function<bool()>& cancelled = nullptr) const = 0;

  // AwaitSandbox for an image reference.
  virtual std::pair<ImageRefRecord, bool> AwaitImageRef(
      const std::string& reference, absl::Time deadline,
      const std::function<bool(const ImageRefRecord&)>& done,
      const std::function<bool()>& cancelled = nullptr) const = 0;

  // Ends every AwaitSandbox now and in the future (daemon shutdown).
  virtual void CancelWaits() = 0;
  virtual bool WaitsCancelled() const = 0;

  // kDesired and kActual carry sandbox ids; kImageDesired and kImages carry
  // image references (kImages also when only an image record changed, with
  // the image id).
  enum class Family { kDesired, kActual, kImageDesired, kImages };
  // Called with the key and the family written, after each write.
  using Listener = std::function<void(const std::string& id, Family family)>;
  using ListenerId = int;
  virtual ListenerId AddListener(Listener listener) = 0;
  virtual void RemoveListener(ListenerId id) = 0;

  // OK, or the error of the last failed write if no write succeeded since:
  // the CRI RuntimeReady condition.
  virtual absl::Status WriteHealth() const = 0;

  // Ids of records that could not be decoded (corrupt, or written by a newer
  // schema) and were set aside at open: their objects must not be touched.
  virtual std::vector<std::string> QuarantinedIds() const = 0;
  // Keys of image records set aside likewise: content they may name must not
  // be collected.
  virtual std::vector<std::string> QuarantinedImageKeys() const = 0;
};

// Writes to the `desired` family. Every write is synced before it returns.
class DesiredWriter : public virtual StateReader {
 public:
  // Stores the record and its name index entry in one batch.
  virtual absl::Status PutSandboxDesired(const records::SandboxDesired& desired) = 0;
  // Deletes the tombstone and its name index entry once nothing actual is left.
  virtual absl::Status DeleteSandboxDesired(const std::string& id) = 0;

  // Stores every record in one batch (RemoveImage gives up all the names of
  // an image at once).
  virtual absl::Status PutImageDesired(const std::vector<records::ImageDesired>& desired) = 0;
  virtual absl::Status DeleteImageDesired(const std::string& reference) = 0;
};

// Writes to the `actual` family.
class ActualWriter : public virtual StateReader {
 public:
  // kBuffered survives the process being killed (the WAL is written), which
  // is what handles of kernel objects need: a power loss changes the boot id
  // and makes them stale anyway. kSynced also survives a power loss, for
  // handles of state that outlives a reboot (CNI IPAM allocations on disk).
  enum class Durability { kBuffered, kSynced };
  virtual absl::Status PutSandboxActual(const records::SandboxActual& actual,
                                        Durability durability) = 0;
  virtual absl::Status DeleteSandboxActual(const std::string& id) = 0;
};

// Writes to the `images` family: the image reconciler's records. Image data
// lives on disk in the content and layer stores; a buffered write suffices
// because the records are rebuilt by pulling again if a power loss drops them.
class ImageWriter : public virtual StateReader {
 public:
  // The reference's outcome and, when a pull succeeded, its image, in one
  // batch so that no reference ever names an image that is not recorded.
  virtual absl::Status PutImageRef(const records::ImageRefActual& ref,
                                   const records::ImageRecord* image) = 0;
  virtual absl::Status DeleteImageRef(const std::string& reference) = 0;
  virtual absl::Status DeleteImage(const std::string& id) = 0;
};

class Store : public DesiredWriter, public ActualWriter, public ImageWriter {
 public:
  // Opens (creating if missing) the database in `dir`.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir);

  // The `meta` family, written by the daemon itself.
  virtual absl::StatusOr<std::optional<std::string>> GetMeta(
      const std::string& key) const = 0;
  virtual absl::Status PutMeta(const std::string& key, const std::string& value) = 0;

  // Approximate on-disk size of the database, for metrics and the dump.
  virtual uint64_t ApproximateSizeBytes() const = 0;

  // Called after every RocksDB write with whether it was synced and how long
  // it took (metrics). Set once, before the store is shared.
  using WriteObserver = std::function<void(bool synced, absl::Duration took)>;
  virtual void SetWriteObserver(WriteObserver observer) = 0;
};

}  // namespace converge

#endif  // CONVERGE_STORE_STORE_H_

// The content store: image blobs (manifests, configs, compressed layers)
// addressed by digest under `<root>/blobs/sha256/<hex>`.
//
// A blob file exists only if its bytes hash to its name: content is written
// to a private file under `<root>/ingest/`, its size and digest are checked,
// it is synced and only then renamed into place. A crash therefore leaves
// nothing but ingest files, which Open() removes, so the next pull never
// trips over a half-written blob.
//
//   CONVERGE_ASSIGN_OR_RETURN(auto writer, store.NewWriter(layer.digest, layer.size));
//   CONVERGE_RETURN_IF_ERROR(writer->Write(chunk));  // repeatedly
//   CONVERGE_RETURN_IF_ERROR(writer->Commit());      // DATA_LOSS on mismatch
//
// Thread safety: all methods may be called concurrently. Two writers of one
// digest both succeed (the content is identical); callers that want one
// download per blob coordinate above this class.
#ifndef CONVERGE_EXECUTORS_IMAGE_CONTENT_STORE_H_
#define CONVERGE_EXECUTORS_IMAGE_CONTENT_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/image/digest.h"
#include "executors/namespace/unique_fd.h"

namespace converge {

class ContentStore {
 public:
  // Writes one blob; destroying it without Commit() discards what was written.
  class Writer {
   public:
    virtual ~Writer() = default;
    virtual absl::Status Write(absl::string_view data) = 0;
    // Bytes written so far.
    virtual int64_t written() const = 0;
    // Verifies size and digest, syncs, and publishes the blob. DATA_LOSS
    // naming both digests (or sizes) when the content is not what was expected.
    virtual absl::Status Commit() = 0;
    // The blob's digest once committed (what was expected, or what the
    // content hashed to when nothing was).
    virtual const Digest& digest() const = 0;
  };

  // kClear: the store's owner (the daemon) empties `<root>/ingest` of what a
  // crash left. kKeep: another writer beside it (`convergectl image import`)
  // must not delete the owner's writes in flight.
  enum class Ingest { kClear, kKeep };
  // Creates `<root>/blobs/sha256` and `<root>/ingest`.
  static absl::StatusOr<std::unique_ptr<ContentStore>> Open(const std::string& root,
                                                            Ingest ingest = Ingest::kClear);

  virtual ~ContentStore() = default;

  virtual bool Has(const Digest& digest) const = 0;
  // Size of a stored blob; NOT_FOUND when absent.
  virtual absl::StatusOr<int64_t> Size(const Digest& digest) const = 0;
  // A read-only fd positioned at the start of the blob.
  virtual absl::StatusOr<UniqueFd> Open(const Digest& digest) const = 0;
  // The whole blob, for manifests and configs; FAILED_PRECONDITION when it
  // is larger than `max_bytes`.
  virtual absl::StatusOr<std::string> Read(const Digest& digest, int64_t max_bytes) const = 0;

  // `expected` empty when unknown (an archive member named by path): the blob
  // is then stored under whatever its content hashes to. `expected_size` < 0
  // when unknown.
  virtual absl::StatusOr<std::unique_ptr<Writer>> NewWriter(const Digest& expected,
                                                            int64_t expected_size) = 0;
  // Writes a small blob in one go.
  virtual absl::Status Put(const Digest& expected, absl::string_view data) = 0;

  // Deleting an absent blob succeeds.
  virtual absl::Status Delete(const Digest& digest) = 0;
  virtual absl::StatusOr<std::vector<Digest>> List() const = 0;
  // Bytes and inodes used by blobs, for ImageFsInfo.
  struct Usage {
    uint64_t bytes = 0;
    uint64_t inodes = 0;
  };
  virtual absl::StatusOr<Usage> DiskUsage() const = 0;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_CONTENT_STORE_H_

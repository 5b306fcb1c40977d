// Unpacked image layers, one directory per chain id, shared by every image
// whose layer stack starts the same way: `<root>/<chain hex>/fs` is one
// overlayfs lower directory holding that layer's own changes (whiteouts as
// overlay whiteouts), `<root>/<chain hex>/usage` its size.
//
// A layer is unpacked into `<root>/tmp-*` and renamed into place once its
// diff id checked out, so a layer directory under its final name is always
// complete; Open() removes whatever a crash left in `tmp-*`.
//
// Thread safety: all methods may be called concurrently; Ensure() unpacks
// each chain id once even when several pulls want it at the same time.
#ifndef CONVERGE_EXECUTORS_IMAGE_LAYER_STORE_H_
#define CONVERGE_EXECUTORS_IMAGE_LAYER_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executors/image/digest.h"
#include "executors/image/keyed_mutex.h"

namespace converge {

class LayerStore {
 public:
  struct Usage {
    uint64_t bytes = 0;
    uint64_t inodes = 0;
  };
  // What an unpack function reports: the diff id of what it unpacked and
  // how much it wrote.
  struct Unpacked {
    Digest diff_id;
    Usage usage;
  };
  using UnpackFn = std::function<absl::StatusOr<Unpacked>(const std::string& fs_dir)>;

  static absl::StatusOr<std::unique_ptr<LayerStore>> Open(const std::string& root);

  // The overlay lower directory of a layer (whether or not it exists).
  std::string Dir(const Digest& chain_id) const;
  bool Has(const Digest& chain_id) const;

  // Makes sure the layer exists: if not, calls `unpack` with an empty
  // directory and publishes it when the reported diff id is `diff_id`
  // (DATA_LOSS otherwise, and nothing is kept).
  absl::Status Ensure(const Digest& chain_id, const Digest& diff_id, const UnpackFn& unpack);

  // Removing an absent layer succeeds.
  absl::Status Remove(const Digest& chain_id);
  // Deletes the `tmp-*` directories of unpacks and removals that did not
  // finish (a crash, a failed delete). Only while no Ensure() runs.
  absl::Status RemoveLeftovers();
  absl::StatusOr<std::vector<Digest>> List() const;
  // Sum of the recorded usage of every layer.
  absl::StatusOr<Usage> DiskUsage() const;

 private:
  explicit LayerStore(std::string root) : root_(std::move(root)) {}

  const std::string root_;
  KeyedMutex unpacking_;
  std::atomic<uint64_t> next_tmp_{0};
};

// Deletes a directory tree whatever modes its entries carry (layers contain
// directories with mode 0000 and read-only files); absent is fine.
absl::Status RemoveTree(const std::string& path);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_LAYER_STORE_H_

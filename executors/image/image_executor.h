// ImageExecutor pulls images into the node's image store (content store of
// verified blobs + layer store of unpacked layers) and collects what no image
// needs any more. It never touches the state store: the image reconciler
// records what Pull returns and tells CollectGarbage what to keep.
//
//   CONVERGE_ASSIGN_OR_RETURN(PulledImage image, images.Pull(request));
//   // record `image` for ListImages/ImageStatus and for containers
//
// Thread safety: all methods may be called concurrently. Concurrent pulls
// share downloads and unpacks of the same blobs and layers.
#ifndef CONVERGE_EXECUTORS_IMAGE_IMAGE_EXECUTOR_H_
#define CONVERGE_EXECUTORS_IMAGE_IMAGE_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "executors/image/digest.h"
#include "executors/image/oci.h"
#include "executors/image/reference.h"
#include "executors/image/registry/registry.h"

namespace converge {

struct PullRequest {
  ImageReference reference;
  registry::Credentials credentials;
  // Polled during transfers; true aborts the pull with CANCELLED.
  std::function<bool()> cancelled;
  // A digest reference whose content is all present is served without the
  // registry. Only for names pinned to content on this node (imports): a
  // plain digest pull still asks the registry, with the caller's
  // credentials, whether the caller may have the image.
  bool prefer_local = false;
};

struct PulledLayer {
  oci::Descriptor blob;  // as distributed
  Digest diff_id;
  Digest chain_id;
};

struct PulledImage {
  Digest id;  // the config digest
  // What the reference resolved to (an index for multi-platform images) and
  // the platform manifest chosen from it.
  Digest top_digest;
  Digest manifest_digest;
  Digest config_digest;
  std::vector<PulledLayer> layers;  // bottom first
  oci::ImageConfig config;
  // The manifest and config documents as stored.
  std::string manifest_json;
  std::string config_json;
  int64_t size = 0;  // manifest + config + compressed layers
  // Bytes fetched from the registry by this call (0 when all was present).
  int64_t downloaded_bytes = 0;
};

// What an image keeps alive: its blobs and unpacked layers.
struct ImageContent {
  std::vector<Digest> blobs;
  std::vector<Digest> chain_ids;
};

struct ImageFsUsage {
  std::string mountpoint;  // the image store's directory
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};

class ImageExecutor {
 public:
  virtual ~ImageExecutor() = default;

  // Resolves the reference (see PullRequest::prefer_local), fetches what is
  // missing, verifies every blob and unpacks every layer. Idempotent.
  // Errors: those of the registry (NOT_FOUND, UNAUTHENTICATED,
  // RESOURCE_EXHAUSTED, UNAVAILABLE, DATA_LOSS), INVALID_ARGUMENT for
  // documents that do not parse, NOT_FOUND for a platform the image lacks.
  virtual absl::StatusOr<PulledImage> Pull(const PullRequest& request) = 0;

  // The overlay lower directories of an image's layers, bottom first.
  virtual std::vector<std::string> LayerDirs(const std::vector<Digest>& chain_ids) const = 0;

  // Whether a mounted overlay (a container rootfs) stacks any of these layers.
  virtual absl::StatusOr<bool> InUse(const std::vector<Digest>& chain_ids) const = 0;

  // Deletes every blob and layer not in `keep()` and stacked by no mounted
  // overlay; `keep` is called once the collection holds the import lock, so
  // that it sees every image named so far. Returns false, having deleted
  // nothing, while `convergectl image import` holds that lock (its blobs are
  // not named yet): the caller tries again later. Never concurrent with Pull
  // (it also deletes unpacks that did not finish).
  virtual absl::StatusOr<bool> CollectGarbage(
      const std::function<std::vector<ImageContent>()>& keep) = 0;

  virtual absl::StatusOr<ImageFsUsage> Usage() const = 0;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_IMAGE_EXECUTOR_H_

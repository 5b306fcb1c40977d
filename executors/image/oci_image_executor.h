// The real ImageExecutor: OCI distribution pulls through a Registry into a
// ContentStore (`<root>/content`) and a LayerStore (`<root>/layers`).
#ifndef CONVERGE_EXECUTORS_IMAGE_OCI_IMAGE_EXECUTOR_H_
#define CONVERGE_EXECUTORS_IMAGE_OCI_IMAGE_EXECUTOR_H_

#include <memory>
#include <string>

#include "executors/image/content_store.h"
#include "executors/image/image_executor.h"
#include "executors/image/keyed_mutex.h"
#include "executors/image/layer_store.h"

namespace converge {

// `convergectl image import` holds this file locked (shared) from writing
// blobs until it has named them; collection takes it exclusively or waits
// for the next round.
std::string ImportLockPath(const std::string& images_root);

class OciImageExecutor : public ImageExecutor {
 public:
  // `registry` must outlive the executor.
  static absl::StatusOr<std::unique_ptr<OciImageExecutor>> Create(const std::string& root,
                                                                  registry::Registry* registry);

  absl::StatusOr<PulledImage> Pull(const PullRequest& request) override;
  std::vector<std::string> LayerDirs(const std::vector<Digest>& chain_ids) const override;
  absl::StatusOr<bool> InUse(const std::vector<Digest>& chain_ids) const override;
  absl::StatusOr<bool> CollectGarbage(
      const std::function<std::vector<ImageContent>()>& keep) override;
  absl::StatusOr<ImageFsUsage> Usage() const override;

  ContentStore& content() { return *content_; }

 private:
  class Source;

  OciImageExecutor(std::string root, registry::Registry* registry, std::unique_ptr<ContentStore> content,
                   std::unique_ptr<LayerStore> layers)
      : root_(std::move(root)),
        registry_(registry),
        content_(std::move(content)),
        layers_(std::move(layers)) {}

  // Makes sure the blob is in the content store, downloading it through
  // `source` once however many pulls ask at the same time.
  absl::Status EnsureBlob(const oci::Descriptor& blob, Source& source, bool is_manifest);
  absl::Status EnsureLayer(const PulledLayer& layer);

  const std::string root_;
  registry::Registry* const registry_;
  const std::unique_ptr<ContentStore> content_;
  const std::unique_ptr<LayerStore> layers_;
  KeyedMutex downloads_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_OCI_IMAGE_EXECUTOR_H_

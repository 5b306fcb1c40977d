#include "executors/image/testing/fake_image_executor.h"

#include "absl/strings/str_cat.h"

namespace converge {

PulledImage FakeImageExecutor::MakeImage(const std::string& name) {
  PulledImage image;
  image.id = image.config_digest = Digest::Of(name);
  image.manifest_digest = Digest::Of(name + "/manifest");
  image.top_digest = image.manifest_digest;
  PulledLayer layer;
  layer.blob.digest = Digest::Of(name + "/layer");
  layer.blob.media_type = oci::kOciLayerGzip;
  layer.blob.size = 100;
  layer.diff_id = Digest::Of(name + "/diff");
  layer.chain_id = layer.diff_id;
  image.layers.push_back(layer);
  image.size = 123;
  image.config.user = "1000";
  return image;
}

void FakeImageExecutor::SetImage(const std::string& reference, const PulledImage& image) {
  absl::MutexLock lock(&mu_);
  images_.insert_or_assign(reference, image);
}

void FakeImageExecutor::SetError(const std::string& reference, absl::Status error) {
  absl::MutexLock lock(&mu_);
  images_.insert_or_assign(reference, std::move(error));
}

void FakeImageExecutor::SetInUse(const Digest& chain_id, bool in_use) {
  absl::MutexLock lock(&mu_);
  if (in_use) {
    in_use_.insert(chain_id);
  } else {
    in_use_.erase(chain_id);
  }
}

int FakeImageExecutor::pulls(const std::string& reference) const {
  absl::MutexLock lock(&mu_);
  auto it = pulls_.find(reference);
  return it == pulls_.end() ? 0 : it->second;
}

std::set<Digest> FakeImageExecutor::last_kept_configs() const {
  absl::MutexLock lock(&mu_);
  return last_kept_configs_;
}

int FakeImageExecutor::collections() const {
  absl::MutexLock lock(&mu_);
  return collections_;
}

void FakeImageExecutor::SetPullGate(absl::Notification* gate) {
  absl::MutexLock lock(&mu_);
  gate_ = gate;
}

int FakeImageExecutor::pulls_waiting() const {
  absl::MutexLock lock(&mu_);
  return pulls_waiting_;
}

absl::StatusOr<PulledImage> FakeImageExecutor::Pull(const PullRequest& request) {
  absl::Notification* gate;
  {
    absl::MutexLock lock(&mu_);
    gate = gate_;
    if (gate != nullptr) ++pulls_waiting_;
  }
  if (gate != nullptr) {
    gate->WaitForNotification();
    absl::MutexLock lock(&mu_);
    --pulls_waiting_;
  }
  absl::MutexLock lock(&mu_);
  const std::string reference = request.reference.String();
  ++pulls_[reference];
  auto it = images_.find(reference);
  if (it == images_.end()) return absl::NotFoundError(absl::StrCat(reference, ": not found"));
  return it->second;
}

std::vector<std::string> FakeImageExecutor::LayerDirs(const std::vector<Digest>& chain_ids) const {
  std::vector<std::string> dirs;
  for (const Digest& chain_id : chain_ids) dirs.push_back("/fake/layers/" + chain_id.hex());
  return dirs;
}

absl::StatusOr<bool> FakeImageExecutor::InUse(const std::vector<Digest>& chain_ids) const {
  absl::MutexLock lock(&mu_);
  for (const Digest& chain_id : chain_ids) {
    if (in_use_.count(chain_id) != 0) return true;
  }
  return false;
}

absl::StatusOr<bool> FakeImageExecutor::CollectGarbage(
    const std::function<std::vector<ImageContent>()>& keep_now) {
  const std::vector<ImageContent> keep = keep_now();
  absl::MutexLock lock(&mu_);
  ++collections_;
  last_kept_configs_.clear();
  for (const ImageContent& content : keep) {
    for (const auto& [reference, image] : images_) {
      if (!image.ok()) continue;
      for (const Digest& blob : content.blobs) {
        if (blob == image->config_digest) last_kept_configs_.insert(blob);
      }
    }
  }
  return true;
}

absl::StatusOr<ImageFsUsage> FakeImageExecutor::Usage() const {
  return ImageFsUsage{"/fake", 1, 1};
}

}  // namespace converge

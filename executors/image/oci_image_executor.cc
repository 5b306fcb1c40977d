#include "executors/image/oci_image_executor.h"

#include <fcntl.h>
#include <sys/file.h>

#include <future>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/image/unpack/layer_unpack.h"
#include "executors/namespace/mountinfo.h"

namespace converge {
namespace {

// Manifests, indexes and configs are small; a larger one is hostile.
constexpr int64_t kMaxDocumentBytes = 4 << 20;

// The lower directories of every overlay mounted now (container rootfs).
absl::StatusOr<std::set<std::string>> MountedLowerDirs() {
  CONVERGE_ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, ReadMountInfo());
  std::set<std::string> dirs;
  for (const MountInfo& mount : mounts) {
    if (mount.fs_type != "overlay") continue;
    // lowerdir=a:b or, for mounts made with `lowerdir+`, one option each.
    for (absl::string_view option : absl::StrSplit(mount.super_options, ',')) {
      if (!absl::ConsumePrefix(&option, "lowerdir=") && !absl::ConsumePrefix(&option, "lowerdir+=")) {
        continue;
      }
      for (absl::string_view lower : absl::StrSplit(option, ':')) dirs.emplace(lower);
    }
  }
  return dirs;
}

}  // namespace

// Where missing content comes from: the registry session that resolved the
// reference, opened on first need (a digest reference whose content is all
// present never contacts the registry).
class OciImageExecutor::Source {
 public:
  Source(registry::Registry* registry, const PullRequest& request) : registry_(registry), request_(request) {}

  void Adopt(std::unique_ptr<registry::RegistrySession> session) { session_ = std::move(session); }

  absl::StatusOr<registry::RegistrySession*> Get() {
    if (!session_) {
      CONVERGE_ASSIGN_OR_RETURN(registry::Resolution resolution,
                                registry_->Resolve(request_.reference, request_.credentials));
      session_ = std::move(resolution.session);
    }
    return session_.get();
  }

  int64_t downloaded = 0;

 private:
  registry::Registry* const registry_;
  const PullRequest& request_;
  std::unique_ptr<registry::RegistrySession> session_;
};

absl::StatusOr<std::unique_ptr<OciImageExecutor>> OciImageExecutor::Create(
    const std::string& root, registry::Registry* registry) {
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<ContentStore> content,
                            ContentStore::Open(root + "/content"));
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<LayerStore> layers, LayerStore::Open(root + "/layers"));
  return std::unique_ptr<OciImageExecutor>(
      new OciImageExecutor(root, registry, std::move(content), std::move(layers)));
}

absl::Status OciImageExecutor::EnsureBlob(const oci::Descriptor& blob, Source& source,
                                          bool is_manifest) {
  KeyedMutex::Lock lock(downloads_, blob.digest.hex());
  if (content_->Has(blob.digest)) return absl::OkStatus();
  CONVERGE_ASSIGN_OR_RETURN(registry::RegistrySession * session, source.Get());
  if (is_manifest) {
    CONVERGE_ASSIGN_OR_RETURN(std::string body, session->FetchManifest(blob));
    CONVERGE_RETURN_IF_ERROR(content_->Put(blob.digest, body));
    source.downloaded += static_cast<int64_t>(body.size());
    return absl::OkStatus();
  }
  CONVERGE_ASSIGN_OR_RETURN(auto writer, content_->NewWriter(blob.digest, blob.size));
  CONVERGE_RETURN_IF_ERROR(session->FetchBlob(blob, *writer));
  CONVERGE_RETURN_IF_ERROR(writer->Commit());
  source.downloaded += writer->written();
  return absl::OkStatus();
}

absl::Status OciImageExecutor::EnsureLayer(const PulledLayer& layer) {
  CONVERGE_ASSIGN_OR_RETURN(Compression compression,
                            CompressionForMediaType(layer.blob.media_type));
  return layers_->Ensure(
      layer.chain_id, layer.diff_id,
      [&](const std::string& fs_dir) -> absl::StatusOr<LayerStore::Unpacked> {
        CONVERGE_ASSIGN_OR_RETURN(UniqueFd blob, content_->Open(layer.blob.digest));
        CONVERGE_ASSIGN_OR_RETURN(UnpackStats stats,
                                  UnpackLayer(blob.get(), compression, fs_dir));
        return LayerStore::Unpacked{stats.diff_id, {stats.bytes, stats.entries}};
      });
}

absl::StatusOr<PulledImage> OciImageExecutor::Pull(const PullRequest& request) {
  Source source(registry_, request);
  PulledImage image;
  oci::Descriptor top;
  std::string body;
  const Digest& pinned = request.reference.digest;
  if (request.prefer_local && !pinned.empty() && content_->Has(pinned)) {
    CONVERGE_ASSIGN_OR_RETURN(body, content_->Read(pinned, kMaxDocumentBytes));
    CONVERGE_ASSIGN_OR_RETURN(top.media_type, oci::DocumentMediaType("", body));
    top.digest = pinned;
    top.size = static_cast<int64_t>(body.size());
  } else {
    CONVERGE_ASSIGN_OR_RETURN(registry::Resolution resolution,
                              registry_->Resolve(request.reference, request.credentials));
    top = resolution.top;
    body = std::move(resolution.body);
    source.Adopt(std::move(resolution.session));
    if (!content_->Has(top.digest)) CONVERGE_RETURN_IF_ERROR(content_->Put(top.digest, body));
  }
  image.top_digest = top.digest;

  oci::Descriptor manifest_descriptor = top;
  std::string manifest_body = std::move(body);
  if (oci::IsIndexMediaType(top.media_type)) {
    CONVERGE_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(manifest_body));
    CONVERGE_ASSIGN_OR_RETURN(manifest_descriptor,
                              oci::SelectPlatform(index, oci::HostPlatform()));
    CONVERGE_RETURN_IF_ERROR(EnsureBlob(manifest_descriptor, source, /*is_manifest=*/true));
    CONVERGE_ASSIGN_OR_RETURN(manifest_body,
                              content_->Read(manifest_descriptor.digest, kMaxDocumentBytes));
  }
  CONVERGE_ASSIGN_OR_RETURN(oci::Manifest manifest, oci::ParseManifest(manifest_body));
  image.manifest_digest = manifest_descriptor.digest;
  image.size = static_cast<int64_t>(manifest_body.size());

  CONVERGE_RETURN_IF_ERROR(EnsureBlob(manifest.config, source, /*is_manifest=*/false));
  CONVERGE_ASSIGN_OR_RETURN(std::string config_body,
                            content_->Read(manifest.config.digest, kMaxDocumentBytes));
  CONVERGE_ASSIGN_OR_RETURN(image.config, oci::ParseImageConfig(config_body));
  image.config_json = std::move(config_body);
  image.id = manifest.config.digest;
  image.config_digest = manifest.config.digest;
  image.size += manifest.config.size;
  image.manifest_json = manifest_body;
  if (image.config.diff_ids.size() != manifest.layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image config ", image.id.str(), " lists ", image.config.diff_ids.size(),
        " diff ids for a manifest of ", manifest.layers.size(), " layers"));
  }

  // Each layer unpacks into its own directory, so layer i unpacks on another
  // thread while layer i+1 downloads; at most one unpack runs beside the
  // download.
  std::future<absl::Status> unpacking;
  auto finish_unpacking = [&unpacking]() -> absl::Status {
    return unpacking.valid() ? unpacking.get() : absl::OkStatus();
  };
  Digest parent;
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    PulledLayer layer{manifest.layers[i], image.config.diff_ids[i],
                      ChainId(parent, image.config.diff_ids[i])};
    parent = layer.chain_id;
    if (request.cancelled && request.cancelled()) {
      return absl::CancelledError("pull cancelled");
    }
    if (!layers_->Has(layer.chain_id)) {
      CONVERGE_RETURN_IF_ERROR(EnsureBlob(layer.blob, source, /*is_manifest=*/false));
      CONVERGE_RETURN_IF_ERROR(finish_unpacking());
      unpacking = std::async(std::launch::async, [this, layer, i] {
        return Annotate(EnsureLayer(layer), "layer ", i, " (", layer.blob.digest.str(), ")");
      });
    }
    image.size += layer.blob.size;
    image.layers.push_back(std::move(layer));
  }
  CONVERGE_RETURN_IF_ERROR(finish_unpacking());
  image.downloaded_bytes = source.downloaded;
  return image;
}

std::vector<std::string> OciImageExecutor::LayerDirs(const std::vector<Digest>& chain_ids) const {
  std::vector<std::string> dirs;
  for (const Digest& chain_id : chain_ids) dirs.push_back(layers_->Dir(chain_id));
  return dirs;
}

absl::StatusOr<bool> OciImageExecutor::InUse(const std::vector<Digest>& chain_ids) const {
  CONVERGE_ASSIGN_OR_RETURN(std::set<std::string> mounted, MountedLowerDirs());
  for (const std::string& dir : LayerDirs(chain_ids)) {
    if (mounted.count(dir) != 0) return true;
  }
  return false;
}

std::string ImportLockPath(const std::string& images_root) {
  return images_root + "/import.lock";
}

absl::StatusOr<bool> OciImageExecutor::CollectGarbage(
    const std::function<std::vector<ImageContent>()>& keep_now) {
  const std::string lock_path = ImportLockPath(root_);
  UniqueFd lock(::open(lock_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) return ErrnoError(errno, "open `", lock_path, "`");
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return false;  // an import is naming its blobs
    return ErrnoError(errno, "lock `", lock_path, "`");
  }
  const std::vector<ImageContent> keep = keep_now();
  CONVERGE_RETURN_IF_ERROR(layers_->RemoveLeftovers());
  std::set<Digest> keep_blobs, keep_layers;
  for (const ImageContent& content : keep) {
    keep_blobs.insert(content.blobs.begin(), content.blobs.end());
    keep_layers.insert(content.chain_ids.begin(), content.chain_ids.end());
  }
  CONVERGE_ASSIGN_OR_RETURN(std::vector<Digest> blobs, content_->List());
  for (const Digest& blob : blobs) {
    if (keep_blobs.count(blob) != 0) continue;
    CONVERGE_RETURN_IF_ERROR(content_->Delete(blob));
  }
  CONVERGE_ASSIGN_OR_RETURN(std::vector<Digest> layers, layers_->List());
  CONVERGE_ASSIGN_OR_RETURN(std::set<std::string> mounted, MountedLowerDirs());
  for (const Digest& chain_id : layers) {
    if (keep_layers.count(chain_id) != 0) continue;
    // A container still stacks it: collected after it goes.
    if (mounted.count(layers_->Dir(chain_id)) != 0) continue;
    CONVERGE_RETURN_IF_ERROR(layers_->Remove(chain_id));
  }
  return true;
}

absl::StatusOr<ImageFsUsage> OciImageExecutor::Usage() const {
  CONVERGE_ASSIGN_OR_RETURN(ContentStore::Usage blobs, content_->DiskUsage());
  CONVERGE_ASSIGN_OR_RETURN(LayerStore::Usage layers, layers_->DiskUsage());
  return ImageFsUsage{root_, blobs.bytes + layers.bytes, blobs.inodes + layers.inodes};
}

}  // namespace converge

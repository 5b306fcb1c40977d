#include "api/image_service.h"

#include <set>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "api/deadline.h"
#include "api/grpc_status.h"
#include "api/image_lookup.h"
#include "common/log.h"
#include "executors/image/reference.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

using runtime::v1::Image;

// StreamImages sends this many images per message.
constexpr int kStreamBatch = 200;
// A reference the store records under `ref` names a tag (not a digest).
bool IsTagReference(const std::string& ref) {
  return ref.find('@') == std::string::npos;
}

// The refs that currently name `image_id`.
std::vector<const ImageRefRecord*> NamesOf(const std::string& image_id,
                                           const std::vector<ImageRefRecord>& refs) {
  std::vector<const ImageRefRecord*> out;
  for (const ImageRefRecord& ref : refs) {
    if (ref.actual && ref.actual->image_id() == image_id) out.push_back(&ref);
  }
  return out;
}

int64_t DesiredGeneration(const std::optional<ImageRefRecord>& record) {
  return record && record->desired ? record->desired->generation() : 0;
}

int64_t AttemptedGeneration(const std::optional<ImageRefRecord>& record) {
  return record && record->actual ? record->actual->attempted_generation() : 0;
}

// The desired record that follows `current` (nullopt: the first one): its
// generation is above both what was asked and what was attempted.
records::ImageDesired NextDesired(const std::string& reference,
                                  const std::optional<ImageRefRecord>& current, bool present) {
  records::ImageDesired desired;
  desired.set_schema_version(kSchemaVersion);
  desired.set_reference(reference);
  desired.set_present(present);
  desired.set_generation(std::max(DesiredGeneration(current), AttemptedGeneration(current)) + 1);
  desired.set_updated_at_unix_nanos(absl::ToUnixNanos(absl::Now()));
  return desired;
}

grpc::Status InvalidArgument(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

}  // namespace

Image CriImage(const records::ImageRecord& image, const std::vector<ImageRefRecord>& refs) {
  Image out;
  out.set_id(image.id());
  std::set<std::string> tags, digests;
  for (const ImageRefRecord* ref : NamesOf(image.id(), refs)) {
    if (IsTagReference(ref->reference)) tags.insert(ref->reference);
    if (!ref->actual->repo_digest().empty()) digests.insert(ref->actual->repo_digest());
  }
  for (const std::string& tag : tags) out.add_repo_tags(tag);
  for (const std::string& digest : digests) out.add_repo_digests(digest);
  out.set_size(static_cast<uint64_t>(image.size()));
  // kubelet checks runAsNonRoot against these: a numeric user (with or
  // without a group) is a uid, anything else a name.
  const std::string& user = image.runtime_config().user();
  const std::string user_part = user.substr(0, user.find(':'));
  int64_t uid;
  if (!user_part.empty() && absl::SimpleAtoi(user_part, &uid)) {
    out.mutable_uid()->set_value(uid);
  } else {
    out.set_username(user_part);
  }
  out.mutable_spec()->set_image(image.id());
  return out;
}

ImageServiceImpl::ImageServiceImpl(DesiredWriter* store, PullCredentials* credentials,
                                   const ImageUsageReporter* usage, ImageServiceOptions options)
    : store_(store), credentials_(credentials), usage_(usage), options_(std::move(options)) {}

absl::Time ImageServiceImpl::Deadline(const grpc::ServerContext* context) const {
  return CallDeadline(context, options_.max_wait);
}

size_t ImageServiceImpl::StripeOf(const std::string& reference) const {
  return absl::Hash<std::string>{}(reference) % stripes_.size();
}

absl::Mutex& ImageServiceImpl::LockFor(const std::string& reference) {
  return stripes_[StripeOf(reference)];
}

std::vector<Image> ImageServiceImpl::Matching(const runtime::v1::ImageFilter* filter,
                                              grpc::Status* status) const {
  std::vector<Image> out;
  const std::vector<ImageRefRecord> refs = store_->ListImageRefs();
  if (filter != nullptr && !filter->image().image().empty()) {
    auto found = FindImage(*store_, filter->image().image());
    if (!found.ok()) {
      *status = InvalidArgument(absl::StrCat("filter.image.image: ", found.status().message()));
    } else if (*found) {
      out.push_back(CriImage(**found, refs));
    }
    return out;
  }
  for (const records::ImageRecord& image : store_->ListImages()) {
    out.push_back(CriImage(image, refs));
  }
  return out;
}

grpc::Status ImageServiceImpl::ListImages(grpc::ServerContext*,
                                          const runtime::v1::ListImagesRequest* request,
                                          runtime::v1::ListImagesResponse* response) {
  grpc::Status status;
  for (Image& image : Matching(request->has_filter() ? &request->filter() : nullptr, &status)) {
    *response->add_images() = std::move(image);
  }
  return status;
}

grpc::Status ImageServiceImpl::StreamImages(
    grpc::ServerContext*, const runtime::v1::StreamImagesRequest* request,
    grpc::ServerWriter<runtime::v1::StreamImagesResponse>* writer) {
  grpc::Status status;
  std::vector<Image> images =
      Matching(request->has_filter() ? &request->filter() : nullptr, &status);
  if (!status.ok()) return status;
  runtime::v1::StreamImagesResponse batch;
  for (Image& image : images) {
    *batch.add_images() = std::move(image);
    if (batch.images_size() == kStreamBatch) {
      if (!writer->Write(batch)) return grpc::Status::CANCELLED;
      batch.Clear();
    }
  }
  if (batch.images_size() > 0 && !writer->Write(batch)) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::ImageStatus(grpc::ServerContext*,
                                           const runtime::v1::ImageStatusRequest* request,
                                           runtime::v1::ImageStatusResponse* response) {
  if (request->image().image().empty()) return InvalidArgument("image.image: empty");
  auto found = FindImage(*store_, request->image().image());
  if (!found.ok()) return InvalidArgument(absl::StrCat("image.image: ", found.status().message()));
  // CRI: an absent image is an empty answer, not an error.
  if (!*found) return grpc::Status::OK;
  const std::vector<ImageRefRecord> refs = store_->ListImageRefs();
  *response->mutable_image() = CriImage(**found, refs);
  if (request->verbose()) {
    const records::ImageRecord& image = **found;
    nlohmann::json layers = nlohmann::json::array();
    for (const records::ImageLayer& layer : image.layers()) {
      layers.push_back({{"digest", layer.digest()},
                        {"mediaType", layer.media_type()},
                        {"size", layer.size()},
                        {"diffID", layer.diff_id()},
                        {"chainID", layer.chain_id()}});
    }
    nlohmann::json references = nlohmann::json::array();
    for (const ImageRefRecord* ref : NamesOf(image.id(), refs)) {
      references.push_back({{"reference", ref->reference},
                            {"repoDigest", ref->actual->repo_digest()}});
    }
    nlohmann::json info = {
        {"id", image.id()},
        {"manifestDigest", image.manifest_digest()},
        {"configDigest", image.config_digest()},
        {"platform", absl::StrCat(image.os(), "/", image.architecture())},
        {"layers", layers},
        {"references", references},
        {"pulledAt", absl::FormatTime(absl::RFC3339_full,
                                      absl::FromUnixNanos(image.pulled_at_unix_nanos()),
                                      absl::UTCTimeZone())},
        {"manifest", nlohmann::json::parse(image.manifest_json(), nullptr, false)},
        {"config", nlohmann::json::parse(image.config_json(), nullptr, false)},
    };
    (*response->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::PullImage(grpc::ServerContext* context,
                                         const runtime::v1::PullImageRequest* request,
                                         runtime::v1::PullImageResponse* response) {
  if (request->image().image().empty()) return InvalidArgument("image.image: empty");
  auto reference = ParseImageReference(request->image().image());
  if (!reference.ok()) {
    return InvalidArgument(absl::StrCat("image.image: ", reference.status().message()));
  }
  // "name:tag@digest" asks for the tag to name that digest.
  const Digest pinned = reference->tag.empty() ? Digest() : reference->digest;
  if (!pinned.empty()) reference->digest = Digest();
  const std::string key = reference->String();
  // kubelet sets no deadline on PullImage (large images take long): wait
  // for the pull itself, or until the caller goes away.
  const absl::Time deadline = CallDeadline(context, absl::InfiniteDuration());
  int64_t generation = 0;
  while (generation == 0) {
    int64_t pending = 0;
    {
      absl::MutexLock lock(&LockFor(key));
      std::optional<ImageRefRecord> current = store_->GetImageRef(key);
      const int64_t desired = DesiredGeneration(current);
      // A pull in flight serves this call too, unless it uses other
      // credentials: then this one waits its turn, so that one caller's
      // secret never decides another caller's pull.
      std::optional<runtime::v1::AuthConfig> in_flight = credentials_->Get(key, desired);
      if (desired > AttemptedGeneration(current) && in_flight &&
          in_flight->SerializeAsString() != request->auth().SerializeAsString()) {
        pending = desired;
      } else {
        records::ImageDesired record = NextDesired(key, current, /*present=*/true);
        record.set_digest(pinned.str());
        generation = record.generation();
        credentials_->Put(key, generation, request->auth());
        absl::Status written = store_->PutImageDesired({record});
        if (!written.ok()) return ToGrpcStatus(written);
      }
    }
    if (pending == 0) break;
    auto waited = store_->AwaitImageRef(
        key, deadline,
        [pending](const ImageRefRecord& r) {
          return r.actual && r.actual->attempted_generation() >= pending;
        },
        [context] { return context->IsCancelled(); });
    if (!waited.second) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          absl::StrCat("pull of ", key, " waits for another pull of it with "
                                       "other credentials"));
    }
  }
  auto [record, done] = store_->AwaitImageRef(
      key, deadline,
      [generation](const ImageRefRecord& r) {
        return r.actual && r.actual->attempted_generation() >= generation;
      },
      [context] { return context->IsCancelled(); });
  if (!done) {
    if (store_->WaitsCancelled()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("converged is shutting down; the pull of ", key,
                                       " resumes after it restarts"));
    }
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        absl::StrCat("pull of ", key, " not finished yet; it goes on in the "
                                     "background and a retry picks up where it is"));
  }
  if (record.actual->observed_generation() < generation) {
    return ToGrpcStatus(absl::Status(
        static_cast<absl::StatusCode>(record.actual->last_error_code()),
        absl::StrCat("pull ", key, ": ", record.actual->last_error())));
  }
  response->set_image_ref(record.actual->image_id());
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::RemoveImage(grpc::ServerContext* context,
                                           const runtime::v1::RemoveImageRequest* request,
                                           runtime::v1::RemoveImageResponse*) {
  if (request->image().image().empty()) return InvalidArgument("image.image: empty");
  auto found = FindImage(*store_, request->image().image());
  if (!found.ok()) return InvalidArgument(absl::StrCat("image.image: ", found.status().message()));
  if (!*found) return grpc::Status::OK;  // idempotent, as kubelet expects
  const std::string image_id = (*found)->id();
  // kubelet's image GC removes only images no container uses; anyone else
  // gets told which container still needs it.
  for (const SandboxRecord& sandbox : store_->ListSandboxes()) {
    if (!sandbox.actual) continue;
    for (const auto& container : sandbox.actual->containers()) {
      if (container.image_id() == image_id) {
        return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
            "image ", image_id, " is in use by container ", container.id(), " of sandbox ",
            sandbox.id)));
      }
    }
  }
  std::vector<std::pair<std::string, int64_t>> removals;
  std::vector<records::ImageDesired> writes;
  {
    // Every name's stripe, in index order, from the reads to the write: a
    // PullImage of one of the names cannot slip a generation in between.
    std::set<size_t> stripes;
    const std::vector<ImageRefRecord> names_before = store_->ListImageRefs();
    for (const ImageRefRecord* ref : NamesOf(image_id, names_before)) {
      stripes.insert(StripeOf(ref->reference));
    }
    std::vector<std::unique_ptr<absl::MutexLock>> locks;
    for (size_t stripe : stripes) locks.push_back(std::make_unique<absl::MutexLock>(&stripes_[stripe]));
    const std::vector<ImageRefRecord> refs = store_->ListImageRefs();
    for (const ImageRefRecord* ref : NamesOf(image_id, refs)) {
      // A name whose stripe we do not hold arrived after we looked; it is
      // the next RemoveImage's to remove.
      if (stripes.count(StripeOf(ref->reference)) == 0) continue;
      records::ImageDesired desired = NextDesired(ref->reference, *ref, /*present=*/false);
      removals.emplace_back(ref->reference, desired.generation());
      writes.push_back(std::move(desired));
    }
    // All names go in one batch: the image is removed as a whole, as in
    // containerd, never left with some of its tags.
    absl::Status written = store_->PutImageDesired(writes);
    if (!written.ok()) return ToGrpcStatus(written);
  }
  const absl::Time deadline = Deadline(context);
  for (const auto& [reference, generation] : removals) {
    auto [record, done] = store_->AwaitImageRef(
        reference, deadline,
        [generation = generation](const ImageRefRecord& r) {
          return !r.actual || r.actual->attempted_generation() >= generation;
        },
        [context] { return context->IsCancelled(); });
    if (!done) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          absl::StrCat("removal of image ", image_id, " not finished yet"));
    }
    if (record.actual) {
      return ToGrpcStatus(absl::Status(
          static_cast<absl::StatusCode>(record.actual->last_error_code()),
          absl::StrCat("remove image ", image_id, ": ", record.actual->last_error())));
    }
    // Nothing actual is left: the tombstone has done its work, unless a
    // PullImage has replaced it since.
    absl::MutexLock lock(&stripes_[StripeOf(reference)]);
    std::optional<ImageRefRecord> now = store_->GetImageRef(reference);
    if (!now || !now->desired || now->desired->present() ||
        now->desired->generation() != generation) {
      continue;
    }
    absl::Status deleted = store_->DeleteImageDesired(reference);
    if (!deleted.ok()) {
      NamedLogger("cri")->warn("image tombstone not deleted reference={} error={}", reference,
                               deleted.ToString());
    }
  }
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::ImageFsInfo(grpc::ServerContext*,
                                           const runtime::v1::ImageFsInfoRequest*,
                                           runtime::v1::ImageFsInfoResponse* response) {
  absl::StatusOr<ImageStoreUsage> usage = usage_->ImageStoreUsageNow();
  if (!usage.ok()) return ToGrpcStatus(usage.status());
  runtime::v1::FilesystemUsage* fs = response->add_image_filesystems();
  fs->set_timestamp(absl::ToUnixNanos(absl::Now()));
  fs->mutable_fs_id()->set_mountpoint(usage->mountpoint);
  fs->mutable_used_bytes()->set_value(usage->bytes);
  fs->mutable_inodes_used()->set_value(usage->inodes);
  return grpc::Status::OK;
}

}  // namespace converge

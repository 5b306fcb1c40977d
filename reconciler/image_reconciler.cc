#include "reconciler/image_reconciler.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace converge {
namespace {

registry::Credentials CredentialsOf(const runtime::v1::AuthConfig& auth) {
  registry::Credentials credentials;
  credentials.username = auth.username();
  credentials.password = auth.password();
  credentials.auth = auth.auth();
  credentials.identity_token = auth.identity_token();
  credentials.registry_token = auth.registry_token();
  return credentials;
}

// The digest half of "<repository>@<digest>".
std::string RepoDigestDigest(const std::string& repo_digest) {
  const size_t at = repo_digest.rfind('@');
  return at == std::string::npos ? "" : repo_digest.substr(at + 1);
}

std::vector<Digest> ChainIds(const records::ImageRecord& image) {
  std::vector<Digest> out;
  for (const records::ImageLayer& layer : image.layers()) {
    auto chain_id = Digest::Parse(layer.chain_id());
    if (chain_id.ok()) out.push_back(*chain_id);
  }
  return out;
}

}  // namespace

records::ImageRecord ImageRecordOf(const PulledImage& image, absl::Time now) {
  records::ImageRecord record;
  record.set_schema_version(kSchemaVersion);
  record.set_id(image.id.str());
  record.set_manifest_digest(image.manifest_digest.str());
  record.set_config_digest(image.config_digest.str());
  record.set_os(image.config.os);
  record.set_architecture(image.config.architecture);
  for (const PulledLayer& layer : image.layers) {
    records::ImageLayer* out = record.add_layers();
    out->set_digest(layer.blob.digest.str());
    out->set_media_type(layer.blob.media_type);
    out->set_size(layer.blob.size);
    out->set_diff_id(layer.diff_id.str());
    out->set_chain_id(layer.chain_id.str());
  }
  record.set_size(image.size);
  records::ImageRuntimeConfig* config = record.mutable_runtime_config();
  config->set_user(image.config.user);
  for (const auto& env : image.config.env) config->add_env(env);
  for (const auto& arg : image.config.entrypoint) config->add_entrypoint(arg);
  for (const auto& arg : image.config.cmd) config->add_cmd(arg);
  config->set_working_dir(image.config.working_dir);
  config->set_stop_signal(image.config.stop_signal);
  for (const auto& port : image.config.exposed_ports) config->add_exposed_ports(port);
  for (const auto& volume : image.config.volumes) config->add_volumes(volume);
  config->mutable_labels()->insert(image.config.labels.begin(), image.config.labels.end());
  record.set_pulled_at_unix_nanos(absl::ToUnixNanos(now));
  record.set_manifest_json(image.manifest_json);
  record.set_config_json(image.config_json);
  return record;
}

absl::StatusOr<std::unique_ptr<ImageReconciler>> ImageReconciler::Create(
    ImageWriter* store, ImageExecutor* images, PullCredentials* credentials,
    ImageReconcilerOptions options, Clock* clock) {
  if (options.workers < 1) {
    return absl::InvalidArgumentError(absl::StrCat("image workers: ", options.workers, " < 1"));
  }
  if (options.metrics == nullptr) return absl::InvalidArgumentError("image reconciler: no metrics");
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<WorkQueue> queue,
                            WorkQueue::Create(clock, options.queue));
  std::unique_ptr<ImageReconciler> reconciler(new ImageReconciler(
      store, images, credentials, std::move(options), clock, std::move(queue)));
  metrics::Registry* registry = reconciler->options_.metrics->registry();
  CONVERGE_ASSIGN_OR_RETURN(
      reconciler->pulls_,
      registry->AddCounter("converge_image_pulls_total",
                           "Image pulls attempted by the image reconciler, by result.",
                           {"result"}));
  CONVERGE_ASSIGN_OR_RETURN(
      reconciler->pulled_bytes_,
      registry->AddCounter("converge_image_pull_bytes_total",
                           "Bytes downloaded from registries by image pulls.", {}));
  ImageReconciler* self = reconciler.get();
  reconciler->state_hook_ =
      registry->AddScrapeHook("image state", [self] { return self->RefreshStateMetrics(); });
  return reconciler;
}

ImageReconciler::ImageReconciler(ImageWriter* store, ImageExecutor* images,
                                 PullCredentials* credentials, ImageReconcilerOptions options,
                                 Clock* clock, std::unique_ptr<WorkQueue> queue)
    : store_(store),
      images_(images),
      credentials_(credentials),
      options_(std::move(options)),
      clock_(clock),
      queue_(std::move(queue)) {
  listener_ = store_->AddListener([this](const std::string& key, StateReader::Family family) {
    if (family == StateReader::Family::kImageDesired) queue_->Add(key);
  });
}

ImageReconciler::~ImageReconciler() {
  Stop();
  store_->RemoveListener(listener_);
  if (state_hook_ != 0) options_.metrics->registry()->RemoveScrapeHook(state_hook_);
}

absl::Status ImageReconciler::Start() {
  MeasureUsage();
  for (const ImageRefRecord& ref : store_->ListImageRefs()) {
    if (ComputeImageAction(ref) != ImageAction::kNone) queue_->Add(ref.reference);
  }
  // The first sweep runs now, beside the workers: a large collection must
  // not keep the CRI socket closed.
  threads_.Start(options_.workers, [this] { Worker(); }, clock_->Now(), options_.sweep_period,
                 [this] {
                   absl::Status swept = Sweep();
                   if (!swept.ok()) {
                     NamedLogger("images")->warn("image sweep failed error={}", swept.ToString());
                   }
                 });
  return absl::OkStatus();
}

void ImageReconciler::Stop() { threads_.Stop(queue_.get()); }

bool ImageReconciler::Stopping() const { return threads_.Stopping(); }

void ImageReconciler::Worker() {
  while (std::optional<std::string> reference = queue_->Get()) {
    absl::Status status = ReconcileImage(*reference);
    if (status.ok() || Stopping()) {
      queue_->Forget(*reference);
    } else {
      // Only store writes fail a pass (pull errors are recorded): retry them.
      options_.metrics->CountRetry();
      absl::Duration retry = queue_->AddRateLimited(*reference);
      NamedLogger("images")->warn("image reconcile failed reference={} retry_in={} error={}",
                                  *reference, absl::FormatDuration(retry), status.ToString());
    }
    queue_->Done(*reference);
  }
}

absl::Status ImageReconciler::ReconcileImage(const std::string& reference) {
  std::optional<ImageRefRecord> record = store_->GetImageRef(reference);
  if (!record) return absl::OkStatus();
  switch (ComputeImageAction(*record)) {
    case ImageAction::kNone:
    case ImageAction::kDone:
      return absl::OkStatus();
    case ImageAction::kPull:
      return Pull(*record);
    case ImageAction::kRemove:
      return Remove(*record);
  }
  return absl::OkStatus();
}

absl::Status ImageReconciler::Pull(const ImageRefRecord& record) {
  const records::ImageDesired& desired = *record.desired;
  absl::StatusOr<ImageReference> reference = ParseImageReference(desired.reference());
  PullRequest request;
  if (reference.ok() && !desired.digest().empty()) {
    auto pinned = Digest::Parse(desired.digest());
    if (pinned.ok()) {
      reference->digest = *pinned;
      // The tag was pinned to content on this node (an import): what is
      // present needs no registry. A plain digest pull still asks the
      // registry, with the caller's credentials, whether the caller may have it.
      request.prefer_local = true;
    } else {
      reference = pinned.status();
    }
  }
  {
    absl::MutexLock lock(&content_mu_);
    ++pulls_in_flight_;
  }
  absl::StatusOr<PulledImage> pulled = [&]() -> absl::StatusOr<PulledImage> {
    if (!reference.ok()) return reference.status();
    request.reference = *reference;
    if (auto auth = credentials_->Get(desired.reference(), desired.generation())) {
      request.credentials = CredentialsOf(*auth);
    }
    request.cancelled = [this] { return Stopping() || store_->WaitsCancelled(); };
    NamedLogger("images")->info("pulling reference={} generation={}", desired.reference(),
                                desired.generation());
    return options_.metrics->TimeExecutor("image", "pull",
                                          [&] { return images_->Pull(request); });
  }();
  absl::Status recorded;
  {
    absl::MutexLock lock(&content_mu_);
    --pulls_in_flight_;
    // A pull cut short by shutdown is not an outcome: the next start resumes it.
    const bool shutting_down = Stopping() || store_->WaitsCancelled() ||
                               (!pulled.ok() && absl::IsCancelled(pulled.status()));
    if (!(shutting_down && !pulled.ok())) {
      recorded = RecordPull(record, reference.ok() ? *reference : ImageReference(), pulled);
    }
    if (pulls_in_flight_ == 0 && collection_owed_) CollectGarbage();
  }
  MeasureUsage();
  // A failed pull is recorded, not retried: only a failed record is.
  return recorded;
}

absl::Status ImageReconciler::RecordPull(const ImageRefRecord& record,
                                         const ImageReference& reference,
                                         const absl::StatusOr<PulledImage>& pulled) {
  const records::ImageDesired& desired = *record.desired;
  auto log = NamedLogger("images");
  pulls_->WithLabels({pulled.ok() ? "success" : "error"})->Increment();
  records::ImageRefActual actual = record.actual.value_or(records::ImageRefActual());
  actual.set_schema_version(kSchemaVersion);
  actual.set_reference(desired.reference());
  actual.set_attempted_generation(desired.generation());
  actual.set_updated_at_unix_nanos(absl::ToUnixNanos(clock_->Now()));
  const std::string previous_image = actual.image_id();
  if (!pulled.ok()) {
    actual.set_last_error(std::string(pulled.status().message()));
    actual.set_last_error_code(static_cast<int>(pulled.status().code()));
    log->warn("pull failed reference={} error={}", desired.reference(),
              pulled.status().ToString());
    return store_->PutImageRef(actual, nullptr);
  }
  pulled_bytes_->WithLabels({})->Increment(static_cast<double>(pulled->downloaded_bytes));
  records::ImageRecord image = ImageRecordOf(*pulled, clock_->Now());
  actual.set_image_id(image.id());
  actual.set_repo_digest(absl::StrCat(reference.Repository(), "@", pulled->top_digest.str()));
  actual.set_observed_generation(desired.generation());
  actual.clear_last_error();
  actual.clear_last_error_code();
  CONVERGE_RETURN_IF_ERROR(store_->PutImageRef(actual, &image));
  credentials_->Forget(desired.reference(), desired.generation());
  options_.metrics->ObserveConvergence(
      "image", clock_->Now() - absl::FromUnixNanos(desired.updated_at_unix_nanos()));
  log->info("pulled reference={} image={} downloaded_bytes={}", desired.reference(), image.id(),
            pulled->downloaded_bytes);
  // The tag moved: the image it named before may have lost its last name.
  if (!previous_image.empty() && previous_image != image.id()) {
    return DropIfUnnamed(previous_image);
  }
  return absl::OkStatus();
}

absl::Status ImageReconciler::Remove(const ImageRefRecord& record) {
  absl::MutexLock lock(&content_mu_);
  // Read again under the lock: a pull may have recorded meanwhile.
  std::optional<ImageRefRecord> current = store_->GetImageRef(record.reference);
  if (!current || ComputeImageAction(*current) != ImageAction::kRemove) return absl::OkStatus();
  const std::string image_id = current->actual->image_id();
  std::optional<records::ImageRecord> image = store_->GetImage(image_id);
  bool keeps_a_name = false;
  for (const ImageRefRecord& other : store_->ListImageRefs()) {
    if (other.reference != current->reference && other.actual &&
        other.actual->image_id() == image_id && other.desired && other.desired->present()) {
      keeps_a_name = true;
    }
  }
  // The image and its content go before the name, so that RemoveImage,
  // which waits for the name, returns with the space freed (unless pulls are
  // in flight: then when the last ends); a crash in between leaves a name of
  // a missing image, which the next pass drops.
  if (image && !keeps_a_name) {
    absl::StatusOr<bool> in_use = options_.metrics->TimeExecutor(
        "image", "in_use", [&] { return images_->InUse(ChainIds(*image)); });
    if (!in_use.ok() || *in_use) {
      absl::Status refusal =
          in_use.ok() ? absl::FailedPreconditionError(absl::StrCat(
                            "image ", image_id, " is in use by a container (a mounted rootfs "
                            "stacks its layers)"))
                      : in_use.status();
      records::ImageRefActual actual = *current->actual;
      actual.set_attempted_generation(current->desired->generation());
      actual.set_last_error(std::string(refusal.message()));
      actual.set_last_error_code(static_cast<int>(refusal.code()));
      actual.set_updated_at_unix_nanos(absl::ToUnixNanos(clock_->Now()));
      return store_->PutImageRef(actual, nullptr);
    }
    CONVERGE_RETURN_IF_ERROR(DropImage(image_id));
  }
  CONVERGE_RETURN_IF_ERROR(store_->DeleteImageRef(current->reference));
  NamedLogger("images")->info("removed reference={} image={}", current->reference, image_id);
  MeasureUsage();
  return absl::OkStatus();
}

absl::Status ImageReconciler::DropIfUnnamed(const std::string& image_id) {
  for (const ImageRefRecord& ref : store_->ListImageRefs()) {
    if (ref.actual && ref.actual->image_id() == image_id) return absl::OkStatus();
  }
  std::optional<records::ImageRecord> image = store_->GetImage(image_id);
  if (!image) return absl::OkStatus();
  CONVERGE_ASSIGN_OR_RETURN(bool in_use, images_->InUse(ChainIds(*image)));
  // Kept, nameless, while a container runs on it; a later sweep drops it.
  if (in_use) return absl::OkStatus();
  return DropImage(image_id);
}

absl::Status ImageReconciler::DropImage(const std::string& image_id) {
  CONVERGE_RETURN_IF_ERROR(store_->DeleteImage(image_id));
  NamedLogger("images")->info("removed image={}", image_id);
  CollectGarbage();
  return absl::OkStatus();
}

absl::Status ImageReconciler::Sweep() {
  {
    absl::MutexLock lock(&content_mu_);
    for (const records::ImageRecord& image : store_->ListImages()) {
      CONVERGE_RETURN_IF_ERROR(DropIfUnnamed(image.id()));
    }
    CollectGarbage();
  }
  MeasureUsage();
  return absl::OkStatus();
}

void ImageReconciler::CollectGarbage() {
  if (pulls_in_flight_ > 0) {
    collection_owed_ = true;
    return;
  }
  // A record this binary cannot read may name content: keep everything.
  if (!store_->QuarantinedImageKeys().empty()) return;
  absl::StatusOr<bool> collected =
      options_.metrics->TimeExecutor("image", "collect_garbage", [&] {
        return images_->CollectGarbage([this] { return ContentToKeep(); });
      });
  // What could not be deleted now is the next sweep's: a removal does not
  // fail (and its name stay) because some file resisted deletion.
  collection_owed_ = !collected.ok() || !*collected;
  if (!collected.ok()) {
    NamedLogger("images")->warn("image content collection failed, retried by the next sweep "
                                "error={}", collected.status().ToString());
  }
}

std::vector<ImageContent> ImageReconciler::ContentToKeep() const {
  std::vector<ImageContent> keep;
  std::set<std::string> images;
  for (const records::ImageRecord& image : store_->ListImages()) {
    images.insert(image.id());
    ImageContent content;
    for (const std::string& digest : {image.manifest_digest(), image.config_digest()}) {
      if (auto parsed = Digest::Parse(digest); parsed.ok()) content.blobs.push_back(*parsed);
    }
    for (const records::ImageLayer& layer : image.layers()) {
      if (auto parsed = Digest::Parse(layer.digest()); parsed.ok()) content.blobs.push_back(*parsed);
    }
    content.chain_ids = ChainIds(image);
    keep.push_back(std::move(content));
  }
  // The index (or manifest) each name of a kept image resolved to: a digest
  // pull of it is then served locally.
  ImageContent tops;
  for (const ImageRefRecord& ref : store_->ListImageRefs()) {
    if (!ref.actual || images.count(ref.actual->image_id()) == 0) continue;
    if (auto parsed = Digest::Parse(RepoDigestDigest(ref.actual->repo_digest())); parsed.ok()) {
      tops.blobs.push_back(*parsed);
    }
  }
  keep.push_back(std::move(tops));
  return keep;
}

void ImageReconciler::MeasureUsage() {
  absl::StatusOr<ImageFsUsage> measured = images_->Usage();
  absl::MutexLock lock(&usage_mu_);
  if (measured.ok()) {
    usage_ = ImageStoreUsage{measured->mountpoint, measured->bytes, measured->inodes};
  } else {
    usage_ = measured.status();
  }
}

absl::StatusOr<ImageStoreUsage> ImageReconciler::ImageStoreUsageNow() const {
  absl::MutexLock lock(&usage_mu_);
  return usage_;
}

absl::Status ImageReconciler::RefreshStateMetrics() {
  std::map<std::string, int> by_state = {{"pending", 0}, {"present", 0}, {"failed", 0},
                                         {"removing", 0}};
  int unconverged = 0;
  absl::Duration oldest = absl::ZeroDuration();
  const absl::Time now = clock_->Now();
  for (const ImageRefRecord& ref : store_->ListImageRefs()) {
    if (!ref.desired) continue;
    std::string state;
    if (!ref.desired->present()) {
      state = "removing";
    } else if (!ref.actual) {
      state = "pending";
    } else if (!ref.actual->last_error().empty()) {
      state = "failed";
    } else {
      state = "present";
    }
    if (ref.desired->present() || ref.actual) ++by_state[state];
    if (!IsConverged(ref) && ComputeImageAction(ref) != ImageAction::kDone) {
      ++unconverged;
      oldest = std::max(oldest, now - absl::FromUnixNanos(ref.desired->updated_at_unix_nanos()));
    }
  }
  for (const auto& [state, count] : by_state) options_.metrics->SetObjects("image", state, count);
  options_.metrics->SetUnconverged("image", unconverged, oldest);
  return absl::OkStatus();
}

}  // namespace converge

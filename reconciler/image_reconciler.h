// The image reconciler: makes each image reference's actual record (where it
// resolved, or why it failed) match its desired record (PullImage and
// RemoveImage intent), through the ImageExecutor, and collects content no
// image needs. It is the only writer of the store's `images` family.
//
//   CONVERGE_ASSIGN_OR_RETURN(auto images, ImageReconciler::Create(store, executor,
//                                                                  credentials, options));
//   CONVERGE_RETURN_IF_ERROR(images->Start());  // GC, resume pulls, run workers
//   ...
//   images->Stop();
//
// Keys are normalised references. A pull is attempted once per desired
// generation (see ComputeImageAction); concurrent pulls of one reference
// collapse into one pass, and of different references to one image share
// their downloads in the executor.
#ifndef CONVERGE_RECONCILER_IMAGE_RECONCILER_H_
#define CONVERGE_RECONCILER_IMAGE_RECONCILER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "executors/image/image_executor.h"
#include "reconciler/image_actions.h"
#include "reconciler/image_usage.h"
#include "reconciler/loop_threads.h"
#include "reconciler/reconciler_metrics.h"
#include "reconciler/workqueue.h"
#include "store/pull_credentials.h"
#include "store/store.h"

namespace converge {

struct ImageReconcilerOptions {
  // kubelet pulls one image at a time by default; two workers let a small
  // image through while a large one downloads.
  int workers = 2;
  // How often images no reference names are dropped, collection that had to
  // wait (pulls in flight, an import) is retried, and ImageFsInfo's usage is
  // measured again.
  absl::Duration sweep_period = absl::Minutes(1);
  WorkQueue::Options queue;
  // Shared with the sandbox reconciler; must outlive this one.
  ReconcilerMetrics* metrics = nullptr;
};

// The record of a pulled image.
records::ImageRecord ImageRecordOf(const PulledImage& image, absl::Time now);

class ImageReconciler final : public ImageUsageReporter {
 public:
  static absl::StatusOr<std::unique_ptr<ImageReconciler>> Create(
      ImageWriter* store, ImageExecutor* images, PullCredentials* credentials,
      ImageReconcilerOptions options, Clock* clock);
  ~ImageReconciler() override;

  // Measures the image store, queues pending pulls and removals, starts the
  // workers and the sweep (whose first round drops unnamed images and
  // collects what a crash left).
  absl::Status Start();
  // Aborts pulls in flight (they are resumed at the next start), joins.
  void Stop();

  // One pass for `reference`. Public for tests that run without workers.
  absl::Status ReconcileImage(const std::string& reference);

  // Drops images no reference names (and no container uses), then deletes
  // content no recorded image uses, or notes it for later while pulls are in
  // flight or an import holds its lock.
  absl::Status Sweep();

  // The usage measured after the last pull, removal or sweep.
  absl::StatusOr<ImageStoreUsage> ImageStoreUsageNow() const override;

 private:
  ImageReconciler(ImageWriter* store, ImageExecutor* images, PullCredentials* credentials,
                  ImageReconcilerOptions options, Clock* clock, std::unique_ptr<WorkQueue> queue);

  void Worker();
  bool Stopping() const;
  absl::Status Pull(const ImageRefRecord& record);
  absl::Status RecordPull(const ImageRefRecord& record, const ImageReference& reference,
                          const absl::StatusOr<PulledImage>& pulled)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(content_mu_);
  absl::Status Remove(const ImageRefRecord& record) ABSL_LOCKS_EXCLUDED(content_mu_);
  // Deletes the image record once no reference names it and no container
  // stacks its layers, then collects its content.
  absl::Status DropIfUnnamed(const std::string& image_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(content_mu_);
  // Deletes the image record and collects the content it alone used.
  absl::Status DropImage(const std::string& image_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(content_mu_);
  // Collects now, or notes it owed (pulls in flight, an import's lock, an
  // error) for the end of the last pull or the next sweep.
  void CollectGarbage() ABSL_EXCLUSIVE_LOCKS_REQUIRED(content_mu_);
  std::vector<ImageContent> ContentToKeep() const;
  void MeasureUsage();
  absl::Status RefreshStateMetrics();

  ImageWriter* const store_;
  ImageExecutor* const images_;
  PullCredentials* const credentials_;
  const ImageReconcilerOptions options_;
  Clock* const clock_;
  const std::unique_ptr<WorkQueue> queue_;
  metrics::CounterFamily* pulled_bytes_ = nullptr;
  metrics::CounterFamily* pulls_ = nullptr;
  metrics::Registry::ScrapeHookId state_hook_ = 0;

  // Orders what touches stored content: collection, the recording of a
  // pull, and removal. Pulls in flight are counted rather than locked out
  // (a pull can take minutes): collection waits until none is, so a layer a
  // pull found present cannot vanish before the pull records its image.
  absl::Mutex content_mu_;
  int pulls_in_flight_ ABSL_GUARDED_BY(content_mu_) = 0;
  bool collection_owed_ ABSL_GUARDED_BY(content_mu_) = false;

  mutable absl::Mutex usage_mu_;
  absl::StatusOr<ImageStoreUsage> usage_ ABSL_GUARDED_BY(usage_mu_) =
      absl::UnavailableError("image store usage not measured yet");

  StateReader::ListenerId listener_;
  LoopThreads threads_{clock_};
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_IMAGE_RECONCILER_H_

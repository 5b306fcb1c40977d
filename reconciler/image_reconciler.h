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
#include "reconciler/reconciler_metrics.h"
#include "reconciler/workqueue.h"
#include "store/pull_credentials.h"
#include "store/store.h"

namespace converge {

struct ImageReconcilerOptions {
  // kubelet pulls one image at a time by default; two workers let a small
  // image through while a large one downloads.
  int workers = 2;
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

  absl::Status Start();
  // Aborts pulls in flight (they are resumed at the next start), joins.
  void Stop();

  // One pass for `reference`. Public for tests that run without workers.
  absl::Status ReconcileImage(const std::string& reference);

  // Deletes content (blobs, layers) that no recorded image uses.
  absl::Status CollectGarbage();

  absl::StatusOr<ImageStoreUsage> ImageStoreUsageNow() const override;

 private:
  ImageReconciler(ImageWriter* store, ImageExecutor* images, PullCredentials* credentials,
                  ImageReconcilerOptions options, Clock* clock, std::unique_ptr<WorkQueue> queue);

  void Worker();
  bool Stopping() const;
  absl::Status Pull(const ImageRefRecord& record);
  absl::Status Remove(const ImageRefRecord& record);
  // Deletes the image record once no reference names it and no container
  // stacks its layers, then collects its content.
  absl::Status DropIfUnnamed(const std::string& image_id);
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

  // Pulls hold it shared, collection exclusively: a pull that found a layer
  // present must not see it collected before its image is recorded.
  absl::Mutex gc_mu_;

  StateReader::ListenerId listener_;
  std::vector<std::thread> threads_;
  mutable absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_IMAGE_RECONCILER_H_

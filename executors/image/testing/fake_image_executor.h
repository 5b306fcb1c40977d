// An in-memory ImageExecutor for reconciler tests: images are registered by
// reference, pulls return them (or an injected error), and InUse and
// CollectGarbage are recorded.
#ifndef CONVERGE_EXECUTORS_IMAGE_TESTING_FAKE_IMAGE_EXECUTOR_H_
#define CONVERGE_EXECUTORS_IMAGE_TESTING_FAKE_IMAGE_EXECUTOR_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "executors/image/image_executor.h"

namespace converge {

class FakeImageExecutor : public ImageExecutor {
 public:
  // An image whose config digest is sha256(`name`) with one layer.
  static PulledImage MakeImage(const std::string& name);

  // What a pull of `reference` (its String()) returns from now on.
  void SetImage(const std::string& reference, const PulledImage& image);
  void SetError(const std::string& reference, absl::Status error);
  void SetInUse(const Digest& chain_id, bool in_use);
  // Pulls started from now on wait until `gate` is notified (null: no wait).
  void SetPullGate(absl::Notification* gate);
  int pulls_waiting() const;

  int pulls(const std::string& reference) const;
  // The images kept by the last CollectGarbage call, by config digest.
  std::set<Digest> last_kept_configs() const;
  int collections() const;

  absl::StatusOr<PulledImage> Pull(const PullRequest& request) override;
  std::vector<std::string> LayerDirs(const std::vector<Digest>& chain_ids) const override;
  absl::StatusOr<bool> InUse(const std::vector<Digest>& chain_ids) const override;
  absl::StatusOr<bool> CollectGarbage(
      const std::function<std::vector<ImageContent>()>& keep) override;
  absl::StatusOr<ImageFsUsage> Usage() const override;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<PulledImage>> images_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> pulls_ ABSL_GUARDED_BY(mu_);
  std::set<Digest> in_use_ ABSL_GUARDED_BY(mu_);
  absl::Notification* gate_ ABSL_GUARDED_BY(mu_) = nullptr;
  int pulls_waiting_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<Digest> last_kept_configs_ ABSL_GUARDED_BY(mu_);
  int collections_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_TESTING_FAKE_IMAGE_EXECUTOR_H_

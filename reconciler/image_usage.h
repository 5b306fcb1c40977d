// What the image reconciler reports about the image store to CRI handlers
// (ImageFsInfo), as HealthReporter does for runtime conditions: handlers read
// observations through it and never call executors themselves.
#ifndef CONVERGE_RECONCILER_IMAGE_USAGE_H_
#define CONVERGE_RECONCILER_IMAGE_USAGE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace converge {

struct ImageStoreUsage {
  std::string mountpoint;
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};

class ImageUsageReporter {
 public:
  virtual ~ImageUsageReporter() = default;
  virtual absl::StatusOr<ImageStoreUsage> ImageStoreUsageNow() const = 0;
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_IMAGE_USAGE_H_

// Node-level conditions the reconciler has observed, for the CRI `Status`
// call. Handlers read them; they never ask executors themselves.
#ifndef CONVERGE_RECONCILER_HEALTH_H_
#define CONVERGE_RECONCILER_HEALTH_H_

#include "absl/status/status.h"

namespace converge {

class HealthReporter {
 public:
  virtual ~HealthReporter() = default;
  // OK when pod networking can be set up; otherwise why not.
  virtual absl::Status NetworkReadiness() const = 0;
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_HEALTH_H_

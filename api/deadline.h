// How long a CRI handler may wait for the reconciler.
#ifndef CONVERGE_API_DEADLINE_H_
#define CONVERGE_API_DEADLINE_H_

#include <algorithm>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace converge {

// The client's deadline, bounded by `max_wait`, less a margin: a handler
// answers a little before the client gives up, so that the client reads our
// DEADLINE_EXCEEDED with the last error instead of its own bare one.
inline absl::Time CallDeadline(const grpc::ServerContext* context, absl::Duration max_wait) {
  const absl::Time now = absl::Now();
  const absl::Time client = absl::FromChrono(context->deadline());
  const absl::Duration margin =
      std::clamp((client - now) / 10, absl::ZeroDuration(), absl::Seconds(1));
  return std::min(now + max_wait, client - margin);
}

}  // namespace converge

#endif  // CONVERGE_API_DEADLINE_H_

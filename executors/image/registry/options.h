// How the registry client talks HTTP: identification, timeouts, retries and
// cancellation. The defaults suit a daemon pulling over the Internet.
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_OPTIONS_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"

namespace converge::registry {

struct ClientOptions {
  std::string user_agent = "converge";  // the daemon passes "converge/<version>"
  absl::Duration connect_timeout = absl::Seconds(15);
  // A transfer slower than this for `low_speed_time` is abandoned (and, being
  // transient, retried or resumed): a stalled connection must not hang a pull.
  int64_t low_speed_bytes_per_second = 1024;
  absl::Duration low_speed_time = absl::Seconds(30);
  // Polled during transfers and retry waits, from whichever thread uses a
  // session, so it must be thread-safe; true aborts with CANCELLED (the
  // daemon shutting down). Unset means never.
  std::function<bool()> cancelled;
  // Retries of one request after a transient failure (HTTP 429, 502, 503,
  // 504, a reset, truncated or stalled transfer).
  int max_retries = 3;
  // Doubled after each retry; an HTTP Retry-After is honoured instead, both
  // capped at `max_retry_delay` so a pull never waits long on one request.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_retry_delay = absl::Seconds(5);
};

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_OPTIONS_H_

// converged's wiring: opens the store, builds the Linux executors and the
// reconciler, serves CRI on the unix socket until asked to stop.
#ifndef CONVERGE_CMD_CONVERGED_DAEMON_H_
#define CONVERGE_CMD_CONVERGED_DAEMON_H_

#include <functional>

#include "absl/status/status.h"
#include "api/config.pb.h"

namespace converge {

// Runs the daemon; returns once `wait_for_stop` returns (after a clean
// shutdown) or on a start-up error.
absl::Status RunDaemon(const config::DaemonConfig& config,
                       const std::function<void()>& wait_for_stop);

}  // namespace converge

#endif  // CONVERGE_CMD_CONVERGED_DAEMON_H_

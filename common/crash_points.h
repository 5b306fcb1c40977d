// Named crash points for crash-safety tests. Compiled in and off by default:
// only a daemon started with `--crash_at=NAME[,NAME...]` arms them, and an
// armed point kills the process with SIGKILL, exactly like `kill -9` at that
// line. Nothing else in the code changes behaviour for tests.
//
//   CrashPoint("persisted:create-namespaces");  // no-op unless armed
#ifndef CONVERGE_COMMON_CRASH_POINTS_H_
#define CONVERGE_COMMON_CRASH_POINTS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace converge {

// Arms `names`; call once at start-up, before any thread reaches a point.
void ArmCrashPoints(const std::vector<std::string>& names);

void CrashPoint(absl::string_view name);

}  // namespace converge

#endif  // CONVERGE_COMMON_CRASH_POINTS_H_

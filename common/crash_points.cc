#include "common/crash_points.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "absl/container/flat_hash_set.h"

namespace converge {
namespace {

// Written once before threads start, then only read.
absl::flat_hash_set<std::string>* armed = nullptr;
std::atomic<bool> any_armed{false};

}  // namespace

void ArmCrashPoints(const std::vector<std::string>& names) {
  if (names.empty()) return;
  armed = new absl::flat_hash_set<std::string>(names.begin(), names.end());
  any_armed.store(true, std::memory_order_release);
}

void CrashPoint(absl::string_view name) {
  if (!any_armed.load(std::memory_order_acquire)) return;
  if (!armed->contains(name)) return;
  // stderr is unbuffered: the line is out before the kill.
  std::fprintf(stderr, "crash point %.*s reached: killing self with SIGKILL\n",
               static_cast<int>(name.size()), name.data());
  kill(getpid(), SIGKILL);
  _exit(137);  // Not reached.
}

}  // namespace converge

#include "common/clock.h"

namespace converge {

void Clock::SleepUntil(absl::Time deadline) {
  // Nobody else can signal this private condvar, so only the clock reaching
  // `deadline` (or a spurious wakeup, hence the loop) ends the wait.
  absl::Mutex mu;
  absl::CondVar cv;
  absl::MutexLock lock(&mu);
  while (!WaitUntil(&mu, &cv, deadline)) {
  }
}

RealClock* RealClock::Get() {
  static RealClock* const clock = new RealClock();
  return clock;
}

absl::Time RealClock::Now() { return absl::Now(); }

bool RealClock::WaitUntil(absl::Mutex* mu, absl::CondVar* cv,
                          absl::Time deadline) {
  // WaitWithDeadline treats InfiniteFuture() as "no timeout". Its return value
  // is not used because a wakeup can race with the deadline; the clock decides.
  cv->WaitWithDeadline(mu, deadline);
  return Now() >= deadline;
}

void RealClock::SleepUntil(absl::Time deadline) {
  absl::SleepFor(deadline - Now());
}

}  // namespace converge

// Clock: an injectable source of time that can also time out a condition-
// variable wait, so code that sleeps or waits with a deadline can be tested
// with a fake clock instead of the wall clock.
//
// Code takes a `Clock*` (production passes `RealClock::Get()`, tests a
// `FakeClock` from common/testing/fake_clock.h) and waits through it:
//
//   absl::MutexLock lock(&mu_);
//   while (!ready_) {
//     // Wakes on cv_.Signal*() from another thread, or once the clock reaches
//     // `deadline` (for a FakeClock: once Advance() moves it past deadline).
//     if (clock_->WaitUntil(&mu_, &cv_, deadline)) break;  // timed out
//   }
//
// Why a (mutex, condvar) pair rather than a plain Sleep: the waiter must also
// be woken by events (a key added, a shutdown), and a fake clock must be able
// to wake it when fake time passes. Passing the waiter's own mutex and condvar
// lets the clock do both without a polling loop.
#ifndef CONVERGE_COMMON_CLOCK_H_
#define CONVERGE_COMMON_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace converge {

// Thread-safe: every method may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;

  // Blocks until `cv` is signalled, `deadline` (in this clock's time) is
  // reached, or a spurious wakeup; like absl::CondVar, `mu` is released while
  // blocked and held again on return, so callers re-check their condition in
  // a loop. `deadline` may be absl::InfiniteFuture() to wait for a signal
  // only. Returns true iff Now() >= deadline on return.
  //
  // `mu` and `cv` must stay alive until this call returns (the usual rule for
  // a condition variable); nothing more is required of them afterwards.
  virtual bool WaitUntil(absl::Mutex* mu, absl::CondVar* cv,
                         absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // Blocks the calling thread until Now() >= deadline.
  virtual void SleepUntil(absl::Time deadline);
  void SleepFor(absl::Duration duration) { SleepUntil(Now() + duration); }
};

// The process's real clock (absl::Now()). A process-wide singleton that is
// never destroyed, so it is safe to use from static destructors and from
// threads that outlive main().
class RealClock final : public Clock {
 public:
  static RealClock* Get();

  absl::Time Now() override;
  bool WaitUntil(absl::Mutex* mu, absl::CondVar* cv, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) override;
  void SleepUntil(absl::Time deadline) override;

 private:
  RealClock() = default;
};

}  // namespace converge

#endif  // CONVERGE_COMMON_CLOCK_H_

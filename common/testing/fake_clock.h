// FakeClock: a Clock whose time moves only when a test calls Advance(), so
// code that waits with deadlines runs deterministically.
//
//   FakeClock clock;
//   WorkQueue queue(&clock);
//   queue.AddAfter("pod-a", absl::Seconds(5));
//   std::thread worker([&] { auto key = queue.Get(); ... });
//   clock.BlockUntilWaiters(1);  // the worker is now blocked in Get()
//   clock.Advance(absl::Seconds(5));  // wakes it: "pod-a" is ready
//
// Every WaitUntil() registers its (mutex, condvar, deadline); Advance() wakes
// the ones whose deadline has passed. BlockUntilWaiters() lets a test wait for
// another thread to be parked in WaitUntil() before advancing or asserting,
// instead of sleeping on the wall clock.
//
// Thread-safe. Lock order: a waiter's mutex before the clock's own; Advance()
// takes a waiter's mutex only with the clock's released, so it must not be
// called while holding a mutex that some thread passed to WaitUntil().
#ifndef CONVERGE_COMMON_TESTING_FAKE_CLOCK_H_
#define CONVERGE_COMMON_TESTING_FAKE_CLOCK_H_

#include <algorithm>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace converge {

class FakeClock final : public Clock {
 public:
  // An arbitrary fixed start (2023-11-14) rather than the epoch, so code that
  // mixes up a Time with a Duration shows up in tests.
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000))
      : now_(start) {}

  FakeClock(const FakeClock&) = delete;
  FakeClock& operator=(const FakeClock&) = delete;

  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  // Moves time forward by `d` (negative is treated as zero: time never goes
  // back) and wakes every waiter whose deadline is now reached. When it
  // returns, each such waiter has been signalled.
  void Advance(absl::Duration d) {
    std::vector<Waiter*> due;
    {
      absl::MutexLock lock(&mu_);
      if (d > absl::ZeroDuration()) now_ += d;
      for (Waiter* w : waiters_) {
        if (w->deadline <= now_) {
          ++w->pins;  // keeps `w` (and its mutex, condvar) alive; see WaitUntil
          due.push_back(w);
        }
      }
    }
    // Taking the waiter's mutex before signalling closes the lost-wakeup
    // window: a waiter holds its mutex from registration until CondVar::Wait
    // releases it, so by the time we hold it the waiter is really asleep.
    for (Waiter* w : due) {
      absl::MutexLock lock(w->mu);
      w->cv->SignalAll();
    }
    absl::MutexLock lock(&mu_);
    for (Waiter* w : due) --w->pins;
  }

  // Releases and re-takes `mu` by hand, which the analysis cannot follow.
  bool WaitUntil(absl::Mutex* mu, absl::CondVar* cv, absl::Time deadline)
      ABSL_NO_THREAD_SAFETY_ANALYSIS override {
    Waiter w{mu, cv, deadline};
    {
      absl::MutexLock lock(&mu_);
      if (now_ >= deadline) return true;
      waiters_.push_back(&w);
    }
    cv->Wait(mu);
    mu_.Lock();
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
    if (w.pins > 0) {
      // An Advance() picked us before we woke and is about to take `mu` to
      // signal `cv`. `w` lives on this stack frame, so wait for it to finish;
      // release `mu` meanwhile so it can.
      mu->Unlock();
      mu_.Await(absl::Condition(
          +[](Waiter* waiter) { return waiter->pins == 0; }, &w));
      const bool reached = now_ >= deadline;
      mu_.Unlock();
      mu->Lock();
      return reached;
    }
    const bool reached = now_ >= deadline;
    mu_.Unlock();
    return reached;
  }

  // Threads currently blocked in WaitUntil() (including waits with an
  // infinite deadline).
  int NumWaiters() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(waiters_.size());
  }

  // Blocks until at least `n` threads are in WaitUntil(). Returns false if
  // that has not happened within `real_timeout` of wall-clock time, which
  // tests pass as a safety net so a bug fails the test instead of hanging it.
  bool BlockUntilWaiters(
      int n, absl::Duration real_timeout = absl::InfiniteDuration()) {
    absl::MutexLock lock(&mu_);
    // Await evaluates the condition with mu_ held.
    const auto enough = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return static_cast<int>(waiters_.size()) >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), real_timeout);
  }

 private:
  struct Waiter {
    absl::Mutex* mu;
    absl::CondVar* cv;
    absl::Time deadline;
    int pins = 0;  // Advance() calls about to signal cv; guarded by mu_
  };

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::vector<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_COMMON_TESTING_FAKE_CLOCK_H_

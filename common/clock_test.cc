#include "common/clock.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/testing/fake_clock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(RealClockTest, IsASingletonOnAbslNow) {
  EXPECT_EQ(RealClock::Get(), RealClock::Get());
  const absl::Time before = absl::Now();
  const absl::Time now = RealClock::Get()->Now();
  EXPECT_GE(now, before);
  EXPECT_LE(now, absl::Now());
}

TEST(RealClockTest, WaitUntilReturnsTrueOncePastDeadline) {
  absl::Mutex mu;
  absl::CondVar cv;
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(RealClock::Get()->WaitUntil(&mu, &cv, absl::InfinitePast()));
  const absl::Time deadline = absl::Now() + absl::Milliseconds(5);
  while (!RealClock::Get()->WaitUntil(&mu, &cv, deadline)) {
  }
  EXPECT_GE(absl::Now(), deadline);
}

TEST(RealClockTest, WaitUntilWakesOnSignal) {
  absl::Mutex mu;
  absl::CondVar cv;
  bool signalled = false;
  std::thread signaller([&] {
    absl::MutexLock lock(&mu);
    signalled = true;
    cv.Signal();
  });
  {
    absl::MutexLock lock(&mu);
    while (!signalled) {
      EXPECT_FALSE(RealClock::Get()->WaitUntil(&mu, &cv, absl::InfiniteFuture()));
    }
  }
  signaller.join();
}

TEST(FakeClockTest, StartsWhereToldAndOnlyMovesForward) {
  const absl::Time start = absl::FromUnixSeconds(42);
  FakeClock clock(start);
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Seconds(3));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(3));
  clock.Advance(absl::Seconds(-10));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(3));
}

TEST(FakeClockTest, WaitUntilPastDeadlineDoesNotBlock) {
  FakeClock clock;
  absl::Mutex mu;
  absl::CondVar cv;
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(clock.WaitUntil(&mu, &cv, clock.Now()));
  EXPECT_EQ(clock.NumWaiters(), 0);
}

TEST(FakeClockTest, AdvanceWakesOnlyWaitersWhoseDeadlinePassed) {
  FakeClock clock;
  const absl::Time deadline = clock.Now() + absl::Seconds(10);
  absl::Mutex mu;
  absl::CondVar cv;
  std::atomic<bool> reached{false};
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    while (!clock.WaitUntil(&mu, &cv, deadline)) {
    }
    reached = true;
  });
  clock.BlockUntilWaiters(1);
  clock.Advance(absl::Seconds(9));
  // WaitUntil only returns true once fake time reaches the deadline, so the
  // waiter cannot have finished whatever the thread scheduling.
  EXPECT_FALSE(reached);
  EXPECT_EQ(clock.Now(), deadline - absl::Seconds(1));
  clock.Advance(absl::Seconds(1));
  waiter.join();
  EXPECT_TRUE(reached);
  EXPECT_EQ(clock.NumWaiters(), 0);
}

TEST(FakeClockTest, BlockUntilWaitersGivesUpAfterRealTimeout) {
  FakeClock clock;
  EXPECT_TRUE(clock.BlockUntilWaiters(0));
  EXPECT_FALSE(clock.BlockUntilWaiters(1, absl::Milliseconds(1)));
}

TEST(FakeClockTest, SignalWakesWaiterBeforeDeadline) {
  FakeClock clock;
  absl::Mutex mu;
  absl::CondVar cv;
  bool go = false;
  std::vector<bool> results;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    while (!go) {
      results.push_back(clock.WaitUntil(&mu, &cv, absl::InfiniteFuture()));
    }
  });
  clock.BlockUntilWaiters(1);
  {
    absl::MutexLock lock(&mu);
    go = true;
    cv.Signal();
  }
  waiter.join();
  ASSERT_FALSE(results.empty());
  for (bool timed_out : results) EXPECT_FALSE(timed_out);
}

TEST(FakeClockTest, SleepForEndsWhenTimeAdvances) {
  FakeClock clock;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(absl::Minutes(1));
    woke = true;
  });
  clock.BlockUntilWaiters(1);
  clock.Advance(absl::Seconds(59));
  EXPECT_FALSE(woke);
  clock.Advance(absl::Seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke);
}

// Advance() racing with a waiter that is between registering and sleeping
// must not lose the wakeup (the test would hang), and racing with a waiter
// that returns and destroys its mutex/condvar must not touch freed memory
// (SleepUntil's are on its stack; ASan/TSan builds would catch misuse).
TEST(FakeClockTest, AdvanceRacingWithWaitersNeitherLosesNorOutlivesThem) {
  FakeClock clock;
  for (int i = 0; i < 1000; ++i) {
    // The deadline is fixed before the thread starts: SleepFor() would read
    // Now() after a fast Advance() and wait a full second more.
    const absl::Time deadline = clock.Now() + absl::Seconds(1);
    std::thread sleeper([&] { clock.SleepUntil(deadline); });
    // Odd rounds advance the moment the sleeper has registered, when it is
    // most likely not yet asleep on its condvar; even ones right away.
    if (i % 2 == 1) {
      while (clock.NumWaiters() == 0) std::this_thread::yield();
    }
    clock.Advance(absl::Seconds(1));
    sleeper.join();
  }
  EXPECT_EQ(clock.NumWaiters(), 0);
}

}  // namespace
}  // namespace converge

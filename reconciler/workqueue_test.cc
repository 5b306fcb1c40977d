#include "reconciler/workqueue.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/testing/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::HasSubstr;

// Wall-clock bound on waits for another thread, so that a broken queue fails
// the test instead of hanging it. Never what a test asserts on: correct code
// finishes these waits in microseconds.
constexpr absl::Duration kSafetyNet = absl::Seconds(30);

// Options whose token bucket never binds, to test the backoff alone.
WorkQueue::Options BackoffOnly(absl::Duration base, absl::Duration max) {
  WorkQueue::Options options;
  options.base_delay = base;
  options.max_delay = max;
  options.qps = std::numeric_limits<double>::infinity();
  return options;
}

std::unique_ptr<WorkQueue> MustCreate(Clock* clock,
                                      const WorkQueue::Options& options) {
  absl::StatusOr<std::unique_ptr<WorkQueue>> queue =
      WorkQueue::Create(clock, options);
  EXPECT_TRUE(queue.ok()) << queue.status();
  return std::move(queue).value();
}

// Runs one Get() on its own thread. Result() waits for it, but only up to a
// kSafetyNet, after which it shuts the queue down.
class AsyncGet {
 public:
  explicit AsyncGet(WorkQueue* queue)
      : queue_(queue), thread_([this] {
          result_ = queue_->Get();
          done_.Notify();
        }) {}
  ~AsyncGet() { Join(); }

  bool HasReturned() const { return done_.HasBeenNotified(); }

  std::optional<std::string> Result() {
    if (!done_.WaitForNotificationWithTimeout(kSafetyNet)) {
      ADD_FAILURE() << "Get() still blocked; shutting the queue down";
      queue_->ShutDown();
    }
    Join();
    return result_;
  }

 private:
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  WorkQueue* const queue_;
  std::optional<std::string> result_;
  absl::Notification done_;
  std::thread thread_;
};

// Runs ShutDownWithDrain(timeout) on its own thread. Result() waits for it up
// to kSafetyNet, then moves the fake clock past the timeout, so a drain that
// never finishes fails the test instead of hanging it.
class AsyncDrain {
 public:
  AsyncDrain(WorkQueue* queue, FakeClock* clock,
             absl::Duration timeout = absl::Hours(1))
      : clock_(clock), timeout_(timeout), thread_([this, queue] {
          drained_ = queue->ShutDownWithDrain(timeout_);
          done_.Notify();
        }) {}
  ~AsyncDrain() { Result(); }

  bool HasReturned() const { return done_.HasBeenNotified(); }

  // Whether the drain completed (ShutDownWithDrain's result).
  bool Result() {
    if (!thread_.joinable()) return drained_;
    if (!done_.WaitForNotificationWithTimeout(kSafetyNet)) {
      ADD_FAILURE() << "ShutDownWithDrain() still blocked; timing it out";
      clock_->Advance(timeout_);
    }
    thread_.join();
    return drained_;
  }

 private:
  FakeClock* const clock_;
  const absl::Duration timeout_;
  bool drained_ = false;
  absl::Notification done_;
  std::thread thread_;
};

// Get() for single-threaded tests: returns a marker instead of blocking
// forever when nothing is ready, so a broken queue fails rather than hangs.
std::string GetReady(WorkQueue& queue) {
  if (queue.Len() == 0) return "<nothing ready>";
  return queue.Get().value_or("<shut down>");
}

// --- Add / Get / Done -----------------------------------------------------

TEST(WorkQueueTest, AddDeduplicatesQueuedKeys) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("a");
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 2);
  EXPECT_EQ(GetReady(queue), "a");
  EXPECT_EQ(GetReady(queue), "b");
  EXPECT_EQ(queue.Len(), 0);
}

TEST(WorkQueueTest, GetHandsOutKeysInFirstAddedOrder) {
  FakeClock clock;
  WorkQueue queue(&clock);
  for (const char* key : {"c", "a", "b", "a", "c"}) queue.Add(key);
  EXPECT_EQ(GetReady(queue), "c");
  EXPECT_EQ(GetReady(queue), "a");
  EXPECT_EQ(GetReady(queue), "b");
}

TEST(WorkQueueTest, ReAddWhileProcessingRunsAgainOnlyAfterDone) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("a");
  ASSERT_EQ(GetReady(queue), "a");

  queue.Add("a");  // arrives mid-reconcile
  queue.Add("a");
  WorkQueue::Stats stats = queue.GetStats();
  EXPECT_EQ(stats.queued, 0);  // not handed to a second worker
  EXPECT_EQ(stats.processing, 1);

  queue.Done("a");
  stats = queue.GetStats();
  EXPECT_EQ(stats.queued, 1);  // exactly one more run, however many adds
  EXPECT_EQ(stats.processing, 0);
  EXPECT_EQ(GetReady(queue), "a");
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0);
}

TEST(WorkQueueTest, ReAddedKeyGoesToTheBackOfTheLine) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("a");
  ASSERT_EQ(GetReady(queue), "a");
  queue.Add("a");
  queue.Add("b");
  queue.Done("a");
  EXPECT_EQ(GetReady(queue), "b");
  EXPECT_EQ(GetReady(queue), "a");
}

TEST(WorkQueueTest, DoneWithoutReAddDoesNotRequeue) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("a");
  ASSERT_EQ(GetReady(queue), "a");
  queue.Done("a");
  queue.Done("a");        // twice: ignored
  queue.Done("unknown");  // never got: ignored
  const WorkQueue::Stats stats = queue.GetStats();
  EXPECT_EQ(stats.queued, 0);
  EXPECT_EQ(stats.processing, 0);
  EXPECT_EQ(stats.delayed, 0);
}

TEST(WorkQueueTest, BlockedGetWakesOnAdd) {
  FakeClock clock;
  WorkQueue queue(&clock);
  AsyncGet getter(&queue);
  EXPECT_TRUE(clock.BlockUntilWaiters(1, kSafetyNet));
  EXPECT_FALSE(getter.HasReturned());
  queue.Add("a");
  EXPECT_EQ(getter.Result(), "a");
}

// Four workers, two producers hammering 16 keys. Checks the single-flight
// promise (no key in two workers' hands at once) and the no-lost-update
// promise (every key's last processing run started after its last Add).
TEST(WorkQueueTest, NoKeyIsProcessedConcurrentlyAndNoAddIsLost) {
  FakeClock clock;
  WorkQueue queue(&clock);
  constexpr int kKeys = 16;
  constexpr int kWorkers = 4;
  constexpr int kProducers = 2;
  constexpr int kAddsPerProducer = 5000;

  absl::Mutex mu;
  absl::flat_hash_set<std::string> in_flight;      // guarded by mu
  absl::flat_hash_map<std::string, int> version;   // bumped before each Add
  absl::flat_hash_map<std::string, int> seen;      // version a run started at
  int overlaps = 0;
  int runs = 0;

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (std::optional<std::string> key = queue.Get()) {
        {
          absl::MutexLock lock(&mu);
          if (!in_flight.insert(*key).second) ++overlaps;
          seen[*key] = std::max(seen[*key], version[*key]);
          ++runs;
        }
        std::this_thread::yield();  // widen the window for a second worker
        {
          absl::MutexLock lock(&mu);
          in_flight.erase(*key);
        }
        queue.Done(*key);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kAddsPerProducer; ++i) {
        const std::string key = absl::StrCat("pod-", (i * 7 + p) % kKeys);
        {
          absl::MutexLock lock(&mu);
          ++version[key];
        }
        queue.Add(key);
      }
    });
  }
  for (std::thread& t : producers) t.join();
  EXPECT_TRUE(AsyncDrain(&queue, &clock).Result());
  for (std::thread& t : workers) t.join();

  absl::MutexLock lock(&mu);
  EXPECT_EQ(overlaps, 0);
  ASSERT_EQ(version.size(), kKeys);
  for (const auto& [key, last_version] : version) {
    EXPECT_EQ(seen[key], last_version) << key << " missed its last add";
  }
  EXPECT_GE(runs, kKeys);
  EXPECT_LE(runs, kProducers * kAddsPerProducer);
  const WorkQueue::Stats stats = queue.GetStats();
  EXPECT_EQ(stats.queued, 0);
  EXPECT_EQ(stats.processing, 0);
}

// --- AddAfter ---------------------------------------------------------------

TEST(WorkQueueTest, AddAfterHoldsKeysUntilTheirTimeInReadyOrder) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.AddAfter("late", absl::Seconds(2));
  queue.AddAfter("early", absl::Seconds(1));
  queue.AddAfter("tie-1", absl::Seconds(3));
  queue.AddAfter("tie-2", absl::Seconds(3));
  WorkQueue::Stats stats = queue.GetStats();
  EXPECT_EQ(stats.queued, 0);
  EXPECT_EQ(stats.delayed, 4);

  clock.Advance(absl::Milliseconds(999));
  EXPECT_EQ(queue.Len(), 0);
  clock.Advance(absl::Milliseconds(1));
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(GetReady(queue), "early");

  clock.Advance(absl::Seconds(5));  // everything due: ready-time order
  EXPECT_EQ(queue.Len(), 3);
  EXPECT_EQ(GetReady(queue), "late");
  EXPECT_EQ(GetReady(queue), "tie-1");
  EXPECT_EQ(GetReady(queue), "tie-2");
  EXPECT_EQ(queue.GetStats().delayed, 0);
}

TEST(WorkQueueTest, AddAfterEarliestTimeWins) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.AddAfter("a", absl::Seconds(5));
  queue.AddAfter("a", absl::Seconds(10));  // later: ignored
  EXPECT_EQ(queue.GetStats().delayed, 1);
  queue.AddAfter("a", absl::Seconds(3));  // earlier: replaces
  EXPECT_EQ(queue.GetStats().delayed, 1);

  clock.Advance(absl::Seconds(3));
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(queue.GetStats().delayed, 0);  // the 5s entry went with it
  EXPECT_EQ(GetReady(queue), "a");
  queue.Done("a");
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(queue.Len(), 0);  // and never fires again
}

TEST(WorkQueueTest, AddAfterNonPositiveDelayAddsNow) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.AddAfter("zero", absl::ZeroDuration());
  queue.AddAfter("negative", absl::Seconds(-1));
  const WorkQueue::Stats stats = queue.GetStats();
  EXPECT_EQ(stats.queued, 2);
  EXPECT_EQ(stats.delayed, 0);
}

TEST(WorkQueueTest, AddAfterOfAQueuedKeyDedupsWhenItFires) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("a");
  queue.AddAfter("a", absl::Seconds(1));
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(queue.Len(), 1);
}

TEST(WorkQueueTest, BlockedGetWakesWhenDelayedKeyIsDue) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.AddAfter("later", absl::Seconds(10));
  AsyncGet getter(&queue);
  EXPECT_TRUE(clock.BlockUntilWaiters(1, kSafetyNet));
  // A new, earlier key must shorten the sleeping Get()'s deadline.
  queue.AddAfter("sooner", absl::Seconds(1));
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(getter.Result(), "sooner");
  EXPECT_EQ(queue.GetStats().delayed, 1);
}

// --- AddRateLimited ---------------------------------------------------------

TEST(WorkQueueTest, BackoffDoublesToTheCapAndForgetResetsIt) {
  FakeClock clock;
  auto queue = MustCreate(
      &clock, BackoffOnly(absl::Milliseconds(100), absl::Seconds(1)));
  const std::vector<absl::Duration> want = {
      absl::Milliseconds(100), absl::Milliseconds(200),
      absl::Milliseconds(400), absl::Milliseconds(800),
      absl::Seconds(1),        absl::Seconds(1)};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(queue->AddRateLimited("a"), want[i]) << "requeue " << i;
    EXPECT_EQ(queue->NumRequeues("a"), i + 1);
  }
  // Backoff is per key.
  EXPECT_EQ(queue->AddRateLimited("b"), absl::Milliseconds(100));
  EXPECT_EQ(queue->NumRequeues("b"), 1);

  queue->Forget("a");
  EXPECT_EQ(queue->NumRequeues("a"), 0);
  EXPECT_EQ(queue->AddRateLimited("a"), absl::Milliseconds(100));
  EXPECT_EQ(queue->NumRequeues("b"), 1);
}

TEST(WorkQueueTest, RateLimitedKeyBecomesReadyAfterItsDelay) {
  FakeClock clock;
  auto queue = MustCreate(
      &clock, BackoffOnly(absl::Milliseconds(100), absl::Seconds(1)));
  ASSERT_EQ(queue->AddRateLimited("a"), absl::Milliseconds(100));
  EXPECT_EQ(queue->GetStats().delayed, 1);
  clock.Advance(absl::Milliseconds(99));
  EXPECT_EQ(queue->Len(), 0);
  clock.Advance(absl::Milliseconds(1));
  EXPECT_EQ(queue->Len(), 1);
}

TEST(WorkQueueTest, DefaultBackoffReachesFiveMinuteCap) {
  FakeClock clock;
  WorkQueue queue(&clock);
  absl::Duration want = absl::Milliseconds(100);
  for (int i = 0; i < 12; ++i) {  // 100ms .. 204.8s, under the bucket's burst
    EXPECT_EQ(queue.AddRateLimited("a"), want) << "requeue " << i;
    want *= 2;
  }
  EXPECT_EQ(queue.AddRateLimited("a"), absl::Minutes(5));
  EXPECT_EQ(queue.AddRateLimited("a"), absl::Minutes(5));
}

TEST(WorkQueueTest, BackoffSaturatesInsteadOfOverflowing) {
  FakeClock clock;
  auto queue =
      MustCreate(&clock, BackoffOnly(absl::Hours(1), absl::Hours(24 * 365)));
  absl::Duration last;
  for (int i = 0; i < 100; ++i) last = queue->AddRateLimited("a");
  EXPECT_EQ(last, absl::Hours(24 * 365));
}

TEST(WorkQueueTest, TokenBucketDelaysBurstOverflowAcrossKeys) {
  FakeClock clock;
  WorkQueue::Options options;
  options.base_delay = absl::Milliseconds(10);
  options.max_delay = absl::Seconds(1);
  options.qps = 1;
  options.burst = 2;
  auto queue = MustCreate(&clock, options);

  // The burst covers two fresh keys: the per-key backoff decides.
  EXPECT_EQ(queue->AddRateLimited("a"), absl::Milliseconds(10));
  EXPECT_EQ(queue->AddRateLimited("b"), absl::Milliseconds(10));
  // Then each retry waits for a token at 1/s, whatever its own backoff.
  EXPECT_EQ(queue->AddRateLimited("c"), absl::Seconds(1));
  EXPECT_EQ(queue->AddRateLimited("d"), absl::Seconds(2));
  EXPECT_EQ(queue->NumRequeues("d"), 1);  // the bucket adds no requeues

  // 10s later the debt of two is repaid and the bucket refilled only up to
  // its burst of two.
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(queue->AddRateLimited("a"), absl::Milliseconds(20));
  EXPECT_EQ(queue->AddRateLimited("e"), absl::Milliseconds(10));
  EXPECT_EQ(queue->AddRateLimited("f"), absl::Seconds(1));

  // Forget() resets the backoff but refunds no tokens.
  queue->Forget("f");
  EXPECT_EQ(queue->AddRateLimited("f"), absl::Seconds(2));
}

TEST(WorkQueueTest, BackoffWinsWhenLongerThanTheBucketDelay) {
  FakeClock clock;
  WorkQueue::Options options;
  options.base_delay = absl::Seconds(5);
  options.max_delay = absl::Seconds(60);
  options.qps = 1;
  options.burst = 1;
  auto queue = MustCreate(&clock, options);
  EXPECT_EQ(queue->AddRateLimited("a"), absl::Seconds(5));  // bucket: 0
  EXPECT_EQ(queue->AddRateLimited("b"), absl::Seconds(5));  // bucket: 1s
  EXPECT_EQ(queue->AddRateLimited("a"), absl::Seconds(10));  // bucket: 2s
}

// --- Shutdown ---------------------------------------------------------------

TEST(WorkQueueTest, ShutDownWakesAllBlockedGetters) {
  FakeClock clock;
  WorkQueue queue(&clock);
  std::vector<std::unique_ptr<AsyncGet>> getters;
  for (int i = 0; i < 3; ++i) {
    getters.push_back(std::make_unique<AsyncGet>(&queue));
  }
  EXPECT_TRUE(clock.BlockUntilWaiters(3, kSafetyNet));
  for (auto& getter : getters) EXPECT_FALSE(getter->HasReturned());
  queue.ShutDown();
  for (auto& getter : getters) EXPECT_EQ(getter->Result(), std::nullopt);
  EXPECT_TRUE(queue.ShuttingDown());
  EXPECT_EQ(queue.Get(), std::nullopt);  // and later ones return at once
}

TEST(WorkQueueTest, AddsAfterShutDownAreIgnored) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.ShutDown();
  queue.Add("a");
  queue.AddAfter("b", absl::Seconds(1));
  EXPECT_EQ(queue.AddRateLimited("c"), absl::InfiniteDuration());
  EXPECT_EQ(queue.NumRequeues("c"), 0);
  clock.Advance(absl::Seconds(1));
  const WorkQueue::Stats stats = queue.GetStats();
  EXPECT_EQ(stats.queued, 0);
  EXPECT_EQ(stats.delayed, 0);
  EXPECT_EQ(queue.Get(), std::nullopt);
}

TEST(WorkQueueTest, ShutDownStillHandsOutQueuedKeysButDropsDelayedOnes) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("a");
  queue.Add("b");
  queue.AddAfter("c", absl::Seconds(1));
  queue.ShutDown();
  queue.ShutDown();  // idempotent
  EXPECT_EQ(queue.GetStats().delayed, 0);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Get(), std::nullopt);
}

TEST(WorkQueueTest, ShutDownWithDrainWaitsForDone) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("a");
  ASSERT_EQ(GetReady(queue), "a");
  queue.Add("a");  // dirty: will run once more after Done

  AsyncDrain drain(&queue, &clock);
  EXPECT_TRUE(clock.BlockUntilWaiters(1, kSafetyNet));
  EXPECT_TRUE(queue.ShuttingDown());
  queue.Add("b");  // refused: shutting down
  EXPECT_FALSE(drain.HasReturned());

  queue.Done("a");  // the accepted re-add is queued again, so not drained
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(GetReady(queue), "a");
  EXPECT_FALSE(drain.HasReturned());
  queue.Done("a");
  EXPECT_TRUE(drain.Result());
  EXPECT_EQ(queue.Get(), std::nullopt);  // "b" never got in
}

// A zero timeout reports the state without blocking, which pins down what
// "drained" means without threads.
TEST(WorkQueueTest, DrainedMeansNothingQueuedAndNothingProcessing) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("a");
  EXPECT_FALSE(queue.ShutDownWithDrain(absl::ZeroDuration()));  // queued
  ASSERT_EQ(GetReady(queue), "a");
  EXPECT_FALSE(queue.ShutDownWithDrain(absl::ZeroDuration()));  // processing
  queue.Done("a");
  EXPECT_TRUE(queue.ShutDownWithDrain(absl::ZeroDuration()));
}

TEST(WorkQueueTest, ShutDownWithDrainGivesUpAfterTimeout) {
  FakeClock clock;
  WorkQueue queue(&clock);
  queue.Add("stuck");
  ASSERT_EQ(GetReady(queue), "stuck");
  AsyncDrain drain(&queue, &clock, absl::Seconds(30));
  EXPECT_TRUE(clock.BlockUntilWaiters(1, kSafetyNet));
  clock.Advance(absl::Seconds(29));
  EXPECT_FALSE(drain.HasReturned());
  clock.Advance(absl::Seconds(1));
  EXPECT_FALSE(drain.Result());
  EXPECT_EQ(queue.GetStats().processing, 1);
}

TEST(WorkQueueTest, ShutDownWithDrainOnIdleQueueReturnsAtOnce) {
  FakeClock clock;
  WorkQueue queue(&clock);
  EXPECT_TRUE(queue.ShutDownWithDrain());
}

// --- Options ----------------------------------------------------------------

TEST(WorkQueueTest, CreateRejectsBadOptions) {
  FakeClock clock;
  struct Case {
    const char* name;
    void (*mutate)(WorkQueue::Options&);
    const char* field;
  };
  const Case cases[] = {
      {"zero base", [](WorkQueue::Options& o) { o.base_delay = {}; },
       "base_delay"},
      {"max below base",
       [](WorkQueue::Options& o) { o.max_delay = o.base_delay / 2; },
       "max_delay"},
      {"zero qps", [](WorkQueue::Options& o) { o.qps = 0; }, "qps"},
      {"nan qps",
       [](WorkQueue::Options& o) {
         o.qps = std::numeric_limits<double>::quiet_NaN();
       },
       "qps"},
      {"zero burst", [](WorkQueue::Options& o) { o.burst = 0; }, "burst"},
  };
  for (const Case& c : cases) {
    WorkQueue::Options options;
    c.mutate(options);
    absl::StatusOr<std::unique_ptr<WorkQueue>> queue =
        WorkQueue::Create(&clock, options);
    EXPECT_EQ(queue.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_THAT(std::string(queue.status().message()), HasSubstr(c.field))
        << c.name;
  }
  EXPECT_TRUE(WorkQueue::Create(&clock, WorkQueue::Options()).ok());
}

}  // namespace
}  // namespace converge

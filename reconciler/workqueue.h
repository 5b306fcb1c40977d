// WorkQueue: the reconciler's rate-limited, delaying queue of pod sandbox ids,
// keeping client-go's `workqueue` promises:
//
//  * Dedup and fairness: a key is queued at most once however often it is
//    added, and keys are handed out in the order they first became ready.
//  * Single flight: Get() marks a key processing; until Done(key) no other
//    worker gets it. An Add() meanwhile marks it dirty, and Done() re-queues
//    it, so a change that arrived mid-reconcile is never lost.
//  * Delays: AddAfter() holds a key back until the injected Clock reaches its
//    ready time; of several pending delays for one key the earliest wins.
//  * Retry limits: AddRateLimited() delays a key by the larger of a per-key
//    exponential backoff and an overall token bucket (client-go's
//    MaxOfRateLimiter); Forget() resets the key's backoff after a success.
//  * Shutdown: ShutDown() wakes idle workers and refuses new adds;
//    ShutDownWithDrain() also waits for in-flight work to be Done.
//
// A worker loop:
//
//   WorkQueue queue(RealClock::Get());
//   ...
//   while (std::optional<std::string> id = queue.Get()) {
//     absl::Status status = Reconcile(*id);
//     if (status.ok() || IsTerminal(status)) {
//       queue.Forget(*id);             // reset (and free) its backoff
//     } else {
//       queue.AddRateLimited(*id);     // retry later, backing off
//     }
//     queue.Done(*id);                 // always, or the key is stuck
//   }
//   // Get() returned nullopt: the queue is shut down and empty.
//
// Thread-safe: every method may be called from any thread. No background
// thread: delayed keys move to the ready queue whenever a method runs and
// their time has come; a blocked Get() sleeps (via the Clock) exactly until
// the earliest one is due.
#ifndef CONVERGE_RECONCILER_WORKQUEUE_H_
#define CONVERGE_RECONCILER_WORKQUEUE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace converge {

class WorkQueue {
 public:
  // Retry limits for AddRateLimited(). client-go's defaults (5ms base, 1000s
  // cap) suit API-server controllers retrying cheap calls. A node runtime's
  // retries are mostly waits on the node itself (CNI not ready, an image
  // still pulling, a busy mount), where 5ms retries only burn CPU and log
  // spam; so start slower and cap at the 5 minutes kubelet uses for its own
  // crash-loop and image-pull backoff, so a pod never waits longer than the
  // kubelet would for it anyway.
  struct Options {
    // Per key: the n-th consecutive failure waits base_delay * 2^(n-1),
    // capped at max_delay: 100ms, 200ms, 400ms, ... 5min after ~12 failures.
    absl::Duration base_delay = absl::Milliseconds(100);
    absl::Duration max_delay = absl::Minutes(5);
    // Overall token bucket across all keys: at most `qps` retries a second
    // sustained, `burst` at once. It bounds the retry storm when something
    // node-wide fails for every pod together. Burst 110 is kubelet's default
    // --max-pods, so one retry of every pod on a full node is not delayed.
    // `qps` may be infinity to disable the bucket.
    double qps = 10;
    int burst = 110;
  };

  // Counts for metrics; a snapshot, stale as soon as it is returned.
  struct Stats {
    int64_t queued = 0;      // ready and waiting for a worker (== Len())
    int64_t processing = 0;  // handed out by Get(), not yet Done()
    int64_t delayed = 0;     // keys waiting for their AddAfter() time
  };

  // INVALID_ARGUMENT naming the field if `options` is unusable: base_delay
  // must be > 0, max_delay >= base_delay, qps > 0 (or infinity), burst >= 1.
  static absl::Status ValidateOptions(const Options& options);

  // A queue with `options`, or ValidateOptions()'s error. `clock` is not
  // owned and must outlive the queue.
  static absl::StatusOr<std::unique_ptr<WorkQueue>> Create(
      Clock* clock, const Options& options);

  // A queue with the default Options. `clock` must outlive the queue.
  explicit WorkQueue(Clock* clock);

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `key` unless it is already queued; if it is processing, marks it
  // to run again after Done(). Ignored after ShutDown().
  void Add(const std::string& key);

  // Blocks until a key is ready, marks it processing and returns it. Returns
  // nullopt once the queue is shut down and no ready key is left (keys
  // queued before ShutDown() are still handed out, so workers finish them).
  std::optional<std::string> Get();

  // Marks `key` no longer processing; re-queues it if it was added while
  // processing. Must be called once for every key Get() returned; a key not
  // processing is ignored.
  void Done(const std::string& key);

  // Adds `key` once the clock reaches Now() + delay; a delay <= 0 is an
  // immediate Add(). If `key` is already delayed, the earlier of the two
  // times wins. Ignored after ShutDown().
  void AddAfter(const std::string& key, absl::Duration delay);

  // AddAfter(key, d) where d is the larger of the key's exponential backoff
  // and the token bucket's delay, and counts a requeue for `key`. Returns d,
  // for logging ("retry in 400ms"); after ShutDown() the key is dropped,
  // nothing is counted and InfiniteDuration() is returned.
  absl::Duration AddRateLimited(const std::string& key);

  // Resets `key`'s backoff and frees its bookkeeping: call it when the key
  // succeeds or is given up on, or the per-key count lives on. Does not
  // cancel a pending AddAfter() and refunds no bucket tokens.
  void Forget(const std::string& key);

  // AddRateLimited() calls for `key` since its last Forget().
  int NumRequeues(const std::string& key);

  // Ready keys waiting for a worker; the queue-depth metric.
  int64_t Len();
  Stats GetStats();

  // Refuses further adds, drops delayed keys and wakes every blocked Get().
  // Idempotent.
  void ShutDown();

  // ShutDown(), then blocks until no key is queued or processing: workers
  // must keep calling Get()/Done() until Get() returns nullopt. Gives up
  // after `timeout` of the queue's clock. Returns true if drained.
  bool ShutDownWithDrain(absl::Duration timeout = absl::InfiniteDuration());

  bool ShuttingDown();

 private:
  // Pending AddAfter() entries, ordered by ready time; `seq` keeps equal
  // times in the order they were added.
  struct DelayedKey {
    absl::Time ready;
    uint64_t seq;
    bool operator<(const DelayedKey& other) const {
      return std::tie(ready, seq) < std::tie(other.ready, other.seq);
    }
  };

  WorkQueue(Clock* clock, const Options& options);

  void AddLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddAfterLocked(const std::string& key, absl::Duration delay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves delayed keys whose time has come into the ready queue.
  void PromoteReadyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The retry delay for `key`; counts the requeue and takes a bucket token.
  absl::Duration NextRetryDelayLocked(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DrainedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;
  const Options options_;

  absl::Mutex mu_;
  // Signalled when a key becomes ready, the earliest delay moves earlier, or
  // on shutdown; Get() waits on it.
  absl::CondVar ready_cv_;
  // Signalled when the queue may have drained; ShutDownWithDrain() waits.
  absl::CondVar drained_cv_;

  // Ready keys in FIFO order; each is also in dirty_ and not in processing_.
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  // Keys that need (another) run: queued ones and processing ones re-added.
  absl::flat_hash_set<std::string> dirty_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> processing_ ABSL_GUARDED_BY(mu_);

  std::map<DelayedKey, std::string> delayed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, DelayedKey> delayed_index_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;

  // Per-key failure counts for the exponential backoff.
  absl::flat_hash_map<std::string, int> requeues_ ABSL_GUARDED_BY(mu_);
  // Token bucket (golang.org/x/time/rate semantics): may go negative, which
  // is the debt later callers wait out.
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time bucket_updated_ ABSL_GUARDED_BY(mu_);

  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_WORKQUEUE_H_

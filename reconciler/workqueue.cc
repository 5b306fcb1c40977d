#include "reconciler/workqueue.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace converge {
namespace {

// base * 2^exponent, capped at `cap`. Duration arithmetic saturates at
// InfiniteDuration, so a large exponent cannot wrap around.
absl::Duration ExponentialBackoff(absl::Duration base, absl::Duration cap,
                                  int exponent) {
  if (exponent >= 62) return cap;
  return std::min(base * (int64_t{1} << exponent), cap);
}

}  // namespace

absl::Status WorkQueue::ValidateOptions(const Options& options) {
  if (options.base_delay <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("work queue: base_delay must be > 0, got ",
                     absl::FormatDuration(options.base_delay)));
  }
  if (options.max_delay < options.base_delay) {
    return absl::InvalidArgumentError(absl::StrCat(
        "work queue: max_delay (", absl::FormatDuration(options.max_delay),
        ") must be >= base_delay (", absl::FormatDuration(options.base_delay),
        ")"));
  }
  if (!(options.qps > 0)) {  // also rejects NaN
    return absl::InvalidArgumentError(absl::StrCat(
        "work queue: qps must be > 0 (or infinity), got ", options.qps));
  }
  if (options.burst < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("work queue: burst must be >= 1, got ", options.burst));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WorkQueue>> WorkQueue::Create(
    Clock* clock, const Options& options) {
  absl::Status status = ValidateOptions(options);
  if (!status.ok()) return status;
  return std::unique_ptr<WorkQueue>(new WorkQueue(clock, options));
}

WorkQueue::WorkQueue(Clock* clock) : WorkQueue(clock, Options()) {}

WorkQueue::WorkQueue(Clock* clock, const Options& options)
    : clock_(clock),
      options_(options),
      tokens_(options.burst),  // the bucket starts full
      bucket_updated_(clock->Now()) {}

void WorkQueue::Add(const std::string& key) {
  absl::MutexLock lock(&mu_);
  AddLocked(key);
}

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_) return;
  // Already queued, or processing and already due for another run.
  if (!dirty_.insert(key).second) return;
  // Processing: Done() queues it, so no worker gets it twice at once.
  if (processing_.contains(key)) return;
  queue_.push_back(key);
  ready_cv_.Signal();
}

std::optional<std::string> WorkQueue::Get() {
  absl::MutexLock lock(&mu_);
  while (true) {
    PromoteReadyLocked();
    if (!queue_.empty()) break;
    if (shutting_down_) return std::nullopt;
    // Sleep until woken by an add or shutdown, or until the earliest delayed
    // key is due; AddAfter() wakes us if that moves earlier.
    const absl::Time deadline = delayed_.empty()
                                    ? absl::InfiniteFuture()
                                    : delayed_.begin()->first.ready;
    clock_->WaitUntil(&mu_, &ready_cv_, deadline);
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  absl::MutexLock lock(&mu_);
  if (processing_.erase(key) == 0) return;
  if (dirty_.contains(key)) {
    // Added while processing: run it again. Even after ShutDown(), since the
    // add was accepted before it.
    queue_.push_back(key);
    ready_cv_.Signal();
  }
  if (DrainedLocked()) drained_cv_.SignalAll();
}

void WorkQueue::AddAfter(const std::string& key, absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  AddAfterLocked(key, delay);
}

void WorkQueue::AddAfterLocked(const std::string& key, absl::Duration delay) {
  if (shutting_down_) return;
  if (delay <= absl::ZeroDuration()) {
    AddLocked(key);
    return;
  }
  const absl::Time ready = clock_->Now() + delay;
  auto it = delayed_index_.find(key);
  if (it != delayed_index_.end()) {
    if (it->second.ready <= ready) return;  // the earlier time stands
    delayed_.erase(it->second);
  }
  const DelayedKey entry{ready, next_seq_++};
  delayed_.emplace(entry, key);
  delayed_index_[key] = entry;
  // A new earliest deadline: sleeping Get()s must shorten their wait.
  if (delayed_.begin()->first.seq == entry.seq) ready_cv_.SignalAll();
}

absl::Duration WorkQueue::AddRateLimited(const std::string& key) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::InfiniteDuration();
  const absl::Duration delay = NextRetryDelayLocked(key);
  AddAfterLocked(key, delay);
  return delay;
}

absl::Duration WorkQueue::NextRetryDelayLocked(const std::string& key) {
  const absl::Duration backoff = ExponentialBackoff(
      options_.base_delay, options_.max_delay, requeues_[key]++);

  // Token bucket as in golang.org/x/time/rate's Reserve(): refill for the
  // time passed, take a token even if that leaves a debt, and wait until the
  // debt would be repaid.
  absl::Duration bucket_delay = absl::ZeroDuration();
  if (!std::isinf(options_.qps)) {
    const absl::Time now = clock_->Now();
    if (now > bucket_updated_) {
      tokens_ = std::min<double>(
          options_.burst,
          tokens_ + absl::ToDoubleSeconds(now - bucket_updated_) * options_.qps);
      bucket_updated_ = now;
    }
    tokens_ -= 1;
    if (tokens_ < 0) bucket_delay = absl::Seconds(-tokens_ / options_.qps);
  }
  return std::max(backoff, bucket_delay);
}

void WorkQueue::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  requeues_.erase(key);
}

int WorkQueue::NumRequeues(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = requeues_.find(key);
  return it == requeues_.end() ? 0 : it->second;
}

void WorkQueue::PromoteReadyLocked() {
  if (delayed_.empty()) return;
  const absl::Time now = clock_->Now();
  while (!delayed_.empty() && delayed_.begin()->first.ready <= now) {
    auto node = delayed_.extract(delayed_.begin());
    delayed_index_.erase(node.mapped());
    AddLocked(node.mapped());
  }
}

int64_t WorkQueue::Len() {
  absl::MutexLock lock(&mu_);
  PromoteReadyLocked();
  return static_cast<int64_t>(queue_.size());
}

WorkQueue::Stats WorkQueue::GetStats() {
  absl::MutexLock lock(&mu_);
  PromoteReadyLocked();
  Stats stats;
  stats.queued = static_cast<int64_t>(queue_.size());
  stats.processing = static_cast<int64_t>(processing_.size());
  stats.delayed = static_cast<int64_t>(delayed_.size());
  return stats;
}

void WorkQueue::ShutDown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  // Delayed keys are dropped, as client-go does: a restarted reconciler
  // relists every sandbox, so nothing is lost for good.
  delayed_.clear();
  delayed_index_.clear();
  ready_cv_.SignalAll();
  drained_cv_.SignalAll();
}

bool WorkQueue::ShutDownWithDrain(absl::Duration timeout) {
  ShutDown();
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = clock_->Now() + timeout;  // saturates
  while (!DrainedLocked()) {
    if (clock_->WaitUntil(&mu_, &drained_cv_, deadline)) {
      return DrainedLocked();
    }
  }
  return true;
}

bool WorkQueue::ShuttingDown() {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

bool WorkQueue::DrainedLocked() const {
  return queue_.empty() && processing_.empty();
}

}  // namespace converge

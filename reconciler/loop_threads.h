// The threads of a reconciler: workers draining its WorkQueue and one
// periodic loop (resync, sweep), started and stopped together.
//
//   threads_.Start(options.workers, [this] { Worker(); },
//                  clock->Now() + period, period, [this] { Resync(); });
//   ...
//   threads_.Stop(queue_.get());  // wakes the loop, shuts the queue, joins
#ifndef CONVERGE_RECONCILER_LOOP_THREADS_H_
#define CONVERGE_RECONCILER_LOOP_THREADS_H_

#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "reconciler/workqueue.h"

namespace converge {

class LoopThreads {
 public:
  explicit LoopThreads(Clock* clock) : clock_(clock) {}
  ~LoopThreads() { Join(); }
  LoopThreads(const LoopThreads&) = delete;
  LoopThreads& operator=(const LoopThreads&) = delete;

  // `periodic` runs at `first` (fixed by the caller, so the schedule does not
  // drift by however long a thread takes to start), then `period` after each
  // run ends.
  void Start(int workers, const std::function<void()>& worker, absl::Time first,
             absl::Duration period, std::function<void()> periodic) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back(worker);
    threads_.emplace_back([this, first, period, periodic = std::move(periodic)] {
      absl::MutexLock lock(&mu_);
      absl::Time next = first;
      while (!stopping_) {
        if (!clock_->WaitUntil(&mu_, &cv_, next)) continue;
        mu_.Unlock();
        periodic();
        mu_.Lock();
        next = clock_->Now() + period;
      }
    });
  }

  // Workers finish the pass they are in and take no more; returns once every
  // thread has ended. Idempotent.
  void Stop(WorkQueue* queue) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.SignalAll();
    }
    queue->ShutDown();
    Join();
  }

  bool Stopping() const {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

 private:
  void Join() {
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

  Clock* const clock_;
  std::vector<std::thread> threads_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_LOOP_THREADS_H_

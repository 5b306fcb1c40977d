// The reconciler's Prometheus metrics:
//
//   converge_reconcile_duration_seconds{result}          one pass over one pod
//   converge_reconcile_retries_total                     passes that failed and were requeued
//   converge_reconcile_actions_total{action, result}     plan steps applied
//   converge_convergence_seconds{kind}                   desired write -> actual matches
//   converge_executor_operation_duration_seconds{executor, operation}
//   converge_executor_errors_total{executor, operation}
//
// plus gauges that the reconcilers set at scrape time:
//
//   converge_objects{kind, state}                        objects by state
//   converge_unconverged_objects{kind}                   desired != actual
//   converge_oldest_unconverged_seconds{kind}            age of the oldest of those
#ifndef CONVERGE_RECONCILER_RECONCILER_METRICS_H_
#define CONVERGE_RECONCILER_RECONCILER_METRICS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "metrics/metrics.h"
#include "reconciler/pod_actions.h"

namespace converge {

class ReconcilerMetrics {
 public:
  static absl::StatusOr<std::unique_ptr<ReconcilerMetrics>> Create(metrics::Registry* registry);

  void ObservePass(absl::Duration duration, bool ok);
  void CountRetry() { retries_->WithLabels({})->Increment(); }
  void CountAction(PodAction::Kind kind, bool ok);
  // A container step (ContainerActionKindName), in the same family.
  void CountContainerAction(const char* action, bool ok) {
    actions_->WithLabels({action, ok ? "success" : "error"})->Increment();
  }
  // `kind`: "sandbox", "container" or "image".
  void ObserveConvergence(const char* kind, absl::Duration latency) {
    convergence_->WithLabels({kind})->Observe(absl::ToDoubleSeconds(latency));
  }

  // Runs `operation` (returning absl::Status or absl::StatusOr<T>), timing it
  // and counting its failure under executor/op.
  template <typename Operation>
  auto TimeExecutor(const char* executor, const char* op, Operation&& operation) {
    const absl::Time start = absl::Now();
    auto result = operation();
    executor_durations_->WithLabels({executor, op})
        ->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    if (!StatusOf(result).ok()) executor_errors_->WithLabels({executor, op})->Increment();
    return result;
  }

  void SetObjects(const char* kind, const std::string& state, int count) {
    objects_->WithLabels({kind, state})->Set(count);
  }
  void SetUnconverged(const char* kind, int count, absl::Duration oldest) {
    unconverged_->WithLabels({kind})->Set(count);
    oldest_unconverged_->WithLabels({kind})->Set(absl::ToDoubleSeconds(oldest));
  }

  metrics::Registry* registry() const { return registry_; }

 private:
  ReconcilerMetrics() = default;

  static const absl::Status& StatusOf(const absl::Status& status) { return status; }
  template <typename T>
  static absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
    return status_or.status();
  }

  metrics::Registry* registry_ = nullptr;
  metrics::HistogramFamily* passes_ = nullptr;
  metrics::CounterFamily* retries_ = nullptr;
  metrics::CounterFamily* actions_ = nullptr;
  metrics::HistogramFamily* convergence_ = nullptr;
  metrics::HistogramFamily* executor_durations_ = nullptr;
  metrics::CounterFamily* executor_errors_ = nullptr;
  metrics::GaugeFamily* objects_ = nullptr;
  metrics::GaugeFamily* unconverged_ = nullptr;
  metrics::GaugeFamily* oldest_unconverged_ = nullptr;
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_RECONCILER_METRICS_H_

#include "reconciler/reconciler_metrics.h"

#include "common/status_macros.h"

namespace converge {

absl::StatusOr<std::unique_ptr<ReconcilerMetrics>> ReconcilerMetrics::Create(
    metrics::Registry* registry) {
  std::unique_ptr<ReconcilerMetrics> m(new ReconcilerMetrics());
  m->registry_ = registry;
  // 0.5 ms .. ~4 min: a pass is milliseconds unless a CNI plugin is slow.
  const std::vector<double> seconds = metrics::ExponentialBuckets(0.0005, 2, 20);
  CONVERGE_ASSIGN_OR_RETURN(
      m->passes_, registry->AddHistogram("converge_reconcile_duration_seconds",
                                         "Time of one reconcile pass over one pod, by result.",
                                         {"result"}, seconds));
  CONVERGE_ASSIGN_OR_RETURN(
      m->retries_, registry->AddCounter("converge_reconcile_retries_total",
                                        "Reconcile passes that failed and were requeued with backoff.",
                                        {}));
  CONVERGE_ASSIGN_OR_RETURN(
      m->actions_, registry->AddCounter("converge_reconcile_actions_total",
                                        "Plan steps applied, by action and result.",
                                        {"action", "result"}));
  CONVERGE_ASSIGN_OR_RETURN(
      m->convergence_,
      registry->AddHistogram("converge_convergence_seconds",
                             "Time from a desired-state write to the reconciler observing "
                             "actual state that matches it, by object kind.",
                             {"kind"}, seconds));
  CONVERGE_ASSIGN_OR_RETURN(
      m->executor_durations_,
      registry->AddHistogram("converge_executor_operation_duration_seconds",
                             "Time of executor operations, by executor and operation.",
                             {"executor", "operation"}, seconds));
  CONVERGE_ASSIGN_OR_RETURN(
      m->executor_errors_,
      registry->AddCounter("converge_executor_errors_total",
                           "Executor operations that failed, by executor and operation.",
                           {"executor", "operation"}));
  CONVERGE_ASSIGN_OR_RETURN(
      m->objects_, registry->AddGauge("converge_objects",
                                      "Objects known to the store, by kind and state (pending: "
                                      "desired only; removing: tombstone still being torn down).",
                                      {"kind", "state"}));
  CONVERGE_ASSIGN_OR_RETURN(
      m->unconverged_,
      registry->AddGauge("converge_unconverged_objects",
                         "Objects whose actual state does not match desired yet, by kind.",
                         {"kind"}));
  CONVERGE_ASSIGN_OR_RETURN(
      m->oldest_unconverged_,
      registry->AddGauge("converge_oldest_unconverged_seconds",
                         "How long the longest-waiting unconverged object has waited, by kind.",
                         {"kind"}));
  return m;
}

void ReconcilerMetrics::ObservePass(absl::Duration duration, bool ok) {
  passes_->WithLabels({ok ? "success" : "error"})->Observe(absl::ToDoubleSeconds(duration));
}

void ReconcilerMetrics::CountAction(PodAction::Kind kind, bool ok) {
  actions_->WithLabels({PodActionKindName(kind), ok ? "success" : "error"})->Increment();
}

}  // namespace converge

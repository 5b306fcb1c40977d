// The reconciler: a level-triggered loop that makes each pod sandbox's actual
// state match its desired record. Keys (sandbox ids) arrive from desired
// writes, from a periodic resync of every known sandbox, and from retries;
// workers take one key at a time from the WorkQueue, observe the host,
// compute a plan with ComputePodActions and apply it through the executors,
// persisting each handle before the object it names is created.
//
//   CONVERGE_ASSIGN_OR_RETURN(auto reconciler,
//       Reconciler::Create(store, executors, options, RealClock::Get()));
//   CONVERGE_RETURN_IF_ERROR(reconciler->Start());  // GC, enqueue all, run
//   ...
//   reconciler->Stop();  // finishes in-flight reconciles, then returns
//
// The reconciler is the only writer of the store's `actual` family and never
// talks gRPC. Thread safety: Start/Stop from one thread; the rest from any.
#ifndef CONVERGE_RECONCILER_RECONCILER_H_
#define CONVERGE_RECONCILER_RECONCILER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "executors/cgroup/cgroup.h"
#include "executors/files/sandbox_files.h"
#include "executors/namespace/namespace.h"
#include "executors/network/network.h"
#include "reconciler/health.h"
#include "reconciler/loop_threads.h"
#include "metrics/metrics.h"
#include "reconciler/pod_actions.h"
#include "reconciler/reconciler_metrics.h"
#include "reconciler/workqueue.h"
#include "store/store.h"

namespace converge {

struct Executors {
  NamespaceExecutor* namespaces = nullptr;
  CgroupDriver* cgroups = nullptr;
  NetworkExecutor* network = nullptr;
  SandboxFilesExecutor* files = nullptr;
};

struct ReconcilerOptions {
  // Volatile state root; namespace pins live in `<state_dir>/ns`, sandbox
  // files in `<state_dir>/sandboxes/<id>`.
  std::string state_dir;
  // Parent of pod cgroups whose sandbox config names none.
  std::string default_cgroup_parent = "/converge";
  // This boot's id (/proc/sys/kernel/random/boot_id).
  std::string boot_id;
  int workers = 4;
  absl::Duration resync_period = absl::Seconds(10);
  WorkQueue::Options queue;
  // Where the reconciler's metrics are registered; a private registry when
  // null (tests). Must outlive the reconciler.
  metrics::Registry* metrics = nullptr;
};

// What the host shows for one sandbox right now, and where that disagrees
// with the stored actual record (for operators; see `convergectl dump --live`).
struct LiveObservation {
  std::string id;
  ObservedSandbox observed;
  std::vector<std::string> disagreements;
  std::string error;  // observing failed
};

// Compares an observation with the recorded handles. Pure.
std::vector<std::string> Disagreements(const records::SandboxActual& actual,
                                       const ObservedSandbox& observed);

class Reconciler final : public HealthReporter {
 public:
  static absl::StatusOr<std::unique_ptr<Reconciler>> Create(ActualWriter* store,
                                                            Executors executors,
                                                            ReconcilerOptions options,
                                                            Clock* clock);
  ~Reconciler() override;

  // Prepares the pin root, removes pins no record knows, queues every known
  // sandbox and starts the workers and the resync loop.
  absl::Status Start();
  // Stops taking work, waits for in-flight reconciles, joins the threads.
  void Stop();

  // One reconcile pass for `id`: observe, plan, apply. Public for tests that
  // drive the reconciler without workers.
  absl::Status ReconcileSandbox(const std::string& id);

  absl::Status NetworkReadiness() const override;

  // Observes every known sandbox now, without changing anything. A pass in
  // flight may make a sandbox look momentarily inconsistent.
  std::vector<LiveObservation> ObserveLive();

  // Shared with the image reconciler, which reports into the same families.
  ReconcilerMetrics* metrics() const { return metrics_.get(); }

  std::string PinPath(const std::string& id, const std::string& kind) const;
  std::string PinRoot() const;

 private:
  Reconciler(ActualWriter* store, Executors executors, ReconcilerOptions options, Clock* clock,
             std::unique_ptr<WorkQueue> queue, std::unique_ptr<metrics::Registry> own_registry,
             std::unique_ptr<ReconcilerMetrics> metrics);
  absl::Status RegisterStateMetrics();
  // Scrape hook: objects by state, unconverged objects, the oldest's age.
  absl::Status RefreshStateMetrics();

  void Worker();
  void EnqueueAll();
  void RefreshNetworkReadiness();
  absl::Status CollectOrphanPins();

  // Where the sandbox's objects are: from desired, overridden by recorded handles.
  SandboxLayout LayoutOf(const SandboxRecord& record) const;
  absl::StatusOr<ObservedSandbox> Observe(const SandboxRecord& record,
                                          const SandboxLayout& layout);
  // Applies `plan` step by step, persisting `actual` as it goes.
  absl::Status Apply(const PodActions& plan, const SandboxRecord& record,
                     const SandboxLayout& layout, records::SandboxActual* actual);
  absl::Status ApplyStep(const PodAction& step, const SandboxRecord& record,
                         const SandboxLayout& layout, records::SandboxActual* actual);
  absl::Status Persist(records::SandboxActual* actual,
                       ActualWriter::Durability durability = ActualWriter::Durability::kBuffered);
  // Records the outcome of a pass (observed/attempted generation, last error).
  absl::Status RecordOutcome(const SandboxRecord& record, records::SandboxActual actual,
                             const absl::Status& result);
  // Notes when a failed sandbox will be retried, for the dump.
  absl::Status RecordRetry(const std::string& id, absl::Duration delay);

  ActualWriter* const store_;
  const Executors executors_;
  const ReconcilerOptions options_;
  Clock* const clock_;
  const std::unique_ptr<WorkQueue> queue_;
  const std::unique_ptr<metrics::Registry> own_registry_;  // when none was given
  const std::unique_ptr<ReconcilerMetrics> metrics_;
  metrics::GaugeFamily* queue_depth_ = nullptr;
  metrics::Registry::ScrapeHookId state_hook_ = 0;

  StateReader::ListenerId listener_;
  LoopThreads threads_{clock_};

  mutable absl::Mutex health_mu_;
  absl::Status network_readiness_ ABSL_GUARDED_BY(health_mu_) =
      absl::UnavailableError("network readiness not checked yet");
};

}  // namespace converge

#endif  // CONVERGE_RECONCILER_RECONCILER_H_

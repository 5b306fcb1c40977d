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
#include "executors/image/image_executor.h"
#include "executors/image/snapshot/snapshotter.h"
#include "executors/namespace/namespace.h"
#include "executors/network/network.h"
#include "executors/process/process_executor.h"
#include "executors/process/spec/container_spec.h"
#include "reconciler/container_actions.h"
#include "reconciler/container_operations.h"
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
  // Containers: processes (monitors, inits, execs), rootfs snapshots, and the
  // image store for the layers those stack.
  ProcessExecutor* processes = nullptr;
  Snapshotter* snapshots = nullptr;
  ImageExecutor* images = nullptr;
};

struct ReconcilerOptions {
  // Volatile state root; namespace pins live in `<state_dir>/ns`, sandbox
  // files in `<state_dir>/sandboxes/<id>`.
  std::string state_dir;
  // Parent of pod cgroups whose sandbox config names none.
  std::string default_cgroup_parent = "/converge";
  // This boot's id (/proc/sys/kernel/random/boot_id).
  std::string boot_id;
  // HOSTNAME of containers in pods that share the node's network.
  std::string node_hostname;
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

class Reconciler final : public HealthReporter, public ContainerOperations {
 public:
  static absl::StatusOr<std::unique_ptr<Reconciler>> Create(ActualWriter* store,
                                                            Executors executors,
                                                            ReconcilerOptions options,
                                                            Clock* clock);
  ~Reconciler() override;

  // Prepares the pin root, removes pins, snapshots, container dirs and pod
  // monitors no record knows, queues every known sandbox and starts the
  // workers and the resync loop.
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
  // `<state_dir>/pods/<sandbox id>`: the pod monitor's socket and pid file.
  std::string PodDir(const std::string& sandbox_id) const;
  // `<state_dir>/containers/<id>`: spec, exec FIFO and exit record.
  std::string ContainerDir(const std::string& container_id) const;

  // ContainerOperations (container_ops.cc).
  absl::StatusOr<ExecOutput> ExecSync(const std::string& container_id,
                                      const std::vector<std::string>& args,
                                      absl::Duration timeout) override;
  absl::StatusOr<CgroupStats> ContainerStats(const std::string& container_id) override;
  absl::StatusOr<CgroupStats> SandboxStats(const std::string& sandbox_id) override;
  absl::StatusOr<std::pair<uint64_t, uint64_t>> WritableLayerUsage(
      const std::string& container_id) override;

 private:
  Reconciler(ActualWriter* store, Executors executors, ReconcilerOptions options, Clock* clock,
             std::unique_ptr<WorkQueue> queue, std::unique_ptr<metrics::Registry> own_registry,
             std::unique_ptr<ReconcilerMetrics> metrics);
  absl::Status RegisterStateMetrics();
  // Scrape hook: objects by state, unconverged objects, the oldest's age.
  absl::Status RefreshStateMetrics();
  void RefreshContainerMetrics();

  void Worker();
  void EnqueueAll();
  void WatchProcesses();
  void RefreshNetworkReadiness();
  absl::Status CollectOrphanPins();
  // Snapshots, container dirs and pod monitors no record names.
  absl::Status CollectOrphanContainerObjects();

  // Where the sandbox's objects are: from desired, overridden by recorded handles.
  SandboxLayout LayoutOf(const SandboxRecord& record) const;
  absl::StatusOr<ObservedSandbox> Observe(const SandboxRecord& record,
                                          const SandboxLayout& layout);
  // Applies `plan` step by step, persisting `actual` as it goes.
  absl::Status Apply(const PodActions& plan, const SandboxRecord& record,
                     const SandboxLayout& layout, records::SandboxActual* actual);
  absl::Status ApplyStep(const PodAction& step, const SandboxRecord& record,
                         const SandboxLayout& layout, records::SandboxActual* actual);

  // Containers (container_sync.cc).
  ObservedPod ObserveContainers(const records::SandboxActual& actual);
  // Applies the container plan; failures are collected per container (a
  // pod-level failure fails every container of the plan).
  absl::Status ApplyContainerPlan(const ContainerPlan& plan, const SandboxRecord& record,
                                  records::SandboxActual* actual,
                                  absl::flat_hash_map<std::string, absl::Status>* failed);
  absl::Status ApplyContainerStep(const ContainerAction& step, const SandboxRecord& record,
                                  records::SandboxActual* actual);
  absl::Status StartMonitor(const SandboxRecord& record, records::SandboxActual* actual);
  absl::Status CreateContainer(const std::string& id, const SandboxRecord& record,
                               records::SandboxActual* actual);
  absl::StatusOr<process::ContainerSpec> SpecFor(const records::ContainerDesired& desired,
                                                 const SandboxRecord& record,
                                                 const records::SandboxActual& actual,
                                                 const records::ContainerActual& container,
                                                 const records::ImageRecord& image);
  // SIGKILLs the init and everything in the container's cgroup; with `wait`,
  // until the cgroup is empty.
  absl::Status KillContainerProcesses(const records::SandboxActual& pod,
                                      const records::ContainerActual& container, bool wait);
  // The pod's process handles (monitor, inits) are from this boot.
  bool SameBoot(const records::SandboxActual& actual) const;
  absl::Status CleanupContainer(records::ContainerActual* container,
                                records::SandboxActual* actual);
  // Per-container outcome of a pass: errors, or observed_generation.
  void RecordContainerOutcomes(const SandboxRecord& record,
                               const absl::flat_hash_map<std::string, absl::Status>& failed,
                               records::SandboxActual* actual);
  absl::Status Persist(records::SandboxActual* actual,
                       ActualWriter::Durability durability = ActualWriter::Durability::kBuffered);
  // Records the outcome of a pass (observed/attempted generation, last error).
  // `pending`: nothing failed, but the pass had to wait (containers still
  // stopping), so the generation is not observed yet.
  absl::Status RecordOutcome(const SandboxRecord& record, records::SandboxActual actual,
                             const absl::Status& result, bool pending);
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

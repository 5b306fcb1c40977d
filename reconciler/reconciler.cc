// The loop: workers, resync, start-up garbage collection.
#include "reconciler/reconciler.h"

#include <dirent.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "common/log.h"

namespace converge {

namespace {

// The names in `dir` (not "." or "..").
absl::StatusOr<std::vector<std::string>> DirEntries(const std::string& dir) {
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) return ErrnoError(errno, "opendir `", dir, "`");
  std::vector<std::string> names;
  while (dirent* entry = readdir(handle)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(handle);
  return names;
}

// DirEntries, with a missing `dir` as empty.
absl::StatusOr<std::vector<std::string>> DirEntriesIfAny(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = DirEntries(dir);
  if (absl::IsNotFound(names.status())) return std::vector<std::string>();
  return names;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Reconciler>> Reconciler::Create(ActualWriter* store,
                                                               Executors executors,
                                                               ReconcilerOptions options,
                                                               Clock* clock) {
  if (options.state_dir.empty() || options.state_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("state dir \"", options.state_dir, "\" must be an absolute path"));
  }
  if (options.workers < 1) {
    return absl::InvalidArgumentError(absl::StrCat("workers: ", options.workers, " < 1"));
  }
  if (options.resync_period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("resync_period must be positive");
  }
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<WorkQueue> queue,
                            WorkQueue::Create(clock, options.queue));
  std::unique_ptr<metrics::Registry> own_registry;
  if (options.metrics == nullptr) {
    own_registry = std::make_unique<metrics::Registry>();
    options.metrics = own_registry.get();
  }
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<ReconcilerMetrics> metrics,
                            ReconcilerMetrics::Create(options.metrics));
  std::unique_ptr<Reconciler> reconciler(
      new Reconciler(store, executors, std::move(options), clock, std::move(queue),
                     std::move(own_registry), std::move(metrics)));
  CONVERGE_RETURN_IF_ERROR(reconciler->RegisterStateMetrics());
  return reconciler;
}

Reconciler::Reconciler(ActualWriter* store, Executors executors, ReconcilerOptions options,
                       Clock* clock, std::unique_ptr<WorkQueue> queue,
                       std::unique_ptr<metrics::Registry> own_registry,
                       std::unique_ptr<ReconcilerMetrics> metrics)
    : store_(store),
      executors_(executors),
      options_(std::move(options)),
      clock_(clock),
      queue_(std::move(queue)),
      own_registry_(std::move(own_registry)),
      metrics_(std::move(metrics)) {
  // Desired writes wake the pod's key; the reconciler's own actual writes
  // must not, or every pass would schedule the next.
  listener_ = store_->AddListener([this](const std::string& id, StateReader::Family family) {
    if (family == StateReader::Family::kDesired) queue_->Add(id);
  });
}

Reconciler::~Reconciler() {
  Stop();
  store_->RemoveListener(listener_);
  // The registry may outlive us: nothing it runs at scrape time may point here.
  if (queue_depth_ != nullptr) (void)queue_depth_->RemoveCallback({});
  if (state_hook_ != 0) options_.metrics->RemoveScrapeHook(state_hook_);
}

absl::Status Reconciler::RegisterStateMetrics() {
  metrics::Registry* registry = options_.metrics;
  CONVERGE_ASSIGN_OR_RETURN(
      queue_depth_, registry->AddGauge("converge_reconcile_queue_depth",
                                       "Pods waiting for a reconcile worker.", {}));
  CONVERGE_RETURN_IF_ERROR(
      queue_depth_->AddCallback({}, [this] { return static_cast<double>(queue_->Len()); }));
  state_hook_ = registry->AddScrapeHook("reconciler state", [this] { return RefreshStateMetrics(); });
  return absl::OkStatus();
}

absl::Status Reconciler::RefreshStateMetrics() {
  std::map<std::string, int> by_state = {
      {"pending", 0}, {"creating", 0}, {"ready", 0}, {"notready", 0}, {"removing", 0}, {"orphan", 0}};
  int unconverged = 0;
  absl::Duration oldest = absl::ZeroDuration();
  const absl::Time now = clock_->Now();
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    std::string state;
    if (!record.desired) {
      state = "orphan";
    } else if (record.desired->stage() == records::SANDBOX_STAGE_REMOVED) {
      state = "removing";
    } else if (!record.actual) {
      state = "pending";
    } else if (record.actual->phase() == records::SANDBOX_PHASE_READY) {
      state = "ready";
    } else if (record.actual->phase() == records::SANDBOX_PHASE_NOTREADY) {
      state = "notready";
    } else {
      state = "creating";
    }
    ++by_state[state];
    if (!IsConverged(record)) {
      ++unconverged;
      if (record.desired) {
        oldest = std::max(oldest, now - absl::FromUnixNanos(record.desired->updated_at_unix_nanos()));
      }
    }
  }
  for (const auto& [state, count] : by_state) metrics_->SetObjects("sandbox", state, count);
  metrics_->SetUnconverged("sandbox", unconverged, oldest);
  RefreshContainerMetrics();
  return absl::OkStatus();
}

void Reconciler::RefreshContainerMetrics() {
  std::map<std::string, int> by_state = {
      {"pending", 0}, {"creating", 0}, {"created", 0}, {"running", 0}, {"exited", 0}, {"removing", 0}};
  int unconverged = 0;
  absl::Duration oldest = absl::ZeroDuration();
  const absl::Time now = clock_->Now();
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    const records::SandboxDesired* desired = record.desired ? &*record.desired : nullptr;
    absl::flat_hash_map<std::string, const records::ContainerActual*> actuals;
    if (record.actual) {
      for (const auto& container : record.actual->containers()) actuals[container.id()] = &container;
    }
    if (desired == nullptr) {
      by_state["removing"] += static_cast<int>(actuals.size());
      unconverged += static_cast<int>(actuals.size());
      continue;
    }
    for (const auto& container : desired->containers()) {
      auto it = actuals.find(container.id());
      const records::ContainerActual* actual = it == actuals.end() ? nullptr : it->second;
      std::string state = "pending";
      if (EffectiveStage(desired, &container) == records::CONTAINER_STAGE_REMOVED) {
        if (actual == nullptr) continue;  // gone; only its tombstone is left
        state = "removing";
      } else if (actual != nullptr) {
        switch (actual->phase()) {
          case records::CONTAINER_PHASE_CREATED: state = "created"; break;
          case records::CONTAINER_PHASE_RUNNING: state = "running"; break;
          case records::CONTAINER_PHASE_EXITED: state = "exited"; break;
          default: state = "creating"; break;
        }
      }
      ++by_state[state];
      if (!ContainerConverged(desired, container, actual)) {
        ++unconverged;
        oldest = std::max(oldest, now - absl::FromUnixNanos(container.updated_at_unix_nanos()));
      }
    }
  }
  for (const auto& [state, count] : by_state) metrics_->SetObjects("container", state, count);
  metrics_->SetUnconverged("container", unconverged, oldest);
}

std::string Reconciler::PinRoot() const { return absl::StrCat(options_.state_dir, "/ns"); }

std::string Reconciler::PinPath(const std::string& id, const std::string& kind) const {
  return absl::StrCat(PinRoot(), "/", id, "-", kind);
}

absl::Status Reconciler::Start() {
  CONVERGE_RETURN_IF_ERROR(executors_.namespaces->PreparePinRoot(PinRoot()));
  CONVERGE_RETURN_IF_ERROR(CollectOrphanPins());
  CONVERGE_RETURN_IF_ERROR(CollectOrphanContainerObjects());
  WatchProcesses();
  RefreshNetworkReadiness();
  EnqueueAll();
  threads_.Start(options_.workers, [this] { Worker(); }, clock_->Now() + options_.resync_period,
                 options_.resync_period, [this] {
                   RefreshNetworkReadiness();
                   EnqueueAll();
                 });
  NamedLogger("reconciler")->info("reconciler started workers={} resync={}", options_.workers,
                        absl::FormatDuration(options_.resync_period));
  return absl::OkStatus();
}

// Every pass is safe to interrupt between steps: the next start picks up the
// rest.
void Reconciler::Stop() { threads_.Stop(queue_.get()); }

void Reconciler::Worker() {
  while (std::optional<std::string> id = queue_->Get()) {
    const absl::Time start = absl::Now();
    absl::Status status = ReconcileSandbox(*id);
    metrics_->ObservePass(absl::Now() - start, status.ok());
    if (status.ok()) {
      queue_->Forget(*id);
    } else {
      metrics_->CountRetry();
      absl::Duration retry = queue_->AddRateLimited(*id);
      absl::Status recorded = RecordRetry(*id, retry);
      if (!recorded.ok()) {
        NamedLogger("reconciler")->warn("retry time not recorded id={} error={}", *id,
                                        recorded.ToString());
      }
      NamedLogger("reconciler")->warn("reconcile failed id={} retry_in={} error={}", *id,
                            absl::FormatDuration(retry), status.ToString());
    }
    queue_->Done(*id);
    if (threads_.Stopping()) return;
  }
}

// Exits and monitor deaths wake the pod at once; after a restart the watches
// are made again for everything recorded (and the first pass reads whatever
// exit records appeared while the daemon was down).
void Reconciler::WatchProcesses() {
  if (executors_.processes == nullptr) return;
  executors_.processes->SetWakeup([this](const std::string& id) { queue_->Add(id); });
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    if (!record.actual) continue;
    if (record.actual->monitor().pid() != 0) {
      executors_.processes->WatchMonitor(
          record.id, {record.actual->monitor().pid(), record.actual->monitor().start_time()});
    }
    for (const records::ContainerActual& container : record.actual->containers()) {
      if (!container.state_dir().empty()) {
        executors_.processes->WatchContainer(record.id, container.state_dir());
      }
    }
  }
}

void Reconciler::EnqueueAll() {
  const int64_t now = absl::ToUnixNanos(clock_->Now());
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    // A failing sandbox waits out its backoff; resync must not cut it short.
    if (record.actual && !record.actual->last_error().empty() &&
        record.actual->next_retry_unix_nanos() > now) {
      continue;
    }
    queue_->Add(record.id);
  }
}

void Reconciler::RefreshNetworkReadiness() {
  absl::Status readiness = executors_.network->Ready();
  absl::MutexLock lock(&health_mu_);
  network_readiness_ = readiness;
}

absl::Status Reconciler::NetworkReadiness() const {
  absl::MutexLock lock(&health_mu_);
  return network_readiness_;
}

// Pins are recorded before they are made, so a pin no record names was left
// by something else that used our state dir (an old daemon, a hand-made
// copy); it carries our mark (its place and name), so it is ours to remove.
absl::Status Reconciler::CollectOrphanPins() {
  absl::flat_hash_set<std::string> known;
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    if (!record.actual) continue;
    for (const auto& pin : record.actual->pins()) known.insert(pin.path());
  }
  // Pins of a quarantined record belong to a sandbox this binary cannot read.
  const std::vector<std::string> quarantined = store_->QuarantinedIds();
  const std::string root = PinRoot();
  CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> names, DirEntries(root));
  std::vector<std::string> orphans;
  for (const std::string& name : names) {
    std::string path = absl::StrCat(root, "/", name);
    bool untouchable = false;
    for (const std::string& id : quarantined) {
      untouchable = untouchable || absl::StartsWith(name, id + "-");
    }
    if (!known.contains(path) && !untouchable) orphans.push_back(path);
  }
  for (const std::string& path : orphans) {
    absl::Status removed = executors_.namespaces->Remove(path);
    if (removed.ok()) {
      NamedLogger("reconciler")->info("removed orphan pin path={}", path);
    } else {
      NamedLogger("reconciler")->warn("orphan pin not removed path={} error={}", path, removed.ToString());
    }
  }
  return absl::OkStatus();
}

// Handles are recorded before the objects exist, so a snapshot, container dir
// or pod monitor no record names was left by something else using our root
// and state (an older database, a copy): it carries our marks, so it is ours
// to remove. Records this binary cannot read may name any of them: then
// nothing is touched.
absl::Status Reconciler::CollectOrphanContainerObjects() {
  if (executors_.processes == nullptr || !store_->QuarantinedIds().empty()) {
    return absl::OkStatus();
  }
  std::set<std::string> snapshots, container_dirs, pod_dirs;
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    if (!record.actual) continue;
    if (!record.actual->monitor_dir().empty()) pod_dirs.insert(record.actual->monitor_dir());
    for (const records::ContainerActual& container : record.actual->containers()) {
      if (!container.snapshot_key().empty()) snapshots.insert(container.snapshot_key());
      if (!container.state_dir().empty()) container_dirs.insert(container.state_dir());
    }
  }
  auto log = NamedLogger("reconciler");
  CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> pod_names,
                            DirEntriesIfAny(absl::StrCat(options_.state_dir, "/pods")));
  for (const std::string& name : pod_names) {
    const std::string dir = PodDir(name);
    if (pod_dirs.count(dir) != 0) continue;
    absl::Status stopped = executors_.processes->StopMonitor(dir, ProcessId{});
    if (stopped.ok()) log->info("removed orphan pod monitor dir={}", dir);
    else log->warn("orphan pod monitor not removed dir={} error={}", dir, stopped.ToString());
  }
  CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> container_names,
                            DirEntriesIfAny(absl::StrCat(options_.state_dir, "/containers")));
  for (const std::string& name : container_names) {
    const std::string dir = ContainerDir(name);
    if (container_dirs.count(dir) != 0) continue;
    absl::Status removed = executors_.processes->RemoveContainerDir(dir);
    if (removed.ok()) log->info("removed orphan container dir={}", dir);
    else log->warn("orphan container dir not removed dir={} error={}", dir, removed.ToString());
  }
  CONVERGE_ASSIGN_OR_RETURN(std::vector<Snapshot> existing, executors_.snapshots->List());
  for (const Snapshot& snapshot : existing) {
    if (snapshots.count(snapshot.key) != 0) continue;
    absl::Status removed = executors_.snapshots->Remove(snapshot.key);
    if (removed.ok()) log->info("removed orphan snapshot key={}", snapshot.key);
    else log->warn("orphan snapshot not removed key={} error={}", snapshot.key, removed.ToString());
  }
  return absl::OkStatus();
}

}  // namespace converge

#include "cmd/converged/daemon.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/cri_metrics.h"
#include "api/image_service.h"
#include "api/runtime_service.h"
#include "api/tombstones.h"
#include "cmd/converged/config.h"
#include "cmd/converged/http_endpoint.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "executors/cgroup/linux_cgroup.h"
#include "executors/files/linux_sandbox_files.h"
#include "executors/image/oci_image_executor.h"
#include "executors/image/snapshot/linux_snapshotter.h"
#include "executors/image/registry/http_registry.h"
#include "executors/namespace/linux_namespace.h"
#include "executors/network/cni/cni_network.h"
#include "executors/network/loopback_network.h"
#include "executors/network/pod_network.h"
#include "executors/process/linux_process_executor.h"
#include "grpcpp/grpcpp.h"
#include "metrics/metrics.h"
#include "metrics/process_metrics.h"
#include "nlohmann/json.hpp"
#include "reconciler/image_reconciler.h"
#include "reconciler/reconciler.h"
#include "store/store.h"

namespace converge {
namespace {

absl::Status MakeDirs(const std::string& path, mode_t mode) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return ErrnoError(error.value(), "mkdir -p `", path, "`");
  if (chmod(path.c_str(), mode) != 0) return ErrnoError(errno, "chmod `", path, "`");
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadBootId() {
  const char* kPath = "/proc/sys/kernel/random/boot_id";
  int fd = open(kPath, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open `", kPath, "`");
  char buffer[64];
  ssize_t n = read(fd, buffer, sizeof(buffer));
  int read_errno = errno;
  close(fd);
  if (n < 0) return ErrnoError(read_errno, "read `", kPath, "`");
  std::string boot_id(buffer, static_cast<size_t>(n));
  while (!boot_id.empty() && boot_id.back() == '\n') boot_id.pop_back();
  if (boot_id.empty()) return absl::DataLossError(absl::StrCat("`", kPath, "` is empty"));
  return boot_id;
}

// A socket file left by a dead daemon is removed; one a live daemon answers
// on is not ours to take.
absl::Status ClaimSocketPath(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(errno, "stat `", path, "`");
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("socket: `", path, "` exists and is not a socket"));
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError(errno, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  bool live = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  if (live) {
    return absl::FailedPreconditionError(
        absl::StrCat("socket: another daemon is serving on `", path, "`"));
  }
  if (unlink(path.c_str()) != 0) return ErrnoError(errno, "unlink stale socket `", path, "`");
  return absl::OkStatus();
}

std::string NewSandboxId() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  absl::MutexLock lock(&mu);
  std::string id;
  for (int i = 0; i < 4; ++i) absl::StrAppendFormat(&id, "%016x", absl::Uniform<uint64_t>(*gen));
  return id;
}

// Process metrics, the state store's write latency and size.
absl::Status RegisterDaemonMetrics(metrics::Registry* registry, Store* store) {
  CONVERGE_RETURN_IF_ERROR(
      metrics::RegisterProcessMetrics(registry, {CONVERGE_VERSION, "/proc"}));
  CONVERGE_ASSIGN_OR_RETURN(
      metrics::HistogramFamily * writes,
      registry->AddHistogram("converge_store_write_duration_seconds",
                             "RocksDB write latency, by whether the write was synced to disk.",
                             {"synced"}, metrics::ExponentialBuckets(0.00005, 2, 18)));
  metrics::Histogram* synced = writes->WithLabels({"true"});
  metrics::Histogram* buffered = writes->WithLabels({"false"});
  store->SetWriteObserver([synced, buffered](bool sync, absl::Duration took) {
    (sync ? synced : buffered)->Observe(absl::ToDoubleSeconds(took));
  });
  return registry
      ->AddCallbackGauge("converge_store_size_bytes",
                         "Approximate size of the state store (SST files and memtables).",
                         [store] { return static_cast<double>(store->ApproximateSizeBytes()); })
      .status();
}

// converge_cni_plugin_duration_seconds{plugin, command} and
// converge_cni_plugin_errors_total{plugin, command}.
absl::StatusOr<std::function<void(const std::string&, const std::string&, absl::Duration, bool)>>
CniPluginMetrics(metrics::Registry* registry) {
  CONVERGE_ASSIGN_OR_RETURN(
      metrics::HistogramFamily * durations,
      registry->AddHistogram("converge_cni_plugin_duration_seconds",
                             "Time of one CNI plugin invocation, by plugin type and command.",
                             {"plugin", "command"}, metrics::ExponentialBuckets(0.0005, 2, 20)));
  CONVERGE_ASSIGN_OR_RETURN(
      metrics::CounterFamily * errors,
      registry->AddCounter("converge_cni_plugin_errors_total",
                           "CNI plugin invocations that failed, by plugin type and command.",
                           {"plugin", "command"}));
  return [durations, errors](const std::string& plugin, const std::string& command,
                             absl::Duration took, bool ok) {
    durations->WithLabels({plugin, command})->Observe(absl::ToDoubleSeconds(took));
    if (!ok) errors->WithLabels({plugin, command})->Increment();
  };
}

std::string LiveObservationsJson(const std::vector<LiveObservation>& observations) {
  nlohmann::json sandboxes = nlohmann::json::array();
  for (const LiveObservation& live : observations) {
    std::vector<std::string> pins(live.observed.mounted_pins.begin(),
                                  live.observed.mounted_pins.end());
    std::sort(pins.begin(), pins.end());
    sandboxes.push_back({{"id", live.id},
                         {"same_boot", live.observed.same_boot},
                         {"mounted_pins", pins},
                         {"cgroup_exists", live.observed.cgroup_exists},
                         {"files_present", live.observed.files_present},
                         {"disagreements", live.disagreements},
                         {"error", live.error}});
  }
  nlohmann::json out = {
      {"observed_at", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())},
      {"sandboxes", sandboxes}};
  return out.dump();
}

}  // namespace

// The configured monitor binary, or the converge-monitor beside this binary.
absl::StatusOr<std::string> MonitorBinary(const config::DaemonConfig& config) {
  if (!config.monitor_binary().empty()) return config.monitor_binary();
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return ErrnoError(error.value(), "readlink `/proc/self/exe`");
  return (self.parent_path() / "converge-monitor").string();
}

absl::StatusOr<std::string> NodeHostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return ErrnoError(errno, "gethostname");
  return std::string(name);
}

absl::Status RunDaemon(const config::DaemonConfig& config,
                       const std::function<void()>& wait_for_stop) {
  auto log = NamedLogger("daemon");
  CONVERGE_ASSIGN_OR_RETURN(absl::Duration resync, ResyncPeriod(config));
  CONVERGE_RETURN_IF_ERROR(MakeDirs(config.root(), 0700));
  CONVERGE_RETURN_IF_ERROR(MakeDirs(config.state(), 0711));
  CONVERGE_RETURN_IF_ERROR(
      MakeDirs(std::filesystem::path(config.socket()).parent_path().string(), 0711));
  // Declared before everything that points into it (the store's write
  // observer, executors' callbacks), so it is destroyed after them.
  metrics::Registry registry;
  // The database lock comes first: a second daemon on the same root stops
  // here, before it could take over the first one's socket.
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(config.root() + "/db"));
  CONVERGE_RETURN_IF_ERROR(ClaimSocketPath(config.socket()));
  CONVERGE_RETURN_IF_ERROR(RegisterDaemonMetrics(&registry, store.get()));
  CONVERGE_ASSIGN_OR_RETURN(std::string boot_id, ReadBootId());
  CONVERGE_ASSIGN_OR_RETURN(std::optional<std::string> last_boot, store->GetMeta("boot_id"));
  if (last_boot && *last_boot != boot_id) {
    log->warn("node rebooted since the last run last_boot_id={} boot_id={}; every sandbox "
              "will be observed NOTREADY and cleaned", *last_boot, boot_id);
  }
  CONVERGE_RETURN_IF_ERROR(store->PutMeta("boot_id", boot_id));

  LinuxNamespaceExecutor namespaces;
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<CgroupDriver> cgroups,
                            LinuxCgroupDriver::CreateCgroupDriver(config.cgroup_root()));
  LoopbackNetwork loopback;
  CniNetworkOptions cni_options;
  cni_options.conf_dir = config.cni_conf_dir();
  cni_options.bin_dirs = CniBinDirs(config);
  CONVERGE_ASSIGN_OR_RETURN(cni_options.plugin_timeout, CniPluginTimeout(config));
  CONVERGE_ASSIGN_OR_RETURN(cni_options.on_plugin_call, CniPluginMetrics(&registry));
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<CniNetwork> cni, CniNetwork::Create(cni_options));
  PodNetwork network(&loopback, cni.get());
  LinuxSandboxFiles files;
  log->info("cgroup driver={} version={} root={}", cgroups->Name(), cgroups->Version(),
            config.cgroup_root());

  CONVERGE_ASSIGN_OR_RETURN(converge::registry::RegistryHosts registry_hosts,
                            RegistryHostsOf(config));
  converge::registry::ClientOptions client_options;
  client_options.user_agent = absl::StrCat("converge/", CONVERGE_VERSION);
  // Shutdown ends the waits; pulls in flight stop with them and resume at
  // the next start.
  client_options.cancelled = [&store] { return store->WaitsCancelled(); };
  converge::registry::HttpRegistry registry_client(registry_hosts, client_options);
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<OciImageExecutor> image_executor,
                            OciImageExecutor::Create(config.root() + "/images", &registry_client));
  const std::string snapshots_dir = config.root() + "/snapshots";
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<LinuxSnapshotter> snapshots,
                            LinuxSnapshotter::Create(snapshots_dir));
  LinuxProcessExecutorOptions process_options;
  CONVERGE_ASSIGN_OR_RETURN(process_options.monitor_binary, MonitorBinary(config));
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<LinuxProcessExecutor> processes,
                            LinuxProcessExecutor::Create(process_options));

  ReconcilerOptions options;
  options.state_dir = config.state();
  options.default_cgroup_parent = config.default_cgroup_parent();
  options.boot_id = boot_id;
  CONVERGE_ASSIGN_OR_RETURN(options.node_hostname, NodeHostname());
  options.workers = config.workers();
  options.resync_period = resync;
  options.metrics = &registry;
  Executors executors{&namespaces, cgroups.get(), &network, &files};
  executors.processes = processes.get();
  executors.snapshots = snapshots.get();
  executors.images = image_executor.get();
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<Reconciler> reconciler,
                            Reconciler::Create(store.get(), executors, options, RealClock::Get()));
  // Bound before any work starts: a taken metrics port stops the daemon
  // before it has touched a pod or answered kubelet.
  CONVERGE_ASSIGN_OR_RETURN(
      std::unique_ptr<HttpEndpoint> endpoint,
      HttpEndpoint::Start(config.metrics_address(), &registry, [&reconciler] {
        return LiveObservationsJson(reconciler->ObserveLive());
      }));
  CONVERGE_RETURN_IF_ERROR(reconciler->Start());

  PullCredentials pull_credentials;
  ImageReconcilerOptions image_options;
  image_options.metrics = reconciler->metrics();
  CONVERGE_ASSIGN_OR_RETURN(
      std::unique_ptr<ImageReconciler> image_reconciler,
      ImageReconciler::Create(store.get(), image_executor.get(), &pull_credentials, image_options,
                              RealClock::Get()));
  CONVERGE_RETURN_IF_ERROR(image_reconciler->Start());

  RuntimeServiceOptions service_options;
  service_options.version = CONVERGE_VERSION;
  service_options.new_id = NewSandboxId;
  service_options.containers = reconciler.get();
  service_options.snapshots_dir = snapshots_dir;
  RuntimeServiceImpl runtime_service(store.get(), reconciler.get(), service_options);
  TombstoneJanitor janitor(store.get(), [&runtime_service](const std::string& sandbox_id) {
    runtime_service.PurgeContainerTombstones(sandbox_id);
  });
  ImageServiceImpl image_service(store.get(), &pull_credentials, image_reconciler.get(),
                                 ImageServiceOptions());
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<CriMetricsInterceptorFactory> cri_metrics,
                            CriMetricsInterceptorFactory::Create(&registry));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::move(cri_metrics));
  grpc::ServerBuilder builder;
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.AddListeningPort("unix://" + config.socket(), grpc::InsecureServerCredentials());
  builder.RegisterService(&runtime_service);
  builder.RegisterService(&image_service);
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(16 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    image_reconciler->Stop();
    reconciler->Stop();
    return absl::UnavailableError(absl::StrCat("cannot listen on `", config.socket(), "`"));
  }
  if (chmod(config.socket().c_str(), 0660) != 0) {
    absl::Status status = ErrnoError(errno, "chmod `", config.socket(), "`");
    server->Shutdown();
    image_reconciler->Stop();
    reconciler->Stop();
    return status;
  }
  log->info("converged {} serving CRI socket={} metrics=http://{}:{}/metrics root={} state={}",
            CONVERGE_VERSION, config.socket(), endpoint->host(), endpoint->port(), config.root(),
            config.state());

  wait_for_stop();

  log->info("shutting down");
  // Calls only wait on the reconciler and their writes are already durable:
  // end the waits (they answer UNAVAILABLE), let the server drain briefly,
  // then let the workers finish the pass they are in.
  store->CancelWaits();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  image_reconciler->Stop();
  reconciler->Stop();
  endpoint->Stop();
  return absl::OkStatus();
}

}  // namespace converge

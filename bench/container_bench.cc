// Container lifecycle and memory through the real CRI socket, with crun and
// runc (Debian's packages) on the same busybox rootfs, in the same run, as
// references. Needs root, docker-registry, skopeo, crun and runc.
//
//   bazel build -c opt //bench:container_bench && ./bazel-bin/bench/container_bench
//
// BM_ConvergeLifecycle: CreateContainer + StartContainer + StopContainer
//   (timeout 0) + RemoveContainer of a `sleep` in a running pod, as kubelet
//   does it, through converged and the pod's monitor.
// BM_CrunLifecycle / BM_RuncLifecycle: `create` + `start` + `kill KILL` +
//   `delete -f` of the same `sleep` on an OCI bundle of the same rootfs, the
//   calls containerd's shim makes (without the shim).
// BM_Memory/N: one pod with N sleeping containers; counters give the RSS and
//   PSS (from /proc/<pid>/smaps_rollup) of converged and of the pod's monitor.
#include <atomic>
#include <fstream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "executors/process/testing/busybox_rootfs.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/registry/local_registry.h"

namespace converge::testing {
namespace {

struct Fixture {
  Fixture() : daemon(env.NewDaemon("bench")) {
    auto started = LocalRegistry::Start();
    if (!started.ok()) Fail(started.status().ToString());
    registry = *std::move(started);
    if (absl::Status pushed = registry->PushTestImages(); !pushed.ok()) Fail(pushed.ToString());
    daemon.Start({"--log_level=warn", "--insecure_registries=127.0.0.1"});
    image = registry->host_port() + "/library/busybox:latest";
    if (auto pulled = daemon.PullImage(image); !pulled.ok()) Fail(pulled.status().ToString());
    bundle = env.base_dir() + "/bundle";
    if (absl::Status built = process::testing::BuildBusyboxRootfs(bundle + "/rootfs"); !built.ok()) {
      Fail(built.ToString());
    }
  }
  static void Fail(const std::string& why) {
    fprintf(stderr, "container_bench setup: %s\n", why.c_str());
    exit(1);
  }

  std::string RunPod(const std::string& name) {
    pod_config = env.PodConfig(name);
    pod_config.set_log_directory(env.base_dir() + "/logs/" + name);
    auto id = daemon.RunPod(pod_config);
    if (!id.ok()) Fail(id.status().ToString());
    return *id;
  }

  runtime::v1::ContainerConfig Sleeper(const std::string& name) const {
    runtime::v1::ContainerConfig config;
    config.mutable_metadata()->set_name(name);
    config.mutable_image()->set_image(image);
    config.add_command("sleep");
    config.add_command("3600");
    config.set_log_path(name + ".log");
    config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
        runtime::v1::CONTAINER);
    return config;
  }

  TestEnv env;
  TestDaemon& daemon;
  std::unique_ptr<LocalRegistry> registry;
  std::string image;
  std::string bundle;
  runtime::v1::PodSandboxConfig pod_config;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

std::atomic<int> next_name{0};

void BM_ConvergeLifecycle(benchmark::State& state) {
  Fixture& f = Shared();
  const std::string pod = f.RunPod("lifecycle");
  for (auto _ : state) {
    auto id = f.daemon.CreateContainer(pod, f.Sleeper(absl::StrCat("c", next_name++)), f.pod_config);
    if (!id.ok() || !f.daemon.StartContainer(*id).ok() || !f.daemon.StopContainer(*id, 0).ok() ||
        !f.daemon.RemoveContainer(*id).ok()) {
      state.SkipWithError(id.ok() ? "lifecycle call failed" : id.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  (void)f.daemon.StopPod(pod);
  (void)f.daemon.RemovePod(pod);
}
BENCHMARK(BM_ConvergeLifecycle)->UseRealTime()->Unit(benchmark::kMillisecond);

// A bundle whose process is `sleep 3600` without a terminal, from the
// runtime's own default spec.
absl::Status PrepareBundle(const std::string& runtime, const std::string& bundle) {
  auto made = Shell(absl::StrCat("cd ", bundle, " && rm -f config.json && ", runtime,
                                 " spec && jq '.process.terminal = false | .process.args = "
                                 "[\"sleep\", \"3600\"]' config.json > config.new && mv "
                                 "config.new config.json"));
  return made.status();
}

void RuntimeLifecycle(benchmark::State& state, const std::string& runtime) {
  Fixture& f = Shared();
  if (absl::Status prepared = PrepareBundle(runtime, f.bundle); !prepared.ok()) {
    state.SkipWithError(prepared.ToString().c_str());
    return;
  }
  const std::string root = absl::StrCat(f.env.base_dir(), "/", runtime, "-root");
  for (auto _ : state) {
    const std::string id = absl::StrCat("bench-", runtime, "-", next_name++);
    auto ran = Shell(absl::StrCat(runtime, " --root ", root, " create --bundle ", f.bundle, " ", id,
                                  " && ", runtime, " --root ", root, " start ", id, " && ", runtime,
                                  " --root ", root, " kill ", id, " KILL && ", runtime, " --root ",
                                  root, " delete -f ", id));
    if (!ran.ok()) {
      state.SkipWithError(ran.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_CrunLifecycle(benchmark::State& state) { RuntimeLifecycle(state, "crun"); }
void BM_RuncLifecycle(benchmark::State& state) { RuntimeLifecycle(state, "runc"); }
BENCHMARK(BM_CrunLifecycle)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RuncLifecycle)->UseRealTime()->Unit(benchmark::kMillisecond);

// {Rss, Pss} in KiB from /proc/<pid>/smaps_rollup.
std::pair<double, double> Memory(int pid) {
  std::pair<double, double> out{0, 0};
  std::ifstream in(absl::StrCat("/proc/", pid, "/smaps_rollup"));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 2) continue;
    double kib = 0;
    if (!absl::SimpleAtod(fields[1], &kib)) continue;
    if (fields[0] == "Rss:") out.first = kib;
    if (fields[0] == "Pss:") out.second = kib;
  }
  return out;
}

void BM_Memory(benchmark::State& state) {
  Fixture& f = Shared();
  const int containers = static_cast<int>(state.range(0));
  const std::string pod = f.RunPod(absl::StrCat("memory", containers));
  std::vector<std::string> ids;
  for (int i = 0; i < containers; ++i) {
    auto id = f.daemon.CreateContainer(pod, f.Sleeper(absl::StrCat("m", i)), f.pod_config);
    if (!id.ok() || !f.daemon.StartContainer(*id).ok()) {
      state.SkipWithError("container did not start");
      return;
    }
    ids.push_back(*id);
  }
  auto status = f.daemon.PodStatus(pod, /*verbose=*/true);
  int monitor = 0;
  if (status.ok() && status->info().count("info")) {
    auto info = nlohmann::json::parse(status->info().at("info"));
    monitor = info["actual"]["monitor"].value("pid", 0);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(Memory(monitor));
  }
  auto [daemon_rss, daemon_pss] = Memory(f.daemon.pid());
  auto [monitor_rss, monitor_pss] = Memory(monitor);
  state.counters["converged_rss_kib"] = daemon_rss;
  state.counters["converged_pss_kib"] = daemon_pss;
  state.counters["monitor_rss_kib"] = monitor_rss;
  state.counters["monitor_pss_kib"] = monitor_pss;
  state.counters["monitor_pss_kib_per_container"] = monitor_pss / containers;
  for (const std::string& id : ids) (void)f.daemon.RemoveContainer(id);
  (void)f.daemon.StopPod(pod);
  (void)f.daemon.RemovePod(pod);
}
BENCHMARK(BM_Memory)->Arg(1)->Arg(50)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace converge::testing

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  auto leaks = converge::testing::Shared().env.Leaks();
  for (const auto& leak : leaks) fprintf(stderr, "leak: %s\n", leak.c_str());
  delete &converge::testing::Shared();
  return leaks.empty() ? 0 : 1;
}

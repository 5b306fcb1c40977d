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
// BM_Memory/P/N: P pods with N sleeping containers each; counters give the
//   RSS and PSS (from /proc/<pid>/smaps_rollup) of converged and of the pods'
//   monitors, all measured while all run.
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
    const std::string id = absl::StrCat("bench-", next_name++);
    const std::string calls =
        absl::StrCat(runtime, " --root ", root, " create --bundle ", f.bundle, " ", id, " && ",
                     runtime, " --root ", root, " start ", id, " && ", runtime, " --root ", root,
                     " kill ", id, " KILL && ", runtime, " --root ", root, " delete -f ", id);
    // Debian's crun 1.8 refuses this node's hybrid cgroup layout (hugetlb is
    // left on the otherwise empty v2 hierarchy): it runs in a mount namespace
    // without that hierarchy, on the same v1 cgroups runc uses (one unshare
    // more per iteration).
    auto ran = Shell(runtime == "crun" ? absl::StrCat("unshare -m --propagation private sh -c '"
                                                      "umount /sys/fs/cgroup/unified && ",
                                                      calls, "'")
                                       : calls);
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
  const int pods = static_cast<int>(state.range(0));
  const int per_pod = static_cast<int>(state.range(1));
  std::vector<std::string> pod_ids;
  std::vector<int> monitors;
  for (int p = 0; p < pods; ++p) {
    const std::string pod = f.RunPod(absl::StrCat("memory-", pods, "x", per_pod, "-", p));
    pod_ids.push_back(pod);
    for (int i = 0; i < per_pod; ++i) {
      auto id = f.daemon.CreateContainer(pod, f.Sleeper(absl::StrCat("m", i)), f.pod_config);
      if (!id.ok() || !f.daemon.StartContainer(*id).ok()) {
        state.SkipWithError("container did not start");
        return;
      }
    }
    auto status = f.daemon.PodStatus(pod, /*verbose=*/true);
    if (status.ok() && status->info().count("info")) {
      auto info = nlohmann::json::parse(status->info().at("info"));
      monitors.push_back(info["actual"]["monitor"].value("pid", 0));
    }
  }
  // Every monitor measured while all run: shared pages are split between them.
  double monitors_rss = 0;
  double monitors_pss = 0;
  for (auto _ : state) {
    monitors_rss = monitors_pss = 0;
    for (int monitor : monitors) {
      auto [rss, pss] = Memory(monitor);
      monitors_rss += rss;
      monitors_pss += pss;
    }
  }
  auto [daemon_rss, daemon_pss] = Memory(f.daemon.pid());
  state.counters["converged_rss_kib"] = daemon_rss;
  state.counters["converged_pss_kib"] = daemon_pss;
  state.counters["monitors_rss_kib"] = monitors_rss;
  state.counters["monitors_pss_kib"] = monitors_pss;
  state.counters["pss_kib_per_monitor"] = monitors_pss / pods;
  state.counters["pss_kib_per_container"] = monitors_pss / (pods * per_pod);
  for (const std::string& pod : pod_ids) {
    (void)f.daemon.StopPod(pod, absl::Minutes(2));
    (void)f.daemon.RemovePod(pod, absl::Minutes(2));
  }
}
// 1 pod x 1 and 1 x 50 containers, and containerd's reference point: 2,000
// containers in 40 pods (40 shims: 687 MB RSS, 260-340 MB PSS).
BENCHMARK(BM_Memory)->Args({1, 1})->Args({1, 50})->Args({40, 50})->Iterations(1)->Unit(
    benchmark::kMillisecond);

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

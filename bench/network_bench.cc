// Pod network setup + teardown latency, through converged and at the floor.
// Needs root; Debian's CNI plugins in /usr/lib/cni. Run by hand:
//
//   bazel run -c opt //bench:network_bench
//
// One TestEnv gives a private bridge, /24 (host-local) and portmap, like the
// integration tests; its destructor removes the bridge, veths, nat rules and
// restores net.ipv4.ip_forward.
//
//   BM_PodLifecycle/host_network  RunPodSandbox + Stop + Remove of a
//                                 hostNetwork pod (no netns, no CNI)
//   BM_PodLifecycle/pod_network   the same with the pod network: netns, lo,
//                                 CNI ADD ... CNI DEL
//   BM_CniAddDel                  the floor: CniNetwork::Setup + Teardown
//                                 (the same conflist, the same plugins)
//                                 called directly on a netns made here
//
// The summary prints pod_network - host_network (the network's share of a
// sandbox lifecycle through the daemon) next to the floor. Use
// --benchmark_repetitions=N on a busy host; the summary averages them.
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "executors/network/cni/cni_network.h"
#include "spdlog/spdlog.h"
#include "tests/integration/harness.h"

namespace converge::testing {
namespace {

// One daemon and one netns for the whole run.
struct Fixture {
  Fixture() : daemon(env.NewDaemon("bench")) {
    daemon.Start({"--log_level=warn"});
    netns = env.base_dir() + "/bench-netns";
    // A persistent netns of our own, pinned under the env's dir (unmounted
    // by ~TestEnv).
    absl::StatusOr<std::string> made =
        Shell(absl::StrCat("touch ", netns, " && unshare --net=", netns, " true"));
    if (!made.ok()) setup_error = std::string(made.status().message());
    CniNetworkOptions options;
    options.conf_dir = env.cni_conf_dir();
    options.bin_dirs = {"/usr/lib/cni"};
    auto created = CniNetwork::Create(options);
    if (created.ok()) {
      cni = *std::move(created);
    } else {
      setup_error = created.status().ToString();
    }
  }
  TestEnv env;
  TestDaemon& daemon;
  std::string netns;
  std::unique_ptr<CniNetwork> cni;
  std::string setup_error;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

std::atomic<int> next_pod{0};

// RunPodSandbox + Stop + Remove through the daemon; false on an error.
bool Lifecycle(Fixture& f, bool host_network, benchmark::State& state) {
  auto config = f.env.PodConfig(absl::StrCat(host_network ? "h" : "n", next_pod++));
  if (host_network) {
    config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
        runtime::v1::NODE);
  }
  auto id = f.daemon.RunPod(config);
  if (!id.ok()) {
    state.SkipWithError(std::string(id.status().message()).c_str());
    return false;
  }
  if (!f.daemon.StopPod(*id).ok() || !f.daemon.RemovePod(*id).ok()) {
    state.SkipWithError("stop or remove failed");
    return false;
  }
  return true;
}

// CniNetwork::Setup + Teardown on the bench's netns; false on an error.
bool AddDel(Fixture& f, benchmark::State& state) {
  NetworkRequest request;
  request.sandbox_id = absl::StrCat("bench", getpid(), "x", next_pod++);
  request.pod_name = "bench";
  request.pod_namespace = "bench";
  request.pod_uid = "uid-bench";
  request.netns_path = f.netns;
  absl::StatusOr<NetworkResult> attached = f.cni->Setup(request);
  absl::Status status = attached.status();
  if (status.ok()) status = f.cni->Teardown(request, *attached);
  if (!status.ok()) state.SkipWithError(status.ToString().c_str());
  return status.ok();
}

// Each kind in a benchmark of its own: interleaved, the floor would pay for
// the previous pod's netns, which the kernel destroys asynchronously after
// its pin is unmounted (rtnl contention; DEL then takes up to twice as long).
void BM_PodLifecycle(benchmark::State& state, bool host_network) {
  Fixture& f = Shared();
  for (auto _ : state) {
    if (!Lifecycle(f, host_network, state)) break;
  }
}
BENCHMARK_CAPTURE(BM_PodLifecycle, host_network, true)
    ->UseRealTime()
    ->MinTime(3.0)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PodLifecycle, pod_network, false)
    ->UseRealTime()
    ->MinTime(3.0)
    ->Unit(benchmark::kMillisecond);

void BM_CniAddDel(benchmark::State& state) {
  Fixture& f = Shared();
  if (!f.setup_error.empty() || f.cni == nullptr) {
    state.SkipWithError(f.setup_error.c_str());
    return;
  }
  for (auto _ : state) {
    if (!AddDel(f, state)) break;
  }
}
BENCHMARK(BM_CniAddDel)->UseRealTime()->MinTime(3.0)->Unit(benchmark::kMillisecond);

// The console report, then per-pod means over all repetitions
// (--benchmark_repetitions) and the differences.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      Total& total = totals_[run.run_name.str()];
      total.seconds += run.real_accumulated_time;
      total.iterations += run.iterations;
    }
  }

  void PrintSummary() const {
    // By name prefix: the names go on with "/min_time:.../real_time".
    auto mean = [&](const std::string& prefix) {
      for (const auto& [name, total] : totals_) {
        if (name.rfind(prefix, 0) == 0 && total.iterations > 0) {
          return total.seconds / static_cast<double>(total.iterations) * 1e3;
        }
      }
      return -1.0;
    };
    const double host = mean("BM_PodLifecycle/host_network/");
    const double pod = mean("BM_PodLifecycle/pod_network/");
    const double floor = mean("BM_CniAddDel/");
    if (host < 0 || pod < 0 || floor < 0) {
      std::fprintf(stderr, "no summary: not every benchmark ran\n");
      return;
    }
    std::printf(
        "\nper pod, mean wall time\n"
        "  lifecycle, hostNetwork pod                 %7.2f ms\n"
        "  lifecycle, pod-network pod                 %7.2f ms\n"
        "  network share through converged            %7.2f ms  (netns, lo, ADD, DEL, records)\n"
        "  floor: plugin chain ADD + DEL, directly    %7.2f ms\n"
        "  converged above the floor                  %7.2f ms\n",
        host, pod, pod - host, floor, pod - host - floor);
  }

 private:
  struct Total {
    double seconds = 0;
    int64_t iterations = 0;
  };
  std::map<std::string, Total> totals_;
};

}  // namespace
}  // namespace converge::testing

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  spdlog::set_level(spdlog::level::warn);  // CniNetwork logs every ADD and DEL at info
  converge::testing::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  converge::testing::Fixture& fixture = converge::testing::Shared();
  if (umount2(fixture.netns.c_str(), MNT_DETACH) != 0) {
    std::perror(("umount " + fixture.netns).c_str());
  }
  auto leaks = converge::testing::Shared().env.Leaks();
  for (const auto& leak : leaks) std::fprintf(stderr, "leak: %s\n", leak.c_str());
  delete &converge::testing::Shared();
  return leaks.empty() ? 0 : 1;
}

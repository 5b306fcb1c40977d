// Sandbox lifecycle latency through the real CRI socket: a converged process
// (started here, on private directories) runs RunPodSandbox, StopPodSandbox
// and RemovePodSandbox on real namespaces and cgroups. Needs root.
//
//   bazel run -c opt //bench:sandbox_bench
//
// BM_RunPodSandbox times RunPodSandbox alone (teardown outside the timer);
// BM_SandboxLifecycle a whole run + stop + remove, from 1 and 8 client threads.
#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "tests/integration/harness.h"

namespace converge::testing {
namespace {

// One daemon for the whole run; benchmarks share it.
struct Fixture {
  Fixture() : daemon(env.NewDaemon("bench")) { daemon.Start({"--log_level=warn"}); }
  TestEnv env;
  TestDaemon& daemon;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

std::atomic<int> next_pod{0};

void BM_RunPodSandbox(benchmark::State& state) {
  Fixture& f = Shared();
  for (auto _ : state) {
    auto config = f.env.PodConfig(absl::StrCat("b", next_pod++));
    auto id = f.daemon.RunPod(config);
    state.PauseTiming();
    if (!id.ok()) {
      state.SkipWithError(std::string(id.status().message()).c_str());
      break;
    }
    (void)f.daemon.RemovePod(*id);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_RunPodSandbox)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_SandboxLifecycle(benchmark::State& state) {
  Fixture& f = Shared();
  for (auto _ : state) {
    auto id = f.daemon.RunPod(f.env.PodConfig(absl::StrCat("l", next_pod++)));
    if (!id.ok() || !f.daemon.StopPod(*id).ok() || !f.daemon.RemovePod(*id).ok()) {
      state.SkipWithError("lifecycle call failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SandboxLifecycle)->UseRealTime()->Unit(benchmark::kMillisecond)->Threads(1)->Threads(8);

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

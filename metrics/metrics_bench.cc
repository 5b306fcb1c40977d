// The cost of instrumentation on converge's hot paths: updating a cached
// child, alone and contended by 4 threads, and looking a child up by labels.
//
//   bazel run -c opt //metrics:metrics_bench
//   bazel run -c opt //metrics:metrics_bench -- --benchmark_filter=Counter
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "metrics/metrics.h"

namespace converge::metrics {
namespace {

// One registry for the whole run, shaped like converge's CRI metrics: 20
// methods x 5 codes = 100 children per family.
struct Fixture {
  Fixture() {
    requests = *registry.AddCounter("converge_cri_requests_total", "help",
                                    {"method", "code"});
    pods = *registry.AddGauge("converge_pods", "help", {"state"});
    latency = *registry.AddHistogram("converge_cri_request_duration_seconds",
                                     "help", {"method"}, DefaultBuckets());
    for (int m = 0; m < 20; ++m) {
      methods.push_back(absl::StrCat("Method", m));
      latency->WithLabels({methods.back()});
      for (const char* code :
           {"OK", "NotFound", "Internal", "Unavailable", "InvalidArgument"}) {
        requests->WithLabels({methods.back(), code});
      }
    }
  }

  Registry registry;
  CounterFamily* requests;
  GaugeFamily* pods;
  HistogramFamily* latency;
  std::vector<std::string> methods;
};

Fixture& GetFixture() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

// All threads hit one child: the worst case for the CAS loop.
void BM_CounterIncrementShared(benchmark::State& state) {
  Counter* counter = GetFixture().requests->WithLabels({"Method0", "OK"});
  for (auto _ : state) counter->Increment();
}
BENCHMARK(BM_CounterIncrementShared)->Threads(1)->Threads(4)->UseRealTime();

// Each thread its own child, as with per-method counters.
void BM_CounterIncrementPerThread(benchmark::State& state) {
  Fixture& fixture = GetFixture();
  Counter* counter = fixture.requests->WithLabels(
      {fixture.methods[state.thread_index() + 1], "OK"});
  for (auto _ : state) counter->Increment();
}
BENCHMARK(BM_CounterIncrementPerThread)->Threads(1)->Threads(4)->UseRealTime();

void BM_GaugeSet(benchmark::State& state) {
  Gauge* gauge = GetFixture().pods->WithLabels({"ready"});
  double value = 0;
  for (auto _ : state) gauge->Set(value += 1);
}
BENCHMARK(BM_GaugeSet)->Threads(1)->Threads(4)->UseRealTime();

// Observations spread over all 12 buckets of DefaultBuckets.
void BM_HistogramObserveShared(benchmark::State& state) {
  Histogram* histogram = GetFixture().latency->WithLabels({"Method0"});
  const double values[] = {0.001, 0.007, 0.02, 0.04, 0.07, 0.2,
                           0.4,   0.8,   2,    4,    7,    20};
  size_t i = 0;
  for (auto _ : state) histogram->Observe(values[i++ % 12]);
}
BENCHMARK(BM_HistogramObserveShared)->Threads(1)->Threads(4)->UseRealTime();

void BM_HistogramObservePerThread(benchmark::State& state) {
  Fixture& fixture = GetFixture();
  Histogram* histogram =
      fixture.latency->WithLabels({fixture.methods[state.thread_index() + 1]});
  const double values[] = {0.001, 0.007, 0.02, 0.04, 0.07, 0.2,
                           0.4,   0.8,   2,    4,    7,    20};
  size_t i = 0;
  for (auto _ : state) histogram->Observe(values[i++ % 12]);
}
BENCHMARK(BM_HistogramObservePerThread)->Threads(1)->Threads(4)->UseRealTime();

// What an uncached call costs: reader lock plus a map lookup among 100
// children, then the increment.
void BM_WithLabelsThenIncrement(benchmark::State& state) {
  Fixture& fixture = GetFixture();
  const std::string& method = fixture.methods[7];
  for (auto _ : state) {
    fixture.requests->WithLabels({method, "Unavailable"})->Increment();
  }
}
BENCHMARK(BM_WithLabelsThenIncrement)->Threads(1)->Threads(4)->UseRealTime();

// A whole scrape of the fixture: 100 counters and 20 histograms.
void BM_Exposition(benchmark::State& state) {
  Registry& registry = GetFixture().registry;
  size_t bytes = 0;
  for (auto _ : state) bytes = registry.Exposition().size();
  state.counters["bytes"] = bytes;
}
BENCHMARK(BM_Exposition);

}  // namespace
}  // namespace converge::metrics

BENCHMARK_MAIN();

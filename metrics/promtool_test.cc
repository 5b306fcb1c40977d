// Feeds expositions to the real Prometheus linter, /usr/bin/promtool from
// Debian's `prometheus` package: `promtool check metrics` exits non-zero on
// parse errors and on lint problems (naming, missing HELP, ...).
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"
#include "metrics/metrics.h"
#include "metrics/metrics_testing.h"
#include "metrics/process_metrics.h"

namespace converge::metrics {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together.
};

// Runs `promtool check metrics` with `exposition` on stdin.
PromtoolResult CheckMetrics(const std::string& exposition,
                            const TempTestDir& dir) {
  const std::string input = dir.Sub("exposition.txt");
  std::ofstream(input) << exposition;
  const std::string command =
      std::string(kPromtool) + " check metrics < '" + input + "' 2>&1";
  PromtoolResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen " << command;
    return result;
  }
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.output.append(buffer, n);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class PromtoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kPromtool, X_OK), 0)
        << kPromtool << " is missing: apt-get install prometheus "
        << "(scripts/install-deps.sh)";
  }
  TempTestDir dir_;
};

TEST_F(PromtoolTest, AcceptsEveryKindAndProcessMetrics) {
  Registry registry;
  ProcessMetricsOptions options;
  options.version = "v0.1.0 \"dev\"\\build";
  ASSERT_OK(RegisterProcessMetrics(&registry, options));

  ASSERT_OK_AND_ASSIGN(auto requests,
      registry.AddCounter("converge_cri_requests_total",
                          "CRI requests by \"method\" and code.\nSecond line "
                          "with a back\\slash.",
                          {"method", "code"}));
  requests->WithLabels({"RunPodSandbox", "OK"})->Increment(3);
  requests->WithLabels({"Weird", "quote\" back\\slash\nnewline ünï"})
      ->Increment();
  ASSERT_OK_AND_ASSIGN(auto written,
                       registry.AddCounter("converge_store_written_bytes_total",
                                           "Bytes written to the store."));
  written->WithLabels({})->Increment(1.5e12);

  ASSERT_OK_AND_ASSIGN(auto pods, registry.AddGauge("converge_pods", "Pods known.", {"state"}));
  pods->WithLabels({"ready"})->Set(12);
  pods->WithLabels({"failed"})->Set(0);
  ASSERT_OK_AND_ASSIGN(auto temperature,
      registry.AddGauge("converge_test_temperature_celsius", "Odd values."));
  temperature->WithLabels({})->Set(-273.15);
  ASSERT_OK_AND_ASSIGN(auto depth, registry.AddGauge("converge_workqueue_depth",
                                                "Keys waiting.", {"name"}));
  ASSERT_OK(depth->AddCallback({"pods"}, [] { return 4.0; }));
  ASSERT_OK(registry
                .AddCallbackGauge("converge_store_size_bytes",
                                  "RocksDB live data size.",
                                  [] { return 123456789.0; })
                .status());
  ASSERT_OK_AND_ASSIGN(auto ratio, registry.AddGauge("converge_test_ratio",
                                                "Special floats.", {"kind"}));
  ratio->WithLabels({"inf"})->Set(std::numeric_limits<double>::infinity());
  ratio->WithLabels({"minus_inf"})
      ->Set(-std::numeric_limits<double>::infinity());
  ratio->WithLabels({"nan"})->Set(std::nan(""));
  ratio->WithLabels({"tiny"})->Set(1.5e-300);

  ASSERT_OK_AND_ASSIGN(auto latency, registry.AddHistogram("converge_cri_request_duration_seconds",
                                     "CRI request latency.", {"method"},
                                     DefaultBuckets()));
  for (double v : {0.001, 0.005, 0.3, 1.0, 2.5, 60.0}) {
    latency->WithLabels({"RunPodSandbox"})->Observe(v);
  }
  latency->WithLabels({"StopPodSandbox"})->Observe(0.02);
  ASSERT_OK_AND_ASSIGN(auto sizes,
      registry.AddHistogram("converge_image_layer_size_bytes", "Layer sizes.",
                            {}, ExponentialBuckets(1024, 4, 8)));
  sizes->WithLabels({})->Observe(5e6);

  const std::string exposition = registry.Exposition();
  const PromtoolResult result = CheckMetrics(exposition, dir_);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- input:\n"
                                 << exposition;
  EXPECT_EQ(result.output, "") << "--- input:\n" << exposition;
}

// The harness above must be able to see a failure, or a broken promtool call
// would pass silently.
TEST_F(PromtoolTest, RejectsWhatPrometheusRejects) {
  struct Case {
    const char* name;
    const char* exposition;
  };
  const Case cases[] = {
      {"counter without _total",
       "# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n"},
      {"unescaped quote", "# HELP g G.\n# TYPE g gauge\ng{a=\"x\"y\"} 1\n"},
      {"no HELP", "# TYPE g gauge\ng 1\n"},
  };
  for (const Case& c : cases) {
    const PromtoolResult result = CheckMetrics(c.exposition, dir_);
    EXPECT_NE(result.exit_code, 0) << c.name << ": " << result.output;
  }
}

}  // namespace
}  // namespace converge::metrics

#include "metrics/metrics.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "common/testing/status_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metrics_testing.h"

namespace converge::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ExpositionTest, Golden) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto requests,
      registry.AddCounter("converge_cri_requests_total",
                          "CRI requests handled.\nSplit by \"method\" and "
                          "C:\\code.",
                          {"method", "code"}));
  // Created out of order: children print sorted by label values.
  requests->WithLabels({"Tricky", "a\"b\\c\nd"})->Increment(2.5);
  requests->WithLabels({"StopPodSandbox", "Internal"})->Increment();
  Counter* run_ok = requests->WithLabels({"RunPodSandbox", "OK"});
  run_ok->Increment();
  run_ok->Increment(2);

  ASSERT_OK_AND_ASSIGN(auto idle, registry.AddCounter("converge_idle_total", "Never incremented."));
  (void)idle;
  ASSERT_OK_AND_ASSIGN(auto unused, registry.AddCounter("converge_unused_total", "No children yet.",
                                  {"kind"}));
  (void)unused;

  ASSERT_OK_AND_ASSIGN(auto pods, registry.AddGauge("converge_pods", "Pods known."));
  pods->WithLabels({})->Set(10);
  pods->WithLabels({})->Sub(4);
  pods->WithLabels({})->Add(1);

  ASSERT_OK_AND_ASSIGN(auto depth, registry.AddGauge("converge_queue_depth",
                                                "Keys waiting.", {"queue"}));
  ASSERT_OK(depth->AddCallback({"pods"}, [] { return 4.0; }));
  depth->WithLabels({"images"})->Set(-1.5);

  ASSERT_OK_AND_ASSIGN(auto sync, registry.AddHistogram("converge_sync_duration_seconds",
                                  "Sync latency.", {"phase"}, {0.25, 0.5, 1}));
  Histogram* create = sync->WithLabels({"create"});
  for (double v : {0.125, 0.25, 0.5 - 0.125, 4.0}) create->Observe(v);

  ASSERT_OK_AND_ASSIGN(auto tiny, registry.AddHistogram("converge_tiny_seconds", "Unlabeled.", {},
                                  {1, kInf}));
  (void)tiny;

  EXPECT_EQ(
      registry.Exposition(),
      R"txt(# HELP converge_cri_requests_total CRI requests handled.\nSplit by "method" and C:\\code.
# TYPE converge_cri_requests_total counter
converge_cri_requests_total{method="RunPodSandbox",code="OK"} 3
converge_cri_requests_total{method="StopPodSandbox",code="Internal"} 1
converge_cri_requests_total{method="Tricky",code="a\"b\\c\nd"} 2.5
# HELP converge_idle_total Never incremented.
# TYPE converge_idle_total counter
converge_idle_total 0
# HELP converge_pods Pods known.
# TYPE converge_pods gauge
converge_pods 7
# HELP converge_queue_depth Keys waiting.
# TYPE converge_queue_depth gauge
converge_queue_depth{queue="images"} -1.5
converge_queue_depth{queue="pods"} 4
# HELP converge_sync_duration_seconds Sync latency.
# TYPE converge_sync_duration_seconds histogram
converge_sync_duration_seconds_bucket{phase="create",le="0.25"} 2
converge_sync_duration_seconds_bucket{phase="create",le="0.5"} 3
converge_sync_duration_seconds_bucket{phase="create",le="1"} 3
converge_sync_duration_seconds_bucket{phase="create",le="+Inf"} 4
converge_sync_duration_seconds_sum{phase="create"} 4.75
converge_sync_duration_seconds_count{phase="create"} 4
# HELP converge_tiny_seconds Unlabeled.
# TYPE converge_tiny_seconds histogram
converge_tiny_seconds_bucket{le="1"} 0
converge_tiny_seconds_bucket{le="+Inf"} 0
converge_tiny_seconds_sum 0
converge_tiny_seconds_count 0
)txt");
}

// ---- Histograms -------------------------------------------------------------

struct HistogramCase {
  std::string name;
  std::vector<double> bounds;
  std::vector<double> observations;
  std::vector<uint64_t> want_cumulative;  // Including +Inf.
};

TEST(HistogramTest, BucketsAreCumulativeAndLeIsInclusive) {
  const HistogramCase cases[] = {
      {"empty", {1, 2}, {}, {0, 0, 0}},
      {"on each boundary", {1, 2, 3}, {1, 2, 3}, {1, 2, 3, 3}},
      {"just above boundaries",
       {1, 2},
       {std::nextafter(1.0, 2.0), std::nextafter(2.0, 3.0)},
       {0, 1, 2}},
      {"above the top bucket", {1}, {1.5, 100, kInf}, {0, 3}},
      {"below the first", {0}, {-5, -kInf, 0}, {3, 3}},
      {"NaN goes to +Inf", {1}, {std::nan("")}, {0, 1}},
      {"only +Inf bucket", {}, {1, 2}, {2}},
  };
  for (const HistogramCase& c : cases) {
    Registry registry;
    ASSERT_OK_AND_ASSIGN(auto family, registry.AddHistogram("h_seconds", "help", {}, c.bounds));
    Histogram* h = family->WithLabels({});
    for (double v : c.observations) h->Observe(v);
    const Histogram::Snapshot snapshot = h->Collect();
    EXPECT_EQ(snapshot.cumulative_counts, c.want_cumulative) << c.name;
    EXPECT_EQ(snapshot.count, c.observations.size()) << c.name;
  }
}

TEST(HistogramTest, CountSumAndBucketsAgreeAfterManyObservations) {
  Registry registry;
  const std::vector<double> bounds = LinearBuckets(10, 10, 9);  // 10..90
  ASSERT_OK_AND_ASSIGN(auto family, registry.AddHistogram("latency_seconds", "help", {"op"}, bounds));
  Histogram* h = family->WithLabels({"read"});

  // 0..119 in quarter steps, hitting every bound exactly and going past the
  // top one; integers and quarters keep the sum exact.
  std::vector<double> values;
  for (int i = 0; i < 480; ++i) values.push_back(i * 0.25);
  constexpr int kThreads = 8;
  constexpr int kRounds = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        for (double v : values) h->Observe(v);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  const std::string text = registry.Exposition();
  const uint64_t n = values.size() * kThreads * kRounds;
  double want_sum = 0;
  for (double v : values) want_sum += v;
  want_sum *= kThreads * kRounds;

  EXPECT_EQ(SampleValue(text, "latency_seconds_count{op=\"read\"}"), n);
  EXPECT_EQ(SampleValue(text, "latency_seconds_sum{op=\"read\"}"), want_sum);
  EXPECT_EQ(
      SampleValue(text, "latency_seconds_bucket{op=\"read\",le=\"+Inf\"}"), n);
  for (double bound : bounds) {
    uint64_t want = 0;
    for (double v : values) want += v <= bound;
    want *= kThreads * kRounds;
    const std::string series = "latency_seconds_bucket{op=\"read\",le=\"" +
                               std::to_string(static_cast<int>(bound)) + "\"}";
    EXPECT_EQ(SampleValue(text, series), want) << series;
  }
}

TEST(HistogramTest, BucketHelpers) {
  EXPECT_EQ(LinearBuckets(1, 2, 3), (std::vector<double>{1, 3, 5}));
  EXPECT_EQ(ExponentialBuckets(1, 10, 3), (std::vector<double>{1, 10, 100}));
  EXPECT_EQ(DefaultBuckets().size(), 11);
  EXPECT_TRUE(LinearBuckets(1, 2, 0).empty());
}

// ---- Counters and gauges ----------------------------------------------------

TEST(CounterTest, NeverGoesBackwards) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto family, registry.AddCounter("c_total", "help"));
  Counter* c = family->WithLabels({});
  c->Increment(5);
  c->Increment(-1);
  c->Increment(-kInf);
  c->Increment(std::nan(""));
  EXPECT_EQ(c->Value(), 5);
  c->Increment(0);
  c->Increment(0.5);
  EXPECT_EQ(c->Value(), 5.5);
  EXPECT_THAT(registry.Exposition(), HasSubstr("\nc_total 5.5\n"));
}

TEST(CounterTest, ConcurrentIncrementsSumExactly) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto family,
                       registry.AddCounter("c_total", "help", {"worker"}));
  Counter* shared = family->WithLabels({"shared"});
  constexpr int kThreads = 8;
  constexpr int kIncrements = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads look the child up each time, racing on creation.
      for (int i = 0; i < kIncrements; ++i) {
        if (t % 2 == 0) {
          shared->Increment();
        } else {
          family->WithLabels({"shared"})->Increment();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(shared->Value(), kThreads * kIncrements);
}

TEST(GaugeTest, ConcurrentAddAndSubCancel) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto family, registry.AddGauge("g", "help"));
  Gauge* g = family->WithLabels({});
  g->Set(100);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([g, t] {
      for (int i = 0; i < 50000; ++i) t % 2 ? g->Add(3) : g->Sub(3);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(g->Value(), 100);
}

TEST(FamilyTest, WithLabelsReturnsTheSameChild) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto family,
                       registry.AddCounter("c_total", "help", {"a", "b"}));
  std::string a = "x";
  Counter* first = family->WithLabels({a, "y"});
  EXPECT_EQ(family->WithLabels({"x", "y"}), first);
  EXPECT_NE(family->WithLabels({"x", "z"}), first);
  ASSERT_OK_AND_ASSIGN(auto got, family->Get({"x", "y"}));
  EXPECT_EQ(got, first);
}

// ---- Misuse -----------------------------------------------------------------

TEST(FamilyTest, WrongLabelCountIsAnErrorOrADetachedChild) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto family,
                       registry.AddCounter("c_total", "help", {"a", "b"}));
  EXPECT_THAT(family->Get({"only one"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "has 2 labels, got 1 values"));
  EXPECT_THAT(family->Get({"1", "2", "3"}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "got 3 values"));

  Counter* sink = family->WithLabels({"only one"});
  ASSERT_NE(sink, nullptr);
  EXPECT_EQ(family->WithLabels({}), sink);
  sink->Increment(7);
  EXPECT_EQ(registry.Exposition(), "");  // Never exported.
}

TEST(FamilyTest, Callbacks) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto family, registry.AddGauge("depth", "help", {"queue"}));
  double pods = 3;
  ASSERT_OK(family->AddCallback({"pods"}, [&pods] { return pods; }));
  EXPECT_THAT(family->AddCallback({"pods"}, [] { return 1.0; }),
              StatusIs(absl::StatusCode::kAlreadyExists, "exists"));
  family->WithLabels({"images"})->Set(1);
  EXPECT_THAT(family->AddCallback({"images"}, [] { return 1.0; }),
              StatusIs(absl::StatusCode::kAlreadyExists, "exists"));
  EXPECT_THAT(family->AddCallback({"x"}, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty callback"));
  EXPECT_THAT(family->AddCallback({}, [] { return 1.0; }),
              StatusIs(absl::StatusCode::kInvalidArgument, "got 0 values"));
  // A callback child is never handed out: it could be removed under you.
  EXPECT_THAT(family->Get({"pods"}).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, "callback"));

  EXPECT_EQ(SampleValue(registry.Exposition(), "depth{queue=\"pods\"}"), 3);
  pods = 9;
  EXPECT_EQ(SampleValue(registry.Exposition(), "depth{queue=\"pods\"}"), 9);

  ASSERT_OK(family->RemoveCallback({"pods"}));
  EXPECT_THAT(registry.Exposition(), Not(HasSubstr("pods")));
  EXPECT_THAT(family->RemoveCallback({"pods"}),
              StatusIs(absl::StatusCode::kNotFound, "no callback"));
  EXPECT_THAT(family->RemoveCallback({"images"}),
              StatusIs(absl::StatusCode::kNotFound, "no callback"));

  ASSERT_OK_AND_ASSIGN(auto uptime, registry.AddCallbackCounter("uptime_seconds_total", "help",
                                          [] { return 12.5; }));
  (void)uptime;
  EXPECT_EQ(SampleValue(registry.Exposition(), "uptime_seconds_total"), 12.5);
  EXPECT_THAT(registry.AddCallbackGauge("g", "help", nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty callback"));
}

TEST(FamilyTest, UnlabeledFamilyIsZeroUntilUsedAndMayBecomeACallback) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto depth, registry.AddGauge("depth", "help"));
  ASSERT_OK_AND_ASSIGN(auto errors, registry.AddCounter("errors_total", "help"));
  EXPECT_EQ(SampleValue(registry.Exposition(), "depth"), 0);
  EXPECT_EQ(SampleValue(registry.Exposition(), "errors_total"), 0);

  ASSERT_OK(depth->AddCallback({}, [] { return 5.0; }));
  EXPECT_EQ(SampleValue(registry.Exposition(), "depth"), 5);
  ASSERT_OK(depth->RemoveCallback({}));
  EXPECT_EQ(SampleValue(registry.Exposition(), "depth"), 0);

  errors->WithLabels({})->Increment();
  EXPECT_THAT(errors->AddCallback({}, [] { return 1.0; }),
              StatusIs(absl::StatusCode::kAlreadyExists, "exists"));
  EXPECT_EQ(SampleValue(registry.Exposition(), "errors_total"), 1);
}

TEST(RegistryTest, ScrapeHooksRunBeforeValuesAreRead) {
  Registry registry;
  ASSERT_OK_AND_ASSIGN(auto family, registry.AddGauge("scrapes", "help"));
  Gauge* scrapes = family->WithLabels({});
  bool fail = false;
  const Registry::ScrapeHookId id =
      registry.AddScrapeHook("count", [&]() -> absl::Status {
        if (fail) return absl::UnavailableError("source down");
        scrapes->Add(1);
        return absl::OkStatus();
      });
  EXPECT_EQ(SampleValue(registry.Exposition(), "scrapes"), 1);
  EXPECT_EQ(SampleValue(registry.Exposition(), "scrapes"), 2);
  fail = true;  // The scrape goes on with the last values.
  EXPECT_EQ(SampleValue(registry.Exposition(), "scrapes"), 2);
  fail = false;
  registry.RemoveScrapeHook(id);
  EXPECT_EQ(SampleValue(registry.Exposition(), "scrapes"), 2);
}

struct RegistrationCase {
  std::string name;
  std::function<absl::Status(Registry&)> register_metric;
  absl::StatusCode code;
  std::string message;
};

absl::Status RegisterCounter(Registry& r, std::string name,
                             std::vector<std::string> labels = {},
                             std::string help = "help") {
  return r.AddCounter(name, help, labels).status();
}
absl::Status RegisterHistogram(Registry& r, std::string name,
                               std::vector<std::string> labels,
                               std::vector<double> bounds = {1}) {
  return r.AddHistogram(name, "help", labels, bounds).status();
}

TEST(RegistryTest, RejectsBadNamesLabelsAndDuplicates) {
  using absl::StatusCode;
  const RegistrationCase cases[] = {
      {"valid with colon and digits",
       [](Registry& r) {
         return RegisterCounter(r, "ns:sub_1_total", {"a_1", "_b"});
       },
       StatusCode::kOk, ""},
      {"le is fine outside histograms",
       [](Registry& r) { return RegisterCounter(r, "c_total", {"le"}); },
       StatusCode::kOk, ""},
      {"empty name", [](Registry& r) { return RegisterCounter(r, ""); },
       StatusCode::kInvalidArgument, "metric name `` must match"},
      {"leading digit",
       [](Registry& r) { return RegisterCounter(r, "9lives_total"); },
       StatusCode::kInvalidArgument, "metric name `9lives_total` must match"},
      {"dash", [](Registry& r) { return RegisterCounter(r, "a-b_total"); },
       StatusCode::kInvalidArgument, "metric name `a-b_total` must match"},
      {"empty help",
       [](Registry& r) { return RegisterCounter(r, "c_total", {}, ""); },
       StatusCode::kInvalidArgument, "help text is empty"},
      {"label with colon",
       [](Registry& r) { return RegisterCounter(r, "c_total", {"a:b"}); },
       StatusCode::kInvalidArgument, "label name `a:b` must match"},
      {"label leading digit",
       [](Registry& r) { return RegisterCounter(r, "c_total", {"1a"}); },
       StatusCode::kInvalidArgument, "label name `1a` must match"},
      {"empty label",
       [](Registry& r) { return RegisterCounter(r, "c_total", {""}); },
       StatusCode::kInvalidArgument, "label name `` must match"},
      {"reserved label",
       [](Registry& r) { return RegisterCounter(r, "c_total", {"__name__"}); },
       StatusCode::kInvalidArgument, "`__name__` is reserved"},
      {"repeated label",
       [](Registry& r) {
         return RegisterCounter(r, "c_total", {"a", "b", "a"});
       },
       StatusCode::kInvalidArgument, "label name `a` repeated"},
      {"le on a histogram",
       [](Registry& r) {
         return RegisterHistogram(r, "h_seconds", {"op", "le"});
       },
       StatusCode::kInvalidArgument, "`le` is reserved for buckets"},
      {"bounds not increasing",
       [](Registry& r) {
         return RegisterHistogram(r, "h_seconds", {}, {1, 2, 2});
       },
       StatusCode::kInvalidArgument, "strictly increasing, got 2 after 2"},
      {"bounds decreasing",
       [](Registry& r) {
         return RegisterHistogram(r, "h_seconds", {}, {2, 1});
       },
       StatusCode::kInvalidArgument, "strictly increasing, got 1 after 2"},
      {"NaN bound",
       [](Registry& r) {
         return RegisterHistogram(r, "h_seconds", {}, {1, std::nan("")});
       },
       StatusCode::kInvalidArgument, "bucket bound is NaN"},
      {"same name twice",
       [](Registry& r) {
         (void)RegisterCounter(r, "c_total");
         return r.AddGauge("c_total", "help").status();
       },
       StatusCode::kAlreadyExists, "metric `c_total` is already registered"},
      {"gauge named like a histogram series",
       [](Registry& r) {
         (void)RegisterHistogram(r, "h_seconds", {});
         return r.AddGauge("h_seconds_count", "help").status();
       },
       StatusCode::kAlreadyExists,
       "metric `h_seconds_count` would write `h_seconds_count`, which metric "
       "`h_seconds` already writes"},
      {"histogram whose series are taken",
       [](Registry& r) {
         (void)r.AddGauge("h_seconds_sum", "help");
         return RegisterHistogram(r, "h_seconds", {});
       },
       StatusCode::kAlreadyExists,
       "metric `h_seconds` would write `h_seconds_sum`"},
  };
  for (const RegistrationCase& c : cases) {
    Registry registry;
    const absl::Status status = c.register_metric(registry);
    EXPECT_THAT(status, StatusIs(c.code, c.message)) << c.name;
  }
}

TEST(RegistryTest, FailedRegistrationLeavesNoTrace) {
  Registry registry;
  ASSERT_THAT(RegisterHistogram(registry, "h_seconds", {"le"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "le"));
  EXPECT_OK(RegisterHistogram(registry, "h_seconds", {"op"}));
  ASSERT_OK(registry.AddGauge("g_sum", "help").status());
  ASSERT_THAT(RegisterHistogram(registry, "g", {}),
              StatusIs(absl::StatusCode::kAlreadyExists, "g_sum"));
  // "g" itself was not reserved by the failed histogram.
  EXPECT_OK(registry.AddGauge("g", "help").status());
}

}  // namespace
}  // namespace converge::metrics

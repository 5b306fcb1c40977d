// Converge's metrics library: counters, gauges and histograms with labels,
// kept in a Registry and exposed in the Prometheus text format 0.0.4.
// (prometheus-cpp is not packaged for Debian 12; this is the subset converge
// needs, with client_golang's semantics.)
//
//   metrics::Registry registry;
//   CONVERGE_ASSIGN_OR_RETURN(
//       metrics::CounterFamily* requests,
//       registry.AddCounter("converge_cri_requests_total",
//                           "CRI requests handled.", {"method", "code"}));
//   // Look the child up once and cache it: updates on it are lock-free.
//   metrics::Counter* run_ok = requests->WithLabels({"RunPodSandbox", "OK"});
//   run_ok->Increment();
//
//   CONVERGE_ASSIGN_OR_RETURN(
//       metrics::HistogramFamily* latency,
//       registry.AddHistogram("converge_cri_request_duration_seconds",
//                             "CRI request latency.", {"method"},
//                             metrics::ExponentialBuckets(0.001, 2, 14)));
//   latency->WithLabels({"RunPodSandbox"})->Observe(0.25);
//
//   // Evaluated at every scrape, e.g. the reconciler's queue depth.
//   CONVERGE_ASSIGN_OR_RETURN(
//       metrics::GaugeFamily* depth,
//       registry.AddGauge("converge_workqueue_depth", "Keys waiting.",
//                         {"name"}));
//   CONVERGE_RETURN_IF_ERROR(
//       depth->AddCallback({"pods"}, [&queue] { return queue.Len(); }));
//
//   std::string body = registry.Exposition();  // Content-Type: kContentType
//
// Thread safety: everything may be called from any thread. Updating a child
// (Increment, Set, Observe, ...) touches only that child's atomics. WithLabels
// takes the family's reader lock (a writer lock the first time a label set is
// seen), so hot paths cache the returned pointer. Registration and
// Exposition take the registry lock; Exposition runs scrape hooks and
// callbacks on the calling thread, so they must not register metrics or add
// or remove hooks and callbacks.
//
// Lifetimes: families and the children WithLabels returns live as long as the
// Registry; pointers to them never dangle before that. Only callback children
// can be removed (RemoveCallback), and WithLabels never hands them out.
#ifndef CONVERGE_METRICS_METRICS_H_
#define CONVERGE_METRICS_METRICS_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace converge::metrics {

// What Registry::Exposition returns, for the HTTP Content-Type header.
inline constexpr char kContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// A value computed when scraped instead of stored (queue depth, DB size).
using ValueCallback = std::function<double()>;

namespace internal {

// C++17 has no atomic<double>::fetch_add; a relaxed CAS loop is what
// client_golang does too. Relaxed suffices: each child is a lone counter and
// scrapes need no ordering with other memory.
inline void AtomicAdd(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta,
                                       std::memory_order_relaxed)) {
  }
}

template <typename T>
class LabeledFamily;

}  // namespace internal

// A monotonically increasing value (requests served, bytes written). Names end
// in `_total` by convention (promtool warns otherwise).
class Counter {
 public:
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `delta`. A negative or NaN delta would make the counter go
  // backwards, which Prometheus reads as a process restart and turns into a
  // bogus rate(); it is a caller bug, but not one worth crashing the runtime
  // over, so the delta is dropped and logged once per child.
  void Increment(double delta = 1) {
    if (!(delta >= 0)) {  // Also true for NaN.
      RefuseDecrease(delta);
      return;
    }
    internal::AtomicAdd(value_, delta);
  }

  // The current value (the callback's result for a callback child).
  double Value() const;

 private:
  template <typename>
  friend class internal::LabeledFamily;
  friend class CounterFamily;

  Counter(absl::string_view family_name, ValueCallback callback)
      : family_name_(family_name), callback_(std::move(callback)) {}
  void RefuseDecrease(double delta);

  const absl::string_view family_name_;  // Owned by the family.
  const ValueCallback callback_;         // Set once, for callback children.
  std::atomic<double> value_{0};
  std::atomic<bool> warned_{false};
};

// A value that goes up and down (memory in use, pods running).
class Gauge {
 public:
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { internal::AtomicAdd(value_, delta); }
  void Sub(double delta) { internal::AtomicAdd(value_, -delta); }

  // The current value (the callback's result for a callback child).
  double Value() const;

 private:
  template <typename>
  friend class internal::LabeledFamily;
  friend class GaugeFamily;

  explicit Gauge(ValueCallback callback) : callback_(std::move(callback)) {}

  const ValueCallback callback_;
  std::atomic<double> value_{0};
};

// Counts observations (latencies, sizes) into buckets fixed at registration.
class Histogram {
 public:
  // A point-in-time copy. `cumulative_counts[i]` counts observations
  // <= bounds[i]; the last entry is the +Inf bucket and equals `count`.
  struct Snapshot {
    std::vector<double> bounds;  // Without the implicit +Inf.
    std::vector<uint64_t> cumulative_counts;
    uint64_t count = 0;
    double sum = 0;
  };

  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Adds `value` to the first bucket whose bound is >= value (`le` is
  // inclusive). NaN goes to the +Inf bucket and makes the sum NaN, as in
  // client_golang.
  void Observe(double value);

  // `count` is derived from the buckets, so `_count` always equals the +Inf
  // bucket; `sum` may miss observations that race with the snapshot.
  Snapshot Collect() const;

 private:
  template <typename>
  friend class internal::LabeledFamily;
  friend class HistogramFamily;

  explicit Histogram(const std::vector<double>& bounds);

  const std::vector<double>& bounds_;  // Owned by the family.
  // Per-bucket (not cumulative) counts; the last slot is +Inf.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

namespace internal {

enum class MetricType { kCounter, kGauge, kHistogram };

// Orders label-value tuples, and lets std::map look one up by a span of views
// without building a vector<string> on every WithLabels.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](absl::string_view x, absl::string_view y) { return x < y; });
  }
};

// Name, help, type and label names: what every family shares.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends HELP, TYPE and one block of samples per child, children ordered
  // by label values. A labeled family with no children appends nothing; an
  // unlabeled one appends a zero sample.
  virtual void AppendExposition(std::string* out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);

  MetricType type() const { return type_; }

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

// The children of one family, keyed by label values.
template <typename T>
class LabeledFamily : public FamilyBase {
 public:
  // Returns the child for `label_values` (one per label name, in order),
  // creating it on first use. The pointer stays valid for the registry's
  // lifetime: cache it. On misuse -- the wrong number of values, or the
  // values of a callback child -- logs an error once per family and returns
  // a detached child that is never exported, so a metrics bug cannot take
  // down the caller. Use Get() to see the error instead.
  T* WithLabels(absl::Span<const absl::string_view> label_values);

  // Like WithLabels but reports misuse: INVALID_ARGUMENT for the wrong
  // number of values, FAILED_PRECONDITION for a callback child's values.
  absl::StatusOr<T*> Get(absl::Span<const absl::string_view> label_values);

  void AppendExposition(std::string* out) const override;

 protected:
  LabeledFamily(std::string name, std::string help, MetricType type,
                std::vector<std::string> label_names)
      : FamilyBase(std::move(name), std::move(help), type,
                   std::move(label_names)) {}

  virtual std::unique_ptr<T> NewChild(ValueCallback callback) const = 0;

  // Adds a child whose value is `callback()` at scrape time.
  // INVALID_ARGUMENT for the wrong arity or an empty callback,
  // ALREADY_EXISTS if a child with these values exists (for an unlabeled
  // family: if WithLabels({}) was called).
  absl::Status AddCallbackChild(
      absl::Span<const absl::string_view> label_values, ValueCallback callback);
  // NOT_FOUND unless a callback child has these values. Once this returns,
  // no scrape is running or will run the callback.
  absl::Status RemoveCallbackChild(
      absl::Span<const absl::string_view> label_values);

 private:
  struct Child {
    std::unique_ptr<T> metric;
    bool is_callback = false;
  };

  absl::Status CheckArity(
      absl::Span<const absl::string_view> label_values) const;
  T* Misused(const absl::Status& why);

  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, Child, LabelValuesLess> children_
      ABSL_GUARDED_BY(mu_);
  std::unique_ptr<T> detached_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> misuse_logged_{false};
};

}  // namespace internal

namespace internal {

// Families whose children may also be computed at scrape time.
template <typename T>
class CallbackFamily : public LabeledFamily<T> {
 public:
  // A child that reports `callback()` at scrape time (queue depth, DB size,
  // CPU seconds from /proc; a counter's callback must never decrease).
  // Errors: see LabeledFamily::AddCallbackChild.
  absl::Status AddCallback(absl::Span<const absl::string_view> label_values,
                           ValueCallback callback) {
    return this->AddCallbackChild(label_values, std::move(callback));
  }
  absl::Status RemoveCallback(
      absl::Span<const absl::string_view> label_values) {
    return this->RemoveCallbackChild(label_values);
  }

 protected:
  using LabeledFamily<T>::LabeledFamily;
};

}  // namespace internal

class CounterFamily final : public internal::CallbackFamily<Counter> {
 private:
  friend class Registry;
  static constexpr internal::MetricType kType = internal::MetricType::kCounter;

  CounterFamily(std::string name, std::string help,
                std::vector<std::string> label_names)
      : CallbackFamily(std::move(name), std::move(help), kType,
                       std::move(label_names)) {}
  std::unique_ptr<Counter> NewChild(ValueCallback callback) const override;
};

class GaugeFamily final : public internal::CallbackFamily<Gauge> {
 private:
  friend class Registry;
  static constexpr internal::MetricType kType = internal::MetricType::kGauge;

  GaugeFamily(std::string name, std::string help,
              std::vector<std::string> label_names)
      : CallbackFamily(std::move(name), std::move(help), kType,
                       std::move(label_names)) {}
  std::unique_ptr<Gauge> NewChild(ValueCallback callback) const override;
};

class HistogramFamily final : public internal::LabeledFamily<Histogram> {
 public:
  // Upper bounds of the finite buckets, strictly increasing.
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  friend class Registry;
  static constexpr internal::MetricType kType =
      internal::MetricType::kHistogram;

  HistogramFamily(std::string name, std::string help,
                  std::vector<std::string> label_names,
                  std::vector<double> bounds);
  std::unique_ptr<Histogram> NewChild(ValueCallback callback) const override;

  const std::vector<double> bounds_;
};

// Bucket layouts. They do not validate; AddHistogram rejects bounds that are
// not strictly increasing (e.g. factor <= 1 or start <= 0 here).
std::vector<double> LinearBuckets(double start, double width, int count);
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// client_golang's DefBuckets: 5ms to 10s, for request latencies in seconds.
std::vector<double> DefaultBuckets();

// Owns metric families and renders them for a scrape.
class Registry {
 public:
  using ScrapeHook = std::function<absl::Status()>;
  using ScrapeHookId = uint64_t;

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family. Errors, all before anything is registered:
  //   INVALID_ARGUMENT: name not [a-zA-Z_:][a-zA-Z0-9_:]*; empty help (the
  //     promtool linter wants every metric documented); a label name not
  //     [a-zA-Z_][a-zA-Z0-9_]*, starting with `__`, repeated, or `le` on a
  //     histogram; histogram bounds not strictly increasing or NaN (a last
  //     bound of +Inf is dropped, it is always implied).
  //   ALREADY_EXISTS: the name, or one of the series names it produces
  //     (a histogram's `_bucket`, `_sum`, `_count`), is taken.
  // A family without labels is exported as 0 from registration on (rate()
  // needs that starting point). Its one child is made by the first
  // WithLabels({}), or made a callback by AddCallback({}, fn) if that comes
  // first.
  absl::StatusOr<CounterFamily*> AddCounter(
      absl::string_view name, absl::string_view help,
      std::vector<std::string> label_names = {});
  absl::StatusOr<GaugeFamily*> AddGauge(
      absl::string_view name, absl::string_view help,
      std::vector<std::string> label_names = {});
  absl::StatusOr<HistogramFamily*> AddHistogram(
      absl::string_view name, absl::string_view help,
      std::vector<std::string> label_names, std::vector<double> bounds);

  // An unlabeled family whose only child is `callback()`, evaluated at
  // scrape time. Same errors as above, plus INVALID_ARGUMENT for an empty
  // callback.
  absl::StatusOr<CounterFamily*> AddCallbackCounter(absl::string_view name,
                                                    absl::string_view help,
                                                    ValueCallback callback);
  absl::StatusOr<GaugeFamily*> AddCallbackGauge(absl::string_view name,
                                                absl::string_view help,
                                                ValueCallback callback);

  // Runs `hook` at the start of every Exposition, before any value is read,
  // to refresh gauges from an outside source in one pass (process metrics
  // read /proc once for several gauges). A failing hook is logged when it
  // starts failing and the scrape goes on with the values it last set.
  // `name` is for that log line.
  ScrapeHookId AddScrapeHook(absl::string_view name, ScrapeHook hook);
  // Once this returns the hook is not running and never runs again. Ids are
  // never 0, so 0 can mean "no hook".
  void RemoveScrapeHook(ScrapeHookId id);

  // Runs the scrape hooks, then renders every family in the text format
  // 0.0.4, families sorted by name.
  std::string Exposition() const;

 private:
  struct HookEntry {
    std::string name;
    ScrapeHook hook;
    bool failing = false;
  };

  // Checks that the series names a `type` family called `name` writes are
  // free; if so, records them as written by `name`.
  absl::Status Reserve(absl::string_view name, internal::MetricType type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers an F built from (name, help, label_names, extra...), with
  // `callback` as its unlabeled callback child if not null.
  template <typename F, typename... Extra>
  absl::StatusOr<F*> AddFamily(absl::string_view name, absl::string_view help,
                               std::vector<std::string> label_names,
                               ValueCallback callback, Extra&&... extra);
  void RunScrapeHooks() const;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<internal::FamilyBase>, std::less<>>
      families_ ABSL_GUARDED_BY(mu_);
  // Every series name in use -> the family that produces it.
  absl::flat_hash_map<std::string, std::string> series_names_
      ABSL_GUARDED_BY(mu_);

  // Separate from mu_ so a slow hook does not block registration.
  mutable absl::Mutex hooks_mu_;
  mutable std::map<ScrapeHookId, HookEntry> hooks_ ABSL_GUARDED_BY(hooks_mu_);
  ScrapeHookId next_hook_id_ ABSL_GUARDED_BY(hooks_mu_) = 1;
};

}  // namespace converge::metrics

#endif  // CONVERGE_METRICS_METRICS_H_

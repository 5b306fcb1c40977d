#include "metrics/metrics.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "metrics/text_format.h"

namespace converge::metrics {

// ---- Children ---------------------------------------------------------------

double Counter::Value() const {
  return callback_ ? callback_() : value_.load(std::memory_order_relaxed);
}

void Counter::RefuseDecrease(double delta) {
  if (warned_.exchange(true, std::memory_order_relaxed)) return;
  NamedLogger("metrics")->error(
      "counter increment refused, counters never decrease metric={} delta={}",
      std::string(family_name_), delta);
}

double Gauge::Value() const {
  return callback_ ? callback_() : value_.load(std::memory_order_relaxed);
}

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(double value) {
  // lower_bound finds the first bound >= value: `le` is inclusive. NaN
  // compares false with everything, so route it to +Inf explicitly.
  size_t bucket = std::isnan(value) ? bounds_.size()
                                    : std::lower_bound(bounds_.begin(),
                                                       bounds_.end(), value) -
                                          bounds_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  internal::AtomicAdd(sum_, value);
}

Histogram::Snapshot Histogram::Collect() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  snapshot.cumulative_counts.reserve(bounds_.size() + 1);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(cumulative);
  }
  snapshot.count = cumulative;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

// ---- Families ---------------------------------------------------------------

namespace internal {
namespace {

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Appends `{a="x",b="y"}`, with `le` last when given; nothing if no labels.
void AppendLabels(const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const std::string* le,
                  std::string* out) {
  if (names.empty() && le == nullptr) return;
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, names[i], "=\"");
    AppendEscapedLabelValue(values[i], out);
    out->push_back('"');
  }
  if (le != nullptr) {
    absl::StrAppend(out, names.empty() ? "" : ",", "le=\"", *le, "\"");
  }
  out->push_back('}');
}

void AppendSample(absl::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const std::string* le,
                  double value, std::string* out) {
  out->append(name.data(), name.size());
  AppendLabels(names, values, le, out);
  out->push_back(' ');
  AppendValue(value, out);
  out->push_back('\n');
}

void AppendSamples(const FamilyBase& family,
                   const std::vector<std::string>& values,
                   const Counter& counter, std::string* out) {
  AppendSample(family.name(), family.label_names(), values, nullptr,
               counter.Value(), out);
}

void AppendSamples(const FamilyBase& family,
                   const std::vector<std::string>& values, const Gauge& gauge,
                   std::string* out) {
  AppendSample(family.name(), family.label_names(), values, nullptr,
               gauge.Value(), out);
}

void AppendSamples(const FamilyBase& family,
                   const std::vector<std::string>& values,
                   const Histogram& histogram, std::string* out) {
  const Histogram::Snapshot snapshot = histogram.Collect();
  const std::string bucket = absl::StrCat(family.name(), "_bucket");
  std::string le;
  for (size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
    le.clear();
    AppendValue(i < snapshot.bounds.size()
                    ? snapshot.bounds[i]
                    : std::numeric_limits<double>::infinity(),
                &le);
    AppendSample(bucket, family.label_names(), values, &le,
                 snapshot.cumulative_counts[i], out);
  }
  AppendSample(absl::StrCat(family.name(), "_sum"), family.label_names(),
               values, nullptr, snapshot.sum, out);
  AppendSample(absl::StrCat(family.name(), "_count"), family.label_names(),
               values, nullptr, snapshot.count, out);
}

}  // namespace

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

template <typename T>
T* LabeledFamily<T>::WithLabels(
    absl::Span<const absl::string_view> label_values) {
  absl::StatusOr<T*> child = Get(label_values);
  if (child.ok()) return *child;
  return Misused(child.status());
}

template <typename T>
absl::StatusOr<T*> LabeledFamily<T>::Get(
    absl::Span<const absl::string_view> label_values) {
  CONVERGE_RETURN_IF_ERROR(CheckArity(label_values));
  // Decided under the lock: a callback child may be erased once it is released.
  auto resolve = [this](const Child& child) -> absl::StatusOr<T*> {
    if (child.is_callback) {
      return absl::FailedPreconditionError(absl::StrCat(
          "metric `", name(), "`: these label values belong to a callback"));
    }
    return child.metric.get();
  };
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = children_.find(label_values);
    if (it != children_.end()) return resolve(it->second);
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = children_.try_emplace(
      std::vector<std::string>(label_values.begin(), label_values.end()));
  if (inserted) it->second.metric = NewChild(nullptr);
  return resolve(it->second);
}

template <typename T>
absl::Status LabeledFamily<T>::AddCallbackChild(
    absl::Span<const absl::string_view> label_values, ValueCallback callback) {
  CONVERGE_RETURN_IF_ERROR(CheckArity(label_values));
  if (!callback) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric `", name(), "`: empty callback"));
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = children_.try_emplace(
      std::vector<std::string>(label_values.begin(), label_values.end()));
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat(
        "metric `", name(), "`: a child with these label values exists"));
  }
  it->second.metric = NewChild(std::move(callback));
  it->second.is_callback = true;
  return absl::OkStatus();
}

template <typename T>
absl::Status LabeledFamily<T>::RemoveCallbackChild(
    absl::Span<const absl::string_view> label_values) {
  // The writer lock waits out any scrape evaluating the callback.
  absl::MutexLock lock(&mu_);
  auto it = children_.find(label_values);
  if (it == children_.end() || !it->second.is_callback) {
    return absl::NotFoundError(absl::StrCat(
        "metric `", name(), "`: no callback with these label values"));
  }
  children_.erase(it);
  return absl::OkStatus();
}

template <typename T>
void LabeledFamily<T>::AppendExposition(std::string* out) const {
  absl::ReaderMutexLock lock(&mu_);
  // An unlabeled family is exported from registration on, as zero until its
  // child exists, so rate() has a starting point. The child is not created
  // here: the owner may still choose to make it a callback.
  const bool unlabeled = label_names().empty();
  if (children_.empty() && !unlabeled) return;
  absl::StrAppend(out, "# HELP ", name(), " ");
  AppendEscapedHelp(help(), out);
  absl::StrAppend(out, "\n# TYPE ", name(), " ", TypeName(type()), "\n");
  if (children_.empty()) {
    AppendSamples(*this, {}, *NewChild(nullptr), out);
    return;
  }
  for (const auto& [values, child] : children_) {
    AppendSamples(*this, values, *child.metric, out);
  }
}

template <typename T>
absl::Status LabeledFamily<T>::CheckArity(
    absl::Span<const absl::string_view> label_values) const {
  if (label_values.size() == label_names().size()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("metric `", name(), "` has ", label_names().size(),
                   " labels, got ", label_values.size(), " values"));
}

template <typename T>
T* LabeledFamily<T>::Misused(const absl::Status& why) {
  if (!misuse_logged_.exchange(true, std::memory_order_relaxed)) {
    NamedLogger("metrics")->error(
        "metric misused, its updates are dropped metric={} error={}", name(),
        std::string(why.message()));
  }
  absl::MutexLock lock(&mu_);
  if (detached_ == nullptr) detached_ = NewChild(nullptr);
  return detached_.get();
}

template class LabeledFamily<Counter>;
template class LabeledFamily<Gauge>;
template class LabeledFamily<Histogram>;

}  // namespace internal

std::unique_ptr<Counter> CounterFamily::NewChild(ValueCallback callback) const {
  return std::unique_ptr<Counter>(new Counter(name(), std::move(callback)));
}

std::unique_ptr<Gauge> GaugeFamily::NewChild(ValueCallback callback) const {
  return std::unique_ptr<Gauge>(new Gauge(std::move(callback)));
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> bounds)
    : LabeledFamily(std::move(name), std::move(help), kType,
                    std::move(label_names)),
      bounds_(std::move(bounds)) {}

std::unique_ptr<Histogram> HistogramFamily::NewChild(
    ValueCallback /*unused: histograms have no callback children*/) const {
  return std::unique_ptr<Histogram>(new Histogram(bounds_));
}

// ---- Buckets ----------------------------------------------------------------

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(start + i * width);
  return bounds;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

std::vector<double> DefaultBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace converge::metrics

// Registry: registration with Prometheus' naming rules, scrape hooks and the
// exposition. The families and children are in metrics.cc.
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "metrics/metrics.h"

namespace converge::metrics {
namespace {

using internal::MetricType;

bool IsMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || c == ':' ||
                    (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        absl::ascii_isalpha(c) || c == '_' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

// Everything about a new family that does not depend on what is registered.
absl::Status Validate(absl::string_view name, absl::string_view help,
                      MetricType type,
                      const std::vector<std::string>& label_names) {
  if (!IsMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metric name `", name, "` must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  // promtool's linter rejects a missing HELP; catching it here keeps every
  // converge metric documented.
  if (help.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric `", name, "`: help text is empty"));
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsLabelName(label)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric `", name, "`: label name `", label,
                       "` must match [a-zA-Z_][a-zA-Z0-9_]*"));
    }
    if (absl::StartsWith(label, "__")) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric `", name, "`: label name `", label,
                       "` is reserved (starts with __)"));
    }
    if (type == MetricType::kHistogram && label == "le") {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram `", name, "`: label name `le` is reserved for buckets"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == label) {
        return absl::InvalidArgumentError(absl::StrCat(
            "metric `", name, "`: label name `", label, "` repeated"));
      }
    }
  }
  return absl::OkStatus();
}

// Drops a trailing +Inf (always implied) and checks the rest.
absl::Status NormalizeBounds(absl::string_view name,
                             std::vector<double>* bounds) {
  if (!bounds->empty() && std::isinf(bounds->back()) && bounds->back() > 0) {
    bounds->pop_back();
  }
  for (size_t i = 0; i < bounds->size(); ++i) {
    const double bound = (*bounds)[i];
    if (std::isnan(bound)) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram `", name, "`: bucket bound is NaN"));
    }
    if (i > 0 && !((*bounds)[i - 1] < bound)) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram `", name,
                       "`: bucket bounds must be strictly increasing, "
                       "got ",
                       bound, " after ", (*bounds)[i - 1]));
    }
  }
  return absl::OkStatus();
}

// The names of the samples a family writes.
std::vector<std::string> SeriesNames(absl::string_view name, MetricType type) {
  if (type != MetricType::kHistogram) return {std::string(name)};
  return {std::string(name), absl::StrCat(name, "_bucket"),
          absl::StrCat(name, "_sum"), absl::StrCat(name, "_count")};
}

}  // namespace

absl::Status Registry::Reserve(absl::string_view name, MetricType type) {
  const std::vector<std::string> series = SeriesNames(name, type);
  for (const std::string& series_name : series) {
    auto it = series_names_.find(series_name);
    if (it == series_names_.end()) continue;
    if (it->second == name) {
      return absl::AlreadyExistsError(
          absl::StrCat("metric `", name, "` is already registered"));
    }
    return absl::AlreadyExistsError(
        absl::StrCat("metric `", name, "` would write `", series_name,
                     "`, which metric `", it->second, "` already writes"));
  }
  for (const std::string& series_name : series) {
    series_names_.emplace(series_name, std::string(name));
  }
  return absl::OkStatus();
}

template <typename F, typename... Extra>
absl::StatusOr<F*> Registry::AddFamily(absl::string_view name,
                                       absl::string_view help,
                                       std::vector<std::string> label_names,
                                       ValueCallback callback,
                                       Extra&&... extra) {
  CONVERGE_RETURN_IF_ERROR(Validate(name, help, F::kType, label_names));
  if (callback != nullptr && !label_names.empty()) {
    return absl::InternalError("callback families are unlabeled");
  }
  absl::MutexLock lock(&mu_);
  CONVERGE_RETURN_IF_ERROR(Reserve(name, F::kType));
  auto family = std::unique_ptr<F>(new F(std::string(name), std::string(help),
                                         std::move(label_names),
                                         std::forward<Extra>(extra)...));
  F* raw = family.get();
  if (callback != nullptr) {
    CONVERGE_RETURN_IF_ERROR(raw->AddCallbackChild({}, std::move(callback)));
  }
  families_.emplace(std::string(name), std::move(family));
  return raw;
}

absl::StatusOr<CounterFamily*> Registry::AddCounter(
    absl::string_view name, absl::string_view help,
    std::vector<std::string> label_names) {
  return AddFamily<CounterFamily>(name, help, std::move(label_names), nullptr);
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(
    absl::string_view name, absl::string_view help,
    std::vector<std::string> label_names) {
  return AddFamily<GaugeFamily>(name, help, std::move(label_names), nullptr);
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(
    absl::string_view name, absl::string_view help,
    std::vector<std::string> label_names, std::vector<double> bounds) {
  CONVERGE_RETURN_IF_ERROR(NormalizeBounds(name, &bounds));
  return AddFamily<HistogramFamily>(name, help, std::move(label_names), nullptr,
                                    std::move(bounds));
}

absl::StatusOr<CounterFamily*> Registry::AddCallbackCounter(
    absl::string_view name, absl::string_view help, ValueCallback callback) {
  if (!callback) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric `", name, "`: empty callback"));
  }
  return AddFamily<CounterFamily>(name, help, {}, std::move(callback));
}

absl::StatusOr<GaugeFamily*> Registry::AddCallbackGauge(
    absl::string_view name, absl::string_view help, ValueCallback callback) {
  if (!callback) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric `", name, "`: empty callback"));
  }
  return AddFamily<GaugeFamily>(name, help, {}, std::move(callback));
}

Registry::ScrapeHookId Registry::AddScrapeHook(absl::string_view name,
                                               ScrapeHook hook) {
  absl::MutexLock lock(&hooks_mu_);
  const ScrapeHookId id = next_hook_id_++;
  hooks_.emplace(id, HookEntry{std::string(name), std::move(hook), false});
  return id;
}

void Registry::RemoveScrapeHook(ScrapeHookId id) {
  // Held by RunScrapeHooks while hooks run, so this waits for them.
  absl::MutexLock lock(&hooks_mu_);
  hooks_.erase(id);
}

void Registry::RunScrapeHooks() const {
  absl::MutexLock lock(&hooks_mu_);
  for (auto& [id, entry] : hooks_) {
    const absl::Status status = entry.hook();
    // Log transitions only: a broken hook would otherwise log every scrape.
    if (!status.ok() && !entry.failing) {
      NamedLogger("metrics")->warn(
          "scrape hook failing, its metrics keep their last values hook={} "
          "error={}",
          entry.name, status.ToString());
    } else if (status.ok() && entry.failing) {
      NamedLogger("metrics")->info("scrape hook recovered hook={}", entry.name);
    }
    entry.failing = !status.ok();
  }
}

std::string Registry::Exposition() const {
  RunScrapeHooks();
  std::string out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, family] : families_) family->AppendExposition(&out);
  return out;
}

}  // namespace converge::metrics

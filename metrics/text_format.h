// Pieces of the Prometheus text exposition format 0.0.4 that the registry
// assembles: sample values, escaped HELP text and escaped label values.
// Private to //metrics; other packages get whole expositions from Registry.
//
//   std::string out = "# HELP x ";
//   AppendEscapedHelp("line one\nline two", &out);   // line one\nline two
//   AppendValue(0.25, &out);                          // 0.25
//   AppendValue(std::numeric_limits<double>::infinity(), &out);  // +Inf
//
// Format reference:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
#ifndef CONVERGE_METRICS_TEXT_FORMAT_H_
#define CONVERGE_METRICS_TEXT_FORMAT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace converge::metrics::internal {

// Appends `value` the way Prometheus' Go parser reads it back exactly:
// "NaN", "+Inf", "-Inf"; integers with magnitude below 2^53 without a
// fraction or exponent ("3", not "3e+00"); everything else as the shortest
// decimal that round-trips ("0.1", "1.5e-07", "1e+300").
void AppendValue(double value, std::string* out);

// HELP text escapes only `\` and newline (a `"` stays as is).
void AppendEscapedHelp(absl::string_view help, std::string* out);

// Label values escape `\`, `"` and newline.
void AppendEscapedLabelValue(absl::string_view value, std::string* out);

}  // namespace converge::metrics::internal

#endif  // CONVERGE_METRICS_TEXT_FORMAT_H_

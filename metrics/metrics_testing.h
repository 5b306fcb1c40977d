// Test helpers for //metrics: status matching and reading one sample back
// out of an exposition.
//
//   ASSERT_OK_AND_ASSIGN(auto family, registry.AddGauge("g", "help"));
//   EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound, "no callback"));
//   EXPECT_EQ(SampleValue(registry.Exposition(), "g{queue=\"pods\"}"), 3);
#ifndef CONVERGE_METRICS_METRICS_TESTING_H_
#define CONVERGE_METRICS_METRICS_TESTING_H_

#include <cmath>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/testing/status_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge::metrics {

// Matches a status with `code` whose message contains `message_part`.
MATCHER_P2(StatusIs, code, message_part, "") {
  const absl::Status& status = arg;
  *result_listener << "status " << status;
  return status.code() == code &&
         status.message().find(message_part) != absl::string_view::npos;
}

// The value of the sample line for `series` (name plus braces, if any) in
// `text`; a test failure and NaN if there is none.
inline double SampleValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, series + " ")) continue;
    if (line == "+Inf") return std::numeric_limits<double>::infinity();
    double value;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  ADD_FAILURE() << "no sample " << series << " in\n" << text;
  return std::nan("");
}

}  // namespace converge::metrics

#endif  // CONVERGE_METRICS_METRICS_TESTING_H_

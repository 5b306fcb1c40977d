#include "metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace converge::metrics::internal {
namespace {

// Below 2^53 every integer is exact in a double, so printing it as an int64
// loses nothing and reads better than an exponent.
constexpr double kMaxExactInteger = 9007199254740992.0;

}  // namespace

void AppendValue(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (value == std::trunc(value) && std::fabs(value) < kMaxExactInteger) {
    absl::StrAppend(out, static_cast<int64_t>(value));
    return;
  }
  // Shortest round-trip representation; 32 bytes fit any double.
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, ec == std::errc() ? end - buffer : 0);
}

namespace {

// The text format's escapes: `\` and newline always, `"` inside quotes.
void AppendEscaped(absl::string_view text, bool quoted, std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && quoted) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace

void AppendEscapedHelp(absl::string_view help, std::string* out) {
  AppendEscaped(help, /*quoted=*/false, out);
}

void AppendEscapedLabelValue(absl::string_view value, std::string* out) {
  AppendEscaped(value, /*quoted=*/true, out);
}

}  // namespace converge::metrics::internal

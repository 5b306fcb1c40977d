#include "common/quantity.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace converge {
namespace {

struct Suffix {
  const char* text;
  double factor;
};

// Binary suffixes first: "Mi" must not be read as "M" + junk.
constexpr Suffix kSuffixes[] = {
    {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
    {"Pi", 1125899906842624.0}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15},
};

}  // namespace

absl::StatusOr<uint64_t> ParseQuantity(absl::string_view quantity) {
  absl::string_view number = absl::StripAsciiWhitespace(quantity);
  double factor = 1;
  for (const Suffix& suffix : kSuffixes) {
    if (absl::EndsWith(number, suffix.text)) {
      number.remove_suffix(strlen(suffix.text));
      factor = suffix.factor;
      break;
    }
  }
  double value = 0;
  if (number.empty() || !absl::SimpleAtod(number, &value) || !std::isfinite(value) || value < 0 ||
      value * factor > static_cast<double>(std::numeric_limits<uint64_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", quantity, "\" is not a quantity like 10M or 1Gi"));
  }
  return static_cast<uint64_t>(value * factor);
}

}  // namespace converge

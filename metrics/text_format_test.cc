#include "metrics/text_format.h"

#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace converge::metrics::internal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct ValueCase {
  double value;
  std::string want;
};

TEST(AppendValueTest, FormatsSoPrometheusReadsTheSameNumber) {
  const ValueCase cases[] = {
      {0, "0"},
      {-0.0, "0"},
      {1, "1"},
      {-3, "-3"},
      {42, "42"},
      {1e15, "1000000000000000"},
      // 2^53: the largest magnitude printed as an integer is just below it.
      {9007199254740991.0, "9007199254740991"},
      {9007199254740992.0, "9007199254740992"},
      {1e20, "1e+20"},
      {0.1, "0.1"},
      {0.005, "0.005"},
      {2.5, "2.5"},
      {-1.5, "-1.5"},
      {123456.789, "123456.789"},
      {1.5e-7, "1.5e-07"},
      {0.1 + 0.2, "0.30000000000000004"},
      {std::numeric_limits<double>::max(), "1.7976931348623157e+308"},
      {std::numeric_limits<double>::denorm_min(), "5e-324"},
      {kInf, "+Inf"},
      {-kInf, "-Inf"},
      {std::nan(""), "NaN"},
  };
  for (const ValueCase& c : cases) {
    std::string out = "x ";
    AppendValue(c.value, &out);
    EXPECT_EQ(out, "x " + c.want) << "value " << c.value;
  }
}

TEST(AppendValueTest, NonIntegersRoundTrip) {
  const double values[] = {0.1,           1.0 / 3, 2.0 / 3e10,
                           6.02214076e23, -1e-300, 9007199254740993.0 * 4};
  for (double value : values) {
    std::string out;
    AppendValue(value, &out);
    EXPECT_EQ(std::stod(out), value) << out;
  }
}

struct EscapeCase {
  std::string input;
  std::string help;
  std::string label_value;
};

TEST(EscapeTest, HelpAndLabelValues) {
  const EscapeCase cases[] = {
      {"plain text", "plain text", "plain text"},
      {"", "", ""},
      {"back\\slash", "back\\\\slash", "back\\\\slash"},
      {"two\nlines", "two\\nlines", "two\\nlines"},
      // HELP leaves quotes alone; label values must escape them.
      {"say \"hi\"", "say \"hi\"", "say \\\"hi\\\""},
      {"\\\"\n", "\\\\\"\\n", "\\\\\\\"\\n"},
      {"tab\tand ünïcode", "tab\tand ünïcode", "tab\tand ünïcode"},
  };
  for (const EscapeCase& c : cases) {
    std::string help;
    AppendEscapedHelp(c.input, &help);
    EXPECT_EQ(help, c.help) << "input " << c.input;
    std::string label_value;
    AppendEscapedLabelValue(c.input, &label_value);
    EXPECT_EQ(label_value, c.label_value) << "input " << c.input;
  }
}

}  // namespace
}  // namespace converge::metrics::internal

#include "common/quantity.h"

#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(ParseQuantity, Table) {
  struct Case {
    const char* in;
    uint64_t want;
  };
  for (const Case& c : {Case{"1000", 1000}, Case{"10M", 10000000}, Case{"1Mi", 1048576},
                        Case{"1.5k", 1500}, Case{"2Gi", 2147483648ULL}, Case{" 5k ", 5000}}) {
    auto got = ParseQuantity(c.in);
    ASSERT_TRUE(got.ok()) << c.in << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.in;
  }
  for (const char* bad : {"", "M", "ten", "-1", "10X", "1e400"}) {
    EXPECT_EQ(ParseQuantity(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace converge

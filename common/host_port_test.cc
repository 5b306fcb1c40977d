#include "common/host_port.h"

#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(ParseHostPort, AcceptsHostPortAndBracketedIpv6) {
  auto v4 = ParseHostPort("metrics_address", "127.0.0.1:9338");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9338);
  auto v6 = ParseHostPort("metrics_address", "[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
}

TEST(ParseHostPort, RefusesWhatIsNotHostPort) {
  for (const char* bad : {"localhost", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:-1"}) {
    auto parsed = ParseHostPort("metrics_address", bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(parsed.status().message(),
              std::string("metrics_address: \"") + bad + "\" is not host:port");
  }
}

}  // namespace
}  // namespace converge

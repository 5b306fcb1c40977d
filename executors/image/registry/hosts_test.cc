#include "executors/image/registry/hosts.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge::registry {
namespace {

using Endpoints = std::vector<std::string>;

TEST(HostsTest, ParsesMirrors) {
  ASSERT_OK_AND_ASSIGN(
      auto mirrors,
      ParseMirrors(
          "docker.io=https://mirror.gcr.io/, index.docker.io.example=http://10.0.0.5:5000/prefix,"
          "localhost:5000=http://127.0.0.1:5001"));
  EXPECT_EQ(mirrors, (std::map<std::string, std::string>{
                         {"docker.io", "https://mirror.gcr.io"},
                         {"index.docker.io.example", "http://10.0.0.5:5000/prefix"},
                         {"localhost:5000", "http://127.0.0.1:5001"}}));
  ASSERT_OK_AND_ASSIGN(mirrors, ParseMirrors("index.docker.io=https://m"));
  EXPECT_EQ(mirrors.count("docker.io"), 1u);
  ASSERT_OK_AND_ASSIGN(mirrors, ParseMirrors(""));
  EXPECT_TRUE(mirrors.empty());
}

TEST(HostsTest, RejectsBadMirrorsNamingTheItem) {
  for (const char* item : {"docker.io", "docker.io=", "docker.io=ftp://m", "docker.io=https://",
                           "docker.io=m", "bad host=https://m", "docker.io=https://user:pw@m",
                           "docker.io=https://m?x=1", "docker.io=https://m:port"}) {
    auto parsed = ParseMirrors(absl::StrCat("quay.io=https://ok,", item));
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << item;
    EXPECT_NE(parsed.status().message().find(absl::StrCat("\"", item, "\"")), absl::string_view::npos)
        << parsed.status();
  }
  EXPECT_EQ(ParseMirrors("a.io=https://m,a.io=https://n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HostsTest, ParsesInsecureRegistries) {
  ASSERT_OK_AND_ASSIGN(auto insecure, ParseInsecureRegistries("10.0.0.7:5000, reg.local"));
  EXPECT_EQ(insecure, (std::set<std::string>{"10.0.0.7:5000", "reg.local"}));
  auto bad = ParseInsecureRegistries("ok.io,http://x");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("\"http://x\""), absl::string_view::npos);
}

TEST(HostsTest, EndpointsTryMirrorThenOriginOverHttpsUnlessInsecure) {
  RegistryHosts hosts;
  hosts.mirrors = {{"docker.io", "https://mirror.example"},
                   {"registry.k8s.io", "http://127.0.0.1:5000"}};
  hosts.insecure = {"reg.local", "10.0.0.7:5000"};
  struct Case {
    std::string domain;
    Endpoints want;
  } cases[] = {
      {"docker.io", {"https://mirror.example", "https://registry-1.docker.io"}},
      {"registry.k8s.io", {"http://127.0.0.1:5000", "https://registry.k8s.io"}},
      {"ghcr.io", {"https://ghcr.io"}},
      // Not insecure: never plain HTTP, even on loopback.
      {"localhost:5000", {"https://localhost:5000"}},
      {"127.0.0.1:5000", {"https://127.0.0.1:5000"}},
      // "host" covers every port; "host:port" only that one.
      {"reg.local", {"https://reg.local", "http://reg.local"}},
      {"reg.local:8443", {"https://reg.local:8443", "http://reg.local:8443"}},
      {"10.0.0.7:5000", {"https://10.0.0.7:5000", "http://10.0.0.7:5000"}},
      {"10.0.0.7:5001", {"https://10.0.0.7:5001"}},
      {"10.0.0.7", {"https://10.0.0.7"}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(EndpointsFor(hosts, c.domain), c.want) << c.domain;
  }
}

TEST(ExtraCaFor, ReadsTheEndpointsCaFromCertsDir) {
  TempTestDir dir;
  std::filesystem::create_directories(dir.Sub("certs.d/reg.local:8443"));
  std::ofstream(dir.Sub("certs.d/reg.local:8443/ca.crt")) << "PEM";
  RegistryHosts hosts;
  EXPECT_EQ(*ExtraCaFor(hosts, "https://reg.local:8443"), "");  // no certs dir
  hosts.certs_dir = dir.Sub("certs.d");
  EXPECT_EQ(*ExtraCaFor(hosts, "https://reg.local:8443"), "PEM");
  EXPECT_EQ(*ExtraCaFor(hosts, "https://reg.local:8443/prefix"), "PEM");
  EXPECT_EQ(*ExtraCaFor(hosts, "https://reg.local"), "");    // another authority
  EXPECT_EQ(*ExtraCaFor(hosts, "http://reg.local:8443"), "");  // no TLS
}

}  // namespace
}  // namespace converge::registry

#include "cmd/converged/config.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(ResolveDaemonConfig, DefaultsFileThenFlags) {
  auto config = ResolveDaemonConfig("root: \"/srv/converge\"\nworkers: 8\n",
                                    {{"workers", "2"}, {"socket", "/tmp/c.sock"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->root(), "/srv/converge");
  EXPECT_EQ(config->workers(), 2);
  EXPECT_EQ(config->socket(), "/tmp/c.sock");
  EXPECT_EQ(config->state(), "/run/converge");
  EXPECT_EQ(*ResyncPeriod(*config), absl::Seconds(10));
  EXPECT_EQ(CniBinDirs(*config), (std::vector<std::string>{"/usr/lib/cni", "/opt/cni/bin"}));
  EXPECT_EQ(*CniPluginTimeout(*config), absl::Seconds(60));
}

TEST(ResolveDaemonConfig, ErrorsNameTheField) {
  EXPECT_EQ(ResolveDaemonConfig("bogus: 1", {}).status().message(),
            "config: not a valid converge.config.DaemonConfig in protobuf text format");
  EXPECT_EQ(ResolveDaemonConfig("", {{"workers", "x"}}).status().message(),
            "--workers: \"x\" is not a number");
  EXPECT_EQ(ResolveDaemonConfig("", {{"workers", "0"}}).status().message(),
            "workers: 0 is outside 1..256");
  EXPECT_EQ(ResolveDaemonConfig("", {{"resync_period", "soon"}}).status().message(),
            "resync_period: \"soon\" is not a positive duration like 10s");
  EXPECT_EQ(ResolveDaemonConfig("", {{"cni_bin_dirs", "/usr/lib/cni:opt"}}).status().message(),
            "cni_bin_dirs: \"opt\" is not an absolute path");
  EXPECT_EQ(ResolveDaemonConfig("", {{"cni_plugin_timeout", "0s"}}).status().message(),
            "cni_plugin_timeout: \"0s\" is not a positive duration like 60s");
  EXPECT_EQ(ResolveDaemonConfig("", {{"root", "relative"}}).status().message(),
            "root: \"relative\" is not an absolute path");
  EXPECT_EQ(ResolveDaemonConfig("", {{"socket", "/" + std::string(120, 's')}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ResolveDaemonConfig, RegistryHostsFromFileAndFlags) {
  auto config = ResolveDaemonConfig(
      "registry_mirrors: \"registry.k8s.io=http://127.0.0.1:5000\"",
      {{"insecure_registries", "10.0.0.7:5000"}});
  ASSERT_TRUE(config.ok()) << config.status();
  auto hosts = RegistryHostsOf(*config);
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  EXPECT_EQ(hosts->mirrors.at("registry.k8s.io"), "http://127.0.0.1:5000");
  EXPECT_EQ(hosts->insecure.count("10.0.0.7:5000"), 1u);
  auto bad = ResolveDaemonConfig("", {{"registry_mirrors", "registry.k8s.io"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "registry_mirrors: ")) << bad.status();
  bad = ResolveDaemonConfig("", {{"insecure_registries", "bad host!"}});
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "insecure_registries: ")) << bad.status();
}

}  // namespace
}  // namespace converge

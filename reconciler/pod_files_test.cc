#include "reconciler/pod_files.h"

#include <functional>

#include "gtest/gtest.h"

namespace converge {
namespace {

constexpr char kHost[] = "nameserver 192.0.2.53\nsearch node.example\n";

struct Case {
  std::string name;
  std::function<void(runtime::v1::DNSConfig&)> mutate;
  std::string want;
};

TEST(RenderResolvConf, Table) {
  const std::vector<Case> cases = {
      {"no dns config: the node's", [](auto&) {}, kHost},
      {"cluster dns",
       [](auto& d) {
         d.add_servers("10.96.0.10");
         d.add_searches("default.svc.cluster.local");
         d.add_searches("svc.cluster.local");
         d.add_options("ndots:5");
       },
       "search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"},
      {"two servers, no searches",
       [](auto& d) {
         d.add_servers("10.0.0.1");
         d.add_servers("fd00::1");
       },
       "nameserver 10.0.0.1\nnameserver fd00::1\n"},
      {"options alone replace the node's",
       [](auto& d) {
         d.add_options("timeout:1");
         d.add_options("attempts:2");
       },
       "options timeout:1 attempts:2\n"},
  };
  for (const Case& c : cases) {
    runtime::v1::DNSConfig dns;
    c.mutate(dns);
    EXPECT_EQ(RenderResolvConf(dns, kHost), c.want) << c.name;
  }
}

TEST(RenderPodFiles, HostnameAndResolvConf) {
  records::SandboxDesired desired;
  desired.mutable_config()->set_hostname("web-0");
  auto files = RenderPodFiles(desired, kHost);
  EXPECT_EQ(files["hostname"], "web-0\n");
  EXPECT_EQ(files["resolv.conf"], kHost);
  std::vector<std::string> names;
  for (const auto& [name, content] : files) names.push_back(name);
  EXPECT_EQ(names, PodFileNames());
}

}  // namespace
}  // namespace converge

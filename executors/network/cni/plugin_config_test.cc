#include "executors/network/cni/plugin_config.h"

#include <functional>
#include <string>

#include "gtest/gtest.h"

namespace converge {
namespace {

NetworkConfigList List() {
  NetworkConfigList list;
  list.name = "podnet";
  list.cni_version = "1.0.0";
  return list;
}

CniPluginConfig Plugin(const std::string& raw) {
  CniPluginConfig plugin;
  plugin.raw = Json::parse(raw);
  plugin.type = plugin.raw["type"].get<std::string>();
  if (plugin.raw.contains("capabilities")) {
    for (auto& [key, value] : plugin.raw["capabilities"].items()) {
      plugin.capabilities[key] = value.get<bool>();
    }
  }
  return plugin;
}

RuntimeConfig FullRuntimeConfig() {
  RuntimeConfig config;
  config.port_mappings = {{8080, 80, "TCP", ""},
                          {5353, 53, "UDP", "127.0.0.1"},
                          {0, 9000, "TCP", ""},  // no host port: dropped
                          {9999, 99, "", ""}};
  config.dns = DnsConfig{{"10.96.0.10"}, {"ns.svc.cluster.local"}, {"ndots:5"}};
  config.bandwidth = BandwidthConfig{1000, 2000, 3000, 4000};
  config.ip_ranges = {{{"10.1.0.0/24", "10.1.0.10", "", "10.1.0.1"}}};
  return config;
}

TEST(CapabilityArgsTest, Full) {
  EXPECT_EQ(CapabilityArgs(FullRuntimeConfig()), Json::parse(R"({
    "portMappings": [
      {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
      {"hostPort": 5353, "containerPort": 53, "protocol": "udp",
       "hostIP": "127.0.0.1"},
      {"hostPort": 9999, "containerPort": 99, "protocol": "tcp"}
    ],
    "dns": {"servers": ["10.96.0.10"], "searches": ["ns.svc.cluster.local"],
            "options": ["ndots:5"]},
    "bandwidth": {"ingressRate": 1000, "ingressBurst": 2000,
                  "egressRate": 3000, "egressBurst": 4000},
    "ipRanges": [[{"subnet": "10.1.0.0/24", "rangeStart": "10.1.0.10",
                   "gateway": "10.1.0.1"}]]
  })"));
}

TEST(CapabilityArgsTest, EmptyConfigGivesEmptyObject) {
  EXPECT_EQ(CapabilityArgs(RuntimeConfig{}), Json::object());
  RuntimeConfig only_hostless;
  only_hostless.port_mappings = {{0, 80, "TCP", ""}};
  EXPECT_EQ(CapabilityArgs(only_hostless), Json::object());
}

struct BuildCase {
  std::string name;
  std::string plugin;                           // raw plugin object
  std::function<void(RuntimeConfig&)> runtime;  // mutates FullRuntimeConfig
  bool with_prev_result;
  std::string want;  // expected stdin object
};

TEST(BuildPluginConfigTest, Table) {
  const Json prev = Json::parse(
      R"({"cniVersion":"1.0.0","ips":[{"address":"10.1.0.5/24"}]})");
  const std::vector<BuildCase> cases = {
      {"no capabilities: no runtimeConfig, name and version injected",
       R"({"type": "bridge", "bridge": "cni0", "name": "stale",
           "cniVersion": "0.3.0"})",
       [](RuntimeConfig&) {}, false,
       R"({"type": "bridge", "bridge": "cni0", "name": "podnet",
           "cniVersion": "1.0.0"})"},
      {"portMappings only, with prevResult",
       R"({"type": "portmap", "capabilities": {"portMappings": true}})",
       [](RuntimeConfig& r) { r.port_mappings.resize(1); }, true,
       R"({"type": "portmap", "capabilities": {"portMappings": true},
           "name": "podnet", "cniVersion": "1.0.0",
           "prevResult": {"cniVersion":"1.0.0",
                          "ips":[{"address":"10.1.0.5/24"}]},
           "runtimeConfig": {"portMappings": [
             {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}})"},
      {"capability declared false is not passed",
       R"({"type": "bandwidth",
           "capabilities": {"bandwidth": false, "dns": true}})",
       [](RuntimeConfig&) {}, false,
       R"({"type": "bandwidth",
           "capabilities": {"bandwidth": false, "dns": true},
           "name": "podnet", "cniVersion": "1.0.0",
           "runtimeConfig": {"dns": {"servers": ["10.96.0.10"],
             "searches": ["ns.svc.cluster.local"], "options": ["ndots:5"]}}})"},
      {"declared but not offered: nothing",
       R"({"type": "portmap", "capabilities": {"portMappings": true}})",
       [](RuntimeConfig& r) { r.port_mappings.clear(); }, false,
       R"({"type": "portmap", "capabilities": {"portMappings": true},
           "name": "podnet", "cniVersion": "1.0.0"})"},
      {"unknown capability ignored, several passed",
       R"({"type": "x", "capabilities": {"mac": true, "bandwidth": true,
           "ipRanges": true}})",
       [](RuntimeConfig&) {}, false,
       R"({"type": "x", "capabilities": {"mac": true, "bandwidth": true,
           "ipRanges": true}, "name": "podnet", "cniVersion": "1.0.0",
           "runtimeConfig": {
             "bandwidth": {"ingressRate": 1000, "ingressBurst": 2000,
                           "egressRate": 3000, "egressBurst": 4000},
             "ipRanges": [[{"subnet": "10.1.0.0/24",
                            "rangeStart": "10.1.0.10",
                            "gateway": "10.1.0.1"}]]}})"},
      {"runtimeConfig written in the file stays when nothing is offered",
       R"({"type": "x", "runtimeConfig": {"a": 1},
           "capabilities": {"dns": true}})",
       [](RuntimeConfig& r) { r.dns.reset(); }, false,
       R"({"type": "x", "runtimeConfig": {"a": 1},
           "capabilities": {"dns": true}, "name": "podnet",
           "cniVersion": "1.0.0"})"},
      {"and is replaced when something is",
       R"({"type": "x", "runtimeConfig": {"a": 1},
           "capabilities": {"dns": true}})",
       [](RuntimeConfig& r) {
         r.dns = DnsConfig{{"1.1.1.1"}, {}, {}};
       },
       false,
       R"({"type": "x", "runtimeConfig": {"dns": {"servers": ["1.1.1.1"],
           "searches": [], "options": []}},
           "capabilities": {"dns": true}, "name": "podnet",
           "cniVersion": "1.0.0"})"},
  };
  for (const BuildCase& c : cases) {
    SCOPED_TRACE(c.name);
    RuntimeConfig runtime = FullRuntimeConfig();
    c.runtime(runtime);
    Json got = BuildPluginConfig(List(), Plugin(c.plugin),
                                 c.with_prev_result ? &prev : nullptr,
                                 CapabilityArgs(runtime));
    Json want = Json::parse(c.want);
    EXPECT_EQ(got, want) << "got:  " << got.dump() << "\nwant: " << want.dump();
  }
}

TEST(BuildPluginConfigTest, PluginKeysKeepTheirOrder) {
  Json got = BuildPluginConfig(
      List(), Plugin(R"({"zeta": 1, "type": "t", "alpha": 2})"), nullptr,
      Json::object());
  EXPECT_EQ(got.dump(), R"({"zeta":1,"type":"t","alpha":2,"name":"podnet",)"
                        R"("cniVersion":"1.0.0"})");
}

}  // namespace
}  // namespace converge

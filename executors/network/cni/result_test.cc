#include "executors/network/cni/result.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

// What Debian's bridge plugin returns (1.0.0), dual stack.
Json DualStack() {
  return Json::parse(R"({
    "cniVersion": "1.0.0",
    "interfaces": [
      {"name": "cni0", "mac": "aa:aa:aa:aa:aa:01"},
      {"name": "veth1234", "mac": "aa:aa:aa:aa:aa:02"},
      {"name": "eth0", "mac": "aa:aa:aa:aa:aa:03",
       "sandbox": "/run/netns/pod"}
    ],
    "ips": [
      {"address": "fd00:10::5/64", "gateway": "fd00:10::1", "interface": 2},
      {"address": "10.22.0.5/24", "gateway": "10.22.0.1", "interface": 2}
    ],
    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:10::1"}],
    "dns": {"nameservers": ["10.22.0.1"], "domain": "cluster.local",
            "search": ["a", "b"], "options": ["ndots:5"]}
  })");
}

struct ResultCase {
  std::string name;
  std::function<void(Json&)> mutate;
  std::string error;                 // empty: must parse
  std::vector<std::string> pod_ips;  // for "eth0", when it parses
};

TEST(ParseCniResultTest, Table) {
  const std::vector<ResultCase> cases = {
      {"dual stack: IPv4 first", [](Json&) {}, "", {"10.22.0.5", "fd00:10::5"}},
      {"0.3.1 with version fields",
       [](Json& j) {
         j["cniVersion"] = "0.3.1";
         j["ips"][0]["version"] = "6";
         j["ips"][1]["version"] = "4";
       },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"0.3.0",
       [](Json& j) { j["cniVersion"] = "0.3.0"; },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"0.4.0",
       [](Json& j) { j["cniVersion"] = "0.4.0"; },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"1.1.0 extra fields ignored",
       [](Json& j) {
         j["cniVersion"] = "1.1.0";
         j["routes"][0]["table"] = 100;
         j["interfaces"][2]["mtu"] = 1500;
       },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"IPv6 address canonicalised",
       [](Json& j) { j["ips"][0]["address"] = "FD00:0010:0:0::5/64"; },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"IPs of host-side interfaces are not pod IPs",
       [](Json& j) {
         j["ips"].push_back({{"address", "10.99.0.1/24"}, {"interface", 0}});
       },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"an IP naming no interface is the pod's (go-cni)",
       [](Json& j) { j["ips"][1].erase("interface"); },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"eth0 without sandbox still counts (go-cni does not check it)",
       [](Json& j) { j["interfaces"][2].erase("sandbox"); },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"Calico-shaped: only the host veth listed, IPs without index",
       [](Json& j) {
         j["interfaces"] = Json::array({{{"name", "cali12345"}, {"mac", "ee:ee:ee:ee:ee:ee"}}});
         j["ips"] = Json::array({{{"address", "192.168.44.7/32"}}});
       },
       "",
       {"192.168.44.7"}},
      {"interface index out of range is skipped",
       [](Json& j) { j["ips"][1]["interface"] = 7; },
       "",
       {"fd00:10::5"}},
      {"two IPv4 keep order, duplicates dropped",
       [](Json& j) {
         j["ips"].push_back({{"address", "10.22.1.9/24"}, {"interface", 2}});
         j["ips"].push_back({{"address", "10.22.0.5/24"}, {"interface", 2}});
       },
       "",
       {"10.22.0.5", "10.22.1.9", "fd00:10::5"}},
      {"only ips, no interfaces (IPAM-style)",
       [](Json& j) {
         j.erase("interfaces");
         j["ips"][0].erase("interface");
         j["ips"][1].erase("interface");
       },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"nothing but a version",
       [](Json& j) {
         j = {{"cniVersion", "1.0.0"}};
       },
       "",
       {}},
      {"null members",
       [](Json& j) {
         j["dns"] = nullptr;
         j["routes"] = nullptr;
       },
       "",
       {"10.22.0.5", "fd00:10::5"}},
      {"missing cniVersion", [](Json& j) { j.erase("cniVersion"); },
       "\"cniVersion\": missing"},
      {"0.2.0 result", [](Json& j) { j["cniVersion"] = "0.2.0"; },
       "result version \"0.2.0\" is not supported"},
      {"ips not array", [](Json& j) { j["ips"] = "10.0.0.1"; },
       "\"ips\": must be an array"},
      {"address without prefix",
       [](Json& j) { j["ips"][1]["address"] = "10.22.0.5"; },
       "\"ips[1].address\": \"10.22.0.5\" is not an IP/prefix"},
      {"address prefix too long",
       [](Json& j) { j["ips"][1]["address"] = "10.22.0.5/33"; },
       "is not an IP/prefix"},
      {"address garbage", [](Json& j) { j["ips"][0]["address"] = "x/24"; },
       "\"ips[0].address\""},
      {"address missing", [](Json& j) { j["ips"][0].erase("address"); },
       "\"ips[0].address\": \"\" is not an IP/prefix"},
      {"gateway garbage", [](Json& j) { j["ips"][1]["gateway"] = "gw"; },
       "\"ips[1].gateway\": \"gw\" is not an IP"},
      {"negative interface", [](Json& j) { j["ips"][1]["interface"] = -1; },
       "\"ips[1].interface\": must be a non-negative integer"},
      {"interface as string", [](Json& j) { j["ips"][1]["interface"] = "2"; },
       "\"ips[1].interface\""},
      {"interface name not string",
       [](Json& j) { j["interfaces"][0]["name"] = 1; },
       "\"interfaces[0].name\": must be a string"},
      {"interfaces entry not object",
       [](Json& j) { j["interfaces"][1] = "veth"; },
       "\"interfaces[1]\": must be an object"},
      {"route dst garbage", [](Json& j) { j["routes"][0]["dst"] = "default"; },
       "\"routes[0].dst\""},
      {"route gw garbage", [](Json& j) { j["routes"][1]["gw"] = "x"; },
       "\"routes[1].gw\": \"x\" is not an IP"},
      {"dns search not array", [](Json& j) { j["dns"]["search"] = "a"; },
       "\"dns.search\": must be an array of strings"},
      {"not an object", [](Json& j) { j = Json::array(); },
       "not a JSON object"},
  };
  for (const ResultCase& c : cases) {
    SCOPED_TRACE(c.name);
    Json doc = DualStack();
    c.mutate(doc);
    absl::StatusOr<CniResult> result = ParseCniResult(doc.dump());
    if (!c.error.empty()) {
      ASSERT_FALSE(result.ok());
      EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_TRUE(absl::StrContains(result.status().message(), c.error))
          << result.status();
      continue;
    }
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(PodIps(*result, "eth0"), c.pod_ips);
  }
}

TEST(ParseCniResultTest, Fields) {
  absl::StatusOr<CniResult> result = ParseCniResult(DualStack().dump());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->cni_version, "1.0.0");
  ASSERT_EQ(result->interfaces.size(), 3u);
  EXPECT_EQ(result->interfaces[2].name, "eth0");
  EXPECT_EQ(result->interfaces[2].mac, "aa:aa:aa:aa:aa:03");
  EXPECT_EQ(result->interfaces[2].sandbox, "/run/netns/pod");
  EXPECT_EQ(result->interfaces[0].sandbox, "");
  ASSERT_EQ(result->ips.size(), 2u);
  EXPECT_EQ(result->ips[1].address, "10.22.0.5/24");
  EXPECT_EQ(result->ips[1].gateway, "10.22.0.1");
  EXPECT_EQ(result->ips[1].interface, 2);
  ASSERT_EQ(result->routes.size(), 2u);
  EXPECT_EQ(result->routes[1].dst, "::/0");
  EXPECT_EQ(result->routes[1].gw, "fd00:10::1");
  EXPECT_EQ(result->dns.nameservers, std::vector<std::string>{"10.22.0.1"});
  EXPECT_EQ(result->dns.domain, "cluster.local");
  EXPECT_EQ(result->dns.search, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(result->dns.options, std::vector<std::string>{"ndots:5"});
  EXPECT_EQ(PodIps(*result, "eth1"), std::vector<std::string>{});
}

TEST(ParseCniResultTest, MalformedText) {
  for (const char* text : {"", "{", "null", "[1]", "\"ok\"", "{\"ips\": [}"}) {
    EXPECT_EQ(ParseCniResult(absl::string_view(text)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << text;
  }
}

TEST(ParseCniErrorTest, ErrorObjects) {
  std::optional<CniError> error = ParseCniError(
      R"({"cniVersion": "1.0.0", "code": 7, "msg": "Invalid Configuration",
          "details": "Network 192.168.0.0/31 too small to allocate from."})");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->cni_version, "1.0.0");
  EXPECT_EQ(error->code, 7);
  EXPECT_EQ(error->msg, "Invalid Configuration");
  EXPECT_EQ(error->Message(),
            "Invalid Configuration; Network 192.168.0.0/31 too small to "
            "allocate from. (CNI error code 7)");

  // Debian's plugins print errors pretty, without cniVersion or details.
  error = ParseCniError("{\n    \"code\": 4,\n    \"msg\": \"missing env\"\n}");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->Message(), "missing env (CNI error code 4)");

  error = ParseCniError(R"({"msg": "no code"})");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->Message(), "no code");

  error = ParseCniError(R"({"code": 11})");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->Message(), "CNI error code 11");
}

TEST(ParseCniErrorTest, NotErrors) {
  for (const char* text :
       {"", "plain text", "{}", "[]", R"({"code": 0, "msg": ""})",
        R"({"cniVersion": "1.0.0", "ips": []})", R"({"msg": 5})"}) {
    EXPECT_FALSE(ParseCniError(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace converge

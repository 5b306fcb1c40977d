// Root test with Debian's real CNI plugins (/usr/lib/cni): a netns made with
// `ip netns add`, a conflist of bridge (a bridge named after the test, a
// private /24 from host-local with its dataDir under the test's temp dir) +
// portmap + loopback. Checks that Setup gives the pod eth0 with an IP from
// the subnet and that every flavour of Teardown releases it.
//
// Cleanup runs in TearDown even after a failure: the netns, veths on our
// bridge and the bridge, the iptables nat rules and CNI-DN-* chains that
// name our container ids, the shared CNI-HOSTPORT-* chains if the test made
// them, and net.ipv4.ip_forward (the bridge plugin turns it on). A leak
// check follows. Only test-made namespaces and bridges, no external traffic.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/testing/status_testing.h"
#include "executors/namespace/testing/ns_test_util.h"
#include "executors/network/cni/cni_network.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

constexpr char kPluginDir[] = "/usr/lib/cni";
constexpr char kIpForward[] = "/proc/sys/net/ipv4/ip_forward";
constexpr const char* kSharedChains[] = {
    "CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// stdout+stderr of a command that may fail.
std::string Try(const std::string& command) {
  absl::StatusOr<std::string> out = RunCommand(command + " 2>&1");
  return out.ok() ? *out : std::string(out.status().message());
}

std::vector<std::string> NatRules() {
  absl::StatusOr<std::string> out = RunCommand("iptables -w -t nat -S");
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  return absl::StrSplit(*out, '\n', absl::SkipEmpty());
}

class CniRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!std::filesystem::exists(std::string(kPluginDir) + "/bridge")) {
      GTEST_SKIP() << "Debian's containernetworking-plugins not installed";
    }
    const int pid = getpid();
    tag_ = absl::StrCat(pid % 10000);
    netns_name_ = absl::StrCat("cvtest-", pid);
    netns_ = "/run/netns/" + netns_name_;
    bridge_ = "cvt" + tag_;
    network_ = "cvtest" + tag_;
    subnet_prefix_ = absl::StrCat("10.250.", 20 + pid % 200, ".");
    ASSERT_EQ(Try("ip -4 route show " + subnet_prefix_ + "0/24"), "")
        << "subnet in use on this host";
    ip_forward_ = std::string(absl::StripAsciiWhitespace(ReadFile(kIpForward)));
    ASSERT_FALSE(ip_forward_.empty());
    for (const std::string& rule : NatRules()) nat_before_.insert(rule);
    cleanup_ = true;

    ASSERT_OK(RunCommand("ip netns add " + netns_name_ + " 2>&1").status());
    conf_dir_ = dir_.Sub("net.d");
    data_dir_ = dir_.Sub("ipam");
    extra_bin_ = dir_.Sub("bin");
    std::filesystem::create_directories(conf_dir_);
    std::filesystem::create_directories(extra_bin_);
    WriteConfig(false);

    CniNetworkOptions options;
    options.conf_dir = conf_dir_;
    options.bin_dirs = {kPluginDir, extra_bin_};
    options.plugin_timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<CniNetwork>> created =
        CniNetwork::Create(options);
    ASSERT_TRUE(created.ok()) << created.status();
    cni_ = *std::move(created);

    request_.pod_name = "web";
    request_.pod_namespace = "default";
    request_.pod_uid = "uid-" + tag_;
    request_.netns_path = netns_;
    request_.runtime_config.port_mappings = {
        {40000 + pid % 10000, 80, "TCP", ""}};
  }

  // bridge + portmap + loopback; portmap left out or a plugin failing ADD
  // added on request.
  void WriteConfig(bool with_failing_plugin, bool with_portmap = true) {
    with_portmap_ = with_portmap;
    Json config = Json::parse(R"({"cniVersion": "1.0.0", "plugins": [
      {"type": "bridge", "isGateway": true, "ipMasq": false,
       "ipam": {"type": "host-local",
                "routes": [{"dst": "0.0.0.0/0"}]}},
      {"type": "portmap", "capabilities": {"portMappings": true}},
      {"type": "loopback"}]})");
    config["name"] = network_;
    config["plugins"][0]["bridge"] = bridge_;
    config["plugins"][0]["ipam"]["subnet"] = subnet_prefix_ + "0/24";
    config["plugins"][0]["ipam"]["dataDir"] = data_dir_;
    if (!with_portmap) config["plugins"].erase(1);
    if (with_failing_plugin) {
      config["plugins"].push_back({{"type", "cvtfail"}});
      std::string path = extra_bin_ + "/cvtfail";
      std::ofstream(path)
          << "#!/bin/sh\ncat >/dev/null\n"
             "case $CNI_COMMAND in\n"
             "VERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
             "[\"1.0.0\"]}';;\n"
             "ADD) echo '{\"code\":100,\"msg\":\"cvtfail refuses\"}'; exit "
             "1;;\n"
             "esac\n";
      std::filesystem::permissions(path, std::filesystem::perms(0755));
    }
    std::ofstream(conf_dir_ + "/10-cvtest.conflist") << config.dump(2);
  }

  void TearDown() override {
    if (!cleanup_) return;
    Try("ip netns delete " + netns_name_);
    for (absl::string_view line :
         absl::StrSplit(Try("ip -o link show master " + bridge_), '\n',
                        absl::SkipEmpty())) {
      // "12: vethabc@if3: <...": the name sits between ": " and '@'.
      std::vector<std::string> parts = absl::StrSplit(line, ": ");
      if (parts.size() < 2) continue;
      std::string name = parts[1].substr(0, parts[1].find('@'));
      Try("ip link delete " + name);
    }
    Try("ip link delete " + bridge_);
    CleanIptables();
    std::ofstream(kIpForward) << ip_forward_;

    // Leak check.
    EXPECT_NE(Try("ip link show " + bridge_).find("does not exist"),
              std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(netns_));
    for (const std::string& rule : NatRules()) {
      for (const std::string& id : ids_) {
        EXPECT_FALSE(absl::StrContains(rule, id)) << "left: " << rule;
      }
      if (!nat_before_.count(rule)) ADD_FAILURE() << "new nat rule: " << rule;
    }
    EXPECT_EQ(absl::StripAsciiWhitespace(ReadFile(kIpForward)), ip_forward_);
  }

  // Deletes nat rules naming our containers and the chains they jump to,
  // then the shared portmap chains if they were not there before.
  void CleanIptables() {
    std::set<std::string> chains;
    for (const std::string& rule : NatRules()) {
      bool ours = false;
      for (const std::string& id : ids_) ours |= absl::StrContains(rule, id);
      if (!ours || !absl::StartsWith(rule, "-A ")) continue;
      size_t jump = rule.find(" -j CNI-DN-");
      if (jump != std::string::npos) chains.insert(rule.substr(jump + 4));
      Try("iptables -w -t nat -D " + rule.substr(3));
    }
    for (const std::string& chain : chains) {
      Try("iptables -w -t nat -F " + chain);
      Try("iptables -w -t nat -X " + chain);
    }
    for (const char* chain : kSharedChains) {
      if (nat_before_.count(absl::StrCat("-N ", chain))) continue;
      for (const std::string& rule : NatRules()) {
        if (absl::StartsWith(rule, "-A ") &&
            absl::StrContains(rule, absl::StrCat("-j ", chain))) {
          Try("iptables -w -t nat -D " + rule.substr(3));
        }
      }
      Try(absl::StrCat("iptables -w -t nat -F ", chain));
      Try(absl::StrCat("iptables -w -t nat -X ", chain));
    }
  }

  NetworkRequest Request(const std::string& suffix) {
    NetworkRequest request = request_;
    request.sandbox_id = absl::StrCat("cvt", getpid(), "-", suffix);
    ids_.push_back(request.sandbox_id);
    return request;
  }

  std::string IpFile(const std::string& ip) {
    return absl::StrCat(data_dir_, "/", network_, "/", ip);
  }

  bool HasNatRuleFor(const std::string& id) {
    for (const std::string& rule : NatRules()) {
      if (absl::StrContains(rule, absl::StrCat("id: \\\"", id, "\\\"")) ||
          absl::StrContains(rule, absl::StrCat("id: \"", id, "\""))) {
        return true;
      }
    }
    return false;
  }

  // The host-side veth of a Setup result.
  static std::string HostVeth(const NetworkResult& result) {
    Json doc = Json::parse(result.result_json);
    for (const Json& interface : doc["result"]["interfaces"]) {
      std::string name = interface.value("name", "");
      if (absl::StartsWith(name, "veth") && !interface.contains("sandbox")) {
        return name;
      }
    }
    return "";
  }

  static bool LinkGone(const std::string& name, absl::Duration wait) {
    absl::Time until = absl::Now() + wait;
    while (true) {
      if (absl::StrContains(Try("ip link show " + name), "does not exist")) {
        return true;
      }
      if (absl::Now() > until) return false;
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // Setup and the checks every attached pod must pass.
  NetworkResult Attach(const NetworkRequest& request) {
    absl::StatusOr<NetworkResult> result = cni_->Setup(request);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return {};
    EXPECT_EQ(result->ips.size(), 1u);
    if (result->ips.empty()) return *result;
    const std::string& ip = result->ips[0];
    EXPECT_TRUE(absl::StartsWith(ip, subnet_prefix_)) << ip;
    EXPECT_NE(ip, subnet_prefix_ + "1") << "the gateway";
    std::string addr =
        Try("ip -n " + netns_name_ + " -o -4 addr show dev eth0");
    EXPECT_TRUE(absl::StrContains(addr, absl::StrCat("inet ", ip, "/24")))
        << addr;
    std::string lo = Try("ip -n " + netns_name_ + " -o link show lo");
    EXPECT_TRUE(absl::StrContains(lo, ",UP")) << lo;
    EXPECT_TRUE(absl::StrContains(ReadFile(IpFile(ip)), request.sandbox_id))
        << "host-local holds " << IpFile(ip);
    EXPECT_EQ(HasNatRuleFor(request.sandbox_id), with_portmap_);
    EXPECT_FALSE(HostVeth(*result).empty()) << result->result_json;
    return *result;
  }

  void ExpectReleased(const NetworkRequest& request,
                      const NetworkResult& attached) {
    ASSERT_FALSE(attached.ips.empty());
    EXPECT_FALSE(std::filesystem::exists(IpFile(attached.ips[0])))
        << "IP not released";
    EXPECT_FALSE(HasNatRuleFor(request.sandbox_id));
    EXPECT_TRUE(LinkGone(HostVeth(attached), absl::Seconds(5)))
        << HostVeth(attached);
  }

  TempTestDir dir_;
  bool cleanup_ = false;
  bool with_portmap_ = true;
  std::string tag_, netns_name_, netns_, bridge_, network_, subnet_prefix_;
  std::string ip_forward_, conf_dir_, data_dir_, extra_bin_;
  std::set<std::string> nat_before_;
  std::vector<std::string> ids_;
  std::unique_ptr<CniNetwork> cni_;
  NetworkRequest request_;
};

TEST_F(CniRootTest, ReadyWithDebianPlugins) {
  EXPECT_OK(cni_->Ready());
  CniNetworkOptions options = cni_->options();
  options.bin_dirs = {extra_bin_};
  absl::StatusOr<std::unique_ptr<CniNetwork>> elsewhere =
      CniNetwork::Create(options);
  ASSERT_TRUE(elsewhere.ok());
  absl::Status ready = (*elsewhere)->Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(
      ready.message(),
      absl::StrCat("CNI plugin \"bridge\" not found in ", extra_bin_)))
      << ready;
}

TEST_F(CniRootTest, SetupThenTeardownReleasesEverything) {
  NetworkRequest request = Request("a");
  NetworkResult attached = Attach(request);
  ASSERT_FALSE(attached.ips.empty());
  // Debian's portmap 1.1.1 fails CHECK for an IPv4-only pod whenever
  // ip6tables works: it looks for its chain in ip6tables too
  // (containernetworking/plugins#819). See CheckDetectsABrokenAttachment.
  absl::Status check = cni_->Check(request, attached);
  if (!check.ok()) {
    EXPECT_TRUE(
        absl::StrContains(check.message(), "CNI plugin portmap CHECK failed") &&
        absl::StrContains(check.message(), "could not check ipv6 dnat"))
        << check;
  }

  ASSERT_OK(cni_->Teardown(request, attached));
  ExpectReleased(request, attached);
  std::string links = Try("ip -n " + netns_name_ + " -o link show");
  EXPECT_FALSE(absl::StrContains(links, "eth0")) << links;
  // Again: idempotent.
  EXPECT_OK(cni_->Teardown(request, attached));
  // And the IP can be had again.
  NetworkResult again = Attach(request);
  ASSERT_FALSE(again.ips.empty());
  EXPECT_OK(cni_->Teardown(request, again));
  ExpectReleased(request, again);
}

TEST_F(CniRootTest, CheckDetectsABrokenAttachment) {
  WriteConfig(false, /*with_portmap=*/false);
  NetworkRequest request = Request("e");
  NetworkResult attached = Attach(request);
  ASSERT_FALSE(attached.ips.empty());
  EXPECT_OK(cni_->Check(request, attached));
  ASSERT_OK(
      RunCommand("ip -n " + netns_name_ + " link delete eth0 2>&1").status());
  absl::Status check = cni_->Check(request, attached);
  EXPECT_EQ(check.code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(
      absl::StrContains(check.message(), "CNI plugin bridge CHECK failed"))
      << check;
  ASSERT_OK(cni_->Teardown(request, attached));
  ExpectReleased(request, attached);
}

TEST_F(CniRootTest, TeardownAfterTheNetnsIsGone) {
  NetworkRequest request = Request("b");
  NetworkResult attached = Attach(request);
  ASSERT_FALSE(attached.ips.empty());
  ASSERT_OK(RunCommand("ip netns delete " + netns_name_ + " 2>&1").status());
  ASSERT_FALSE(std::filesystem::exists(netns_));

  ASSERT_OK(cni_->Teardown(request, attached));
  ExpectReleased(request, attached);
  EXPECT_OK(cni_->Teardown(request, attached));
}

TEST_F(CniRootTest, TeardownWithAStalePinFile) {
  NetworkRequest request = Request("f");
  NetworkResult attached = Attach(request);
  ASSERT_FALSE(attached.ips.empty());
  // The netns is gone but its pin file is not (a crash between unmount and
  // unlink): bridge and loopback would fail DEL on a path that is not a
  // netns, so CniNetwork passes none.
  ASSERT_OK(RunCommand("ip netns delete " + netns_name_ + " 2>&1").status());
  std::ofstream(netns_) << "";
  ASSERT_TRUE(std::filesystem::exists(netns_));
  ASSERT_OK(cni_->Teardown(request, attached));
  ExpectReleased(request, attached);
  std::filesystem::remove(netns_);
}

TEST_F(CniRootTest, TeardownWithoutCachedResult) {
  NetworkRequest request = Request("c");
  NetworkResult attached = Attach(request);
  ASSERT_FALSE(attached.ips.empty());
  // The reconciler lost the result: DEL with the current config and the
  // request's runtime config (its port mappings) still releases everything.
  ASSERT_OK(cni_->Teardown(request, NetworkResult{}));
  ExpectReleased(request, attached);
}

TEST_F(CniRootTest, FailedAddIsUndone) {
  WriteConfig(true);
  NetworkRequest request = Request("d");
  absl::StatusOr<NetworkResult> result = cni_->Setup(request);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(absl::StrContains(result.status().message(),
                                "cvtfail refuses (CNI error code 100)"))
      << result.status();
  // The bridge, portmap and loopback ADDs were undone.
  std::error_code ec;
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(data_dir_ + "/" + network_, ec)) {
    if (absl::StartsWith(entry.path().filename().string(), subnet_prefix_)) {
      ADD_FAILURE() << "IP still allocated: " << entry.path();
    }
    ++files;
  }
  EXPECT_GT(files, 0) << "host-local never ran";
  EXPECT_FALSE(HasNatRuleFor(request.sandbox_id));
  std::string links = Try("ip -n " + netns_name_ + " -o link show");
  EXPECT_FALSE(absl::StrContains(links, "eth0")) << links;
  // The reconciler's Teardown with nothing cached also succeeds.
  EXPECT_OK(cni_->Teardown(request, NetworkResult{}));
}

}  // namespace
}  // namespace converge

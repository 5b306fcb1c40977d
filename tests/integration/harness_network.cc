// The pod network of a TestEnv (harness.h): a bridge, a /24 and portmap of
// its own through Debian's CNI plugins, and finding and removing what they
// left on the host (veths, host-local allocations, nat rules, the shared
// portmap chains, net.ipv4.ip_forward).
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace converge::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kIpForward[] = "/proc/sys/net/ipv4/ip_forward";
// portmap's chains shared by every network on the host.
constexpr const char* kSharedChains[] = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK",
                                         "CNI-HOSTPORT-MASQ"};

std::string ReadTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(buffer.str()));
}

// net.ipv4.ip_forward is one switch for the whole host (the bridge plugin
// turns it on), and test envs of several processes may be alive at once
// (two workspaces testing side by side): the first env to start records the
// value, the last to end restores it. Holders are files named
// "<pid>-<n>" in kForwardDir, changed under an flock; those of dead
// processes do not count.
constexpr char kForwardDir[] = "/run/converge-itest/ip_forward";

class ForwardLock {
 public:
  ForwardLock() {
    std::error_code error;
    fs::create_directories(kForwardDir, error);
    fd_ = open((std::string(kForwardDir) + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~ForwardLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_ = -1;
};

// Holders whose process lives; the others' files are removed.
std::vector<std::string> LiveForwardHolders() {
  std::vector<std::string> live;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kForwardDir, error)) {
    const std::string name = entry.path().filename().string();
    int pid = 0;
    if (!absl::SimpleAtoi(name.substr(0, name.find('-')), &pid)) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) {
      fs::remove(entry.path(), error);
    } else {
      live.push_back(name);
    }
  }
  return live;
}

void HoldIpForward(const std::string& holder) {
  ForwardLock lock;
  if (LiveForwardHolders().empty()) {
    std::ofstream(std::string(kForwardDir) + "/original") << ReadTrimmed(kIpForward);
  }
  std::ofstream(absl::StrCat(kForwardDir, "/", holder)) << "";
}

// Restores and returns the recorded value if `holder` was the last one;
// "" while other holders remain.
std::string ReleaseIpForward(const std::string& holder) {
  ForwardLock lock;
  std::error_code error;
  fs::remove(absl::StrCat(kForwardDir, "/", holder), error);
  if (!LiveForwardHolders().empty()) return "";
  const std::string original_path = std::string(kForwardDir) + "/original";
  std::string original = ReadTrimmed(original_path);
  if (!original.empty() && ReadTrimmed(kIpForward) != original) {
    std::ofstream(kIpForward) << original;
  }
  fs::remove(original_path, error);
  return original;
}

// The subnets ("10.X.Y.") of every TestEnv of this process.
std::set<std::string>& ProcessSubnetPrefixes() {
  static auto* prefixes = new std::set<std::string>();
  return *prefixes;
}

// The output of a command that may fail, stdout and stderr together.
std::string Try(const std::string& command) {
  absl::StatusOr<std::string> out = Shell(command);
  return out.ok() ? *out : std::string(out.status().message());
}

std::optional<uint32_t> ParseIpv4(const std::string& text) {
  in_addr addr;
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1) return std::nullopt;
  return ntohl(addr.s_addr);
}

bool IsIpAddress(const std::string& text) {
  in6_addr addr;
  return ParseIpv4(text).has_value() || inet_pton(AF_INET6, text.c_str(), &addr) == 1;
}

// The IPv4 destinations routed on this host, as (network, prefix length).
std::vector<std::pair<uint32_t, int>> Ipv4Routes() {
  std::vector<std::pair<uint32_t, int>> routes;
  for (absl::string_view line :
       absl::StrSplit(Try("ip -4 route show table all"), '\n', absl::SkipEmpty())) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.empty()) continue;
    std::string dst = words[0];
    // Table local and friends start with the route type.
    if ((dst == "local" || dst == "broadcast" || dst == "unicast" || dst == "anycast" ||
         dst == "multicast" || dst == "blackhole" || dst == "unreachable" ||
         dst == "prohibit" || dst == "throw") &&
        words.size() > 1) {
      dst = words[1];
    }
    if (dst == "default") {
      routes.push_back({0, 0});
      continue;
    }
    std::vector<std::string> parts = absl::StrSplit(dst, '/');
    std::optional<uint32_t> network = ParseIpv4(parts[0]);
    int length = 32;
    if (!network || (parts.size() > 1 && !absl::SimpleAtoi(parts[1], &length))) continue;
    routes.push_back({*network, length});
  }
  return routes;
}

bool OverlapsRoute(uint32_t network, int length,
                   const std::vector<std::pair<uint32_t, int>>& routes) {
  for (const auto& [route, route_length] : routes) {
    // A default route overlaps everything but says nothing about our subnet.
    if (route_length == 0) continue;
    int common = std::min(length, route_length);
    uint32_t mask = common == 0 ? 0 : ~uint32_t{0} << (32 - common);
    if ((network & mask) == (route & mask)) return true;
  }
  return false;
}

// True if another live test dir on this host already uses `subnet`.
bool SubnetClaimedByAnotherEnv(const std::string& subnet, const std::string& own_base) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/tmp", error)) {
    const std::string base = entry.path().string();
    if (!absl::StartsWith(base, "/tmp/cvit-") || base == own_base) continue;
    for (const auto& conf : fs::directory_iterator(base + "/cni/net.d", error)) {
      if (absl::StrContains(ReadTrimmed(conf.path().string()), "\"" + subnet + "\"")) {
        return true;
      }
    }
  }
  return false;
}

// `text` names an address inside `prefix` ("10.X.Y."), not merely
// contains its digits (10.X.Y. inside 110.X.Y.).
bool MentionsPrefix(const std::string& text, const std::string& prefix) {
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    if (at == 0 || !absl::ascii_isdigit(static_cast<unsigned char>(text[at - 1]))) return true;
  }
  return false;
}

// The target of "-j TARGET" in an `iptables -S` rule, or "".
std::string JumpTarget(const std::string& rule) {
  size_t at = rule.find(" -j ");
  if (at == std::string::npos) return "";
  std::string target = rule.substr(at + 4);
  return target.substr(0, target.find(' '));
}

// The chain of "-A CHAIN ..." or "-N CHAIN".
std::string ChainOf(const std::string& rule) {
  std::vector<std::string> words = absl::StrSplit(rule, ' ');
  return words.size() > 1 ? words[1] : "";
}

}  // namespace

std::vector<std::string> NatTable() {
  absl::StatusOr<std::string> out = Shell("iptables -w -t nat -S");
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return {};
  return absl::StrSplit(*out, '\n', absl::SkipEmpty());
}

void TestEnv::SetUpNetwork() {
  bridge_ = absl::StrCat("cvb", getpid() % 1000, "x", index_);
  network_name_ = absl::StrCat("cvit", getpid(), "x", index_);
  // A /24 in 10.200.0.0/16..10.249.0.0/16 that no route and no other test
  // env on this host uses, starting from a place that depends on pid and n.
  constexpr uint32_t kFirst = (10u << 24) | (200u << 16), kCount = 50 * 256;
  const auto routes = Ipv4Routes();
  const uint32_t start = (static_cast<uint32_t>(getpid()) * 97 + index_ * 13) % kCount;
  for (uint32_t i = 0; i < kCount && subnet_prefix_.empty(); ++i) {
    const uint32_t network = kFirst + ((start + i) % kCount) * 256;
    const std::string prefix = absl::StrCat(network >> 24, ".", (network >> 16) & 255, ".",
                                            (network >> 8) & 255, ".");
    if (OverlapsRoute(network, 24, routes)) continue;
    if (SubnetClaimedByAnotherEnv(prefix + "0/24", base_dir_)) continue;
    subnet_prefix_ = prefix;
  }
  if (subnet_prefix_.empty()) {
    ADD_FAILURE() << "no free /24 in 10.200.0.0/16..10.249.0.0/16";
    subnet_prefix_ = "10.249.255.";
  }
  ProcessSubnetPrefixes().insert(subnet_prefix_);
  EXPECT_NE(Try("ip link show " + bridge_).find("does not exist"), std::string::npos)
      << "bridge " << bridge_ << " already exists";
  HoldIpForward(tag_);
  for (const std::string& rule : NatTable()) nat_before_.insert(rule);
  WriteNetworkConfig(DefaultNetworkConfig());
}

// Veths on the bridge, the bridge, the nat rules and chains of ours, then
// the shared portmap chains if they are new and nobody else uses them;
// net.ipv4.ip_forward as it was.
void TestEnv::CleanNetwork(const std::set<std::string>& ids) {
  for (const std::string& veth : VethsOnBridge()) Try("ip link delete " + veth);
  Try("ip link delete " + bridge_);

  std::vector<std::string> rules = NatTable();
  const std::set<std::string> chains = DnatChainsOfOurs(rules, ids);
  for (const std::string& rule : rules) {
    if (!absl::StartsWith(rule, "-A ")) continue;
    if (chains.count(ChainOf(rule))) continue;  // flushed below
    if (MentionsUs(rule, ids) || chains.count(JumpTarget(rule))) {
      Try("iptables -w -t nat -D " + rule.substr(3));
    }
  }
  for (const std::string& chain : chains) {
    Try("iptables -w -t nat -F " + chain);
    Try("iptables -w -t nat -X " + chain);
  }
  rules = NatTable();
  bool shared_in_use = false, shared_existed = false;
  for (const char* chain : kSharedChains) {
    shared_existed |= nat_before_.count(absl::StrCat("-N ", chain)) > 0;
  }
  for (const std::string& rule : rules) {
    if (!absl::StartsWith(rule, "-A ")) continue;
    const std::string chain = ChainOf(rule);
    // Rules in DNAT are per network; SETMARK and MASQ are used by the
    // per-network CNI-DN-* chains.
    if (chain == "CNI-HOSTPORT-DNAT" || absl::StartsWith(chain, "CNI-DN-")) shared_in_use = true;
  }
  if (!shared_existed && !shared_in_use) {
    for (const std::string& rule : rules) {
      if (absl::StartsWith(rule, "-A ") && absl::StartsWith(JumpTarget(rule), "CNI-HOSTPORT-") &&
          !absl::StartsWith(ChainOf(rule), "CNI-HOSTPORT-")) {
        Try("iptables -w -t nat -D " + rule.substr(3));
      }
    }
    for (const char* chain : kSharedChains) Try(absl::StrCat("iptables -w -t nat -F ", chain));
    for (const char* chain : kSharedChains) Try(absl::StrCat("iptables -w -t nat -X ", chain));
  }
  for (const std::string& rule : NatTable()) {
    if (nat_before_.count(rule)) continue;
    const bool shared = absl::StrContains(rule, "CNI-HOSTPORT-");
    if (MentionsUs(rule, ids) || (shared && !shared_existed && !shared_in_use)) {
      ADD_FAILURE() << "nat rule left after cleanup: " << rule;
    }
  }

  const std::string restored = ReleaseIpForward(tag_);
  if (!restored.empty()) {
    EXPECT_EQ(ReadTrimmed(kIpForward), restored) << "net.ipv4.ip_forward not restored";
  }
  EXPECT_NE(Try("ip link show " + bridge_).find("does not exist"), std::string::npos)
      << "bridge " << bridge_ << " left";
}

bool TestEnv::InSubnet(const std::string& ip) const {
  return absl::StartsWith(ip, subnet_prefix_) && ParseIpv4(ip).has_value();
}

std::string TestEnv::DefaultNetworkConfig(const std::string& main_type,
                                          const std::string& main_capabilities) const {
  return absl::StrCat(R"({
  "cniVersion": "1.0.0",
  "name": ")", network_name_, R"(",
  "plugins": [
    {"type": ")", main_type, R"(", "bridge": ")", bridge_, R"(",
     "isGateway": true, "ipMasq": false, "hairpinMode": true,)",
                      main_capabilities.empty() ? "" : absl::StrCat(R"(
     "capabilities": )", main_capabilities, ","),
                      R"(
     "ipam": {"type": "host-local", "subnet": ")", subnet(), R"(",
              "dataDir": ")", base_dir_, R"(/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
)");
}

void TestEnv::WriteNetworkConfig(const std::string& conflist) const {
  const std::string path = absl::StrCat(cni_conf_dir(), "/", kNetworkConfigFile);
  // Not a config name the daemon loads until renamed.
  const std::string temporary = path + ".tmp";
  std::ofstream(temporary) << conflist;
  std::error_code error;
  fs::rename(temporary, path, error);
  EXPECT_FALSE(error) << "rename " << temporary << ": " << error.message();
}

void TestEnv::RemoveNetworkConfigs() const {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(cni_conf_dir(), error)) {
    fs::remove(entry.path(), error);
  }
}

std::map<std::string, std::string> TestEnv::IpAllocations() const {
  std::map<std::string, std::string> out;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(ipam_dir(), error)) {
    const std::string name = entry.path().filename().string();
    if (!IsIpAddress(name)) continue;
    // "<container id>\r\n<ifname>" (host-local 1.x).
    std::string content = ReadTrimmed(entry.path().string());
    out[name] = std::string(absl::StripAsciiWhitespace(content.substr(0, content.find('\n'))));
  }
  return out;
}

std::vector<std::string> TestEnv::VethsOnBridge() const {
  std::vector<std::string> veths;
  absl::StatusOr<std::string> out = Shell("ip -o link show master " + bridge_);
  if (!out.ok()) return veths;  // no bridge, no veths
  for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) {
    // "12: vethabc@if3: <...>": the name sits between ": " and '@' or ':'.
    std::vector<std::string> parts = absl::StrSplit(line, ": ");
    if (parts.size() < 2) continue;
    veths.push_back(parts[1].substr(0, parts[1].find('@')));
  }
  return veths;
}

std::set<std::string> TestEnv::OurIds() const {
  std::set<std::string> ids;
  for (const auto& daemon : daemons_) {
    for (const std::string& id : daemon->SeenIds()) ids.insert(id);
  }
  for (const auto& [ip, id] : IpAllocations()) {
    if (!id.empty()) ids.insert(id);
  }
  return ids;
}

bool TestEnv::MentionsUs(const std::string& rule, const std::set<std::string>& ids) const {
  // portmap's comments: dnat name: "<network>" id: "<container id>".
  if (absl::StrContains(rule, absl::StrCat("\\\"", network_name_, "\\\"")) ||
      absl::StrContains(rule, absl::StrCat("\"", network_name_, "\""))) {
    return true;
  }
  if (MentionsPrefix(rule, subnet_prefix_)) return true;
  for (const std::string& id : ids) {
    if (absl::StrContains(rule, id)) return true;
  }
  return false;
}

std::set<std::string> TestEnv::DnatChainsOfOurs(const std::vector<std::string>& rules,
                                                const std::set<std::string>& ids) const {
  std::set<std::string> chains, referenced, filled;
  for (const std::string& rule : rules) {
    if (!absl::StartsWith(rule, "-A ")) continue;
    const std::string target = JumpTarget(rule);
    referenced.insert(target);
    filled.insert(ChainOf(rule));
    if (!MentionsUs(rule, ids)) continue;
    if (absl::StartsWith(target, "CNI-DN-")) chains.insert(target);
    if (absl::StartsWith(ChainOf(rule), "CNI-DN-")) chains.insert(ChainOf(rule));
  }
  for (const std::string& rule : rules) {
    if (!absl::StartsWith(rule, "-N CNI-DN-") || nat_before_.count(rule)) continue;
    const std::string chain = ChainOf(rule);
    if (!referenced.count(chain) && !filled.count(chain)) chains.insert(chain);
  }
  return chains;
}

std::vector<std::string> TestEnv::NatRulesOfOurs() const {
  const std::set<std::string> ids = OurIds();
  const std::vector<std::string> rules = NatTable();
  const std::set<std::string> chains = DnatChainsOfOurs(rules, ids);
  std::vector<std::string> out;
  for (const std::string& rule : rules) {
    if (MentionsUs(rule, ids) || chains.count(ChainOf(rule))) out.push_back(rule);
  }
  return out;
}

}  // namespace converge::testing

namespace converge::testing {
namespace {

// After the whole suite: no bridge or nat rule of this process's envs is
// left. (Each ~TestEnv already checked the shared portmap chains and, if it
// was the last env alive on the host, net.ipv4.ip_forward; other workspaces,
// or a node network such as install.sh's, may change those meanwhile.)
class SuiteNetworkLeakCheck : public ::testing::Environment {
 public:
  void SetUp() override {
    for (const std::string& rule : NatTable()) nat_.insert(rule);
  }

  void TearDown() override {
    for (const std::string& rule : NatTable()) {
      if (nat_.count(rule)) continue;
      bool ours = absl::StrContains(rule, absl::StrCat("cvit", getpid(), "x"));
      for (const std::string& prefix : ProcessSubnetPrefixes()) {
        ours |= MentionsPrefix(rule, prefix);
      }
      EXPECT_FALSE(ours) << "nat rule left: " << rule;
    }
    const std::string bridge_prefix = absl::StrCat("cvb", getpid() % 1000, "x");
    for (absl::string_view line :
         absl::StrSplit(Try("ip -o link show"), '\n', absl::SkipEmpty())) {
      std::vector<std::string> parts = absl::StrSplit(line, ": ");
      EXPECT_FALSE(parts.size() > 1 && absl::StartsWith(parts[1], bridge_prefix))
          << "bridge left: " << line;
    }
  }

 private:
  std::set<std::string> nat_;
};

[[maybe_unused]] ::testing::Environment* const suite_network_leak_check =
    ::testing::AddGlobalTestEnvironment(new SuiteNetworkLeakCheck);

}  // namespace
}  // namespace converge::testing

// Pod networking through CNI, leak-free: real converged processes with
// Debian's plugins (bridge, host-local, portmap) on each TestEnv's private
// bridge and /24. Traffic stays on loopback and the test bridge.
//
// Failure tests put a wrapper plugin, `cvtest-bridge`, first in the bin dirs
// and make it the conflist's interface plugin. It runs /usr/lib/cni/bridge
// unless control files in its directory tell it to block (until a release
// file appears, at most 20s) or to fail (a CNI error on stdout, exit 1),
// and logs each call. Every test ends with TestEnv::Leaks() empty: no IP in
// host-local's store, no veth on the bridge, no nat rule of ours; ~TestEnv
// then restores net.ipv4.ip_forward and checks it.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"

namespace converge::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

runtime::v1::PodSandboxState StateOf(TestDaemon& daemon, const std::string& id) {
  auto status = daemon.PodStatus(id);
  EXPECT_TRUE(status.ok()) << status.status();
  return status.ok() ? status->status().state() : runtime::v1::SANDBOX_NOTREADY;
}

std::string IpOf(TestDaemon& daemon, const std::string& id) {
  auto status = daemon.PodStatus(id);
  EXPECT_TRUE(status.ok()) << status.status();
  return status.ok() ? status->status().network().ip() : "";
}

std::string InPod(TestDaemon& daemon, const std::string& id, const std::string& command) {
  absl::StatusOr<std::string> out = Shell("nsenter --net=" + daemon.NetPin(id) + " " + command);
  return out.ok() ? *out : std::string(out.status().message());
}

// kubelet retries a failed StopPodSandbox; so do we, up to `timeout`.
absl::Status StopWithRetries(TestDaemon& daemon, const std::string& id,
                             std::vector<absl::Status>* failures,
                             absl::Duration timeout = absl::Seconds(60)) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::Status status = daemon.StopPod(id, absl::Seconds(20));
    if (status.ok() || absl::Now() > deadline) return status;
    failures->push_back(status);
    absl::SleepFor(absl::Milliseconds(100));
  }
}

// The owners (container ids) in host-local's store that no live sandbox of
// `daemon` accounts for.
std::vector<std::string> StrayAllocations(const TestEnv& env, TestDaemon& daemon) {
  auto pods = daemon.ListPods();
  EXPECT_TRUE(pods.ok()) << pods.status();
  std::set<std::string> live;
  for (const auto& pod : pods.value_or(std::vector<runtime::v1::PodSandbox>{})) {
    if (pod.state() == runtime::v1::SANDBOX_READY) live.insert(pod.id());
  }
  std::vector<std::string> stray;
  for (const auto& [ip, owner] : env.IpAllocations()) {
    if (!live.count(owner)) stray.push_back(absl::StrCat(ip, " held by ", owner));
  }
  return stray;
}

// The wrapper plugin `cvtest-bridge` in env.cni_bin_dir(); see the file
// comment. Its log has one line per event: "<pid> <COMMAND> <container id>
// <event>", event = "start netns=<path>", "blocked", "failed" or
// "bridge rc=<n>"; the stdin of each ADD/DEL goes to `stdin` as
// "<COMMAND> <container id> <json>".
class WrapperPlugin {
 public:
  static constexpr char kType[] = "cvtest-bridge";

  explicit WrapperPlugin(const TestEnv& env) : dir_(env.base_dir() + "/wrapper") {
    fs::create_directories(dir_);
    const std::string path = env.cni_bin_dir() + "/" + kType;
    std::ofstream(path) << "#!/bin/sh\nD=" << dir_ << "\n" << R"(in=$(cat)
if [ "$CNI_COMMAND" = VERSION ]; then printf '%s' "$in" | /usr/lib/cni/bridge; exit $?; fi
log() { echo "$$ $CNI_COMMAND $CNI_CONTAINERID $*" >> "$D/log"; }
log "start netns=$CNI_NETNS"
printf '%s %s %s\n' "$CNI_COMMAND" "$CNI_CONTAINERID" "$in" >> "$D/stdin"
if [ -e "$D/block-$CNI_COMMAND" ]; then
  log blocked
  i=0
  while [ ! -e "$D/release" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
fi
if [ -e "$D/fail-$CNI_COMMAND" ]; then
  n=$(cat "$D/fail-$CNI_COMMAND")
  if [ -z "$n" ] || [ "$n" -gt 0 ]; then
    if [ -n "$n" ]; then echo $((n - 1)) > "$D/fail-$CNI_COMMAND"; fi
    log failed
    printf '{"cniVersion":"1.0.0","code":100,"msg":"cvtest: injected %s failure"}' "$CNI_COMMAND"
    exit 1
  fi
fi
out=$(printf '%s' "$in" | /usr/lib/cni/bridge)
rc=$?
log "bridge rc=$rc"
printf '%s' "$out"
exit $rc
)";
    fs::permissions(path, fs::perms(0755));
  }

  // Lets every blocked call go on, then waits for the wrappers still running
  // (orphans of a killed daemon) and kills, by pid, any that hang.
  ~WrapperPlugin() {
    Release();
    for (const std::string& pid : Pids()) {
      int n = 0;
      if (!absl::SimpleAtoi(pid, &n)) continue;
      Eventually([&] { return !Running(n); }, absl::Seconds(10));
      if (Running(n)) kill(n, SIGKILL);
    }
  }

  // ADD or DEL fails while set; `times` < 0: until cleared.
  void Fail(const std::string& command, int times = -1) {
    std::ofstream(dir_ + "/fail-" + command) << (times < 0 ? "" : absl::StrCat(times));
  }
  void ClearFailure(const std::string& command) { fs::remove(dir_ + "/fail-" + command); }
  void Block(const std::string& command) { std::ofstream(dir_ + "/block-" + command) << ""; }
  void Unblock(const std::string& command) { fs::remove(dir_ + "/block-" + command); }
  void Release() { std::ofstream(dir_ + "/release") << ""; }

  std::string log() const { return ReadFile(dir_ + "/log"); }

  // The events of `command` for container `id`, in order; "<pid> " prefixed
  // if `with_pid`.
  std::vector<std::string> Events(const std::string& command, const std::string& id,
                                  bool with_pid = false) const {
    std::vector<std::string> events;
    for (absl::string_view line : absl::StrSplit(log(), '\n', absl::SkipEmpty())) {
      std::vector<std::string> words = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (words.size() < 4 || words[1] != command || words[2] != id) continue;
      events.push_back(with_pid ? absl::StrCat(words[0], " ", words[3]) : words[3]);
    }
    return events;
  }

  // Container ids of the calls of `command` that logged `event`.
  std::vector<std::string> IdsWith(const std::string& command, const std::string& event) const {
    std::vector<std::string> ids;
    for (absl::string_view line : absl::StrSplit(log(), '\n', absl::SkipEmpty())) {
      std::vector<std::string> words = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (words.size() == 4 && words[1] == command && words[3] == event) ids.push_back(words[2]);
    }
    return ids;
  }

  // The config the last `command` call for `id` read on stdin.
  nlohmann::json Stdin(const std::string& command, const std::string& id) const {
    nlohmann::json last;
    for (absl::string_view line : absl::StrSplit(ReadFile(dir_ + "/stdin"), '\n',
                                                 absl::SkipEmpty())) {
      std::vector<std::string> words = absl::StrSplit(line, absl::MaxSplits(' ', 2));
      if (words.size() == 3 && words[0] == command && words[1] == id) {
        last = nlohmann::json::parse(words[2], nullptr, /*allow_exceptions=*/false);
      }
    }
    return last;
  }

 private:
  std::set<std::string> Pids() const {
    std::set<std::string> pids;
    for (absl::string_view line : absl::StrSplit(log(), '\n', absl::SkipEmpty())) {
      pids.insert(std::string(line.substr(0, line.find(' '))));
    }
    return pids;
  }
  // Still one of our wrappers (not a recycled pid).
  static bool Running(int pid) {
    return absl::StrContains(ReadFile(absl::StrCat("/proc/", pid, "/cmdline")), kType);
  }

  const std::string dir_;
};

// A pod config with a host port mapping 8080 -> `host_port`/TCP.
runtime::v1::PodSandboxConfig WithPort(runtime::v1::PodSandboxConfig config, int host_port) {
  auto* mapping = config.add_port_mappings();
  mapping->set_protocol(runtime::v1::TCP);
  mapping->set_container_port(8080);
  mapping->set_host_port(host_port);
  return config;
}

// Starts RunPodSandbox for `config`, waits until the wrapper plugin blocks in
// its ADD, then kills the daemon with SIGKILL; returns the sandbox id ("" if
// ADD never blocked). The blocked plugin lives on as an orphan.
std::string RunThenKillDuringAdd(TestDaemon& daemon, WrapperPlugin& wrapper,
                                 const runtime::v1::PodSandboxConfig& config) {
  wrapper.Block("ADD");
  std::thread run([&] { (void)daemon.RunPod(config, absl::Seconds(30)); });
  std::string id;
  Eventually([&] {
    auto blocked = wrapper.IdsWith("ADD", "blocked");
    if (!blocked.empty()) id = blocked[0];
    return !id.empty();
  });
  daemon.Kill9();
  run.join();
  return id;
}

TEST(PodNetwork, PodGetsAnAddressFromTheEnvSubnet) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto id = daemon.RunPod(env.PodConfig("addr"));
  ASSERT_TRUE(id.ok()) << id.status() << daemon.log();

  const std::string ip = IpOf(daemon, *id);
  EXPECT_TRUE(env.InSubnet(ip)) << ip << " not in " << env.subnet();
  EXPECT_NE(ip, env.gateway());
  EXPECT_THAT(InPod(daemon, *id, "ip -o addr show eth0"),
              HasSubstr(absl::StrCat("inet ", ip, "/24")));
  EXPECT_THAT(InPod(daemon, *id, "ip -o link show lo"), HasSubstr("UP,LOWER_UP"));
  EXPECT_THAT(InPod(daemon, *id, "ip -o link show eth0"), HasSubstr(",UP,"));
  // The host side: one veth on the env's bridge; host-local holds the IP
  // for this sandbox.
  EXPECT_THAT(env.VethsOnBridge(), SizeIs(1));
  EXPECT_EQ(env.IpAllocations(), (std::map<std::string, std::string>{{ip, *id}}));

  ASSERT_TRUE(daemon.StopPod(*id).ok());
  EXPECT_EQ(IpOf(daemon, *id), "") << "a stopped sandbox reports no IP";
  EXPECT_THAT(env.Leaks(), IsEmpty()) << "stop released the IP and the veth";
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(PodNetwork, TwoPodsPingEachOther) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto a = daemon.RunPod(env.PodConfig("ping-a"));
  auto b = daemon.RunPod(env.PodConfig("ping-b"));
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  const std::string ip_a = IpOf(daemon, *a), ip_b = IpOf(daemon, *b);
  EXPECT_NE(ip_a, ip_b);
  for (const auto& [from, to] : {std::pair{*a, ip_b}, std::pair{*b, ip_a}}) {
    auto ping = Shell("nsenter --net=" + daemon.NetPin(from) + " /bin/busybox ping -c 1 -W 2 " + to);
    EXPECT_TRUE(ping.ok()) << ping.status();
    EXPECT_THAT(ping.value_or(""), HasSubstr("1 packets received"));
  }
  ASSERT_TRUE(daemon.RemovePod(*a).ok());
  ASSERT_TRUE(daemon.RemovePod(*b).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(PodNetwork, PortMappingReachesAServerInThePod) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  const int host_port = 18000 + getpid() % 2000;
  auto id = daemon.RunPod(WithPort(env.PodConfig("web"), host_port));
  ASSERT_TRUE(id.ok()) << id.status() << daemon.log();
  const std::string ip = IpOf(daemon, *id);
  ASSERT_TRUE(env.InSubnet(ip)) << ip;
  EXPECT_THAT(env.NatRulesOfOurs(), Contains(AllOf(HasSubstr(absl::StrCat(host_port)),
                                                   HasSubstr(ip + ":8080"))))
      << "portmap's DNAT to the pod";

  const std::string message = absl::StrCat("hello from pod ", *id, "\n");
  const std::string message_file = env.base_dir() + "/message";
  std::ofstream(message_file) << message;
  // One connection per nc; the loop serves a client that came too early.
  BackgroundProcess server(
      absl::StrCat("exec nsenter --net=", daemon.NetPin(*id),
                   " /bin/sh -c 'while :; do /bin/busybox nc -l -p 8080 < ", message_file,
                   "; done'"),
      env.base_dir() + "/server.log");
  std::string got;
  const std::string client = absl::StrCat("timeout 5 /bin/busybox nc -w 2 ", env.gateway(), " ",
                                          host_port, " </dev/null");
  EXPECT_TRUE(Eventually(
      [&] {
        got = Shell(client).value_or("");
        return got == message;
      },
      absl::Seconds(20)))
      << "host -> " << env.gateway() << ":" << host_port << " got \"" << got << "\"\n"
      << ReadFile(env.base_dir() + "/server.log");
  server.Kill();

  ASSERT_TRUE(daemon.StopPod(*id).ok());
  EXPECT_THAT(env.NatRulesOfOurs(), IsEmpty()) << "portmap DEL removed the DNAT";
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(PodNetwork, DnsConfigReachesResolvConfAndThePlugin) {
  TestEnv env;
  WrapperPlugin wrapper(env);
  env.WriteNetworkConfig(env.DefaultNetworkConfig(WrapperPlugin::kType, R"({"dns": true})"));
  TestDaemon& daemon = env.StartDaemon();
  auto config = env.PodConfig("dns");
  config.mutable_dns_config()->add_servers("10.96.0.10");
  config.mutable_dns_config()->add_searches("itest.svc.cluster.local");
  config.mutable_dns_config()->add_options("ndots:5");
  auto id = daemon.RunPod(config);
  ASSERT_TRUE(id.ok()) << id.status() << daemon.log();

  EXPECT_EQ(ReadFile(daemon.state() + "/sandboxes/" + *id + "/resolv.conf"),
            "search itest.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
  nlohmann::json add = wrapper.Stdin("ADD", *id);
  EXPECT_EQ(add["runtimeConfig"]["dns"], nlohmann::json::parse(R"({
      "servers": ["10.96.0.10"], "searches": ["itest.svc.cluster.local"],
      "options": ["ndots:5"]})"))
      << add.dump();
  EXPECT_EQ(add["name"], env.network_name());
  EXPECT_TRUE(env.InSubnet(IpOf(daemon, *id)));

  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  // DEL got the same capability arguments, from the cached result.
  EXPECT_EQ(wrapper.Stdin("DEL", *id)["runtimeConfig"]["dns"], add["runtimeConfig"]["dns"]);
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(PodNetwork, NetworkReadyFollowsTheConfigDirWithoutRestart) {
  TestEnv env;
  env.RemoveNetworkConfigs();
  TestDaemon& daemon = env.StartDaemon();
  auto condition = daemon.NetworkCondition();
  ASSERT_TRUE(condition.ok()) << condition.status();
  EXPECT_FALSE(condition->status());
  EXPECT_EQ(condition->reason(), "NetworkPluginNotReady");
  EXPECT_THAT(condition->message(), HasSubstr(env.cni_conf_dir()));

  // A pod asked for meanwhile fails with the reason, and keeps being retried.
  auto early = daemon.RunPod(env.PodConfig("early"));
  EXPECT_FALSE(early.ok());
  EXPECT_THAT(early.status().message(), HasSubstr("no CNI network config in " + env.cni_conf_dir()));

  env.WriteNetworkConfig(env.DefaultNetworkConfig());
  EXPECT_TRUE(Eventually([&] {
    auto now = daemon.NetworkCondition();
    return now.ok() && now->status();
  })) << "resync is 1s";
  auto ready = daemon.NetworkCondition();
  EXPECT_TRUE(ready->reason().empty() && ready->message().empty()) << ready->DebugString();

  auto pods = daemon.ListPods();
  ASSERT_THAT(*pods, SizeIs(1));
  const std::string id = (*pods)[0].id();
  EXPECT_TRUE(Eventually([&] { return StateOf(daemon, id) == runtime::v1::SANDBOX_READY; }))
      << daemon.log();
  auto retried = daemon.RunPod(env.PodConfig("early"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, id);
  EXPECT_TRUE(env.InSubnet(IpOf(daemon, id)));
  ASSERT_TRUE(daemon.RemovePod(id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

// (a) ADD fails: the call fails with the plugin's message, the sandbox is
// NOTREADY, dump shows the error and the next retry. Cleared, it converges;
// left, stop + remove (kubelet's way out) leaves nothing.
TEST(PodNetworkFailures, FailedAddIsReportedRetriedAndUndone) {
  TestEnv env;
  WrapperPlugin wrapper(env);
  env.WriteNetworkConfig(env.DefaultNetworkConfig(WrapperPlugin::kType));
  TestDaemon& daemon = env.StartDaemon();
  wrapper.Fail("ADD");

  auto recovers = daemon.RunPod(env.PodConfig("recovers"));
  auto abandoned = daemon.RunPod(env.PodConfig("abandoned"));
  for (const auto* run : {&recovers, &abandoned}) {
    EXPECT_FALSE(run->ok());
    EXPECT_THAT(run->status().message(), HasSubstr("cvtest: injected ADD failure"));
  }
  auto pods = daemon.ListPods();
  ASSERT_THAT(*pods, SizeIs(2)) << "listed at once, NOTREADY while being set up";
  std::map<std::string, std::string> ids;
  for (const auto& pod : *pods) {
    EXPECT_EQ(pod.state(), runtime::v1::SANDBOX_NOTREADY);
    ids[pod.metadata().name()] = pod.id();
  }
  EXPECT_EQ(StateOf(daemon, ids["recovers"]), runtime::v1::SANDBOX_NOTREADY);
  const std::string dump = RunfilePath("cmd/convergectl/convergectl") + " --root=" +
                           daemon.root() + " dump --diff";
  std::string shown;
  EXPECT_TRUE(Eventually([&] {
    shown = Shell(dump).value_or("");
    return absl::StrContains(shown, "last error:") &&
           absl::StrContains(shown, "cvtest: injected ADD failure") &&
           absl::StrContains(shown, ", next at 20");
  })) << shown;
  EXPECT_THAT(shown, HasSubstr(ids["recovers"]));
  EXPECT_THAT(env.IpAllocations(), IsEmpty()) << "the bridge never ran ADD";

  // kubelet gives up on one: stop + remove, with ADD still failing.
  ASSERT_TRUE(daemon.StopPod(ids["abandoned"]).ok());
  ASSERT_TRUE(daemon.RemovePod(ids["abandoned"]).ok());
  EXPECT_THAT(env.VethsOnBridge(), IsEmpty());

  // The other converges once the plugin works again.
  wrapper.ClearFailure("ADD");
  EXPECT_TRUE(Eventually([&] { return StateOf(daemon, ids["recovers"]) == runtime::v1::SANDBOX_READY; }))
      << daemon.log();
  auto retried = daemon.RunPod(env.PodConfig("recovers"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, ids["recovers"]);
  const std::string ip = IpOf(daemon, *retried);
  EXPECT_EQ(env.IpAllocations(), (std::map<std::string, std::string>{{ip, *retried}}));
  EXPECT_THAT(Shell(dump).value_or("x"), HasSubstr("0 not converged"));

  ASSERT_TRUE(daemon.StopPod(*retried).ok());
  ASSERT_TRUE(daemon.RemovePod(*retried).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

// (b) DEL fails 3 times, then works: stop (retried as kubelet does) and
// remove succeed, and the IP is released by exactly one DEL that reached
// the bridge plugin.
TEST(PodNetworkFailures, DelFailuresAreRetriedAndReleaseOnce) {
  TestEnv env;
  WrapperPlugin wrapper(env);
  env.WriteNetworkConfig(env.DefaultNetworkConfig(WrapperPlugin::kType));
  TestDaemon& daemon = env.StartDaemon();
  auto stopped = daemon.RunPod(env.PodConfig("stopped"));
  auto removed = daemon.RunPod(env.PodConfig("removed"));
  ASSERT_TRUE(stopped.ok() && removed.ok()) << stopped.status() << removed.status();
  ASSERT_THAT(env.IpAllocations(), SizeIs(2));

  wrapper.Fail("DEL", 3);
  std::vector<absl::Status> failures;
  ASSERT_TRUE(StopWithRetries(daemon, *stopped, &failures).ok()) << daemon.log();
  ASSERT_FALSE(failures.empty()) << "the first stop sees the DEL failure";
  EXPECT_THAT(failures[0].message(), HasSubstr("cvtest: injected DEL failure"));
  EXPECT_THAT(wrapper.Events("DEL", *stopped),
              ElementsAre("start netns=" + daemon.NetPin(*stopped), "failed",
                          "start netns=" + daemon.NetPin(*stopped), "failed",
                          "start netns=" + daemon.NetPin(*stopped), "failed",
                          "start netns=" + daemon.NetPin(*stopped), "bridge rc=0"));
  EXPECT_EQ(env.IpAllocations().size(), 1u) << "only the stopped pod's IP was released";
  ASSERT_TRUE(daemon.RemovePod(*stopped).ok());

  // Straight to remove, which waits through the retries.
  wrapper.Fail("DEL", 3);
  ASSERT_TRUE(daemon.RemovePod(*removed, absl::Seconds(120)).ok()) << daemon.log();
  std::vector<std::string> events = wrapper.Events("DEL", *removed);
  EXPECT_EQ(std::count(events.begin(), events.end(), "failed"), 3) << wrapper.log();
  EXPECT_EQ(std::count(events.begin(), events.end(), "bridge rc=0"), 1) << wrapper.log();
  EXPECT_EQ(events.back(), "bridge rc=0");
  EXPECT_THAT(*daemon.ListPods(), IsEmpty());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

// (c) kill -9 while a plugin runs ADD: the orphaned plugin finishes its ADD
// after the daemon died. After the restart, every IP in host-local's store
// belongs to a live sandbox (the orphan's allocation was undone before the
// setup was redone), and removal leaves none.
TEST(PodNetworkFailures, Kill9DuringAddLeavesNoStrayAddress) {
  TestEnv env;
  WrapperPlugin wrapper(env);
  env.WriteNetworkConfig(env.DefaultNetworkConfig(WrapperPlugin::kType));
  TestDaemon& daemon = env.StartDaemon();
  auto config = env.PodConfig("add-kill");
  const std::string id = RunThenKillDuringAdd(daemon, wrapper, config);
  ASSERT_FALSE(id.empty()) << wrapper.log();

  // The orphan goes on and allocates an IP for the sandbox.
  wrapper.Unblock("ADD");
  wrapper.Release();
  EXPECT_TRUE(Eventually([&] {
    return !wrapper.IdsWith("ADD", "bridge rc=0").empty();
  })) << wrapper.log();
  ASSERT_THAT(env.IpAllocations(), SizeIs(1));
  EXPECT_EQ(env.IpAllocations().begin()->second, id);

  daemon.Start();
  auto retried = daemon.RunPod(config);
  ASSERT_TRUE(retried.ok()) << retried.status() << daemon.log();
  EXPECT_EQ(*retried, id);
  EXPECT_THAT(StrayAllocations(env, daemon), IsEmpty());
  EXPECT_EQ(env.IpAllocations(), (std::map<std::string, std::string>{{IpOf(daemon, id), id}}));
  EXPECT_THAT(env.VethsOnBridge(), SizeIs(1));
  // How: the restarted daemon undid the half-done setup (DEL with the config
  // recorded before the ADD began, no result) before it ran ADD again.
  const std::string start = "start netns=" + daemon.NetPin(id);
  EXPECT_THAT(wrapper.Events("ADD", id),
              ElementsAre(start, "blocked", "bridge rc=0", start, "bridge rc=0"))
      << wrapper.log();
  EXPECT_THAT(wrapper.Events("DEL", id), ElementsAre(start, "bridge rc=0")) << wrapper.log();

  ASSERT_TRUE(daemon.StopPod(id).ok());
  ASSERT_TRUE(daemon.RemovePod(id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

// (c) again, but the orphaned ADD goes on only after the restarted daemon
// has set the sandbox up: it finds eth0 taken and fails before it reaches
// IPAM, so the sandbox keeps its one IP.
TEST(PodNetworkFailures, Kill9DuringAddWithALateOrphan) {
  TestEnv env;
  WrapperPlugin wrapper(env);
  env.WriteNetworkConfig(env.DefaultNetworkConfig(WrapperPlugin::kType));
  TestDaemon& daemon = env.StartDaemon();
  auto config = env.PodConfig("late-orphan");
  const std::string id = RunThenKillDuringAdd(daemon, wrapper, config);
  ASSERT_FALSE(id.empty()) << wrapper.log();
  wrapper.Unblock("ADD");  // the orphan stays blocked until Release()

  daemon.Start();
  auto retried = daemon.RunPod(config);
  ASSERT_TRUE(retried.ok()) << retried.status() << daemon.log();
  ASSERT_EQ(*retried, id);
  const std::string ip = IpOf(daemon, id);
  EXPECT_EQ(env.IpAllocations(), (std::map<std::string, std::string>{{ip, id}}));

  wrapper.Release();
  std::vector<std::string> done;
  EXPECT_TRUE(Eventually([&] {
    done = wrapper.Events("ADD", id);
    return done.size() == 5;  // the orphan's start, blocked, rc; the new start, rc
  })) << wrapper.log();
  EXPECT_THAT(done, Contains("bridge rc=1")) << "the late ADD failed: " << wrapper.log();
  EXPECT_EQ(env.IpAllocations(), (std::map<std::string, std::string>{{ip, id}}));
  EXPECT_THAT(StrayAllocations(env, daemon), IsEmpty());
  EXPECT_EQ(StateOf(daemon, id), runtime::v1::SANDBOX_READY);
  EXPECT_THAT(InPod(daemon, id, "ip -o addr show eth0"), HasSubstr("inet " + ip + "/24"));

  ASSERT_TRUE(daemon.RemovePod(id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

// (c) kill -9 while a plugin runs DEL: the restarted daemon runs DEL again
// (kubelet retries the stop), the orphaned DEL finishes later; nothing is
// left allocated, and removal leaves nothing.
TEST(PodNetworkFailures, Kill9DuringDelLeavesNoStrayAddress) {
  TestEnv env;
  WrapperPlugin wrapper(env);
  env.WriteNetworkConfig(env.DefaultNetworkConfig(WrapperPlugin::kType));
  TestDaemon& daemon = env.StartDaemon();
  auto keep = daemon.RunPod(env.PodConfig("keep"));
  auto id = daemon.RunPod(env.PodConfig("del-kill"));
  ASSERT_TRUE(keep.ok() && id.ok()) << keep.status() << id.status();

  wrapper.Block("DEL");
  std::thread stop([&] { (void)daemon.StopPod(*id, absl::Seconds(30)); });
  EXPECT_TRUE(Eventually([&] {
    auto blocked = wrapper.IdsWith("DEL", "blocked");
    return std::find(blocked.begin(), blocked.end(), *id) != blocked.end();
  })) << wrapper.log();
  daemon.Kill9();
  stop.join();
  wrapper.Unblock("DEL");  // the orphan stays blocked until Release()

  daemon.Start();
  std::vector<absl::Status> failures;
  ASSERT_TRUE(StopWithRetries(daemon, *id, &failures).ok()) << daemon.log();
  EXPECT_THAT(StrayAllocations(env, daemon), IsEmpty());
  EXPECT_EQ(env.IpAllocations(), (std::map<std::string, std::string>{{IpOf(daemon, *keep), *keep}}));

  wrapper.Release();
  EXPECT_TRUE(Eventually([&] {
    auto done = wrapper.IdsWith("DEL", "bridge rc=0");
    return std::count(done.begin(), done.end(), *id) == 2;
  })) << "the restarted daemon's DEL and the orphan's\n" << wrapper.log();
  EXPECT_THAT(StrayAllocations(env, daemon), IsEmpty());

  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  ASSERT_TRUE(daemon.RemovePod(*keep).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

// (d) Someone unmounts the netns pin: the sandbox goes NOTREADY, DEL still
// runs (without a netns: the pin file is no namespace any more) and the IP
// is released.
TEST(PodNetworkFailures, LostNetnsStillReleasesTheAddress) {
  TestEnv env;
  WrapperPlugin wrapper(env);
  env.WriteNetworkConfig(env.DefaultNetworkConfig(WrapperPlugin::kType));
  TestDaemon& daemon = env.StartDaemon();
  auto id = daemon.RunPod(env.PodConfig("lost"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_THAT(env.IpAllocations(), SizeIs(1));

  ASSERT_EQ(umount2(daemon.NetPin(*id).c_str(), MNT_DETACH), 0);
  EXPECT_TRUE(Eventually([&] { return StateOf(daemon, *id) == runtime::v1::SANDBOX_NOTREADY; }));
  EXPECT_TRUE(Eventually([&] { return wrapper.Events("DEL", *id).size() >= 2; }))
      << wrapper.log();
  EXPECT_THAT(wrapper.Events("DEL", *id), ElementsAre("start netns=", "bridge rc=0"));
  EXPECT_THAT(env.IpAllocations(), IsEmpty());
  EXPECT_TRUE(Eventually([&] { return env.Leaks().empty(); }))
      << ::testing::PrintToString(env.Leaks());
  auto status = daemon.PodStatus(*id, /*verbose=*/true);
  EXPECT_THAT(status->info().at("info"), HasSubstr("net namespace pin"));
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

}  // namespace
}  // namespace converge::testing

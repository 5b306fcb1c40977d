// Root integration tests: real converged processes, driven through their CRI
// sockets, creating real namespaces, pins and cgroups on this machine.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace converge::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string Pin(const TestDaemon& daemon, const std::string& id, const std::string& kind) {
  return absl::StrCat(daemon.state(), "/ns/", id, "-", kind);
}

bool IsMounted(const TestEnv& env, const std::string& path) {
  for (const std::string& mount : env.MountsUnder(env.base_dir())) {
    if (mount == path) return true;
  }
  return false;
}

runtime::v1::PodSandboxState StateOf(TestDaemon& daemon, const std::string& id) {
  auto status = daemon.PodStatus(id);
  EXPECT_TRUE(status.ok()) << status.status();
  return status.ok() ? status->status().state() : runtime::v1::SANDBOX_NOTREADY;
}

TEST(SandboxLifecycle, RunStatusStopRemove) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto id = daemon.RunPod(env.PodConfig("web"));
  ASSERT_TRUE(id.ok()) << id.status() << daemon.log();

  auto status = daemon.PodStatus(*id, /*verbose=*/true);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->status().state(), runtime::v1::SANDBOX_READY);
  EXPECT_EQ(status->status().metadata().name(), "web");
  EXPECT_TRUE(status->status().has_network()) << "kubelet checks network.ip only when present";
  const std::string ip = status->status().network().ip();
  EXPECT_TRUE(env.InSubnet(ip)) << ip << " not in " << env.subnet();
  EXPECT_EQ(env.IpAllocations(), (std::map<std::string, std::string>{{ip, *id}}));
  EXPECT_EQ(status->timestamp(), 0) << "no container statuses yet: no evented-PLEG timestamp";
  EXPECT_THAT(status->info().at("info"), HasSubstr("\"phase\":\"SANDBOX_PHASE_READY\""));

  for (const char* kind : {"net", "uts", "ipc"}) {
    EXPECT_TRUE(IsMounted(env, Pin(daemon, *id, kind))) << kind;
  }
  auto hostname = Shell("nsenter --uts=" + Pin(daemon, *id, "uts") + " hostname");
  ASSERT_TRUE(hostname.ok()) << hostname.status();
  EXPECT_EQ(*hostname, "web\n");
  auto lo = Shell("nsenter --net=" + Pin(daemon, *id, "net") + " ip -o link show lo");
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_THAT(*lo, HasSubstr("UP,LOWER_UP"));
  auto links = Shell("nsenter --net=" + Pin(daemon, *id, "net") + " ip -o link show");
  ASSERT_TRUE(links.ok()) << links.status();
  EXPECT_THAT(std::vector<std::string>(absl::StrSplit(*links, '\n', absl::SkipEmpty())), SizeIs(2))
      << "a fresh netns, lo and the pod's eth0 only: " << *links;
  EXPECT_THAT(*links, HasSubstr(": eth0@if")) << "a veth";
  auto addr = Shell("nsenter --net=" + Pin(daemon, *id, "net") + " ip -o -4 addr show eth0");
  EXPECT_THAT(addr.value_or(""), HasSubstr(absl::StrCat("inet ", ip, "/24")));
  EXPECT_THAT(env.CgroupsUnder("/pod-web"), Contains(HasSubstr("converge-" + *id)));

  ASSERT_TRUE(daemon.StopPod(*id).ok());
  EXPECT_EQ(StateOf(daemon, *id), runtime::v1::SANDBOX_NOTREADY);
  for (const char* kind : {"net", "uts", "ipc"}) {
    EXPECT_FALSE(IsMounted(env, Pin(daemon, *id, kind))) << kind;
  }
  EXPECT_THAT(env.Leaks(), IsEmpty()) << "stop releases the IP and the veth";
  ASSERT_TRUE(daemon.StopPod(*id).ok()) << "stop is idempotent";

  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  EXPECT_THAT(*daemon.ListPods(), IsEmpty());
  EXPECT_EQ(daemon.PodStatus(*id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(daemon.RemovePod(*id).ok()) << "remove is idempotent";
  EXPECT_TRUE(daemon.StopPod(*id).ok()) << "stop of a removed sandbox succeeds";
  daemon.Stop();
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, ResolvConfAndHostnameFilesFollowTheConfig) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto config = env.PodConfig("dns");
  config.mutable_dns_config()->add_servers("10.96.0.10");
  config.mutable_dns_config()->add_searches("itest.svc.cluster.local");
  config.mutable_dns_config()->add_options("ndots:5");
  auto id = daemon.RunPod(config);
  ASSERT_TRUE(id.ok()) << id.status();
  const std::string dir = daemon.state() + "/sandboxes/" + *id;
  EXPECT_EQ(*Shell("cat " + dir + "/resolv.conf"),
            "search itest.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
  EXPECT_EQ(*Shell("cat " + dir + "/hostname"), "dns\n");

  auto plain = daemon.RunPod(env.PodConfig("nodns"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*Shell("cat " + daemon.state() + "/sandboxes/" + *plain + "/resolv.conf"),
            Shell("cat /etc/resolv.conf").value_or("")) << "no DNS config: the node's";

  ASSERT_TRUE(daemon.StopPod(*id).ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  ASSERT_TRUE(daemon.RemovePod(*plain).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, SysctlsApplyInsideThePodOnly) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto config = env.PodConfig("tuned");
  (*config.mutable_linux()->mutable_sysctls())["net.ipv4.ip_unprivileged_port_start"] = "0";
  (*config.mutable_linux()->mutable_sysctls())["kernel.shm_rmid_forced"] = "1";
  auto host_port_start = Shell("cat /proc/sys/net/ipv4/ip_unprivileged_port_start");
  auto id = daemon.RunPod(config);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*Shell("nsenter --net=" + Pin(daemon, *id, "net") +
                   " cat /proc/sys/net/ipv4/ip_unprivileged_port_start"),
            "0\n");
  EXPECT_EQ(*Shell("nsenter --ipc=" + Pin(daemon, *id, "ipc") + " cat /proc/sys/kernel/shm_rmid_forced"),
            "1\n");
  EXPECT_EQ(*Shell("cat /proc/sys/net/ipv4/ip_unprivileged_port_start"), *host_port_start);

  auto node_wide = env.PodConfig("node-wide");
  (*node_wide.mutable_linux()->mutable_sysctls())["vm.swappiness"] = "1";
  EXPECT_EQ(daemon.RunPod(node_wide).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, RemoveOfReadySandboxTearsDown) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto id = daemon.RunPod(env.PodConfig("direct"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(daemon.RemovePod(id->substr(0, 12)).ok()) << "crictl-style id prefix";
  EXPECT_THAT(*daemon.ListPods(), IsEmpty());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, HostNamespacesAndRetriedRuns) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto config = env.PodConfig("host");
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
      runtime::v1::NODE);
  auto id = daemon.RunPod(config);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_FALSE(IsMounted(env, Pin(daemon, *id, "net")));
  EXPECT_FALSE(IsMounted(env, Pin(daemon, *id, "uts")));
  EXPECT_TRUE(IsMounted(env, Pin(daemon, *id, "ipc")));

  // kubelet retries a RunPodSandbox that timed out: same sandbox, no "name reserved".
  std::vector<std::thread> retries;
  std::vector<absl::StatusOr<std::string>> results(8);
  for (int i = 0; i < 8; ++i) {
    retries.emplace_back([&, i] { results[i] = daemon.RunPod(config); });
  }
  for (auto& thread : retries) thread.join();
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(*result, *id);
  }
  EXPECT_THAT(*daemon.ListPods(), SizeIs(1));

  // A new attempt is a new sandbox; a stopped one keeps its name reserved.
  auto second = daemon.RunPod(env.PodConfig("host", 1));
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, *id);
  ASSERT_TRUE(daemon.StopPod(*id).ok());
  auto reserved = daemon.RunPod(config);
  EXPECT_EQ(reserved.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(reserved.status().message(), HasSubstr(*id));

  runtime::v1::PodSandboxFilter ready;
  ready.mutable_state()->set_state(runtime::v1::SANDBOX_READY);
  auto listed = daemon.ListPods(ready);
  ASSERT_THAT(*listed, SizeIs(1));
  EXPECT_EQ((*listed)[0].id(), *second);
  runtime::v1::PodSandboxFilter by_prefix;
  by_prefix.set_id(id->substr(0, 10));
  EXPECT_THAT(*daemon.ListPods(by_prefix), SizeIs(1));
  runtime::v1::PodSandboxFilter by_label;
  (*by_label.mutable_label_selector())["app"] = "nope";
  EXPECT_THAT(*daemon.ListPods(by_label), IsEmpty());

  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  ASSERT_TRUE(daemon.RemovePod(*second).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, BadInputIsRefusedAndChangesNothing) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  struct Case {
    std::string field;
    std::function<void(runtime::v1::PodSandboxConfig&)> mutate;
  };
  const std::vector<Case> cases = {
      {"config.metadata:", [](auto& c) { c.clear_metadata(); }},
      {"config.metadata.name", [](auto& c) { c.mutable_metadata()->clear_name(); }},
      {"config.metadata.uid", [](auto& c) { c.mutable_metadata()->clear_uid(); }},
      {"config.metadata.namespace", [](auto& c) { c.mutable_metadata()->clear_namespace_(); }},
      {"config.log_directory", [](auto& c) { c.set_log_directory("relative/logs"); }},
      {"config.log_directory", [](auto& c) { c.set_log_directory("/var/log/pods/../../etc"); }},
      {"config.linux.cgroup_parent", [](auto& c) { c.mutable_linux()->set_cgroup_parent("../x"); }},
      {"namespace_options.network",
       [](auto& c) {
         c.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
             static_cast<runtime::v1::NamespaceMode>(9));
       }},
  };
  for (const Case& c : cases) {
    auto config = env.PodConfig("bad");
    c.mutate(config);
    auto id = daemon.RunPod(config);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(id.status().message(), HasSubstr(c.field));
  }
  EXPECT_THAT(*daemon.ListPods(), IsEmpty());
  EXPECT_TRUE(daemon.StopPod("0123456789abcdef").ok());
  EXPECT_TRUE(daemon.RemovePod("0123456789abcdef").ok());
  EXPECT_EQ(daemon.PodStatus("0123456789abcdef").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(daemon.StopPod("").code(), absl::StatusCode::kInvalidArgument);
  daemon.Stop();
  auto dump = Shell(RunfilePath("cmd/convergectl/convergectl") + " --root=" + daemon.root() +
                    " dump --json");
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_EQ(*dump, "[]\n") << "nothing was written";
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, FiftyConcurrentSandboxes) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon({"--workers=4"});
  constexpr int kPods = 50;
  std::vector<absl::StatusOr<std::string>> ids(kPods);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPods; ++i) {
    threads.emplace_back([&, i] { ids[i] = daemon.RunPod(env.PodConfig(absl::StrCat("p", i))); });
  }
  for (auto& thread : threads) thread.join();
  threads.clear();
  std::set<std::string> distinct;
  for (const auto& id : ids) {
    ASSERT_TRUE(id.ok()) << id.status();
    distinct.insert(*id);
  }
  EXPECT_THAT(distinct, SizeIs(kPods));
  runtime::v1::PodSandboxFilter ready;
  ready.mutable_state()->set_state(runtime::v1::SANDBOX_READY);
  EXPECT_THAT(*daemon.ListPods(ready), SizeIs(kPods));
  EXPECT_THAT(env.MountsUnder(daemon.state() + "/ns"), SizeIs(kPods * 3));
  EXPECT_THAT(env.IpAllocations(), SizeIs(kPods)) << "one IP each";
  EXPECT_THAT(env.VethsOnBridge(), SizeIs(kPods));

  std::vector<absl::Status> removed(kPods);
  for (int i = 0; i < kPods; ++i) {
    threads.emplace_back([&, i] {
      removed[i] = daemon.StopPod(*ids[i]);
      if (removed[i].ok()) removed[i] = daemon.RemovePod(*ids[i]);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& status : removed) EXPECT_TRUE(status.ok()) << status;
  EXPECT_THAT(*daemon.ListPods(), IsEmpty());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, DriftIsObservedAndNotReadyIsFinal) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto id = daemon.RunPod(env.PodConfig("drift"));
  ASSERT_TRUE(id.ok()) << id.status();
  // Someone unmounts the network namespace pin behind converge's back.
  ASSERT_EQ(umount2(Pin(daemon, *id, "net").c_str(), MNT_DETACH), 0);
  EXPECT_TRUE(Eventually([&] { return StateOf(daemon, *id) == runtime::v1::SANDBOX_NOTREADY; }));
  EXPECT_TRUE(Eventually([&] { return env.Leaks().empty(); })) << ::testing::PrintToString(env.Leaks());
  auto status = daemon.PodStatus(*id, /*verbose=*/true);
  EXPECT_THAT(status->info().at("info"), HasSubstr("net namespace pin"));
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
}

TEST(SandboxLifecycle, RestartKeepsSandboxesAndCollectsOrphans) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto id = daemon.RunPod(env.PodConfig("stay"));
  ASSERT_TRUE(id.ok()) << id.status();
  daemon.Stop();
  // A pin no record knows, as a lost daemon might have left.
  const std::string orphan = daemon.state() + "/ns/feedface-net";
  ASSERT_TRUE(Shell("touch " + orphan + " && mount --bind /proc/self/ns/net " + orphan).ok());
  daemon.Start();
  EXPECT_FALSE(IsMounted(env, orphan));
  EXPECT_FALSE(std::filesystem::exists(orphan));
  EXPECT_EQ(StateOf(daemon, *id), runtime::v1::SANDBOX_READY) << "a restart recreates nothing";
  EXPECT_TRUE(IsMounted(env, Pin(daemon, *id, "net")));
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, TwoDaemonsSideBySide) {
  TestEnv env;
  TestDaemon& a = env.StartDaemon();
  TestDaemon& b = env.StartDaemon();
  auto in_a = a.RunPod(env.PodConfig("twin"));
  auto in_b = b.RunPod(env.PodConfig("twin"));
  ASSERT_TRUE(in_a.ok() && in_b.ok());
  EXPECT_NE(*in_a, *in_b);
  ASSERT_THAT(*a.ListPods(), SizeIs(1));
  EXPECT_EQ((*a.ListPods())[0].id(), *in_a);
  ASSERT_TRUE(a.RemovePod(*in_a).ok());
  a.Stop();
  a.Start();  // a restart of A must not collect B's pins
  EXPECT_EQ(StateOf(b, *in_b), runtime::v1::SANDBOX_READY);
  EXPECT_TRUE(IsMounted(env, Pin(b, *in_b, "net")));
  ASSERT_TRUE(b.RemovePod(*in_b).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

TEST(SandboxLifecycle, StatusConfigAndNotYetImplemented) {
  TestEnv env;
  env.RemoveNetworkConfigs();
  TestDaemon& daemon = env.StartDaemon();
  grpc::ClientContext status_context;
  runtime::v1::StatusResponse status;
  ASSERT_TRUE(daemon.cri().Status(&status_context, runtime::v1::StatusRequest(), &status).ok());
  ASSERT_EQ(status.status().conditions_size(), 2);
  EXPECT_EQ(status.status().conditions(0).type(), "RuntimeReady");
  EXPECT_TRUE(status.status().conditions(0).status());
  EXPECT_EQ(status.status().conditions(1).type(), "NetworkReady");
  EXPECT_FALSE(status.status().conditions(1).status()) << "no CNI config: report the truth";
  EXPECT_EQ(status.status().conditions(1).reason(), "NetworkPluginNotReady");
  EXPECT_THAT(status.status().conditions(1).message(), HasSubstr(env.cni_conf_dir()));

  grpc::ClientContext config_context;
  runtime::v1::RuntimeConfigResponse config;
  ASSERT_TRUE(daemon.cri()
                  .RuntimeConfig(&config_context, runtime::v1::RuntimeConfigRequest(), &config)
                  .ok());
  EXPECT_EQ(config.linux().cgroup_driver(), runtime::v1::CGROUPFS);

  grpc::ClientContext attach_context;
  runtime::v1::AttachResponse attached;
  grpc::Status attach =
      daemon.cri().Attach(&attach_context, runtime::v1::AttachRequest(), &attached);
  EXPECT_EQ(attach.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(attach.error_message(), HasSubstr("Attach"));
}

TEST(SandboxLifecycle, DumpWorksWhileRunningAndAfterKill9) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  auto id = daemon.RunPod(env.PodConfig("seen"));
  ASSERT_TRUE(id.ok());
  const std::string dump = RunfilePath("cmd/convergectl/convergectl") + " --root=" + daemon.root() + " dump";
  auto live = Shell(dump + " --json");
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_THAT(*live, HasSubstr(absl::StrCat("{\"id\":\"", *id, "\",\"converged\":true")));
  daemon.Kill9();
  auto dead = Shell(dump);
  ASSERT_TRUE(dead.ok()) << dead.status();
  EXPECT_THAT(*dead, HasSubstr("1 sandboxes, 0 not converged"));
  EXPECT_THAT(*dead, HasSubstr("pin net:"));
  daemon.Start();
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

}  // namespace
}  // namespace converge::testing

// Test harness for root integration tests: runs real `converged` processes
// on private directories, a private cgroup parent and a private pod network,
// talks CRI to them over their unix sockets, and finds (and cleans up)
// anything they left behind.
//
//   TestEnv env;                        // /tmp/cvit-<pid>-<n>, cgroup parent,
//                                       // bridge + /24 + portmap via CNI
//   TestDaemon& daemon = env.StartDaemon();
//   auto id = daemon.RunPod(env.PodConfig("web"));
//   ...
//   EXPECT_THAT(env.Leaks(), IsEmpty());
//   // ~TestEnv kills daemons, unmounts, deletes the bridge, its veths and
//   // the nat rules portmap made, restores net.ipv4.ip_forward, removes
//   // cgroups and directories.
#ifndef CONVERGE_TESTS_INTEGRATION_HARNESS_H_
#define CONVERGE_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/cri/api.grpc.pb.h"

namespace converge::testing {

// Path of a binary built by Bazel, from the test's runfiles.
std::string RunfilePath(const std::string& workspace_relative);

class TestDaemon {
 public:
  // CNI configs are read from `cni_conf_dir`; plugins are searched in
  // `cni_bin_dirs` (':'-separated).
  TestDaemon(std::string name, std::string base_dir, std::string cgroup_parent,
             std::string cni_conf_dir, std::string cni_bin_dirs);
  ~TestDaemon();

  // Starts converged with this daemon's directories plus `extra_flags`, and
  // waits until it answers Version (if `wait` is true).
  void Start(const std::vector<std::string>& extra_flags = {}, bool wait = true);
  // kill -9, then reap.
  void Kill9();
  // SIGTERM, then reap; expects a clean exit.
  void Stop();
  // Waits for the process to exit by itself; returns its wait status.
  int WaitExit(absl::Duration timeout);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const std::string& socket() const { return socket_; }
  const std::string& root() const { return root_; }
  const std::string& state() const { return state_; }
  std::string log() const;

  runtime::v1::RuntimeService::Stub& cri() { return *stub_; }

  // RunPodSandbox with a deadline; returns the id or the gRPC error.
  absl::StatusOr<std::string> RunPod(const runtime::v1::PodSandboxConfig& config,
                                     absl::Duration timeout = absl::Seconds(60));
  absl::Status StopPod(const std::string& id, absl::Duration timeout = absl::Seconds(60));
  absl::Status RemovePod(const std::string& id, absl::Duration timeout = absl::Seconds(60));
  absl::StatusOr<runtime::v1::PodSandboxStatusResponse> PodStatus(const std::string& id,
                                                                  bool verbose = false);
  absl::StatusOr<std::vector<runtime::v1::PodSandbox>> ListPods(
      const runtime::v1::PodSandboxFilter& filter = {});
  // Containers, each call with a deadline.
  absl::StatusOr<std::string> CreateContainer(const std::string& pod_id,
                                              const runtime::v1::ContainerConfig& config,
                                              const runtime::v1::PodSandboxConfig& pod_config,
                                              absl::Duration timeout = absl::Seconds(60));
  absl::Status StartContainer(const std::string& id, absl::Duration timeout = absl::Seconds(60));
  absl::Status StopContainer(const std::string& id, int64_t grace_seconds,
                             absl::Duration timeout = absl::Seconds(60));
  absl::Status RemoveContainer(const std::string& id, absl::Duration timeout = absl::Seconds(60));
  absl::StatusOr<runtime::v1::ContainerStatusResponse> ContainerStatus(const std::string& id,
                                                                       bool verbose = false);
  absl::StatusOr<runtime::v1::ExecSyncResponse> ExecSync(const std::string& id,
                                                         const std::vector<std::string>& cmd,
                                                         int64_t timeout_seconds = 10);
  // Polls ContainerStatus until the container is in `state`.
  absl::StatusOr<runtime::v1::ContainerStatus> AwaitContainerState(
      const std::string& id, runtime::v1::ContainerState state,
      absl::Duration timeout = absl::Seconds(30));
  // Pulls `image` through this daemon's ImageService.
  absl::StatusOr<std::string> PullImage(const std::string& image,
                                        absl::Duration timeout = absl::Seconds(120));

  // CRI Status: the NetworkReady condition (status, message).
  absl::StatusOr<runtime::v1::RuntimeCondition> NetworkCondition();

  // The net namespace pin of a sandbox of this daemon.
  std::string NetPin(const std::string& id) const;
  // Every sandbox id this daemon returned or listed so far (to attribute
  // leftovers to this test).
  std::set<std::string> SeenIds() const;

 private:
  void See(const std::string& id);

  const std::string name_;
  const std::string cni_conf_dir_, cni_bin_dirs_;
  const std::string socket_, root_, state_, log_path_, cgroup_parent_;
  mutable absl::Mutex ids_mu_;
  std::set<std::string> seen_ids_ ABSL_GUARDED_BY(ids_mu_);
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> stub_;
};

// One test's private world. Everything it makes lives under base_dir() or
// cgroup_parent(), and the destructor removes all of it, even after a failure.
class TestEnv {
 public:
  TestEnv();
  ~TestEnv();

  const std::string& base_dir() const { return base_dir_; }
  const std::string& cgroup_parent() const { return cgroup_parent_; }

  // The pod network. Daemons read CNI configs in cni_conf_dir(), which
  // starts with DefaultNetworkConfig() in kNetworkConfigFile: a bridge of
  // this env's own (isGateway, hairpinMode, no ipMasq), host-local IPAM on a
  // /24 of its own inside 10.200.0.0/16..10.249.0.0/16 (checked against
  // `ip route`) with its store under base_dir(), and portmap (capability
  // portMappings). Plugins are searched in cni_bin_dir() (empty; for test
  // plugins), then /usr/lib/cni.
  static constexpr char kNetworkConfigFile[] = "10-cvit.conflist";
  std::string cni_conf_dir() const { return base_dir_ + "/cni/net.d"; }
  std::string cni_bin_dir() const { return base_dir_ + "/cni/bin"; }
  const std::string& bridge() const { return bridge_; }
  const std::string& network_name() const { return network_name_; }
  // "10.X.Y.0/24"; gateway() is "10.X.Y.1", the bridge's address.
  std::string subnet() const { return subnet_prefix_ + "0/24"; }
  std::string gateway() const { return subnet_prefix_ + "1"; }
  bool InSubnet(const std::string& ip) const;
  // host-local's store for this network: one file per allocated IP, named
  // by it, holding the container id.
  std::string ipam_dir() const { return base_dir_ + "/cni/ipam/" + network_name_; }

  // The default conflist, with `main_type` as the interface plugin's type
  // (a test's wrapper around bridge) and `main_capabilities` (a JSON object,
  // e.g. R"({"dns": true})") declared by it.
  std::string DefaultNetworkConfig(const std::string& main_type = "bridge",
                                   const std::string& main_capabilities = "") const;
  // Replaces kNetworkConfigFile atomically (write, then rename).
  void WriteNetworkConfig(const std::string& conflist) const;
  // Empties cni_conf_dir(): the network is then not ready.
  void RemoveNetworkConfigs() const;

  // Pod-network objects on the host: allocated IP -> container id in
  // host-local's store; veths enslaved to bridge(); nat rules naming this
  // network, its subnet or a sandbox of ours.
  std::map<std::string, std::string> IpAllocations() const;
  std::vector<std::string> VethsOnBridge() const;
  std::vector<std::string> NatRulesOfOurs() const;

  TestDaemon& NewDaemon(const std::string& name = "d");
  TestDaemon& StartDaemon(const std::vector<std::string>& extra_flags = {});

  // A minimal valid sandbox config whose cgroup lives under cgroup_parent().
  runtime::v1::PodSandboxConfig PodConfig(const std::string& name, uint32_t attempt = 0) const;

  // What our daemons left on the host: mounts under base_dir(), cgroups under
  // cgroup_parent() in any hierarchy, pin files, sandbox files, IPs held in
  // host-local's store, veths on bridge(), nat rules and CNI-DN-* chains of
  // ours (see NatRulesOfOurs). Empty when clean. (net.ipv4.ip_forward is
  // restored by the last ~TestEnv alive on the host and checked there.)
  std::vector<std::string> Leaks() const;

  // Processes whose command line mentions base_dir() (pod monitors) or that
  // sit in a cgroup below cgroup_parent(): "pid cmdline".
  std::vector<std::string> ProcessesOfOurs() const;

  // Mount points below base_dir() (from /proc/self/mountinfo).
  std::vector<std::string> MountsUnder(const std::string& dir) const;
  // Cgroup directories below cgroup_parent() + suffix in every hierarchy.
  std::vector<std::string> CgroupsUnder(const std::string& suffix = "") const;

 private:
  // Network half (harness_network.cc): picks the bridge, network name and
  // subnet, records the nat table and ip_forward, writes the default config.
  void SetUpNetwork();
  // Sandbox ids any of our daemons saw, plus the owners in the IPAM store.
  std::set<std::string> OurIds() const;
  bool MentionsUs(const std::string& rule, const std::set<std::string>& ids) const;
  // CNI-DN-* chains of ours: jumped to or filled by rules of ours, or new
  // since construction and unreferenced.
  std::set<std::string> DnatChainsOfOurs(const std::vector<std::string>& rules,
                                         const std::set<std::string>& ids) const;
  void CleanNetwork(const std::set<std::string>& ids);

  int index_ = 0;    // n: how many TestEnvs this process made before
  std::string tag_;  // "<pid>-<n>"
  std::string base_dir_;
  std::string cgroup_parent_;
  std::string bridge_, network_name_, subnet_prefix_;
  std::set<std::string> nat_before_;  // `iptables -t nat -S` at construction
  std::vector<std::unique_ptr<TestDaemon>> daemons_;
};

// The whole file; "" when it cannot be read.
std::string ReadFile(const std::string& path);

// Runs a shell command; returns stdout, or an error with the output.
absl::StatusOr<std::string> Shell(const std::string& command);

// `iptables -w -t nat -S`, one rule or chain per line.
std::vector<std::string> NatTable();

// A process started in the background (its own process group) and killed
// (SIGKILL to the group) and reaped by the destructor or Kill().
class BackgroundProcess {
 public:
  // Runs `command` with /bin/sh -c; stdout and stderr go to `log_path`.
  BackgroundProcess(const std::string& command, const std::string& log_path);
  ~BackgroundProcess() { Kill(); }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Kill();
  // Waits up to `timeout` for the process to exit by itself; true if it did.
  bool WaitExit(absl::Duration timeout);

 private:
  pid_t pid_ = -1;
};

// Polls `predicate` every 50ms until it holds or `timeout` passes; returns
// its last value. The bound only turns a hang into a failure.
template <typename Predicate>
bool Eventually(Predicate predicate, absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (predicate()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return predicate();
}

}  // namespace converge::testing

#endif  // CONVERGE_TESTS_INTEGRATION_HARNESS_H_

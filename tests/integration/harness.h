// Test harness for root integration tests: runs real `converged` processes
// on private directories and a private cgroup parent, talks CRI to them over
// their unix sockets, and finds (and cleans up) anything they left behind.
//
//   TestEnv env;                        // /tmp/cvit-<pid>-<n>, cgroup parent
//   TestDaemon& daemon = env.StartDaemon();
//   auto id = daemon.RunPod(env.PodConfig("web"));
//   ...
//   EXPECT_THAT(env.Leaks(), IsEmpty());
//   // ~TestEnv kills daemons, unmounts, removes cgroups and directories.
#ifndef CONVERGE_TESTS_INTEGRATION_HARNESS_H_
#define CONVERGE_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/cri/api.grpc.pb.h"

namespace converge::testing {

// Path of a binary built by Bazel, from the test's runfiles.
std::string RunfilePath(const std::string& workspace_relative);

class TestDaemon {
 public:
  TestDaemon(std::string name, std::string base_dir, std::string cgroup_parent);
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

 private:
  const std::string name_;
  const std::string cni_conf_dir_;
  const std::string socket_, root_, state_, log_path_, cgroup_parent_;
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
  // Daemons read CNI configs here; it starts with a loopback-only network.
  std::string cni_conf_dir() const { return base_dir_ + "/cni/net.d"; }
  const std::string& cgroup_parent() const { return cgroup_parent_; }

  TestDaemon& NewDaemon(const std::string& name = "d");
  TestDaemon& StartDaemon(const std::vector<std::string>& extra_flags = {});

  // A minimal valid sandbox config whose cgroup lives under cgroup_parent().
  runtime::v1::PodSandboxConfig PodConfig(const std::string& name, uint32_t attempt = 0) const;

  // What our daemons left on the host: mounts under base_dir(), cgroups under
  // cgroup_parent() in any hierarchy, pin files. Empty when clean.
  std::vector<std::string> Leaks() const;

  // Mount points below base_dir() (from /proc/self/mountinfo).
  std::vector<std::string> MountsUnder(const std::string& dir) const;
  // Cgroup directories below cgroup_parent() + suffix in every hierarchy.
  std::vector<std::string> CgroupsUnder(const std::string& suffix = "") const;

 private:
  std::string base_dir_;
  std::string cgroup_parent_;
  std::vector<std::unique_ptr<TestDaemon>> daemons_;
};

// Runs a shell command; returns stdout, or an error with the output.
absl::StatusOr<std::string> Shell(const std::string& command);

}  // namespace converge::testing

#endif  // CONVERGE_TESTS_INTEGRATION_HARNESS_H_

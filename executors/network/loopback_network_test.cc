// Root tests: a real network namespace pinned under a scratch dir in /tmp.
// TearDown removes the pins and the pin root even when a test failed, then
// checks that no mount under the scratch dir remains.
#include "executors/network/loopback_network.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "executors/namespace/linux_namespace.h"
#include "executors/namespace/mountinfo.h"
#include "executors/namespace/testing/ns_test_util.h"
#include "executors/namespace/unique_fd.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

// lo's flags as seen from inside the namespace pinned at `pin`; -1 on error.
int LoopbackFlags(const std::string& pin) {
  int flags = -1;
  absl::Status status = RunInNamespace(pin, CLONE_NEWNET, [&] {
    UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct ifreq ifr;
    std::memset(&ifr, 0, sizeof(ifr));
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (sock.valid() && ioctl(sock.get(), SIOCGIFFLAGS, &ifr) == 0) {
      flags = ifr.ifr_flags;
    }
  });
  EXPECT_TRUE(status.ok()) << status;
  return flags;
}

// Sends a UDP datagram to itself over 127.0.0.1 inside the namespace: what a
// pod's containers need loopback for. Returns "" on success, else the error.
std::string UdpSelfTalk(const std::string& pin) {
  std::string error = "did not run";
  absl::Status status = RunInNamespace(pin, CLONE_NEWNET, [&] {
    UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct sockaddr_in addr;
    std::memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    char buf[8];
    if (!sock.valid() ||
        bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) !=
            0 ||
        sendto(sock.get(), "ping", 4, 0, reinterpret_cast<sockaddr*>(&addr),
               len) != 4 ||
        recv(sock.get(), buf, sizeof(buf), MSG_DONTWAIT) != 4) {
      error = std::strerror(errno);
      return;
    }
    error.clear();
  });
  EXPECT_TRUE(status.ok()) << status;
  return error;
}

class LoopbackNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
    char tmpl[] = "/tmp/converge-net-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    scratch_ = tmpl;
    root_ = scratch_ + "/pins";
    net_pin_ = root_ + "/a-net";
    ipc_pin_ = root_ + "/a-ipc";
    ASSERT_OK(ns_.PreparePinRoot(root_));
    ASSERT_OK(ns_.Create(
        {{NamespaceKind::kNet, net_pin_}, {NamespaceKind::kIpc, ipc_pin_}},
        NamespaceSetup{}));
    request_.sandbox_id = "a";
    request_.pod_name = "web";
    request_.pod_namespace = "default";
    request_.pod_uid = "uid-a";
    request_.netns_path = net_pin_;
  }

  void TearDown() override {
    if (scratch_.empty()) return;
    EXPECT_OK(ns_.Remove(net_pin_));
    EXPECT_OK(ns_.Remove(ipc_pin_));
    EXPECT_OK(ns_.ReleasePinRoot(root_));
    absl::StatusOr<std::vector<MountInfo>> mounts = ReadMountInfo();
    ASSERT_TRUE(mounts.ok()) << mounts.status();
    for (const MountInfo& mount : *mounts) {
      if (absl::StartsWith(mount.mount_point, scratch_)) {
        ADD_FAILURE() << "mount left behind: " << mount.mount_point;
        umount2(mount.mount_point.c_str(), MNT_DETACH);
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(scratch_, ec);
    EXPECT_FALSE(ec) << ec.message();
  }

  LinuxNamespaceExecutor ns_;
  LoopbackNetwork network_;
  NetworkRequest request_;
  std::string scratch_, root_, net_pin_, ipc_pin_;
};

TEST_F(LoopbackNetworkTest, SetupBringsLoopbackUp) {
  int host_flags = LoopbackFlags("/proc/self/ns/net");
  ASSERT_GE(LoopbackFlags(net_pin_), 0);
  EXPECT_EQ(LoopbackFlags(net_pin_) & IFF_UP, 0) << "a fresh netns has lo down";
  EXPECT_NE(UdpSelfTalk(net_pin_), "");

  absl::StatusOr<NetworkResult> result = network_.Setup(request_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ips.empty());
  EXPECT_TRUE(result->result_json.empty());

  int flags = LoopbackFlags(net_pin_);
  EXPECT_NE(flags & IFF_UP, 0);
  EXPECT_NE(flags & IFF_RUNNING, 0);
  EXPECT_EQ(UdpSelfTalk(net_pin_), "");
  EXPECT_EQ(LoopbackFlags("/proc/self/ns/net"), host_flags);

  // Cross-check with iproute2, which shares no code with us.
  absl::StatusOr<std::string> out = RunCommand(absl::StrCat(
      "/usr/bin/nsenter --net=", net_pin_, " /usr/sbin/ip -o link show lo"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(absl::StrContains(*out, "LOWER_UP")) << *out;
  EXPECT_TRUE(absl::StrContains(*out, ",UP")) << *out;

  // Idempotent.
  EXPECT_OK(network_.Setup(request_).status());
  EXPECT_NE(LoopbackFlags(net_pin_) & IFF_UP, 0);
}

TEST_F(LoopbackNetworkTest, SetupRejectsWhatIsNotANetworkNamespace) {
  NetworkRequest request = request_;
  request.netns_path = root_ + "/absent";
  absl::Status status = network_.Setup(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), request.netns_path));

  request.netns_path = root_ + "/stale";
  std::ofstream(request.netns_path) << "";
  status = network_.Setup(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  std::filesystem::remove(request.netns_path);

  request.netns_path = ipc_pin_;
  status = network_.Setup(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "not a network namespace"))
      << status;

  request.netns_path = "relative";
  EXPECT_EQ(network_.Setup(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request = request_;
  request.sandbox_id.clear();
  EXPECT_EQ(network_.Setup(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LoopbackNetworkTest, TeardownWorksWhenTheNetnsIsGone) {
  absl::StatusOr<NetworkResult> result = network_.Setup(request_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_OK(network_.Teardown(request_, *result));
  ASSERT_OK(ns_.Remove(net_pin_));
  EXPECT_OK(network_.Teardown(request_, *result));
  NetworkRequest no_netns = request_;
  no_netns.netns_path.clear();
  EXPECT_OK(network_.Teardown(no_netns, NetworkResult{}));
}

TEST_F(LoopbackNetworkTest, ReadyTellsTheTruth) {
  absl::Status ready = network_.Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(ready.message(), "CNI is not configured"))
      << ready;
}

}  // namespace
}  // namespace converge

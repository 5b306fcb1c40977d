#include "executors/network/pod_network.h"

#include "common/testing/status_testing.h"
#include "executors/network/testing/fake_network.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

NetworkRequest Request() {
  NetworkRequest request;
  request.sandbox_id = "pod1";
  request.netns_path = "/run/converge/ns/pod1-net";
  return request;
}

TEST(PodNetwork, LoopbackThenNodeNetwork) {
  FakeNetworkExecutor loopback, cni;
  cni.SetResult(NetworkResult{{"10.88.0.5"}, "{\"cached\":true}"});
  PodNetwork network(&loopback, &cni);
  auto result = network.Setup(Request());
  ASSERT_OK(result.status());
  EXPECT_EQ(result->ips, std::vector<std::string>{"10.88.0.5"});
  EXPECT_TRUE(loopback.IsSetUp("pod1"));
  EXPECT_TRUE(cni.IsSetUp("pod1"));

  ASSERT_OK(network.Teardown(Request(), *result));
  EXPECT_FALSE(cni.IsSetUp("pod1"));
  EXPECT_EQ(loopback.CallLog().size(), 1u) << "loopback goes with the netns";
}

TEST(PodNetwork, ErrorsSayWhichPartFailed) {
  FakeNetworkExecutor loopback, cni;
  PodNetwork network(&loopback, &cni);
  cni.InjectError(FakeNetworkExecutor::Op::kSetup, absl::UnknownError("bridge: no IP left"));
  EXPECT_EQ(network.Setup(Request()).status().message(), "pod network: bridge: no IP left");
  loopback.InjectError(FakeNetworkExecutor::Op::kSetup, absl::NotFoundError("no netns"));
  EXPECT_EQ(network.Setup(Request()).status().message(), "loopback: no netns");
  cni.SetReady(absl::FailedPreconditionError("no CNI network config in /etc/cni/net.d"));
  EXPECT_EQ(network.Ready().message(), "no CNI network config in /etc/cni/net.d");
}

}  // namespace
}  // namespace converge

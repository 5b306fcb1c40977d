#include "executors/network/testing/fake_network.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::ElementsAre;
using Op = FakeNetworkExecutor::Op;

NetworkRequest Request(const std::string& id) {
  NetworkRequest request;
  request.sandbox_id = id;
  request.pod_name = "web";
  request.pod_namespace = "default";
  request.pod_uid = "uid-" + id;
  request.netns_path = "/p/" + id + "-net";
  return request;
}

TEST(FakeNetwork, SetupTeardownAndLog) {
  FakeNetworkExecutor network;
  network.SetResult({{"10.88.0.5"}, "{cni}"});
  absl::StatusOr<NetworkResult> result = network.Setup(Request("a"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->ips, ElementsAre("10.88.0.5"));
  EXPECT_TRUE(network.IsSetUp("a"));
  // Repeated Setup converges on the first result.
  network.SetResult({{"10.88.0.6"}, "{other}"});
  EXPECT_THAT(network.Setup(Request("a"))->ips, ElementsAre("10.88.0.5"));

  NetworkRequest gone = Request("a");
  gone.netns_path.clear();  // the netns is already gone
  EXPECT_TRUE(network.Teardown(gone, *result).ok());
  EXPECT_FALSE(network.IsSetUp("a"));
  EXPECT_TRUE(network.Teardown(gone, {}).ok());  // idempotent
  EXPECT_THAT(network.CallLog(),
              ElementsAre("Setup(a,/p/a-net)", "Setup(a,/p/a-net)",
                          "Teardown(a,,{cni})", "Teardown(a,,)"));
  network.ClearCallLog();
  EXPECT_TRUE(network.CallLog().empty());
}

TEST(FakeNetwork, ValidatesLikeTheRealOne) {
  FakeNetworkExecutor network;
  NetworkRequest request = Request("a");
  request.netns_path = "relative";
  EXPECT_EQ(network.Setup(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.netns_path.clear();
  EXPECT_EQ(network.Setup(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.sandbox_id.clear();
  EXPECT_EQ(network.Teardown(request, {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(network.SetUp().empty());
}

TEST(FakeNetwork, InjectedErrorsAreOneShotAndChangeNothing) {
  FakeNetworkExecutor network;
  network.InjectError(Op::kSetup, absl::UnavailableError("plugin busy"));
  EXPECT_EQ(network.Setup(Request("a")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(network.IsSetUp("a"));
  ASSERT_TRUE(network.Setup(Request("a")).ok());

  network.InjectError(Op::kTeardown, absl::DeadlineExceededError("DEL"));
  EXPECT_EQ(network.Teardown(Request("a"), {}).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(network.IsSetUp("a"));
  EXPECT_TRUE(network.Teardown(Request("a"), {}).ok());
}

TEST(FakeNetwork, Readiness) {
  FakeNetworkExecutor network;
  EXPECT_TRUE(network.Ready().ok());
  network.SetReady(absl::FailedPreconditionError("no CNI config"));
  EXPECT_EQ(network.Ready().code(), absl::StatusCode::kFailedPrecondition);
  network.SetReady(absl::OkStatus());
  network.InjectError(Op::kReady, absl::InternalError("once"));
  EXPECT_EQ(network.Ready().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(network.Ready().ok());
}

}  // namespace
}  // namespace converge

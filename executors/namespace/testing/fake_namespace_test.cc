#include "executors/namespace/testing/fake_namespace.h"

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using Op = FakeNamespaceExecutor::Op;

const std::vector<PinSpec> kPodPins = {{NamespaceKind::kNet, "/p/a-net"},
                                       {NamespaceKind::kUts, "/p/a-uts"}};
const NamespaceSetup kWeb = {"web", {}};

TEST(FakeNamespace, CreatePinsTogetherAndLogs) {
  FakeNamespaceExecutor ns;
  ASSERT_TRUE(ns.PreparePinRoot("/p").ok());
  ASSERT_TRUE(ns.Create(kPodPins, kWeb).ok());
  EXPECT_TRUE(ns.IsPinned("/p/a-net").value());
  EXPECT_FALSE(ns.IsPinned("/p/b-net").value());

  absl::optional<FakeNamespaceExecutor::Pin> net = ns.GetPin("/p/a-net");
  absl::optional<FakeNamespaceExecutor::Pin> uts = ns.GetPin("/p/a-uts");
  ASSERT_TRUE(net.has_value() && uts.has_value());
  EXPECT_EQ(net->kind, NamespaceKind::kNet);
  EXPECT_EQ(net->group, uts->group);
  EXPECT_EQ(uts->hostname, "web");
  EXPECT_THAT(ns.CallLog(),
              ElementsAre("PreparePinRoot(/p)",
                          "Create(net=/p/a-net,uts=/p/a-uts;hostname=web)",
                          "IsPinned(/p/a-net)", "IsPinned(/p/b-net)"));
  EXPECT_THAT(ns.PinRoots(), ElementsAre("/p"));
}

TEST(FakeNamespace, SameRulesAsTheRealOne) {
  FakeNamespaceExecutor ns;
  EXPECT_EQ(
      ns.Create(kPodPins, NamespaceSetup{std::string(65, 'h'), {}}).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ns.Pins().empty());
  ASSERT_TRUE(ns.Create(kPodPins, kWeb).ok());
  EXPECT_EQ(ns.Create({{NamespaceKind::kNet, "/p/a-net"}}, {}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ns.Remove("relative").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ns.Remove("/p/a-net").ok());
  EXPECT_TRUE(ns.Remove("/p/a-net").ok());  // idempotent
  EXPECT_FALSE(ns.IsPinned("/p/a-net").value());
}

TEST(FakeNamespace, RecordsSysctlsOnTheirPins) {
  FakeNamespaceExecutor ns;
  const std::vector<PinSpec> pins = {{NamespaceKind::kNet, "/p/a-net"},
                                     {NamespaceKind::kIpc, "/p/a-ipc"},
                                     {NamespaceKind::kUts, "/p/a-uts"}};
  ASSERT_TRUE(ns.Create(pins, NamespaceSetup{"web",
                                             {{"net/ipv4/ip_forward", "1"},
                                              {"kernel.shm_rmid_forced", "1"}}})
                  .ok());
  EXPECT_THAT(ns.GetPin("/p/a-net")->sysctls,
              ElementsAre(Pair("net.ipv4.ip_forward", "1")));
  EXPECT_THAT(ns.GetPin("/p/a-ipc")->sysctls,
              ElementsAre(Pair("kernel.shm_rmid_forced", "1")));
  EXPECT_TRUE(ns.GetPin("/p/a-uts")->sysctls.empty());
  EXPECT_EQ(ns.CallLog().back(),
            "Create(net=/p/a-net,ipc=/p/a-ipc,uts=/p/a-uts;hostname=web;"
            "sysctls=kernel.shm_rmid_forced=1,net/ipv4/ip_forward=1)");

  // The shared validation: a sysctl without its namespace changes nothing.
  absl::Status status =
      ns.Create({{NamespaceKind::kNet, "/p/b-net"}},
                NamespaceSetup{"", {{"kernel.shm_rmid_forced", "1"}}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_FALSE(ns.GetPin("/p/b-net").has_value());
}

TEST(FakeNamespace, InjectedErrorsAreOneShotAndChangeNothing) {
  FakeNamespaceExecutor ns;
  ns.InjectError(Op::kCreate, absl::ResourceExhaustedError("first"));
  ns.InjectError(Op::kCreate, absl::UnavailableError("second"));
  EXPECT_EQ(ns.Create(kPodPins, kWeb).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ns.Create(kPodPins, kWeb).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(ns.Pins().empty());
  EXPECT_TRUE(ns.Create(kPodPins, kWeb).ok());

  ns.InjectError(Op::kRemove, absl::PermissionDeniedError("umount"));
  EXPECT_EQ(ns.Remove("/p/a-net").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(ns.GetPin("/p/a-net").has_value());
  ns.InjectError(Op::kIsPinned, absl::InternalError("statfs"));
  EXPECT_EQ(ns.IsPinned("/p/a-net").status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(ns.CallLog().size(), 5u);  // failed calls are logged too
  ns.ClearCallLog();
  EXPECT_TRUE(ns.CallLog().empty());
}

TEST(FakeNamespace, DriftAndLeaks) {
  FakeNamespaceExecutor ns;
  ASSERT_TRUE(ns.Create(kPodPins, kWeb).ok());
  EXPECT_TRUE(ns.DropPin("/p/a-net"));
  EXPECT_FALSE(ns.DropPin("/p/a-net"));
  EXPECT_FALSE(ns.IsPinned("/p/a-net").value());
  // A stale (dropped) pin can be created again, like the real executor.
  EXPECT_TRUE(ns.Create({{NamespaceKind::kNet, "/p/a-net"}}, {}).ok());

  ns.AddPin("/p/old-ipc", {NamespaceKind::kIpc, 0, ""});
  EXPECT_TRUE(ns.IsPinned("/p/old-ipc").value());
  ASSERT_TRUE(ns.ReleasePinRoot("/p").ok());
  EXPECT_TRUE(ns.Pins().empty());
}

TEST(FakeNamespace, ThreadSafe) {
  FakeNamespaceExecutor ns;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&ns, t] {
      for (int i = 0; i < 100; ++i) {
        std::string pin = absl::StrCat("/p/", t, "-", i);
        EXPECT_TRUE(ns.Create({{NamespaceKind::kNet, pin}}, {}).ok());
        EXPECT_TRUE(ns.Remove(pin).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_TRUE(ns.Pins().empty());
  EXPECT_EQ(ns.CallLog().size(), 8u * 100 * 2);
}

}  // namespace
}  // namespace converge

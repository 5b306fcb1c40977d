// Crash safety: converged is killed with SIGKILL at named points between the
// steps of sandbox setup and teardown (and at arbitrary moments from
// outside); after a restart it must converge, and nothing may leak.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace converge::testing {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;

bool KilledBySigkill(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

class SetupCrash : public ::testing::TestWithParam<std::string> {};

// The daemon dies at the point during RunPodSandbox; kubelet's retry after the
// restart gets the same sandbox, ready, and teardown leaves nothing.
TEST_P(SetupCrash, RestartConvergesAndLeavesNothing) {
  TestEnv env;
  TestDaemon& daemon = env.NewDaemon();
  daemon.Start({"--crash_at=" + GetParam()});
  auto config = env.PodConfig("crash");
  auto first = daemon.RunPod(config, absl::Seconds(20));
  EXPECT_FALSE(first.ok()) << "the daemon should have died at " << GetParam();
  EXPECT_TRUE(KilledBySigkill(daemon.WaitExit(absl::Seconds(20)))) << daemon.log();

  daemon.Start();
  auto retried = daemon.RunPod(config);
  ASSERT_TRUE(retried.ok()) << retried.status() << daemon.log();
  auto pods = daemon.ListPods();
  ASSERT_THAT(*pods, SizeIs(1)) << "the retry found the sandbox the crash interrupted";
  EXPECT_EQ((*pods)[0].id(), *retried);
  EXPECT_EQ((*pods)[0].state(), runtime::v1::SANDBOX_READY);
  // Ready means all of it: a network setup the crash cut short was redone.
  auto lo = Shell(absl::StrCat("nsenter --net=", daemon.state(), "/ns/", *retried,
                               "-net ip -o link show lo"));
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_THAT(*lo, ::testing::HasSubstr("UP,LOWER_UP"));
  // And one IP: whatever the interrupted ADD allocated was released first.
  auto status = daemon.PodStatus(*retried);
  ASSERT_TRUE(status.ok()) << status.status();
  const std::string ip = status->status().network().ip();
  EXPECT_TRUE(env.InSubnet(ip)) << ip;
  EXPECT_EQ(env.IpAllocations(), (std::map<std::string, std::string>{{ip, *retried}}));

  ASSERT_TRUE(daemon.StopPod(*retried).ok());
  ASSERT_TRUE(daemon.RemovePod(*retried).ok());
  EXPECT_THAT(env.Leaks(), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(
    CrashPoints, SetupCrash,
    ::testing::Values("before:create-namespaces", "persisted:create-namespaces",
                      "after:create-namespaces", "persisted:setup-network",
                      "after:setup-network", "persisted:create-cgroup", "after:create-cgroup",
                      "before:mark-ready"),
    [](const auto& info) {
      std::string name = info.param;
      for (char& c : name) {
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

class TeardownCrash : public ::testing::TestWithParam<std::string> {};

// The daemon dies during RemovePodSandbox. kubelet does not ask again for a
// sandbox it no longer lists: the restarted daemon finishes the teardown and
// purges the record by itself.
TEST_P(TeardownCrash, RestartFinishesTeardown) {
  TestEnv env;
  TestDaemon& daemon = env.NewDaemon();
  daemon.Start();
  auto id = daemon.RunPod(env.PodConfig("down"));
  ASSERT_TRUE(id.ok()) << id.status();
  daemon.Stop();
  daemon.Start({"--crash_at=" + GetParam()});
  EXPECT_FALSE(daemon.RemovePod(*id, absl::Seconds(20)).ok());
  EXPECT_TRUE(KilledBySigkill(daemon.WaitExit(absl::Seconds(20)))) << daemon.log();

  daemon.Start();
  EXPECT_THAT(*daemon.ListPods(), IsEmpty());
  const std::string dump =
      RunfilePath("cmd/convergectl/convergectl") + " --root=" + daemon.root() + " dump";
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline && Shell(dump).value_or("").find("0 sandboxes") != 0) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(Shell(dump).value_or(""), ::testing::StartsWith("0 sandboxes")) << daemon.log();
  EXPECT_THAT(env.Leaks(), IsEmpty());
  EXPECT_TRUE(daemon.RemovePod(*id).ok()) << "a late retry still succeeds";
}

INSTANTIATE_TEST_SUITE_P(CrashPoints, TeardownCrash,
                         ::testing::Values("before:teardown-network", "after:teardown-network",
                                           "removed-pin", "after:remove-namespaces",
                                           "after:remove-cgroup", "before:delete-actual"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// kill -9 from outside while pods are being created, at several moments;
// every pod kubelet then retries converges, and stopping them all leaks nothing.
TEST(ExternalKill, DuringConcurrentRuns) {
  for (absl::Duration delay : {absl::Milliseconds(0), absl::Milliseconds(3), absl::Milliseconds(15)}) {
    TestEnv env;
    TestDaemon& daemon = env.NewDaemon();
    daemon.Start({"--workers=2"});
    constexpr int kPods = 10;
    std::vector<std::thread> threads;
    for (int i = 0; i < kPods; ++i) {
      threads.emplace_back([&, i] {
        (void)daemon.RunPod(env.PodConfig(absl::StrCat("k", i)), absl::Seconds(20));
      });
    }
    absl::SleepFor(delay);
    daemon.Kill9();
    for (auto& thread : threads) thread.join();

    daemon.Start();
    for (int i = 0; i < kPods; ++i) {
      auto id = daemon.RunPod(env.PodConfig(absl::StrCat("k", i)));
      ASSERT_TRUE(id.ok()) << id.status();
    }
    auto pods = daemon.ListPods();
    ASSERT_THAT(*pods, SizeIs(kPods)) << "each retry found its pod; none doubled";
    // Every IP held belongs to one of them, one each.
    std::map<std::string, std::string> ips = env.IpAllocations();
    EXPECT_THAT(ips, SizeIs(kPods));
    for (const auto& [ip, owner] : ips) {
      EXPECT_TRUE(std::any_of(pods->begin(), pods->end(),
                              [&](const auto& pod) { return pod.id() == owner; }))
          << ip << " held by " << owner;
    }
    for (const auto& pod : *pods) {
      EXPECT_EQ(pod.state(), runtime::v1::SANDBOX_READY);
      ASSERT_TRUE(daemon.RemovePod(pod.id()).ok());
    }
    EXPECT_THAT(env.Leaks(), IsEmpty()) << "delay " << delay;
  }
}

}  // namespace
}  // namespace converge::testing

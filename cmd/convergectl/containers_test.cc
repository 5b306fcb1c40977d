#include "cmd/convergectl/containers.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(HumanDuration, MatchesGoUnits) {
  struct Case {
    absl::Duration age;
    std::string want;
  };
  const Case cases[] = {
      {absl::Seconds(-5), "Less than a second"},
      {absl::Milliseconds(999), "Less than a second"},
      {absl::Seconds(1), "1 second"},
      {absl::Seconds(59), "59 seconds"},
      {absl::Seconds(60), "About a minute"},
      {absl::Seconds(119), "About a minute"},
      {absl::Minutes(2), "2 minutes"},
      {absl::Minutes(59), "59 minutes"},
      {absl::Minutes(60), "About an hour"},
      {absl::Minutes(89), "About an hour"},
      {absl::Minutes(90), "2 hours"},  // Rounded, as go-units does.
      {absl::Hours(47), "47 hours"},
      {absl::Hours(48), "2 days"},
      {absl::Hours(24 * 13), "13 days"},
      {absl::Hours(24 * 14), "2 weeks"},
      {absl::Hours(24 * 59), "8 weeks"},
      {absl::Hours(24 * 60), "2 months"},
      {absl::Hours(24 * 365 * 2), "2 years"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HumanDuration(c.age), c.want) << absl::FormatDuration(c.age);
  }
  EXPECT_EQ(Ago(absl::ToUnixNanos(kNow - absl::Minutes(2)), kNow), "2 minutes ago");
}

TEST(HumanSize, MatchesGoUnits) {
  EXPECT_EQ(HumanSize(0), "0B");
  EXPECT_EQ(HumanSize(999), "999B");
  EXPECT_EQ(HumanSize(1500), "1.5kB");
  EXPECT_EQ(HumanSize(12'345'678), "12.35MB");
  EXPECT_EQ(HumanSize(1'000'000'000), "1GB");
}

TEST(TruncateId, ShortensIdsAndDigests) {
  EXPECT_EQ(TruncateId("3f2a9c1d7e5b4a0f9e8d7c6b5a4f3e2d"), "3f2a9c1d7e5b4");
  EXPECT_EQ(TruncateId("sha256:0123456789abcdef0123"), "0123456789abc");
  EXPECT_EQ(TruncateId("short"), "short");
}

TEST(FormatTable, PadsLikeTabwriter) {
  EXPECT_EQ(FormatTable({{"A", "LONGER HEADER", "LAST"}, {"a-long-cell-here", "b", "c"}}),
            "A                  LONGER HEADER   LAST\n"
            "a-long-cell-here   b               c\n");
}

runtime::v1::Container BaseContainer() {
  runtime::v1::Container container;
  container.set_id("3f2a9c1d7e5b4a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f");
  container.set_pod_sandbox_id("9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e");
  container.mutable_metadata()->set_name("web");
  container.mutable_metadata()->set_attempt(2);
  container.mutable_image()->set_image("docker.io/library/busybox:1.36");
  container.set_state(runtime::v1::CONTAINER_RUNNING);
  container.set_created_at(absl::ToUnixNanos(kNow - absl::Minutes(2)));
  (*container.mutable_labels())["io.kubernetes.pod.name"] = "web-0";
  return container;
}

TEST(FormatContainers, TableLikeCrictlPs) {
  struct Case {
    std::string name;
    std::function<void(runtime::v1::Container*)> mutate;
    std::string want_row;
  };
  const Case cases[] = {
      {"running, kubelet labels", [](runtime::v1::Container*) {},
       "3f2a9c1d7e5b4   docker.io/library/busybox:1.36   2 minutes ago   Running   web       2         "
       "9d0e1f2a3b4c5   web-0"},
      {"exited, image by id, pod name from ListPodSandbox",
       [](runtime::v1::Container* c) {
         c->set_state(runtime::v1::CONTAINER_EXITED);
         c->mutable_image()->set_image("sha256:dd1a9b18ab1c1234567890");
         c->mutable_labels()->clear();
       },
       "3f2a9c1d7e5b4   dd1a9b18ab1c1   2 minutes ago   Exited    web       2         9d0e1f2a3b4c5   "
       "crictl-pod"},
      {"created, pod unknown",
       [](runtime::v1::Container* c) {
         c->set_state(runtime::v1::CONTAINER_CREATED);
         c->set_pod_sandbox_id("0000000000000000");
         c->mutable_labels()->clear();
         c->set_created_at(absl::ToUnixNanos(kNow - absl::Seconds(30)));
       },
       "3f2a9c1d7e5b4   docker.io/library/busybox:1.36   30 seconds ago   Created   web       2         "
       "0000000000000   unknown"},
  };
  const std::map<std::string, std::string> pods = {
      {BaseContainer().pod_sandbox_id(), "crictl-pod"}};
  for (const Case& c : cases) {
    runtime::v1::Container container = BaseContainer();
    c.mutate(&container);
    const std::string out = FormatContainers({container}, pods, /*quiet=*/false, kNow);
    const size_t newline = out.find('\n');
    ASSERT_NE(newline, std::string::npos) << c.name;
    EXPECT_EQ(out.substr(0, out.find(' ')), "CONTAINER") << c.name;
    EXPECT_EQ(out.substr(newline + 1), c.want_row + "\n") << c.name << "\n" << out;
  }
}

TEST(FormatContainers, NewestFirstAndQuiet) {
  runtime::v1::Container old = BaseContainer();
  old.set_id("old");
  old.set_created_at(absl::ToUnixNanos(kNow - absl::Hours(3)));
  runtime::v1::Container young = BaseContainer();
  young.set_id("young");
  EXPECT_EQ(FormatContainers({old, young}, {}, /*quiet=*/true, kNow), "young\nold\n");
  const std::string table = FormatContainers({old, young}, {}, /*quiet=*/false, kNow);
  EXPECT_LT(table.find("young"), table.find("old")) << table;
  EXPECT_NE(table.find("3 hours ago"), std::string::npos) << table;
  EXPECT_EQ(FormatContainers({}, {}, false, kNow).find('\n'),
            FormatContainers({}, {}, false, kNow).size() - 1)
      << "only the header";
}

TEST(FormatContainerInspect, StatusAndParsedInfoLikeCrictl) {
  runtime::v1::ContainerStatusResponse response;
  auto* status = response.mutable_status();
  status->set_id("abc");
  status->set_state(runtime::v1::CONTAINER_EXITED);
  status->set_created_at(absl::ToUnixNanos(absl::FromUnixSeconds(1'700'000'000)));
  status->set_started_at(absl::ToUnixNanos(absl::FromUnixSeconds(1'700'000'001)) + 500'000'000);
  status->set_finished_at(absl::ToUnixNanos(absl::FromUnixSeconds(1'700'000'060)));
  status->set_exit_code(137);
  status->set_reason("OOMKilled");
  status->set_log_path("/var/log/pods/default_web_u1/web/0.log");
  (*response.mutable_info())["info"] = R"({"sandboxID":"p1","pid":4242})";
  (*response.mutable_info())["note"] = "not json";
  const nlohmann::json out = nlohmann::json::parse(FormatContainerInspect(response));
  EXPECT_EQ(out["status"]["id"], "abc");
  EXPECT_EQ(out["status"]["state"], "CONTAINER_EXITED");
  EXPECT_EQ(out["status"]["exitCode"], 137);
  EXPECT_EQ(out["status"]["reason"], "OOMKilled");
  EXPECT_EQ(out["status"]["logPath"], "/var/log/pods/default_web_u1/web/0.log");
  EXPECT_EQ(out["status"]["createdAt"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(out["status"]["startedAt"], "2023-11-14T22:13:21.5Z");
  EXPECT_EQ(out["status"]["finishedAt"], "2023-11-14T22:14:20Z");
  EXPECT_EQ(out["status"]["message"], "") << "defaults are printed";
  EXPECT_EQ(out["info"]["pid"], 4242);
  EXPECT_EQ(out["note"], "not json");

  status->set_state(runtime::v1::CONTAINER_CREATED);
  const nlohmann::json created = nlohmann::json::parse(FormatContainerInspect(response));
  EXPECT_EQ(created["status"]["startedAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(created["status"]["finishedAt"], "0001-01-01T00:00:00Z");
}

TEST(FormatStats, CpuSecondsMemoryAndMissingValues) {
  runtime::v1::ContainerStats full;
  full.mutable_attributes()->set_id("bbbbbbbbbbbbbbbbbbbb");
  full.mutable_attributes()->mutable_metadata()->set_name("web");
  full.mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(12'345'678'901);
  full.mutable_memory()->mutable_working_set_bytes()->set_value(12'345'678);
  full.mutable_writable_layer()->mutable_used_bytes()->set_value(4096);
  full.mutable_writable_layer()->mutable_inodes_used()->set_value(7);
  runtime::v1::ContainerStats empty;
  empty.mutable_attributes()->set_id("aaaa");
  empty.mutable_attributes()->mutable_metadata()->set_name("sidecar");
  EXPECT_EQ(FormatStats({full, empty}),
            "CONTAINER           NAME                CPU TIME            MEM                 "
            "DISK                INODES\n"
            "aaaa                sidecar             -                   -                   "
            "-                   -\n"
            "bbbbbbbbbbbbb       web                 12.35s              12.35MB             "
            "4.096kB             7\n");
}

}  // namespace
}  // namespace converge

namespace converge {
namespace {

// The CRI calls the commands make, answered from fixed data.
class FakeRuntime final : public runtime::v1::RuntimeService::Service {
 public:
  grpc::Status ContainerStatus(grpc::ServerContext*, const runtime::v1::ContainerStatusRequest* request,
                               runtime::v1::ContainerStatusResponse* response) override {
    if (request->container_id() != "c1") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no");
    response->mutable_status()->set_id("c1");
    response->mutable_status()->set_state(runtime::v1::CONTAINER_EXITED);
    response->mutable_status()->set_log_path(log_path);
    return grpc::Status::OK;
  }
  grpc::Status ExecSync(grpc::ServerContext*, const runtime::v1::ExecSyncRequest* request,
                        runtime::v1::ExecSyncResponse* response) override {
    exec_timeout = request->timeout();
    response->set_stdout(absl::StrJoin(request->cmd(), " "));
    response->set_exit_code(3);
    return grpc::Status::OK;
  }
  grpc::Status ListContainers(grpc::ServerContext*, const runtime::v1::ListContainersRequest* request,
                              runtime::v1::ListContainersResponse* response) override {
    last_filter = request->filter();
    *response->add_containers() = BaseContainer();
    return grpc::Status::OK;
  }
  grpc::Status ListPodSandbox(grpc::ServerContext*, const runtime::v1::ListPodSandboxRequest*,
                              runtime::v1::ListPodSandboxResponse*) override {
    return grpc::Status::OK;
  }

  std::string log_path;
  int64_t exec_timeout = 0;
  runtime::v1::ContainerFilter last_filter;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = absl::StrCat("/tmp/convergectl-test-", ::getpid(), ".sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    context_ = {grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials()),
                absl::Seconds(7)};
  }
  void TearDown() override {
    server_->Shutdown();
    std::remove(socket_.c_str());
  }

  FakeRuntime fake_;
  std::string socket_;
  std::unique_ptr<grpc::Server> server_;
  ContainerCommandContext context_;
};

TEST_F(CommandsTest, ExecReturnsTheExitCodeAndPassesTheTimeout) {
  testing::internal::CaptureStdout();
  absl::StatusOr<int> code = ExecSyncCommand(context_, "c1", {"sh", "-c", "exit 3"});
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "sh -c exit 3");
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3);
  EXPECT_EQ(fake_.exec_timeout, 7);
}

TEST_F(CommandsTest, LogsOfAnExitedContainerPrintTheFileAndStop) {
  fake_.log_path = absl::StrCat("/tmp/convergectl-test-", ::getpid(), ".log");
  std::ofstream(fake_.log_path) << "2026-11-27T16:11:57Z stdout P hello \n"
                                << "2026-11-27T16:11:57Z stdout F world\n";
  testing::internal::CaptureStdout();
  absl::Status status = LogsCommand(context_, "c1", /*follow=*/true, /*tail=*/-1);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "hello world\n");
  EXPECT_TRUE(status.ok()) << status;
  std::remove(fake_.log_path.c_str());
  EXPECT_EQ(LogsCommand(context_, "nope", false, -1).code(), absl::StatusCode::kNotFound);
}

TEST_F(CommandsTest, PsAsksForRunningContainersUnlessAll) {
  testing::internal::CaptureStdout();
  ASSERT_TRUE(ListContainersCommand(context_, {/*all=*/false, /*pod=*/"9d0e", /*quiet=*/true}).ok());
  EXPECT_EQ(testing::internal::GetCapturedStdout(), BaseContainer().id() + "\n");
  EXPECT_EQ(fake_.last_filter.state().state(), runtime::v1::CONTAINER_RUNNING);
  EXPECT_EQ(fake_.last_filter.pod_sandbox_id(), "9d0e");
  testing::internal::CaptureStdout();
  ASSERT_TRUE(ListContainersCommand(context_, {/*all=*/true, "", /*quiet=*/false}).ok());
  EXPECT_NE(testing::internal::GetCapturedStdout().find("web-0"), std::string::npos);
  EXPECT_FALSE(fake_.last_filter.has_state());
}

}  // namespace
}  // namespace converge

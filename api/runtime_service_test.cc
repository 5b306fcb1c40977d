#include "api/runtime_service.h"

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "absl/time/clock.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

class FixedHealth : public HealthReporter {
 public:
  absl::Status NetworkReadiness() const override {
    return absl::FailedPreconditionError("no CNI config in /etc/cni/net.d");
  }
};

class RuntimeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *Store::Open(dir_.Sub("db"));
    RuntimeServiceOptions options;
    options.version = "test";
    // No reconciler runs here: waits end quickly unless a test plays its part.
    options.max_wait = absl::Milliseconds(200);
    options.new_id = [this] { return "sandbox" + std::to_string(++ids_); };
    service_ = std::make_unique<RuntimeServiceImpl>(store_.get(), &health_, options);
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
  }

  runtime::v1::RunPodSandboxRequest RunRequest(const std::string& name = "web") {
    runtime::v1::RunPodSandboxRequest request;
    auto* metadata = request.mutable_config()->mutable_metadata();
    metadata->set_name(name);
    metadata->set_namespace_("default");
    metadata->set_uid("uid-" + name);
    return request;
  }

  grpc::Status Run(const runtime::v1::RunPodSandboxRequest& request, std::string* id) {
    grpc::ServerContext context;
    runtime::v1::RunPodSandboxResponse response;
    grpc::Status status = service_->RunPodSandbox(&context, &request, &response);
    *id = response.pod_sandbox_id();
    return status;
  }

  // Plays the reconciler: records `phase` as observed for the current generation.
  void Observe(const std::string& id, records::SandboxPhase phase) {
    auto record = store_->GetSandbox(id);
    ASSERT_TRUE(record && record->desired);
    records::SandboxActual actual;
    actual.set_id(id);
    actual.set_phase(phase);
    actual.set_observed_generation(record->desired->generation());
    actual.set_attempted_generation(record->desired->generation());
    ASSERT_TRUE(store_->PutSandboxActual(actual, ActualWriter::Durability::kBuffered).ok());
  }

  TempTestDir dir_;
  std::unique_ptr<Store> store_;
  FixedHealth health_;
  int ids_ = 0;
  std::unique_ptr<RuntimeServiceImpl> service_;
};

TEST_F(RuntimeServiceTest, InvalidRequestWritesNothing) {
  auto request = RunRequest();
  request.mutable_config()->set_log_directory("../escape");
  std::string id;
  grpc::Status status = Run(request, &id);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "config.log_directory: \"../escape\" is not an absolute path");
  EXPECT_TRUE(store_->ListSandboxes().empty());
  EXPECT_EQ(ids_, 0);
}

TEST_F(RuntimeServiceTest, RunWaitsForTheReconcilerAndRetriesGetTheSameSandbox) {
  std::string id;
  grpc::Status status = Run(RunRequest(), &id);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(status.error_message(),
            "sandbox sandbox1 is not ready yet; the reconciler is still working");
  auto record = store_->GetSandbox("sandbox1");
  ASSERT_TRUE(record && record->desired) << "the desired record is durable before any wait";
  EXPECT_EQ(record->desired->stage(), records::SANDBOX_STAGE_READY);

  std::thread reconciler([&] {
    absl::SleepFor(absl::Milliseconds(20));
    Observe("sandbox1", records::SANDBOX_PHASE_READY);
  });
  status = Run(RunRequest(), &id);
  reconciler.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(id, "sandbox1");
  EXPECT_EQ(ids_, 1) << "the retry created nothing new";
}

TEST_F(RuntimeServiceTest, RunReportsTheReconcilersError) {
  std::string id;
  (void)Run(RunRequest(), &id);
  records::SandboxActual actual;
  actual.set_id("sandbox1");
  actual.set_phase(records::SANDBOX_PHASE_CREATING);
  actual.set_attempted_generation(1);
  actual.set_last_error("step 3/4 create-cgroup: mkdir `/sys/fs/cgroup/x`: Permission denied");
  actual.set_last_error_code(static_cast<int>(absl::StatusCode::kPermissionDenied));
  ASSERT_TRUE(store_->PutSandboxActual(actual, ActualWriter::Durability::kBuffered).ok());
  grpc::Status status = Run(RunRequest(), &id);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("sandbox sandbox1: step 3/4 create-cgroup"), std::string::npos)
      << status.error_message();
}

TEST_F(RuntimeServiceTest, StopAndRemoveAreMonotoneAndPurgeTheTombstone) {
  std::string id;
  (void)Run(RunRequest(), &id);
  Observe("sandbox1", records::SANDBOX_PHASE_READY);

  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(20));
    Observe("sandbox1", records::SANDBOX_PHASE_NOTREADY);
  });
  grpc::ServerContext stop_context;
  runtime::v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id("sandbox1");
  runtime::v1::StopPodSandboxResponse stopped;
  grpc::Status status = service_->StopPodSandbox(&stop_context, &stop, &stopped);
  stopper.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(store_->GetSandbox("sandbox1")->desired->stage(), records::SANDBOX_STAGE_NOTREADY);
  EXPECT_EQ(store_->GetSandbox("sandbox1")->desired->generation(), 2);

  std::thread remover([&] {
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(store_->DeleteSandboxActual("sandbox1").ok());
  });
  grpc::ServerContext remove_context;
  runtime::v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id("sandbox1");
  runtime::v1::RemovePodSandboxResponse removed;
  status = service_->RemovePodSandbox(&remove_context, &remove, &removed);
  remover.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(store_->GetSandbox("sandbox1").has_value()) << "tombstone purged";

  grpc::ServerContext again_context;
  EXPECT_TRUE(service_->StopPodSandbox(&again_context, &stop, &stopped).ok());
}

TEST_F(RuntimeServiceTest, StatusReportsTheNetworkTruthAndUnknownIdsAreNotFound) {
  grpc::ServerContext context;
  runtime::v1::StatusRequest request;
  runtime::v1::StatusResponse response;
  ASSERT_TRUE(service_->Status(&context, &request, &response).ok());
  const auto& network = response.status().conditions(1);
  EXPECT_EQ(network.type(), "NetworkReady");
  EXPECT_FALSE(network.status());
  EXPECT_EQ(network.reason(), "NetworkPluginNotReady");
  EXPECT_EQ(network.message(), "no CNI config in /etc/cni/net.d");

  grpc::ServerContext status_context;
  runtime::v1::PodSandboxStatusRequest status_request;
  status_request.set_pod_sandbox_id("nope");
  runtime::v1::PodSandboxStatusResponse status_response;
  grpc::Status status = service_->PodSandboxStatus(&status_context, &status_request, &status_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "pod_sandbox_id: sandbox \"nope\" not found");
}

TEST_F(RuntimeServiceTest, CreateContainerRefusesBadInputAndWritesNothing) {
  std::string sandbox;
  std::thread reconciler([&] {
    // Play the reconciler for the sandbox as soon as it is written.
    for (int i = 0; i < 200 && !store_->GetSandbox("sandbox1"); ++i) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    Observe("sandbox1", records::SANDBOX_PHASE_READY);
  });
  ASSERT_TRUE(Run(RunRequest(), &sandbox).ok());
  reconciler.join();
  records::ImageRecord image;
  image.set_id("sha256:" + std::string(64, 'a'));
  records::ImageRefActual ref;
  ref.set_reference("docker.io/library/busybox:latest");
  ref.set_image_id(image.id());
  ASSERT_TRUE(store_->PutImageRef(ref, &image).ok());

  auto create = [&](const std::string& sandbox_id,
                    const std::function<void(runtime::v1::ContainerConfig*)>& mutate) {
    runtime::v1::CreateContainerRequest request;
    request.set_pod_sandbox_id(sandbox_id);
    auto* config = request.mutable_config();
    config->mutable_metadata()->set_name("app");
    config->mutable_image()->set_image("busybox");
    mutate(config);
    grpc::ServerContext context;
    runtime::v1::CreateContainerResponse response;
    return service_->CreateContainer(&context, &request, &response);
  };
  grpc::Status status = create("no-such-sandbox", [](auto*) {});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  status = create(sandbox, [](auto* config) { config->mutable_image()->set_image("never-pulled"); });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  status = create(sandbox, [](auto* config) {
    config->add_mounts()->set_container_path("relative");
    config->mutable_mounts(0)->set_host_path("/tmp");
  });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("config.mounts[0].container_path"), std::string::npos)
      << status.error_message();
  status = create(sandbox, [](auto* config) {
    config->mutable_linux()->mutable_security_context()->mutable_capabilities()->add_add_capabilities(
        "CAP_NOPE");
  });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(store_->GetSandbox(sandbox)->desired->containers_size(), 0);
  EXPECT_TRUE(store_->ContainerIds().empty());
}

TEST_F(RuntimeServiceTest, NotImplementedNamesTheMethod) {
  grpc::ServerContext context;
  runtime::v1::ExecRequest request;
  runtime::v1::ExecResponse response;
  grpc::Status status = service_->Exec(&context, &request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(status.error_message(), "converge does not implement Exec yet");
}

}  // namespace
}  // namespace converge

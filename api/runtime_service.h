// The CRI RuntimeService: validates each request, writes the desired record
// and waits for the reconciler to report that actual caught up. Handlers never
// touch the kernel and never call executors.
//
//   RuntimeServiceImpl service(store, health, options);
//   grpc::ServerBuilder builder;
//   builder.RegisterService(&service);
#ifndef CONVERGE_API_RUNTIME_SERVICE_H_
#define CONVERGE_API_RUNTIME_SERVICE_H_

#include <array>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/cri/api.grpc.pb.h"
#include "reconciler/health.h"
#include "store/store.h"

namespace converge {

struct RuntimeServiceOptions {
  std::string version;
  // Upper bound on how long a call waits for convergence when the client set
  // no deadline (kubelet always sets one: 2 min, 4 for RunPodSandbox).
  absl::Duration max_wait = absl::Minutes(4);
  // Returns a fresh sandbox id; injected so tests can choose ids.
  std::function<std::string()> new_id;
};

class RuntimeServiceImpl final : public runtime::v1::RuntimeService::Service {
 public:
  RuntimeServiceImpl(DesiredWriter* store, const HealthReporter* health,
                     RuntimeServiceOptions options);

  grpc::Status Version(grpc::ServerContext* context, const runtime::v1::VersionRequest* request,
                       runtime::v1::VersionResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context, const runtime::v1::StatusRequest* request,
                      runtime::v1::StatusResponse* response) override;
  grpc::Status RuntimeConfig(grpc::ServerContext* context,
                             const runtime::v1::RuntimeConfigRequest* request,
                             runtime::v1::RuntimeConfigResponse* response) override;
  grpc::Status UpdateRuntimeConfig(grpc::ServerContext* context,
                                   const runtime::v1::UpdateRuntimeConfigRequest* request,
                                   runtime::v1::UpdateRuntimeConfigResponse* response) override;

  grpc::Status RunPodSandbox(grpc::ServerContext* context,
                             const runtime::v1::RunPodSandboxRequest* request,
                             runtime::v1::RunPodSandboxResponse* response) override;
  grpc::Status StopPodSandbox(grpc::ServerContext* context,
                              const runtime::v1::StopPodSandboxRequest* request,
                              runtime::v1::StopPodSandboxResponse* response) override;
  grpc::Status RemovePodSandbox(grpc::ServerContext* context,
                                const runtime::v1::RemovePodSandboxRequest* request,
                                runtime::v1::RemovePodSandboxResponse* response) override;
  grpc::Status PodSandboxStatus(grpc::ServerContext* context,
                                const runtime::v1::PodSandboxStatusRequest* request,
                                runtime::v1::PodSandboxStatusResponse* response) override;
  grpc::Status ListPodSandbox(grpc::ServerContext* context,
                              const runtime::v1::ListPodSandboxRequest* request,
                              runtime::v1::ListPodSandboxResponse* response) override;
  grpc::Status StreamPodSandboxes(
      grpc::ServerContext* context, const runtime::v1::StreamPodSandboxesRequest* request,
      grpc::ServerWriter<runtime::v1::StreamPodSandboxesResponse>* writer) override;

#define CONVERGE_CRI_NOT_YET(method, request_type, response_type)                 \
  grpc::Status method(grpc::ServerContext*, const runtime::v1::request_type*,     \
                      runtime::v1::response_type*) override {                     \
    return NotImplemented(#method);                                               \
  }
#define CONVERGE_CRI_STREAM_NOT_YET(method, request_type, response_type)          \
  grpc::Status method(grpc::ServerContext*, const runtime::v1::request_type*,     \
                      grpc::ServerWriter<runtime::v1::response_type>*) override { \
    return NotImplemented(#method);                                               \
  }
  // Containers, streaming and stats come with the containers issue.
  CONVERGE_CRI_NOT_YET(CreateContainer, CreateContainerRequest, CreateContainerResponse)
  CONVERGE_CRI_NOT_YET(StartContainer, StartContainerRequest, StartContainerResponse)
  CONVERGE_CRI_NOT_YET(StopContainer, StopContainerRequest, StopContainerResponse)
  CONVERGE_CRI_NOT_YET(RemoveContainer, RemoveContainerRequest, RemoveContainerResponse)
  CONVERGE_CRI_NOT_YET(ListContainers, ListContainersRequest, ListContainersResponse)
  CONVERGE_CRI_STREAM_NOT_YET(StreamContainers, StreamContainersRequest, StreamContainersResponse)
  CONVERGE_CRI_NOT_YET(ContainerStatus, ContainerStatusRequest, ContainerStatusResponse)
  CONVERGE_CRI_NOT_YET(UpdateContainerResources, UpdateContainerResourcesRequest,
                       UpdateContainerResourcesResponse)
  CONVERGE_CRI_NOT_YET(ReopenContainerLog, ReopenContainerLogRequest, ReopenContainerLogResponse)
  CONVERGE_CRI_NOT_YET(ExecSync, ExecSyncRequest, ExecSyncResponse)
  CONVERGE_CRI_NOT_YET(Exec, ExecRequest, ExecResponse)
  CONVERGE_CRI_NOT_YET(Attach, AttachRequest, AttachResponse)
  CONVERGE_CRI_NOT_YET(PortForward, PortForwardRequest, PortForwardResponse)
  CONVERGE_CRI_NOT_YET(ContainerStats, ContainerStatsRequest, ContainerStatsResponse)
  CONVERGE_CRI_NOT_YET(ListContainerStats, ListContainerStatsRequest, ListContainerStatsResponse)
  CONVERGE_CRI_STREAM_NOT_YET(StreamContainerStats, StreamContainerStatsRequest,
                              StreamContainerStatsResponse)
  CONVERGE_CRI_NOT_YET(PodSandboxStats, PodSandboxStatsRequest, PodSandboxStatsResponse)
  CONVERGE_CRI_NOT_YET(ListPodSandboxStats, ListPodSandboxStatsRequest,
                       ListPodSandboxStatsResponse)
  CONVERGE_CRI_STREAM_NOT_YET(StreamPodSandboxStats, StreamPodSandboxStatsRequest,
                              StreamPodSandboxStatsResponse)
  CONVERGE_CRI_NOT_YET(CheckpointContainer, CheckpointContainerRequest,
                       CheckpointContainerResponse)
  CONVERGE_CRI_STREAM_NOT_YET(GetContainerEvents, GetEventsRequest, ContainerEventResponse)
  CONVERGE_CRI_NOT_YET(ListMetricDescriptors, ListMetricDescriptorsRequest,
                       ListMetricDescriptorsResponse)
  CONVERGE_CRI_NOT_YET(ListPodSandboxMetrics, ListPodSandboxMetricsRequest,
                       ListPodSandboxMetricsResponse)
  CONVERGE_CRI_STREAM_NOT_YET(StreamPodSandboxMetrics, StreamPodSandboxMetricsRequest,
                              StreamPodSandboxMetricsResponse)
  CONVERGE_CRI_NOT_YET(UpdatePodSandboxResources, UpdatePodSandboxResourcesRequest,
                       UpdatePodSandboxResourcesResponse)
#undef CONVERGE_CRI_NOT_YET
#undef CONVERGE_CRI_STREAM_NOT_YET

  static grpc::Status NotImplemented(const char* method);

 private:
  // Resolves an exact id or a unique prefix of one (crictl passes prefixes).
  absl::StatusOr<std::optional<SandboxRecord>> Resolve(const std::string& id) const;
  absl::Time Deadline(const grpc::ServerContext* context) const;
  // Waits for `done` until the call's deadline, the client's cancellation or
  // daemon shutdown.
  std::pair<SandboxRecord, bool> Await(const grpc::ServerContext* context, const std::string& id,
                                       const std::function<bool(const SandboxRecord&)>& done) const;
  // The error for a wait that ended before `goal` was reached.
  absl::Status Unfinished(const SandboxRecord& record, absl::string_view goal) const;
  // Serializes read-modify-write of one sandbox's desired record, so that
  // generations and the monotone stage never go backwards.
  absl::Mutex& LockFor(const std::string& key);

  DesiredWriter* const store_;
  const HealthReporter* const health_;
  const RuntimeServiceOptions options_;
  std::array<absl::Mutex, 64> stripes_;

  absl::Mutex config_mu_;
  std::string pod_cidr_ ABSL_GUARDED_BY(config_mu_);
};

}  // namespace converge

#endif  // CONVERGE_API_RUNTIME_SERVICE_H_

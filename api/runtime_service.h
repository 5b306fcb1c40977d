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
#include "api/container_view.h"
#include "api/cri/api.grpc.pb.h"
#include "reconciler/container_operations.h"
#include "reconciler/health.h"
#include "store/store.h"

namespace converge {

struct RuntimeServiceOptions {
  std::string version;
  // Upper bound on how long a call waits for convergence when the client set
  // no deadline (kubelet always sets one: 2 min, 4 for RunPodSandbox).
  absl::Duration max_wait = absl::Minutes(4);
  // Returns a fresh sandbox or container id; injected so tests can choose ids.
  std::function<std::string()> new_id;
  // ExecSync and stats; those calls are UNIMPLEMENTED without it.
  ContainerOperations* containers = nullptr;
  // Where container writable layers live (ContainerStats' fs_id).
  std::string snapshots_dir;
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

  // Containers (container_service.cc).
  grpc::Status CreateContainer(grpc::ServerContext* context,
                               const runtime::v1::CreateContainerRequest* request,
                               runtime::v1::CreateContainerResponse* response) override;
  grpc::Status StartContainer(grpc::ServerContext* context,
                              const runtime::v1::StartContainerRequest* request,
                              runtime::v1::StartContainerResponse* response) override;
  grpc::Status StopContainer(grpc::ServerContext* context,
                             const runtime::v1::StopContainerRequest* request,
                             runtime::v1::StopContainerResponse* response) override;
  grpc::Status RemoveContainer(grpc::ServerContext* context,
                               const runtime::v1::RemoveContainerRequest* request,
                               runtime::v1::RemoveContainerResponse* response) override;
  grpc::Status ListContainers(grpc::ServerContext* context,
                              const runtime::v1::ListContainersRequest* request,
                              runtime::v1::ListContainersResponse* response) override;
  grpc::Status StreamContainers(
      grpc::ServerContext* context, const runtime::v1::StreamContainersRequest* request,
      grpc::ServerWriter<runtime::v1::StreamContainersResponse>* writer) override;
  grpc::Status ContainerStatus(grpc::ServerContext* context,
                               const runtime::v1::ContainerStatusRequest* request,
                               runtime::v1::ContainerStatusResponse* response) override;
  grpc::Status UpdateContainerResources(
      grpc::ServerContext* context, const runtime::v1::UpdateContainerResourcesRequest* request,
      runtime::v1::UpdateContainerResourcesResponse* response) override;
  grpc::Status ReopenContainerLog(grpc::ServerContext* context,
                                  const runtime::v1::ReopenContainerLogRequest* request,
                                  runtime::v1::ReopenContainerLogResponse* response) override;
  grpc::Status ExecSync(grpc::ServerContext* context, const runtime::v1::ExecSyncRequest* request,
                        runtime::v1::ExecSyncResponse* response) override;
  grpc::Status ContainerStats(grpc::ServerContext* context,
                              const runtime::v1::ContainerStatsRequest* request,
                              runtime::v1::ContainerStatsResponse* response) override;
  grpc::Status ListContainerStats(grpc::ServerContext* context,
                                  const runtime::v1::ListContainerStatsRequest* request,
                                  runtime::v1::ListContainerStatsResponse* response) override;
  grpc::Status PodSandboxStats(grpc::ServerContext* context,
                               const runtime::v1::PodSandboxStatsRequest* request,
                               runtime::v1::PodSandboxStatsResponse* response) override;
  grpc::Status ListPodSandboxStats(grpc::ServerContext* context,
                                   const runtime::v1::ListPodSandboxStatsRequest* request,
                                   runtime::v1::ListPodSandboxStatsResponse* response) override;

  // Drops the desired entries of removed containers of which nothing actual
  // is left (a RemoveContainer that timed out, a failed create). Called by
  // the TombstoneJanitor and after RemoveContainer.
  void PurgeContainerTombstones(const std::string& sandbox_id);

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
  // Streaming (kubectl exec/attach/port-forward) is not implemented yet.
  CONVERGE_CRI_NOT_YET(Exec, ExecRequest, ExecResponse)
  CONVERGE_CRI_NOT_YET(Attach, AttachRequest, AttachResponse)
  CONVERGE_CRI_NOT_YET(PortForward, PortForwardRequest, PortForwardResponse)
  CONVERGE_CRI_STREAM_NOT_YET(StreamContainerStats, StreamContainerStatsRequest,
                              StreamContainerStatsResponse)
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
  // ListContainers' stream variant sends this many per message.
  static constexpr int kContainerStreamBatch = 500;

  // A container id or unique prefix -> (sandbox id, container id); nullopt
  // when none matches.
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> ResolveContainer(
      const std::string& id) const;
  // A container CRI can see, or NOT_FOUND naming `field`. `holder` keeps the
  // sandbox record the returned pointers point into.
  absl::StatusOr<std::pair<SandboxRecord, ContainerRecord>> FindVisibleContainer(
      const std::string& field, const std::string& container_id, SandboxRecord* holder) const;
  // Waits for `done` on the container (nullopt once it is gone entirely).
  std::pair<std::optional<ContainerRecord>, bool> AwaitContainer(
      const grpc::ServerContext* context, const std::string& sandbox_id,
      const std::string& container_id,
      const std::function<bool(const std::optional<ContainerRecord>&)>& done,
      SandboxRecord* holder) const;
  // Waits until the container's `generation` is observed: OK, the
  // reconciler's error for it, ABORTED when the container went away (OK if
  // `gone_is_ok`), or why the wait ended (deadline, shutdown).
  absl::Status AwaitGeneration(const grpc::ServerContext* context, const std::string& sandbox_id,
                               const std::string& id, int64_t generation, absl::string_view goal,
                               bool gone_is_ok) const;
  // Read-modify-write of one container's desired entry under the sandbox's
  // lock; `change` returns whether it changed anything (then the container's
  // generation is bumped and the record written). Returns the generation.
  absl::StatusOr<int64_t> UpdateContainer(
      const std::string& sandbox_id, const std::string& container_id,
      const std::function<absl::StatusOr<bool>(const SandboxRecord&, records::ContainerDesired*)>&
          change);
  // The container's CRI stats; `sample`, when given, gets the cgroup sample
  // they were made from (none when the container has no cgroup).
  absl::StatusOr<runtime::v1::ContainerStats> StatsOf(
      const ContainerRecord& container, std::optional<CgroupStats>* sample = nullptr) const;
  absl::StatusOr<runtime::v1::PodSandboxStats> SandboxStatsOf(const SandboxRecord& sandbox) const;

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

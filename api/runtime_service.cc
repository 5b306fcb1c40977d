#include "api/runtime_service.h"

#include <algorithm>
#include <chrono>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/deadline.h"
#include "api/grpc_status.h"
#include "api/sandbox_view.h"
#include "api/validation.h"
#include "common/log.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

using records::SandboxActual;
using records::SandboxDesired;

constexpr char kRuntimeName[] = "converge";
constexpr char kApiVersion[] = "v1";
// ListPodSandbox answers stay far below gRPC's 4 MiB default; the stream
// variant sends this many per message.
constexpr int kStreamBatch = 500;

std::shared_ptr<spdlog::logger> Log() { return NamedLogger("cri"); }

// How an executor's error code reads to a CRI client. Codes that mean
// something about the request or the node pass through; NOT_FOUND and
// ALREADY_EXISTS would be read as statements about the sandbox itself.
absl::StatusCode CriCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable:
      return code;
    default:
      return absl::StatusCode::kInternal;
  }
}

// The reconciler's error for generation `generation`, if its last attempt failed.
absl::Status AttemptError(const SandboxRecord& record, int64_t generation) {
  if (!record.actual || record.actual->attempted_generation() < generation ||
      record.actual->last_error().empty()) {
    return absl::OkStatus();
  }
  auto code = CriCode(static_cast<absl::StatusCode>(record.actual->last_error_code()));
  return absl::Status(code, absl::StrCat("sandbox ", record.id, ": ", record.actual->last_error(),
                                         " (converge keeps retrying in the background)"));
}

absl::Status NotConverged(const SandboxRecord& record, absl::string_view goal) {
  std::string last_error;
  if (record.actual && !record.actual->last_error().empty()) {
    last_error = absl::StrCat("; last error: ", record.actual->last_error());
  }
  return absl::DeadlineExceededError(absl::StrCat("sandbox ", record.id, " is not ", goal,
                                                  " yet; the reconciler is still working",
                                                  last_error));
}

bool Converged(const SandboxRecord& record, int64_t generation) {
  return record.actual && record.actual->observed_generation() >= generation;
}

}  // namespace

RuntimeServiceImpl::RuntimeServiceImpl(DesiredWriter* store, const HealthReporter* health,
                                       RuntimeServiceOptions options)
    : store_(store), health_(health), options_(std::move(options)) {}

grpc::Status RuntimeServiceImpl::NotImplemented(const char* method) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat("converge does not implement ", method, " yet"));
}

absl::Time RuntimeServiceImpl::Deadline(const grpc::ServerContext* context) const {
  return CallDeadline(context, options_.max_wait);
}

absl::Status RuntimeServiceImpl::Unfinished(const SandboxRecord& record,
                                            absl::string_view goal) const {
  if (store_->WaitsCancelled()) {
    return absl::UnavailableError(absl::StrCat(
        "converged is shutting down; sandbox ", record.id, " will be ", goal,
        " after it restarts"));
  }
  return NotConverged(record, goal);
}

std::pair<SandboxRecord, bool> RuntimeServiceImpl::Await(
    const grpc::ServerContext* context, const std::string& id,
    const std::function<bool(const SandboxRecord&)>& done) const {
  return store_->AwaitSandbox(id, Deadline(context), done,
                              [context] { return context->IsCancelled(); });
}

absl::Mutex& RuntimeServiceImpl::LockFor(const std::string& key) {
  return stripes_[absl::Hash<std::string>{}(key) % stripes_.size()];
}

absl::StatusOr<std::optional<SandboxRecord>> RuntimeServiceImpl::Resolve(
    const std::string& id) const {
  std::optional<SandboxRecord> exact = store_->GetSandbox(id);
  if (exact && VisibleToCri(*exact)) return exact;
  std::optional<SandboxRecord> match;
  for (SandboxRecord& record : store_->ListSandboxes()) {
    if (!VisibleToCri(record) || record.id.compare(0, id.size(), id) != 0) continue;
    if (match) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod_sandbox_id: prefix \"", id, "\" matches more than one sandbox"));
    }
    match = std::move(record);
  }
  return match;
}

grpc::Status RuntimeServiceImpl::Version(grpc::ServerContext*, const runtime::v1::VersionRequest*,
                                         runtime::v1::VersionResponse* response) {
  response->set_version("0.1.0");
  response->set_runtime_name(kRuntimeName);
  response->set_runtime_version(options_.version);
  response->set_runtime_api_version(kApiVersion);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::Status(grpc::ServerContext*,
                                        const runtime::v1::StatusRequest* request,
                                        runtime::v1::StatusResponse* response) {
  auto* runtime_ready = response->mutable_status()->add_conditions();
  runtime_ready->set_type("RuntimeReady");
  absl::Status store = store_->WriteHealth();
  runtime_ready->set_status(store.ok());
  if (!store.ok()) {
    runtime_ready->set_reason("StateStoreWriteFailed");
    runtime_ready->set_message(std::string(store.message()));
  }
  auto* network_ready = response->mutable_status()->add_conditions();
  network_ready->set_type("NetworkReady");
  absl::Status network = health_->NetworkReadiness();
  network_ready->set_status(network.ok());
  if (!network.ok()) {
    network_ready->set_reason("NetworkPluginNotReady");
    network_ready->set_message(std::string(network.message()));
  }
  auto* handler = response->add_runtime_handlers();
  handler->set_name("");
  if (request->verbose()) {
    absl::MutexLock lock(&config_mu_);
    nlohmann::json config = {{"cgroupDriver", "cgroupfs"}, {"podCIDR", pod_cidr_}};
    (*response->mutable_info())["config"] = config.dump();
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::RuntimeConfig(grpc::ServerContext*,
                                               const runtime::v1::RuntimeConfigRequest*,
                                               runtime::v1::RuntimeConfigResponse* response) {
  response->mutable_linux()->set_cgroup_driver(runtime::v1::CGROUPFS);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::UpdateRuntimeConfig(
    grpc::ServerContext*, const runtime::v1::UpdateRuntimeConfigRequest* request,
    runtime::v1::UpdateRuntimeConfigResponse*) {
  // Kept for Status(verbose); CNI configuration will consume it.
  absl::MutexLock lock(&config_mu_);
  pod_cidr_ = request->runtime_config().network_config().pod_cidr();
  Log()->info("runtime config updated pod_cidr={}", pod_cidr_);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::RunPodSandbox(grpc::ServerContext* context,
                                               const runtime::v1::RunPodSandboxRequest* request,
                                               runtime::v1::RunPodSandboxResponse* response) {
  absl::Status valid = ValidateRunPodSandbox(*request);
  if (!valid.ok()) return ToGrpcStatus(valid);
  const auto& metadata = request->config().metadata();
  const std::string name_key = SandboxNameKey(metadata);

  std::string id;
  int64_t generation = 0;
  {
    absl::MutexLock lock(&LockFor(name_key));
    std::optional<std::string> existing = store_->FindSandboxByName(metadata);
    std::optional<SandboxRecord> record;
    if (existing) record = store_->GetSandbox(*existing);
    if (record && record->desired) {
      // kubelet retries a timed-out RunPodSandbox with the same metadata:
      // answer with the sandbox already being made instead of "name reserved".
      if (record->desired->stage() != records::SANDBOX_STAGE_READY) {
        return ToGrpcStatus(absl::AlreadyExistsError(absl::StrCat(
            "config.metadata: pod ", name_key, " already has sandbox ", record->id,
            ", which is stopped; remove it or use a new attempt number")));
      }
      id = record->id;
      generation = record->desired->generation();
      Log()->info("run sandbox retried id={} pod={}", id, name_key);
    } else {
      SandboxDesired desired;
      desired.set_schema_version(kSchemaVersion);
      desired.set_id(options_.new_id());
      *desired.mutable_config() = request->config();
      desired.set_runtime_handler(request->runtime_handler());
      desired.set_stage(records::SANDBOX_STAGE_READY);
      desired.set_generation(1);
      int64_t now = absl::ToUnixNanos(absl::Now());
      desired.set_created_at_unix_nanos(now);
      desired.set_updated_at_unix_nanos(now);
      absl::Status put = store_->PutSandboxDesired(desired);
      if (!put.ok()) return ToGrpcStatus(put);
      id = desired.id();
      generation = desired.generation();
      Log()->info("run sandbox id={} pod={}", id, name_key);
    }
  }

  auto [record, done] = Await(context, id, [&](const SandboxRecord& r) {
    if (!r.desired || r.desired->stage() != records::SANDBOX_STAGE_READY) return true;
    if (r.actual && r.actual->phase() == records::SANDBOX_PHASE_NOTREADY) return true;
    if (Converged(r, generation) && r.actual->phase() == records::SANDBOX_PHASE_READY) return true;
    return !AttemptError(r, generation).ok();
  });
  if (!done) return ToGrpcStatus(Unfinished(record, "ready"));
  if (CriState(record) == runtime::v1::SANDBOX_READY) {
    response->set_pod_sandbox_id(id);
    return grpc::Status::OK;
  }
  absl::Status failed = AttemptError(record, generation);
  if (!failed.ok()) return ToGrpcStatus(failed);
  std::string reason = record.actual ? record.actual->notready_reason() : "";
  return ToGrpcStatus(absl::AbortedError(
      absl::StrCat("sandbox ", id, " did not become ready: ",
                   reason.empty() ? "it was stopped or removed meanwhile" : reason)));
}

grpc::Status RuntimeServiceImpl::StopPodSandbox(grpc::ServerContext* context,
                                                const runtime::v1::StopPodSandboxRequest* request,
                                                runtime::v1::StopPodSandboxResponse*) {
  absl::Status valid = ValidateId("pod_sandbox_id", request->pod_sandbox_id());
  if (!valid.ok()) return ToGrpcStatus(valid);
  auto resolved = Resolve(request->pod_sandbox_id());
  if (!resolved.ok()) return ToGrpcStatus(resolved.status());
  if (!resolved->has_value()) return grpc::Status::OK;  // Stop is idempotent.
  const std::string id = (*resolved)->id;

  int64_t generation = 0;
  {
    absl::MutexLock lock(&LockFor(id));
    std::optional<SandboxRecord> record = store_->GetSandbox(id);
    if (!record || !record->desired) return grpc::Status::OK;
    SandboxDesired desired = *record->desired;
    if (desired.stage() == records::SANDBOX_STAGE_READY) {
      desired.set_stage(records::SANDBOX_STAGE_NOTREADY);
      desired.set_generation(desired.generation() + 1);
      desired.set_updated_at_unix_nanos(absl::ToUnixNanos(absl::Now()));
      absl::Status put = store_->PutSandboxDesired(desired);
      if (!put.ok()) return ToGrpcStatus(put);
      Log()->info("stop sandbox id={}", id);
    }
    generation = desired.generation();
  }
  auto [record, done] = Await(context, id, [&](const SandboxRecord& r) {
    return !r.desired || Converged(r, generation) || !AttemptError(r, generation).ok();
  });
  if (!done) return ToGrpcStatus(Unfinished(record, "stopped"));
  if (record.desired && !Converged(record, generation)) {
    return ToGrpcStatus(AttemptError(record, generation));
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::RemovePodSandbox(
    grpc::ServerContext* context, const runtime::v1::RemovePodSandboxRequest* request,
    runtime::v1::RemovePodSandboxResponse*) {
  absl::Status valid = ValidateId("pod_sandbox_id", request->pod_sandbox_id());
  if (!valid.ok()) return ToGrpcStatus(valid);
  // A tombstone left by an earlier, timed-out Remove is found by exact id.
  std::string id = request->pod_sandbox_id();
  std::optional<SandboxRecord> exact = store_->GetSandbox(id);
  if (!exact || !exact->desired) {
    auto resolved = Resolve(id);
    if (!resolved.ok()) return ToGrpcStatus(resolved.status());
    if (!resolved->has_value()) return grpc::Status::OK;  // Remove is idempotent.
    id = (*resolved)->id;
  }
  {
    absl::MutexLock lock(&LockFor(id));
    std::optional<SandboxRecord> record = store_->GetSandbox(id);
    if (!record || !record->desired) return grpc::Status::OK;
    if (record->desired->stage() != records::SANDBOX_STAGE_REMOVED) {
      SandboxDesired desired = *record->desired;
      desired.set_stage(records::SANDBOX_STAGE_REMOVED);
      desired.set_generation(desired.generation() + 1);
      desired.set_updated_at_unix_nanos(absl::ToUnixNanos(absl::Now()));
      absl::Status put = store_->PutSandboxDesired(desired);
      if (!put.ok()) return ToGrpcStatus(put);
      Log()->info("remove sandbox id={}", id);
    }
  }
  auto [record, done] =
      Await(context, id, [](const SandboxRecord& r) { return !r.actual.has_value(); });
  if (!done) return ToGrpcStatus(Unfinished(record, "removed"));
  // Teardown is complete: the tombstone has served its purpose.
  absl::MutexLock lock(&LockFor(id));
  return ToGrpcStatus(store_->DeleteSandboxDesired(id));
}

grpc::Status RuntimeServiceImpl::PodSandboxStatus(
    grpc::ServerContext*, const runtime::v1::PodSandboxStatusRequest* request,
    runtime::v1::PodSandboxStatusResponse* response) {
  absl::Status valid = ValidateId("pod_sandbox_id", request->pod_sandbox_id());
  if (!valid.ok()) return ToGrpcStatus(valid);
  auto resolved = Resolve(request->pod_sandbox_id());
  if (!resolved.ok()) return ToGrpcStatus(resolved.status());
  if (!resolved->has_value()) {
    return ToGrpcStatus(absl::NotFoundError(
        absl::StrCat("pod_sandbox_id: sandbox \"", request->pod_sandbox_id(), "\" not found")));
  }
  const SandboxRecord& record = **resolved;
  // `timestamp` stays 0: with evented PLEG, kubelet takes a non-zero one to
  // mean containers_statuses is filled in, which comes with containers.
  *response->mutable_status() = ToPodSandboxStatus(record);
  if (request->verbose()) {
    for (auto& [key, value] : VerboseInfo(record)) (*response->mutable_info())[key] = value;
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListPodSandbox(grpc::ServerContext*,
                                                const runtime::v1::ListPodSandboxRequest* request,
                                                runtime::v1::ListPodSandboxResponse* response) {
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    if (VisibleToCri(record) && MatchesFilter(record, request->filter())) {
      *response->add_items() = ToPodSandbox(record);
    }
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::StreamPodSandboxes(
    grpc::ServerContext*, const runtime::v1::StreamPodSandboxesRequest* request,
    grpc::ServerWriter<runtime::v1::StreamPodSandboxesResponse>* writer) {
  runtime::v1::StreamPodSandboxesResponse batch;
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    if (!VisibleToCri(record) || !MatchesFilter(record, request->filter())) continue;
    *batch.add_pod_sandboxes() = ToPodSandbox(record);
    if (batch.pod_sandboxes_size() == kStreamBatch) {
      if (!writer->Write(batch)) return grpc::Status::CANCELLED;
      batch.Clear();
    }
  }
  if (batch.pod_sandboxes_size() > 0 && !writer->Write(batch)) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

}  // namespace converge

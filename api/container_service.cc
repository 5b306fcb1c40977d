// The container half of the CRI RuntimeService. Like the sandbox handlers,
// these validate the request, write the container's intent into its
// sandbox's desired record (a monotone stage and a generation) and wait for
// the reconciler to report the matching actual state. ExecSync and the stats
// calls change no state and ask the reconciler's ContainerOperations.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/container_validation.h"
#include "api/container_view.h"
#include "api/grpc_status.h"
#include "api/image_lookup.h"
#include "api/runtime_service.h"
#include "api/sandbox_view.h"
#include "api/validation.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace converge {
namespace {

using records::ContainerActual;
using records::ContainerDesired;
using records::SandboxDesired;

std::shared_ptr<spdlog::logger> Log() { return NamedLogger("cri"); }

std::string ContainerNameKey(const runtime::v1::ContainerMetadata& metadata) {
  return absl::StrCat(metadata.name(), "_", metadata.attempt());
}

ContainerDesired* MutableContainer(SandboxDesired* sandbox, const std::string& id) {
  for (ContainerDesired& container : *sandbox->mutable_containers()) {
    if (container.id() == id) return &container;
  }
  return nullptr;
}

// The reconciler's error for the container's generation, if its last attempt failed.
absl::Status ContainerAttemptError(const ContainerRecord& record, int64_t generation) {
  if (record.actual == nullptr || record.actual->attempted_generation() < generation ||
      record.actual->last_error().empty()) {
    return absl::OkStatus();
  }
  return absl::Status(static_cast<absl::StatusCode>(record.actual->last_error_code()),
                      absl::StrCat("container ", record.actual->id(), ": ",
                                   record.actual->last_error()));
}

bool ContainerObserved(const ContainerRecord& record, int64_t generation) {
  return record.actual != nullptr && record.actual->observed_generation() >= generation;
}

// CRI's UInt64Value fields stay unset for what the cgroup does not report.
template <typename Message>
void SetIfKnown(const std::optional<uint64_t>& value, Message* field) {
  if (value) field->set_value(*value);
}

runtime::v1::CpuUsage CpuUsageOf(const CgroupStats& stats) {
  runtime::v1::CpuUsage cpu;
  cpu.set_timestamp(absl::ToUnixNanos(stats.timestamp));
  SetIfKnown(stats.cpu_usage_ns, cpu.mutable_usage_core_nano_seconds());
  return cpu;
}

runtime::v1::MemoryUsage MemoryUsageOf(const CgroupStats& stats) {
  runtime::v1::MemoryUsage memory;
  memory.set_timestamp(absl::ToUnixNanos(stats.timestamp));
  SetIfKnown(stats.memory_working_set_bytes, memory.mutable_working_set_bytes());
  SetIfKnown(stats.memory_usage_bytes, memory.mutable_usage_bytes());
  SetIfKnown(stats.memory_rss_bytes, memory.mutable_rss_bytes());
  SetIfKnown(stats.memory_page_faults, memory.mutable_page_faults());
  SetIfKnown(stats.memory_major_page_faults, memory.mutable_major_page_faults());
  if (stats.memory_limit_bytes && stats.memory_working_set_bytes &&
      *stats.memory_limit_bytes >= *stats.memory_working_set_bytes) {
    memory.mutable_available_bytes()->set_value(*stats.memory_limit_bytes -
                                                *stats.memory_working_set_bytes);
  }
  return memory;
}

void Accumulate(const std::optional<uint64_t>& value, std::optional<uint64_t>* total) {
  if (value) *total = total->value_or(0) + *value;
}

}  // namespace

absl::StatusOr<std::optional<std::pair<std::string, std::string>>>
RuntimeServiceImpl::ResolveContainer(const std::string& id) const {
  if (std::optional<std::string> sandbox = store_->FindContainerSandbox(id)) {
    return std::make_pair(*sandbox, id);
  }
  std::optional<std::pair<std::string, std::string>> match;
  for (const std::string& candidate : store_->ContainerIds()) {
    if (candidate.compare(0, id.size(), id) != 0) continue;
    if (match) {
      return absl::InvalidArgumentError(
          absl::StrCat("container_id: prefix \"", id, "\" matches more than one container"));
    }
    std::optional<std::string> sandbox = store_->FindContainerSandbox(candidate);
    if (sandbox) match = std::make_pair(*sandbox, candidate);
  }
  return match;
}

std::pair<std::optional<ContainerRecord>, bool> RuntimeServiceImpl::AwaitContainer(
    const grpc::ServerContext* context, const std::string& sandbox_id,
    const std::string& container_id,
    const std::function<bool(const std::optional<ContainerRecord>&)>& done,
    SandboxRecord* holder) const {
  auto [sandbox, finished] = Await(context, sandbox_id, [&](const SandboxRecord& r) {
    return done(ContainerOf(r, container_id));
  });
  *holder = std::move(sandbox);
  return {ContainerOf(*holder, container_id), finished};
}

absl::Status RuntimeServiceImpl::AwaitGeneration(const grpc::ServerContext* context,
                                                 const std::string& sandbox_id,
                                                 const std::string& id, int64_t generation,
                                                 absl::string_view goal, bool gone_is_ok) const {
  SandboxRecord holder;
  auto [container, done] = AwaitContainer(
      context, sandbox_id, id,
      [&](const std::optional<ContainerRecord>& c) {
        return !c || !c->desired || ContainerObserved(*c, generation) ||
               !ContainerAttemptError(*c, generation).ok();
      },
      &holder);
  if (!done) return Unfinished(holder, absl::StrCat("done ", goal));
  if (!container || !container->desired) {
    return gone_is_ok ? absl::OkStatus()
                      : absl::AbortedError("the container was removed meanwhile");
  }
  absl::Status failed = ContainerAttemptError(*container, generation);
  if (!failed.ok()) return failed;
  if (!ContainerObserved(*container, generation)) {
    return absl::AbortedError("the container was removed meanwhile");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RuntimeServiceImpl::UpdateContainer(
    const std::string& sandbox_id, const std::string& container_id,
    const std::function<absl::StatusOr<bool>(const SandboxRecord&, ContainerDesired*)>& change) {
  absl::MutexLock lock(&LockFor(sandbox_id));
  std::optional<SandboxRecord> record = store_->GetSandbox(sandbox_id);
  // A removed pod's tombstone is the janitor's to delete: never written again.
  if (!record || !record->desired ||
      record->desired->stage() == records::SANDBOX_STAGE_REMOVED) {
    return absl::NotFoundError(absl::StrCat("container \"", container_id, "\" not found"));
  }
  SandboxDesired desired = *record->desired;
  ContainerDesired* container = MutableContainer(&desired, container_id);
  if (container == nullptr) {
    return absl::NotFoundError(absl::StrCat("container \"", container_id, "\" not found"));
  }
  CONVERGE_ASSIGN_OR_RETURN(bool changed, change(*record, container));
  if (changed) {
    container->set_generation(container->generation() + 1);
    container->set_updated_at_unix_nanos(absl::ToUnixNanos(absl::Now()));
    CONVERGE_RETURN_IF_ERROR(store_->PutSandboxDesired(desired));
  }
  return container->generation();
}

void RuntimeServiceImpl::PurgeContainerTombstones(const std::string& sandbox_id) {
  absl::MutexLock lock(&LockFor(sandbox_id));
  std::optional<SandboxRecord> record = store_->GetSandbox(sandbox_id);
  if (!record || !record->desired) return;
  SandboxDesired desired = *record->desired;
  desired.clear_containers();
  for (const ContainerRecord& container : ContainersOf(*record)) {
    if (container.desired != nullptr && !IsSpentTombstone(container)) {
      *desired.add_containers() = *container.desired;
    }
  }
  if (desired.containers_size() == record->desired->containers_size()) return;
  absl::Status put = store_->PutSandboxDesired(desired);
  if (!put.ok()) Log()->warn("container tombstones not purged sandbox={} error={}", sandbox_id, put.ToString());
}

grpc::Status RuntimeServiceImpl::CreateContainer(grpc::ServerContext* context,
                                                 const runtime::v1::CreateContainerRequest* request,
                                                 runtime::v1::CreateContainerResponse* response) {
  absl::Status valid = ValidateCreateContainer(*request);
  if (valid.ok()) valid = CheckMountSources(request->config());
  if (valid.ok()) valid = CheckSeccompProfile(request->config());
  if (!valid.ok()) return ToGrpcStatus(valid);
  auto resolved = Resolve(request->pod_sandbox_id());
  if (!resolved.ok()) return ToGrpcStatus(resolved.status());
  if (!resolved->has_value()) {
    return ToGrpcStatus(absl::NotFoundError(absl::StrCat(
        "pod_sandbox_id: sandbox \"", request->pod_sandbox_id(), "\" not found")));
  }
  const std::string sandbox_id = (*resolved)->id;
  const std::string& image_name = request->config().image().image();
  absl::StatusOr<std::optional<records::ImageRecord>> image = FindImage(*store_, image_name);
  if (!image.ok()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("config.image.image: ", image.status().message())));
  }
  if (!image->has_value()) {
    return ToGrpcStatus(absl::NotFoundError(absl::StrCat(
        "config.image.image: image \"", image_name, "\" is not present; pull it first")));
  }

  std::string id;
  int64_t generation = 0;
  {
    absl::MutexLock lock(&LockFor(sandbox_id));
    std::optional<SandboxRecord> record = store_->GetSandbox(sandbox_id);
    if (!record || !record->desired || CriState(*record) != runtime::v1::SANDBOX_READY) {
      return ToGrpcStatus(absl::FailedPreconditionError(
          absl::StrCat("pod_sandbox_id: sandbox ", sandbox_id, " is not ready")));
    }
    if (request->config().linux().security_context().namespace_options().pid() ==
            runtime::v1::POD &&
        record->desired->config().linux().security_context().namespace_options().pid() !=
            runtime::v1::POD) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "config.linux.security_context.namespace_options.pid: POD, but sandbox ", sandbox_id,
          " has no pod pid namespace (its pid mode is not POD)")));
    }
    SandboxDesired desired = *record->desired;
    const std::string name_key = ContainerNameKey(request->config().metadata());
    for (const ContainerDesired& existing : desired.containers()) {
      if (existing.stage() == records::CONTAINER_STAGE_REMOVED ||
          ContainerNameKey(existing.config().metadata()) != name_key) {
        continue;
      }
      // kubelet retries a timed-out CreateContainer with the same metadata:
      // answer with the container being made instead of "name reserved".
      if (existing.stage() != records::CONTAINER_STAGE_CREATED) {
        return ToGrpcStatus(absl::AlreadyExistsError(absl::StrCat(
            "config.metadata: container ", name_key, " already exists in sandbox ", sandbox_id,
            " as ", existing.id(), "; remove it or use a new attempt number")));
      }
      id = existing.id();
      generation = existing.generation();
      Log()->info("create container retried id={} sandbox={} name={}", id, sandbox_id, name_key);
    }
    if (id.empty()) {
      ContainerDesired* container = desired.add_containers();
      container->set_id(options_.new_id());
      *container->mutable_config() = request->config();
      container->set_stage(records::CONTAINER_STAGE_CREATED);
      container->set_generation(1);
      const int64_t now = absl::ToUnixNanos(absl::Now());
      container->set_created_at_unix_nanos(now);
      container->set_updated_at_unix_nanos(now);
      container->set_image_id((*image)->id());
      container->set_image_ref(image_name);
      *container->mutable_resources() = request->config().linux().resources();
      absl::Status put = store_->PutSandboxDesired(desired);
      if (!put.ok()) return ToGrpcStatus(put);
      id = container->id();
      generation = 1;
      Log()->info("create container id={} sandbox={} name={} image={}", id, sandbox_id, name_key,
                  image_name);
    }
  }

  absl::Status failed = AwaitGeneration(context, sandbox_id, id, generation,
                                        "creating the container", /*gone_is_ok=*/false);
  if (!failed.ok() && !absl::IsDeadlineExceeded(failed) && !absl::IsUnavailable(failed)) {
    // Nothing of a failed create is kept (kubelet never learns its id): the
    // reconciler undoes what it made and the entry goes with it.
    absl::StatusOr<int64_t> removed =
        UpdateContainer(sandbox_id, id, [](const SandboxRecord&, ContainerDesired* desired) {
          desired->set_stage(records::CONTAINER_STAGE_REMOVED);
          return true;
        });
    if (!removed.ok()) Log()->warn("failed container not removed id={}", id);
  }
  if (!failed.ok()) return ToGrpcStatus(failed);
  response->set_container_id(id);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::StartContainer(grpc::ServerContext* context,
                                                const runtime::v1::StartContainerRequest* request,
                                                runtime::v1::StartContainerResponse*) {
  absl::Status valid = ValidateId("container_id", request->container_id());
  if (!valid.ok()) return ToGrpcStatus(valid);
  auto resolved = ResolveContainer(request->container_id());
  if (!resolved.ok()) return ToGrpcStatus(resolved.status());
  if (!resolved->has_value()) {
    return ToGrpcStatus(absl::NotFoundError(
        absl::StrCat("container_id: container \"", request->container_id(), "\" not found")));
  }
  const auto& [sandbox_id, id] = **resolved;
  absl::StatusOr<int64_t> generation =
      UpdateContainer(sandbox_id, id, [&](const SandboxRecord& record,
                                          ContainerDesired* desired) -> absl::StatusOr<bool> {
        std::optional<ContainerRecord> current = ContainerOf(record, id);
        if (desired->stage() == records::CONTAINER_STAGE_REMOVED) {
          return absl::NotFoundError(absl::StrCat("container ", id, " is being removed"));
        }
        if (desired->stage() >= records::CONTAINER_STAGE_STOPPED ||
            (current && current->actual &&
             current->actual->phase() == records::CONTAINER_PHASE_EXITED &&
             current->actual->started_at_unix_nanos() == 0)) {
          return absl::FailedPreconditionError(
              absl::StrCat("container ", id, " is stopped and cannot be started"));
        }
        if (desired->stage() == records::CONTAINER_STAGE_RUNNING) return false;
        desired->set_stage(records::CONTAINER_STAGE_RUNNING);
        return true;
      });
  if (!generation.ok()) return ToGrpcStatus(generation.status());
  Log()->info("start container id={}", id);
  absl::Status started = AwaitGeneration(context, sandbox_id, id, *generation,
                                         "starting the container", /*gone_is_ok=*/false);
  if (!started.ok()) return ToGrpcStatus(started);
  // An init that died while it waited for the start satisfies RUNNING as an
  // exit, but it never ran.
  std::optional<SandboxRecord> record = store_->GetSandbox(sandbox_id);
  std::optional<ContainerRecord> container;
  if (record) container = ContainerOf(*record, id);
  if (container && container->actual &&
      container->actual->phase() == records::CONTAINER_PHASE_EXITED &&
      container->actual->started_at_unix_nanos() == 0) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "container ", id, " exited before it was started: ", container->actual->message())));
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::StopContainer(grpc::ServerContext* context,
                                               const runtime::v1::StopContainerRequest* request,
                                               runtime::v1::StopContainerResponse*) {
  absl::Status valid = ValidateId("container_id", request->container_id());
  if (!valid.ok()) return ToGrpcStatus(valid);
  if (request->timeout() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("timeout: must not be negative"));
  }
  auto resolved = ResolveContainer(request->container_id());
  if (!resolved.ok()) return ToGrpcStatus(resolved.status());
  if (!resolved->has_value()) return grpc::Status::OK;  // Stop is idempotent.
  const auto& [sandbox_id, id] = **resolved;
  absl::StatusOr<int64_t> generation = UpdateContainer(
      sandbox_id, id, [&](const SandboxRecord&, ContainerDesired* desired) {
        bool changed = false;
        if (desired->stage() < records::CONTAINER_STAGE_STOPPED) {
          desired->set_stage(records::CONTAINER_STAGE_STOPPED);
          desired->set_stop_timeout_seconds(request->timeout());
          changed = true;
        } else if (request->timeout() < desired->stop_timeout_seconds()) {
          // A second, more impatient stop shortens the grace period.
          desired->set_stop_timeout_seconds(request->timeout());
          changed = true;
        }
        return changed;
      });
  if (!generation.ok()) {
    if (absl::IsNotFound(generation.status())) return grpc::Status::OK;
    return ToGrpcStatus(generation.status());
  }
  Log()->info("stop container id={} timeout={}", id, request->timeout());
  return ToGrpcStatus(
      AwaitGeneration(context, sandbox_id, id, *generation, "stopping the container",
                      /*gone_is_ok=*/true));
}

grpc::Status RuntimeServiceImpl::RemoveContainer(
    grpc::ServerContext* context, const runtime::v1::RemoveContainerRequest* request,
    runtime::v1::RemoveContainerResponse*) {
  absl::Status valid = ValidateId("container_id", request->container_id());
  if (!valid.ok()) return ToGrpcStatus(valid);
  auto resolved = ResolveContainer(request->container_id());
  if (!resolved.ok()) return ToGrpcStatus(resolved.status());
  if (!resolved->has_value()) return grpc::Status::OK;  // Remove is idempotent.
  const auto& [sandbox_id, id] = **resolved;
  absl::StatusOr<int64_t> generation = UpdateContainer(
      sandbox_id, id, [](const SandboxRecord&, ContainerDesired* desired) {
        if (desired->stage() == records::CONTAINER_STAGE_REMOVED) return false;
        desired->set_stage(records::CONTAINER_STAGE_REMOVED);
        return true;
      });
  if (!generation.ok()) {
    if (absl::IsNotFound(generation.status())) return grpc::Status::OK;
    return ToGrpcStatus(generation.status());
  }
  Log()->info("remove container id={}", id);
  SandboxRecord holder;
  auto [container, done] = AwaitContainer(
      context, sandbox_id, id,
      [](const std::optional<ContainerRecord>& c) { return !c || c->actual == nullptr; },
      &holder);
  if (!done) return ToGrpcStatus(Unfinished(holder, "done removing the container"));
  PurgeContainerTombstones(sandbox_id);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListContainers(grpc::ServerContext*,
                                                const runtime::v1::ListContainersRequest* request,
                                                runtime::v1::ListContainersResponse* response) {
  for (const SandboxRecord& sandbox : store_->ListSandboxes()) {
    for (const ContainerRecord& container : ContainersOf(sandbox)) {
      if (VisibleToCri(container) && MatchesFilter(container, request->filter())) {
        *response->add_containers() = ToContainer(container);
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::StreamContainers(
    grpc::ServerContext*, const runtime::v1::StreamContainersRequest* request,
    grpc::ServerWriter<runtime::v1::StreamContainersResponse>* writer) {
  runtime::v1::StreamContainersResponse batch;
  for (const SandboxRecord& sandbox : store_->ListSandboxes()) {
    for (const ContainerRecord& container : ContainersOf(sandbox)) {
      if (!VisibleToCri(container) || !MatchesFilter(container, request->filter())) continue;
      *batch.add_containers() = ToContainer(container);
      if (batch.containers_size() == kContainerStreamBatch) {
        if (!writer->Write(batch)) return grpc::Status::CANCELLED;
        batch.Clear();
      }
    }
  }
  if (batch.containers_size() > 0 && !writer->Write(batch)) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

absl::StatusOr<std::pair<SandboxRecord, ContainerRecord>> RuntimeServiceImpl::FindVisibleContainer(
    const std::string& field, const std::string& container_id, SandboxRecord* holder) const {
  CONVERGE_RETURN_IF_ERROR(ValidateId(field, container_id));
  CONVERGE_ASSIGN_OR_RETURN(auto resolved, ResolveContainer(container_id));
  std::optional<SandboxRecord> sandbox;
  if (resolved) sandbox = store_->GetSandbox(resolved->first);
  if (sandbox) {
    *holder = std::move(*sandbox);
    std::optional<ContainerRecord> container = ContainerOf(*holder, resolved->second);
    if (container && VisibleToCri(*container)) return std::make_pair(*holder, *container);
  }
  return absl::NotFoundError(
      absl::StrCat(field, ": container \"", container_id, "\" not found"));
}

grpc::Status RuntimeServiceImpl::ContainerStatus(
    grpc::ServerContext*, const runtime::v1::ContainerStatusRequest* request,
    runtime::v1::ContainerStatusResponse* response) {
  SandboxRecord holder;
  auto found = FindVisibleContainer("container_id", request->container_id(), &holder);
  if (!found.ok()) return ToGrpcStatus(found.status());
  const ContainerRecord container = *ContainerOf(holder, found->second.desired->id());
  *response->mutable_status() = ToContainerStatus(container);
  if (request->verbose()) {
    for (auto& [key, value] : VerboseInfo(container)) (*response->mutable_info())[key] = value;
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::UpdateContainerResources(
    grpc::ServerContext* context, const runtime::v1::UpdateContainerResourcesRequest* request,
    runtime::v1::UpdateContainerResourcesResponse*) {
  absl::Status valid = ValidateUpdateContainerResources(request->linux());
  if (!valid.ok()) return ToGrpcStatus(valid);
  SandboxRecord holder;
  auto found = FindVisibleContainer("container_id", request->container_id(), &holder);
  if (!found.ok()) return ToGrpcStatus(found.status());
  const std::string sandbox_id = holder.id;
  const std::string id = found->second.desired->id();
  absl::StatusOr<int64_t> generation = UpdateContainer(
      sandbox_id, id, [&](const SandboxRecord&, ContainerDesired* desired) -> absl::StatusOr<bool> {
        if (desired->stage() >= records::CONTAINER_STAGE_STOPPED) {
          return absl::FailedPreconditionError(absl::StrCat("container ", id, " is stopped"));
        }
        if (desired->resources().SerializeAsString() == request->linux().SerializeAsString()) {
          return false;
        }
        *desired->mutable_resources() = request->linux();
        return true;
      });
  if (!generation.ok()) return ToGrpcStatus(generation.status());
  Log()->info("update container resources id={}", id);
  return ToGrpcStatus(
      AwaitGeneration(context, sandbox_id, id, *generation, "updating the container",
                      /*gone_is_ok=*/true));
}

grpc::Status RuntimeServiceImpl::ReopenContainerLog(
    grpc::ServerContext* context, const runtime::v1::ReopenContainerLogRequest* request,
    runtime::v1::ReopenContainerLogResponse*) {
  SandboxRecord holder;
  auto found = FindVisibleContainer("container_id", request->container_id(), &holder);
  if (!found.ok()) return ToGrpcStatus(found.status());
  const std::string sandbox_id = holder.id;
  const std::string id = found->second.desired->id();
  if (found->second.actual->phase() != records::CONTAINER_PHASE_RUNNING) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("container_id: container ", id, " is not running")));
  }
  absl::StatusOr<int64_t> generation = UpdateContainer(
      sandbox_id, id, [](const SandboxRecord&, ContainerDesired* desired) {
        desired->set_log_generation(desired->log_generation() + 1);
        return true;
      });
  if (!generation.ok()) return ToGrpcStatus(generation.status());
  return ToGrpcStatus(
      AwaitGeneration(context, sandbox_id, id, *generation, "reopening the log",
                      /*gone_is_ok=*/true));
}

grpc::Status RuntimeServiceImpl::ExecSync(grpc::ServerContext*,
                                          const runtime::v1::ExecSyncRequest* request,
                                          runtime::v1::ExecSyncResponse* response) {
  if (request->cmd().empty()) return ToGrpcStatus(absl::InvalidArgumentError("cmd: empty"));
  if (request->timeout() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("timeout: must not be negative"));
  }
  SandboxRecord holder;
  auto found = FindVisibleContainer("container_id", request->container_id(), &holder);
  if (!found.ok()) return ToGrpcStatus(found.status());
  if (options_.containers == nullptr) return NotImplemented("ExecSync");
  std::vector<std::string> args(request->cmd().begin(), request->cmd().end());
  const absl::Duration timeout =
      request->timeout() > 0 ? absl::Seconds(request->timeout()) : absl::InfiniteDuration();
  absl::StatusOr<ExecOutput> output =
      options_.containers->ExecSync(found->second.desired->id(), args, timeout);
  if (!output.ok()) return ToGrpcStatus(output.status());
  response->set_stdout(std::move(output->stdout_data));
  response->set_stderr(std::move(output->stderr_data));
  response->set_exit_code(output->exit_code);
  return grpc::Status::OK;
}

absl::StatusOr<runtime::v1::ContainerStats> RuntimeServiceImpl::StatsOf(
    const ContainerRecord& container, std::optional<CgroupStats>* sample) const {
  runtime::v1::ContainerStats out;
  const std::string& id = container.desired->id();
  auto* attributes = out.mutable_attributes();
  attributes->set_id(id);
  *attributes->mutable_metadata() = container.desired->config().metadata();
  *attributes->mutable_labels() = container.desired->config().labels();
  *attributes->mutable_annotations() = container.desired->config().annotations();
  if (options_.containers == nullptr) return out;
  absl::StatusOr<CgroupStats> stats = options_.containers->ContainerStats(id);
  if (stats.ok()) {
    *out.mutable_cpu() = CpuUsageOf(*stats);
    *out.mutable_memory() = MemoryUsageOf(*stats);
    if (sample != nullptr) *sample = *stats;
  } else if (!absl::IsNotFound(stats.status())) {
    return stats.status();
  }
  absl::StatusOr<std::pair<uint64_t, uint64_t>> layer = options_.containers->WritableLayerUsage(id);
  if (layer.ok()) {
    auto* writable = out.mutable_writable_layer();
    writable->set_timestamp(absl::ToUnixNanos(absl::Now()));
    writable->mutable_fs_id()->set_mountpoint(options_.snapshots_dir);
    writable->mutable_used_bytes()->set_value(layer->first);
    writable->mutable_inodes_used()->set_value(layer->second);
  }
  return out;
}

grpc::Status RuntimeServiceImpl::ContainerStats(grpc::ServerContext*,
                                                const runtime::v1::ContainerStatsRequest* request,
                                                runtime::v1::ContainerStatsResponse* response) {
  SandboxRecord holder;
  auto found = FindVisibleContainer("container_id", request->container_id(), &holder);
  if (!found.ok()) return ToGrpcStatus(found.status());
  absl::StatusOr<runtime::v1::ContainerStats> stats = StatsOf(found->second);
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  *response->mutable_stats() = std::move(*stats);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListContainerStats(
    grpc::ServerContext*, const runtime::v1::ListContainerStatsRequest* request,
    runtime::v1::ListContainerStatsResponse* response) {
  runtime::v1::ContainerFilter filter;
  filter.set_id(request->filter().id());
  filter.set_pod_sandbox_id(request->filter().pod_sandbox_id());
  *filter.mutable_label_selector() = request->filter().label_selector();
  for (const SandboxRecord& sandbox : store_->ListSandboxes()) {
    for (const ContainerRecord& container : ContainersOf(sandbox)) {
      if (!VisibleToCri(container) || !MatchesFilter(container, filter)) continue;
      absl::StatusOr<runtime::v1::ContainerStats> stats = StatsOf(container);
      // A container that goes away meanwhile is simply not listed.
      if (stats.ok()) *response->add_stats() = std::move(*stats);
    }
  }
  return grpc::Status::OK;
}

absl::StatusOr<runtime::v1::PodSandboxStats> RuntimeServiceImpl::SandboxStatsOf(
    const SandboxRecord& sandbox) const {
  runtime::v1::PodSandboxStats out;
  auto* attributes = out.mutable_attributes();
  attributes->set_id(sandbox.id);
  if (sandbox.desired) {
    *attributes->mutable_metadata() = sandbox.desired->config().metadata();
    *attributes->mutable_labels() = sandbox.desired->config().labels();
    *attributes->mutable_annotations() = sandbox.desired->config().annotations();
  }
  if (options_.containers == nullptr) return out;
  auto* linux = out.mutable_linux();
  // The pod's own cgroup holds its monitor; its containers' are siblings, so
  // the pod's usage is the sum of both.
  CgroupStats total;
  absl::StatusOr<CgroupStats> own = options_.containers->SandboxStats(sandbox.id);
  if (own.ok()) {
    total = *own;
  } else if (!absl::IsNotFound(own.status())) {
    return own.status();
  }
  for (const ContainerRecord& container : ContainersOf(sandbox)) {
    if (!VisibleToCri(container)) continue;
    std::optional<CgroupStats> cgroup;
    absl::StatusOr<runtime::v1::ContainerStats> stats = StatsOf(container, &cgroup);
    if (!stats.ok()) continue;
    if (cgroup) {
      Accumulate(cgroup->cpu_usage_ns, &total.cpu_usage_ns);
      Accumulate(cgroup->memory_working_set_bytes, &total.memory_working_set_bytes);
      Accumulate(cgroup->memory_usage_bytes, &total.memory_usage_bytes);
      Accumulate(cgroup->memory_rss_bytes, &total.memory_rss_bytes);
      Accumulate(cgroup->memory_page_faults, &total.memory_page_faults);
      Accumulate(cgroup->memory_major_page_faults, &total.memory_major_page_faults);
    }
    *linux->add_containers() = std::move(*stats);
  }
  // The pod's limit is kubelet's pod cgroup's, not ours: not reported.
  total.memory_limit_bytes.reset();
  total.timestamp = absl::Now();
  *linux->mutable_cpu() = CpuUsageOf(total);
  *linux->mutable_memory() = MemoryUsageOf(total);
  return out;
}

grpc::Status RuntimeServiceImpl::PodSandboxStats(grpc::ServerContext*,
                                                 const runtime::v1::PodSandboxStatsRequest* request,
                                                 runtime::v1::PodSandboxStatsResponse* response) {
  absl::Status valid = ValidateId("pod_sandbox_id", request->pod_sandbox_id());
  if (!valid.ok()) return ToGrpcStatus(valid);
  auto resolved = Resolve(request->pod_sandbox_id());
  if (!resolved.ok()) return ToGrpcStatus(resolved.status());
  if (!resolved->has_value()) {
    return ToGrpcStatus(absl::NotFoundError(absl::StrCat(
        "pod_sandbox_id: sandbox \"", request->pod_sandbox_id(), "\" not found")));
  }
  absl::StatusOr<runtime::v1::PodSandboxStats> stats = SandboxStatsOf(**resolved);
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  *response->mutable_stats() = std::move(*stats);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListPodSandboxStats(
    grpc::ServerContext*, const runtime::v1::ListPodSandboxStatsRequest* request,
    runtime::v1::ListPodSandboxStatsResponse* response) {
  runtime::v1::PodSandboxFilter filter;
  filter.set_id(request->filter().id());
  *filter.mutable_label_selector() = request->filter().label_selector();
  for (const SandboxRecord& sandbox : store_->ListSandboxes()) {
    if (!VisibleToCri(sandbox) || !MatchesFilter(sandbox, filter)) continue;
    absl::StatusOr<runtime::v1::PodSandboxStats> stats = SandboxStatsOf(sandbox);
    if (stats.ok()) *response->add_stats() = std::move(*stats);
  }
  return grpc::Status::OK;
}

}  // namespace converge

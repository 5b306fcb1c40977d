#include "api/container_view.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/proto_json.h"

namespace converge {
namespace {

bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& labels,
                 const google::protobuf::Map<std::string, std::string>& selector) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace

std::vector<ContainerRecord> ContainersOf(const SandboxRecord& sandbox) {
  std::vector<ContainerRecord> out;
  if (sandbox.desired) {
    for (const auto& desired : sandbox.desired->containers()) {
      out.push_back({sandbox.id, &desired, nullptr});
    }
  }
  if (sandbox.actual) {
    for (const auto& actual : sandbox.actual->containers()) {
      bool matched = false;
      for (ContainerRecord& record : out) {
        if (record.desired->id() == actual.id()) {
          record.actual = &actual;
          matched = true;
        }
      }
      if (!matched) out.push_back({sandbox.id, nullptr, &actual});
    }
  }
  return out;
}

std::optional<ContainerRecord> ContainerOf(const SandboxRecord& sandbox, const std::string& id) {
  for (const ContainerRecord& record : ContainersOf(sandbox)) {
    const std::string& record_id = record.desired ? record.desired->id() : record.actual->id();
    if (record_id == id) return record;
  }
  return std::nullopt;
}

bool VisibleToCri(const ContainerRecord& record) {
  if (record.desired == nullptr || record.actual == nullptr) return false;
  if (record.desired->stage() == records::CONTAINER_STAGE_REMOVED) return false;
  switch (record.actual->phase()) {
    case records::CONTAINER_PHASE_CREATED:
    case records::CONTAINER_PHASE_RUNNING:
    case records::CONTAINER_PHASE_EXITED:
      return true;
    default:
      return false;
  }
}

bool IsSpentTombstone(const ContainerRecord& record) {
  return record.desired != nullptr && record.actual == nullptr &&
         record.desired->stage() == records::CONTAINER_STAGE_REMOVED;
}

runtime::v1::ContainerState CriState(const ContainerRecord& record) {
  if (record.actual == nullptr) return runtime::v1::CONTAINER_UNKNOWN;
  switch (record.actual->phase()) {
    case records::CONTAINER_PHASE_CREATED:
      return runtime::v1::CONTAINER_CREATED;
    case records::CONTAINER_PHASE_RUNNING:
      return runtime::v1::CONTAINER_RUNNING;
    case records::CONTAINER_PHASE_EXITED:
      return runtime::v1::CONTAINER_EXITED;
    default:
      return runtime::v1::CONTAINER_UNKNOWN;
  }
}

runtime::v1::Container ToContainer(const ContainerRecord& record) {
  runtime::v1::Container out;
  out.set_pod_sandbox_id(record.sandbox_id);
  out.set_state(CriState(record));
  if (record.desired != nullptr) {
    const auto& config = record.desired->config();
    out.set_id(record.desired->id());
    *out.mutable_metadata() = config.metadata();
    *out.mutable_image() = config.image();
    out.set_image_ref(record.desired->image_id());
    out.set_image_id(record.desired->image_id());
    out.set_created_at(record.desired->created_at_unix_nanos());
    *out.mutable_labels() = config.labels();
    *out.mutable_annotations() = config.annotations();
  } else if (record.actual != nullptr) {
    out.set_id(record.actual->id());
  }
  return out;
}

runtime::v1::ContainerStatus ToContainerStatus(const ContainerRecord& record) {
  runtime::v1::ContainerStatus out;
  runtime::v1::Container summary = ToContainer(record);
  out.set_id(summary.id());
  *out.mutable_metadata() = summary.metadata();
  out.set_state(summary.state());
  out.set_created_at(summary.created_at());
  *out.mutable_image() = summary.image();
  out.set_image_ref(summary.image_ref());
  out.set_image_id(summary.image_id());
  *out.mutable_labels() = summary.labels();
  *out.mutable_annotations() = summary.annotations();
  if (record.desired != nullptr) {
    const auto& config = record.desired->config();
    *out.mutable_mounts() = config.mounts();
    *out.mutable_resources()->mutable_linux() = record.desired->resources();
  }
  if (record.actual != nullptr) {
    const records::ContainerActual& actual = *record.actual;
    out.set_started_at(actual.started_at_unix_nanos());
    out.set_finished_at(actual.finished_at_unix_nanos());
    out.set_exit_code(actual.exit_code());
    out.set_reason(actual.reason());
    out.set_message(actual.message());
    out.set_log_path(actual.log_path());
  }
  return out;
}

std::map<std::string, std::string> VerboseInfo(const ContainerRecord& record) {
  std::string desired = record.desired ? ProtoToJson(*record.desired) : "null";
  std::string actual = record.actual ? ProtoToJson(*record.actual) : "null";
  const int pid = record.actual ? record.actual->init().pid() : 0;
  return {{"info", absl::StrCat("{\"sandboxID\":\"", record.sandbox_id, "\",\"pid\":", pid,
                                ",\"desired\":", desired, ",\"actual\":", actual, "}")}};
}

bool MatchesFilter(const ContainerRecord& record, const runtime::v1::ContainerFilter& filter) {
  runtime::v1::Container summary = ToContainer(record);
  if (!filter.id().empty() && !absl::StartsWith(summary.id(), filter.id())) return false;
  if (!filter.pod_sandbox_id().empty() &&
      !absl::StartsWith(record.sandbox_id, filter.pod_sandbox_id())) {
    return false;
  }
  if (filter.has_state() && filter.state().state() != summary.state()) return false;
  return LabelsMatch(summary.labels(), filter.label_selector());
}

}  // namespace converge

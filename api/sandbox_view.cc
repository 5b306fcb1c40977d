#include "api/sandbox_view.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/proto_json.h"

namespace converge {
bool VisibleToCri(const SandboxRecord& record) {
  return record.desired.has_value() &&
         record.desired->stage() != records::SANDBOX_STAGE_REMOVED;
}

runtime::v1::PodSandboxState CriState(const SandboxRecord& record) {
  bool ready = record.desired && record.desired->stage() == records::SANDBOX_STAGE_READY &&
               record.actual && record.actual->phase() == records::SANDBOX_PHASE_READY;
  return ready ? runtime::v1::SANDBOX_READY : runtime::v1::SANDBOX_NOTREADY;
}

runtime::v1::PodSandbox ToPodSandbox(const SandboxRecord& record) {
  runtime::v1::PodSandbox out;
  out.set_id(record.id);
  out.set_state(CriState(record));
  if (record.desired) {
    const auto& config = record.desired->config();
    *out.mutable_metadata() = config.metadata();
    out.set_created_at(record.desired->created_at_unix_nanos());
    *out.mutable_labels() = config.labels();
    *out.mutable_annotations() = config.annotations();
    out.set_runtime_handler(record.desired->runtime_handler());
  }
  return out;
}

runtime::v1::PodSandboxStatus ToPodSandboxStatus(const SandboxRecord& record) {
  runtime::v1::PodSandboxStatus out;
  runtime::v1::PodSandbox summary = ToPodSandbox(record);
  out.set_id(summary.id());
  *out.mutable_metadata() = summary.metadata();
  out.set_state(summary.state());
  out.set_created_at(summary.created_at());
  *out.mutable_labels() = summary.labels();
  *out.mutable_annotations() = summary.annotations();
  out.set_runtime_handler(summary.runtime_handler());
  if (record.desired) {
    *out.mutable_linux()->mutable_namespaces()->mutable_options() =
        record.desired->config().linux().security_context().namespace_options();
  }
  // Always present: kubelet recreates a pod-network sandbox whose status
  // has a network with an empty IP, and only then.
  auto* network = out.mutable_network();
  if (record.actual && record.actual->ips_size() > 0) {
    network->set_ip(record.actual->ips(0));
    for (int i = 1; i < record.actual->ips_size(); ++i) {
      network->add_additional_ips()->set_ip(record.actual->ips(i));
    }
  }
  return out;
}

std::map<std::string, std::string> VerboseInfo(const SandboxRecord& record) {
  std::string desired = record.desired ? ProtoToJson(*record.desired) : "null";
  std::string actual = record.actual ? ProtoToJson(*record.actual) : "null";
  return {{"info", absl::StrCat("{\"desired\":", desired, ",\"actual\":", actual, "}")}};
}

bool MatchesFilter(const SandboxRecord& record, const runtime::v1::PodSandboxFilter& filter) {
  if (!filter.id().empty() && !absl::StartsWith(record.id, filter.id())) return false;
  if (filter.has_state() && filter.state().state() != CriState(record)) return false;
  if (!filter.label_selector().empty()) {
    if (!record.desired) return false;
    const auto& labels = record.desired->config().labels();
    for (const auto& [key, value] : filter.label_selector()) {
      auto it = labels.find(key);
      if (it == labels.end() || it->second != value) return false;
    }
  }
  return true;
}

}  // namespace converge

#include "cmd/convergectl/dump.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_json.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

std::string StageName(const SandboxRecord& record) {
  if (!record.desired) return "(none: orphan)";
  switch (record.desired->stage()) {
    case records::SANDBOX_STAGE_READY:
      return "READY";
    case records::SANDBOX_STAGE_NOTREADY:
      return "NOTREADY";
    case records::SANDBOX_STAGE_REMOVED:
      return "REMOVED";
    default:
      return "UNSPECIFIED";
  }
}

std::string PhaseName(const SandboxRecord& record) {
  if (!record.actual) return "(nothing yet)";
  switch (record.actual->phase()) {
    case records::SANDBOX_PHASE_CREATING:
      return "CREATING";
    case records::SANDBOX_PHASE_READY:
      return "READY";
    case records::SANDBOX_PHASE_NOTREADY:
      return "NOTREADY";
    default:
      return "UNSPECIFIED";
  }
}

std::string Time(int64_t unix_nanos) {
  if (unix_nanos == 0) return "-";
  return absl::FormatTime(absl::RFC3339_sec, absl::FromUnixNanos(unix_nanos), absl::UTCTimeZone());
}


// " network=NAME config=PATH" from the executor's cached CNI attachment, if
// it is one; the dump shows it as recorded, whatever the config dir holds now.
std::string NetworkSource(const records::SandboxActual& actual) {
  if (actual.network_result().empty()) return "";
  nlohmann::json cached = nlohmann::json::parse(actual.network_result(), nullptr,
                                                /*allow_exceptions=*/false);
  if (!cached.is_object()) return "";
  std::string out;
  if (cached.contains("networkName") && cached["networkName"].is_string()) {
    absl::StrAppend(&out, " network=", cached["networkName"].get<std::string>());
  }
  if (cached.contains("configSource") && cached["configSource"].is_string()) {
    absl::StrAppend(&out, " config=", cached["configSource"].get<std::string>());
  }
  return out;
}

std::string ContainerStageName(const ContainerRecord& container) {
  if (container.desired == nullptr) return "(none: orphan)";
  switch (container.desired->stage()) {
    case records::CONTAINER_STAGE_CREATED:
      return "CREATED";
    case records::CONTAINER_STAGE_RUNNING:
      return "RUNNING";
    case records::CONTAINER_STAGE_STOPPED:
      return "STOPPED";
    case records::CONTAINER_STAGE_REMOVED:
      return "REMOVED";
    default:
      return "UNSPECIFIED";
  }
}

std::string ContainerPhaseName(const ContainerRecord& container) {
  if (container.actual == nullptr) return "(nothing yet)";
  switch (container.actual->phase()) {
    case records::CONTAINER_PHASE_CREATING:
      return "CREATING";
    case records::CONTAINER_PHASE_CREATED:
      return "CREATED";
    case records::CONTAINER_PHASE_RUNNING:
      return "RUNNING";
    case records::CONTAINER_PHASE_EXITED:
      return "EXITED";
    default:
      return "UNSPECIFIED";
  }
}

const std::string& ContainerId(const ContainerRecord& container) {
  return container.desired != nullptr ? container.desired->id() : container.actual->id();
}

std::string Process(const records::ProcessHandle& process) {
  return absl::StrCat("pid ", process.pid(), " (start time ", process.start_time(), ")");
}

// The containers of `record` a dump shows: all it shows, or with
// `diff_only` those not converged.
std::vector<ContainerRecord> ShownContainers(const SandboxRecord& record, bool diff_only) {
  std::vector<ContainerRecord> out;
  for (const ContainerRecord& container : ContainersOf(record)) {
    if (!Shown(container) || (diff_only && IsConverged(container))) continue;
    out.push_back(container);
  }
  return out;
}

void AppendContainerText(const ContainerRecord& container, std::string* out) {
  absl::StrAppend(out, "  container ", ContainerId(container));
  if (container.desired != nullptr) {
    const auto& metadata = container.desired->config().metadata();
    absl::StrAppend(out, "  ", metadata.name(), " attempt=", metadata.attempt());
  }
  absl::StrAppend(out, IsConverged(container) ? "  [converged]" : "  [NOT CONVERGED]", "\n");
  absl::StrAppend(out, "    desired:    ", ContainerStageName(container));
  if (container.desired != nullptr) {
    absl::StrAppend(out, " generation=", container.desired->generation(),
                    " image=", container.desired->image_ref());
  }
  absl::StrAppend(out, "\n    actual:     ", ContainerPhaseName(container));
  if (container.actual == nullptr) {
    absl::StrAppend(out, "\n");
    return;
  }
  const records::ContainerActual& actual = *container.actual;
  absl::StrAppend(out, " observed_generation=", actual.observed_generation(),
                  " attempted_generation=", actual.attempted_generation(), "\n");
  if (!actual.last_error().empty()) {
    absl::StrAppend(out, "    last error: ", actual.last_error(), "\n");
    absl::StrAppend(out, "    retries:    ", actual.retries(), "\n");
  }
  if (actual.phase() == records::CONTAINER_PHASE_EXITED) {
    absl::StrAppend(out, "    exited:     code=", actual.exit_code(), " reason=",
                    actual.reason().empty() ? "-" : actual.reason(), " at ",
                    Time(actual.finished_at_unix_nanos()));
    if (!actual.message().empty()) absl::StrAppend(out, " message=", actual.message());
    absl::StrAppend(out, "\n");
  } else if (actual.stop_signaled_at_unix_nanos() != 0) {
    absl::StrAppend(out, "    stopping:   signal ", actual.stop_signal(), " sent at ",
                    Time(actual.stop_signaled_at_unix_nanos()), ", SIGKILL at ",
                    Time(actual.stop_deadline_unix_nanos()), "\n");
  }
  if (!actual.state_dir().empty()) absl::StrAppend(out, "    state dir:  ", actual.state_dir(), "\n");
  if (!actual.rootfs().empty() || !actual.snapshot_key().empty()) {
    absl::StrAppend(out, "    rootfs:     ", actual.rootfs().empty() ? "-" : actual.rootfs(),
                    " (snapshot ", actual.snapshot_key().empty() ? "-" : actual.snapshot_key(),
                    ")\n");
  }
  if (!actual.cgroup_path().empty()) {
    absl::StrAppend(out, "    cgroup:     ", actual.cgroup_path(), "\n");
  }
  if (actual.has_init() && actual.init().pid() != 0) {
    absl::StrAppend(out, "    init:       ", Process(actual.init()), "\n");
  }
  if (!actual.log_path().empty()) absl::StrAppend(out, "    log:        ", actual.log_path(), "\n");
}

nlohmann::ordered_json ProcessJson(const records::ProcessHandle& process) {
  return {{"pid", process.pid()}, {"start_time", process.start_time()}};
}

nlohmann::ordered_json ContainerJson(const ContainerRecord& container) {
  nlohmann::ordered_json out;
  out["id"] = ContainerId(container);
  out["name"] = container.desired != nullptr ? container.desired->config().metadata().name() : "";
  out["converged"] = IsConverged(container);
  out["desired_stage"] = ContainerStageName(container);
  out["generation"] = container.desired != nullptr ? container.desired->generation() : 0;
  out["phase"] = ContainerPhaseName(container);
  if (container.actual == nullptr) return out;
  const records::ContainerActual& actual = *container.actual;
  out["observed_generation"] = actual.observed_generation();
  out["attempted_generation"] = actual.attempted_generation();
  out["last_error"] = actual.last_error();
  out["retries"] = actual.retries();
  out["state_dir"] = actual.state_dir();
  out["snapshot_key"] = actual.snapshot_key();
  out["rootfs"] = actual.rootfs();
  out["cgroup_path"] = actual.cgroup_path();
  out["init"] = ProcessJson(actual.init());
  out["log_path"] = actual.log_path();
  if (actual.phase() == records::CONTAINER_PHASE_EXITED) {
    out["exit_code"] = actual.exit_code();
    out["reason"] = actual.reason();
    out["message"] = actual.message();
    out["finished_at"] = Time(actual.finished_at_unix_nanos());
  }
  return out;
}

void AppendText(const SandboxRecord& record, const DumpOptions& options, std::string* out) {
  const bool converged = IsFullyConverged(record);
  absl::StrAppend(out, "sandbox ", record.id, converged ? "  [converged]" : "  [NOT CONVERGED]",
                  "\n");
  if (record.desired) {
    const auto& metadata = record.desired->config().metadata();
    absl::StrAppend(out, "  pod:        ", metadata.namespace_(), "/", metadata.name(),
                    " uid=", metadata.uid(), " attempt=", metadata.attempt(), "\n");
  }
  absl::StrAppend(out, "  desired:    ", StageName(record), " generation=",
                  record.desired ? record.desired->generation() : 0, "\n");
  absl::StrAppend(out, "  actual:     ", PhaseName(record));
  if (!record.actual) {
    absl::StrAppend(out, "\n");
    return;
  }
  const auto& actual = *record.actual;
  absl::StrAppend(out, " observed_generation=", actual.observed_generation(),
                  " attempted_generation=", actual.attempted_generation(), "\n");
  if (!actual.notready_reason().empty()) {
    absl::StrAppend(out, "  notready:   ", actual.notready_reason(), " at ",
                    Time(actual.notready_at_unix_nanos()), "\n");
  }
  if (!actual.last_error().empty()) {
    absl::StrAppend(out, "  last error: ", actual.last_error(), "\n");
    absl::StrAppend(out, "  retries:    ", actual.retries(), ", next at ",
                    Time(actual.next_retry_unix_nanos()), "\n");
  }
  for (const auto& pin : actual.pins()) {
    absl::StrAppend(out, "  pin ", pin.kind(), ":    ", pin.path(), "\n");
  }
  if (!actual.cgroup_path().empty()) absl::StrAppend(out, "  cgroup:     ", actual.cgroup_path(), "\n");
  if (actual.network_attached() || actual.ips_size() > 0) {
    absl::StrAppend(out, "  network:    ",
                    actual.network_ready() ? "ready" : "set-up started, teardown owed",
                    " ips=[", absl::StrJoin(actual.ips(), ","), "]", NetworkSource(actual), "\n");
  }
  absl::StrAppend(out, "  boot id:    ", actual.boot_id().empty() ? "-" : actual.boot_id(), "\n");
  if (!actual.monitor_dir().empty() || actual.monitor().pid() != 0) {
    absl::StrAppend(out, "  monitor:    ",
                    actual.monitor().pid() != 0 ? Process(actual.monitor()) : "not running",
                    " dir=", actual.monitor_dir().empty() ? "-" : actual.monitor_dir(), "\n");
  }
  if (actual.pid_holder().pid() != 0) {
    absl::StrAppend(out, "  pid holder: ", Process(actual.pid_holder()), "\n");
  }
}

void AppendLive(const LiveView& live, std::string* out) {
  if (!live.error.empty()) {
    absl::StrAppend(out, "  live:       cannot observe: ", live.error, "\n");
    return;
  }
  absl::StrAppend(out, "  live:       pins mounted [", absl::StrJoin(live.mounted_pins, ","),
                  "], cgroup ", live.cgroup_exists ? "present" : "absent", ", files ",
                  live.files_present ? "present" : "absent",
                  live.same_boot ? "" : ", handles from another boot", "\n");
  for (const std::string& disagreement : live.disagreements) {
    absl::StrAppend(out, "  DISAGREES:  ", disagreement, "\n");
  }
}

}  // namespace

const LiveView* LiveFor(const SandboxRecord& record, const DumpOptions& options) {
  if (!options.live) return nullptr;
  auto it = options.live->find(record.id);
  return it == options.live->end() ? nullptr : &it->second;
}

bool IsConverged(const ContainerRecord& container) {
  return container.desired != nullptr && container.actual != nullptr &&
         container.actual->observed_generation() >= container.desired->generation() &&
         container.actual->last_error().empty();
}

bool Shown(const ContainerRecord& container) {
  return container.actual != nullptr ||
         (container.desired != nullptr &&
          container.desired->stage() != records::CONTAINER_STAGE_REMOVED);
}

bool IsFullyConverged(const SandboxRecord& record) {
  if (!IsConverged(record)) return false;
  for (const ContainerRecord& container : ContainersOf(record)) {
    if (Shown(container) && !IsConverged(container)) return false;
  }
  return true;
}

bool Selected(const SandboxRecord& record, const DumpOptions& options) {
  const LiveView* live = LiveFor(record, options);
  const bool disagrees = live != nullptr && (!live->disagreements.empty() || !live->error.empty());
  if (options.diff_only && IsFullyConverged(record) && !disagrees) return false;
  if (!absl::StartsWith(record.id, options.id)) return false;
  if (options.name.empty() && options.pod_namespace.empty()) return true;
  if (!record.desired) return false;
  const auto& metadata = record.desired->config().metadata();
  return (options.name.empty() || metadata.name() == options.name) &&
         (options.pod_namespace.empty() || metadata.namespace_() == options.pod_namespace);
}

absl::StatusOr<std::map<std::string, LiveView>> ParseLiveObservations(absl::string_view json) {
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("sandboxes") || !parsed["sandboxes"].is_array()) {
    return absl::DataLossError("the daemon's /debug/observe answer is not the expected JSON");
  }
  std::map<std::string, LiveView> out;
  try {  // nlohmann reports a field of the wrong type by throwing.
  for (const nlohmann::json& entry : parsed["sandboxes"]) {
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string()) continue;
    LiveView view;
    view.same_boot = entry.value("same_boot", true);
    view.cgroup_exists = entry.value("cgroup_exists", false);
    view.files_present = entry.value("files_present", false);
    view.mounted_pins = entry.value("mounted_pins", std::vector<std::string>());
    view.disagreements = entry.value("disagreements", std::vector<std::string>());
    view.error = entry.value("error", std::string());
    out[entry["id"].get<std::string>()] = std::move(view);
  }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("the daemon's /debug/observe answer: ", e.what()));
  }
  return out;
}

std::string FormatDump(const std::vector<SandboxRecord>& records, const DumpOptions& options) {
  std::string out;
  std::vector<const SandboxRecord*> shown;
  for (const SandboxRecord& record : records) {
    if (Selected(record, options)) shown.push_back(&record);
  }
  if (options.json) {
    out = "[";
    for (size_t i = 0; i < shown.size(); ++i) {
      const SandboxRecord& record = *shown[i];
      nlohmann::ordered_json monitor = nullptr;
      if (record.actual) {
        monitor = ProcessJson(record.actual->monitor());
        monitor["dir"] = record.actual->monitor_dir();
      }
      nlohmann::ordered_json containers = nlohmann::ordered_json::array();
      for (const ContainerRecord& container : ShownContainers(record, options.diff_only)) {
        containers.push_back(ContainerJson(container));
      }
      absl::StrAppend(&out, i == 0 ? "" : ",", "\n  {\"id\":\"", record.id,
                      "\",\"converged\":", IsFullyConverged(record) ? "true" : "false",
                      ",\"desired\":", record.desired ? ProtoToJson(*record.desired) : "null",
                      ",\"actual\":", record.actual ? ProtoToJson(*record.actual) : "null",
                      ",\"monitor\":", monitor.dump(), ",\"containers\":", containers.dump(),
                      "}");
    }
    absl::StrAppend(&out, shown.empty() ? "]\n" : "\n]\n");
    return out;
  }
  size_t unconverged = 0, containers = 0, unconverged_containers = 0;
  for (const SandboxRecord& record : records) {
    unconverged += IsFullyConverged(record) ? 0 : 1;
    for (const ContainerRecord& container : ContainersOf(record)) {
      if (!Shown(container)) continue;
      ++containers;
      unconverged_containers += IsConverged(container) ? 0 : 1;
    }
  }
  absl::StrAppend(&out, records.size(), " sandboxes, ", unconverged, " not converged; ",
                  containers, " containers, ", unconverged_containers, " not converged (",
                  Time(absl::ToUnixNanos(options.now)), ")\n");
  for (const SandboxRecord* record : shown) {
    absl::StrAppend(&out, "\n");
    AppendText(*record, options, &out);
    if (const LiveView* live = LiveFor(*record, options)) AppendLive(*live, &out);
    for (const ContainerRecord& container : ShownContainers(*record, options.diff_only)) {
      AppendContainerText(container, &out);
    }
  }
  return out;
}

std::string FormatImageDump(const std::vector<ImageRefRecord>& refs,
                            const std::vector<records::ImageRecord>& images,
                            const DumpOptions& options) {
  size_t unconverged = 0;
  for (const ImageRefRecord& ref : refs) unconverged += IsConverged(ref) ? 0 : 1;
  std::string out = absl::StrCat("\n", refs.size(), " image references, ", unconverged,
                                 " not converged, ", images.size(), " images\n");
  for (const ImageRefRecord& ref : refs) {
    if (options.diff_only && IsConverged(ref)) continue;
    absl::StrAppend(&out, "\n", ref.reference, "  ", IsConverged(ref) ? "converged" : "NOT CONVERGED",
                    "\n");
    if (ref.desired) {
      absl::StrAppend(&out, "  desired  ", ref.desired->present() ? "present" : "removed",
                      "  generation ", ref.desired->generation());
      if (!ref.desired->digest().empty()) absl::StrAppend(&out, "  pinned ", ref.desired->digest());
      absl::StrAppend(&out, "  (", Time(ref.desired->updated_at_unix_nanos()), ")\n");
    } else {
      absl::StrAppend(&out, "  desired  none\n");
    }
    if (!ref.actual) {
      absl::StrAppend(&out, "  actual   none\n");
      continue;
    }
    absl::StrAppend(&out, "  actual   image ",
                    ref.actual->image_id().empty() ? "none" : ref.actual->image_id(),
                    "  observed ", ref.actual->observed_generation(), "  attempted ",
                    ref.actual->attempted_generation(), "\n");
    if (!ref.actual->repo_digest().empty()) {
      absl::StrAppend(&out, "  resolved ", ref.actual->repo_digest(), "\n");
    }
    if (!ref.actual->last_error().empty()) {
      absl::StrAppend(&out, "  last error (", absl::StatusCodeToString(static_cast<absl::StatusCode>(
                                                   ref.actual->last_error_code())),
                      "): ", ref.actual->last_error(), "\n");
    }
  }
  return out;
}

}  // namespace converge

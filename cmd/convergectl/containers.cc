#include "cmd/convergectl/containers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cmd/convergectl/container_logs.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

using runtime::v1::RuntimeService;

constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";

absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

std::unique_ptr<grpc::ClientContext> CallContext(const ContainerCommandContext& context,
                                                 absl::Duration extra = absl::ZeroDuration()) {
  auto call = std::make_unique<grpc::ClientContext>();
  call->set_deadline(absl::ToChronoTime(absl::Now() + context.timeout + extra));
  return call;
}

std::unique_ptr<RuntimeService::Stub> Stub(const ContainerCommandContext& context) {
  return RuntimeService::NewStub(context.channel);
}

// Go's time.RFC3339Nano in UTC; the zero time for 0, as crictl prints a
// container that never started ("0001-01-01T00:00:00Z").
std::string GoTime(int64_t unix_nanos) {
  if (unix_nanos == 0) return "0001-01-01T00:00:00Z";
  return FormatRfc3339Nano(absl::FromUnixNanos(unix_nanos));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read `", path, "`"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status ParseJsonFile(const std::string& path, const char* type,
                           google::protobuf::Message* message) {
  CONVERGE_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(text, message, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("`", path, "` is not a ", type, ": ", parsed.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<runtime::v1::ContainerStatusResponse> GetStatus(const ContainerCommandContext& context,
                                                               const std::string& id,
                                                               bool verbose) {
  runtime::v1::ContainerStatusRequest request;
  request.set_container_id(id);
  request.set_verbose(verbose);
  runtime::v1::ContainerStatusResponse response;
  auto call = CallContext(context);
  grpc::Status status = Stub(context)->ContainerStatus(call.get(), request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("container status ", id));
  return response;
}

absl::StatusOr<std::vector<runtime::v1::Container>> List(const ContainerCommandContext& context,
                                                        const runtime::v1::ContainerFilter& filter) {
  runtime::v1::ListContainersRequest request;
  *request.mutable_filter() = filter;
  runtime::v1::ListContainersResponse response;
  auto call = CallContext(context);
  grpc::Status status = Stub(context)->ListContainers(call.get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "list containers");
  return std::vector<runtime::v1::Container>(response.containers().begin(),
                                             response.containers().end());
}

}  // namespace

std::string HumanDuration(absl::Duration duration) {
  const int64_t seconds = absl::ToInt64Seconds(duration);
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return absl::StrCat(seconds, " seconds");
  const int64_t minutes = absl::ToInt64Minutes(duration);
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return absl::StrCat(minutes, " minutes");
  const int64_t hours = static_cast<int64_t>(std::round(absl::ToDoubleHours(duration)));
  if (hours == 1) return "About an hour";
  if (hours < 48) return absl::StrCat(hours, " hours");
  if (hours < 24 * 7 * 2) return absl::StrCat(hours / 24, " days");
  if (hours < 24 * 30 * 2) return absl::StrCat(hours / 24 / 7, " weeks");
  if (hours < 24 * 365 * 2) return absl::StrCat(hours / 24 / 30, " months");
  return absl::StrCat(absl::ToInt64Hours(duration) / 24 / 365, " years");
}

std::string Ago(int64_t unix_nanos, absl::Time now) {
  return absl::StrCat(HumanDuration(now - absl::FromUnixNanos(unix_nanos)), " ago");
}

std::string HumanSize(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1000 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    value /= 1000;
    ++unit;
  }
  return absl::StrFormat("%.4g%s", value, kUnits[unit]);
}

std::string TruncateId(const std::string& id) {
  if (absl::StartsWith(id, "sha256:")) return id.substr(7, 13);
  return id.substr(0, 13);
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows, size_t min_width,
                        size_t padding) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    for (size_t i = 0; i + 1 < row.size(); ++i) {
      if (widths.size() <= i) widths.resize(i + 1, 0);
      widths[i] = std::max(widths[i], std::max(min_width, row[i].size() + padding));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&out, row[i]);
      if (i + 1 < row.size()) out.append(widths[i] - row[i].size(), ' ');
    }
    out.push_back('\n');
  }
  return out;
}

std::string ContainerStateName(runtime::v1::ContainerState state) {
  switch (state) {
    case runtime::v1::CONTAINER_CREATED:
      return "Created";
    case runtime::v1::CONTAINER_RUNNING:
      return "Running";
    case runtime::v1::CONTAINER_EXITED:
      return "Exited";
    default:
      return "Unknown";
  }
}

std::string FormatContainers(std::vector<runtime::v1::Container> containers,
                             const std::map<std::string, std::string>& pod_names, bool quiet,
                             absl::Time now) {
  std::stable_sort(containers.begin(), containers.end(),
                   [](const runtime::v1::Container& a, const runtime::v1::Container& b) {
                     return a.created_at() > b.created_at();
                   });
  std::string out;
  if (quiet) {
    for (const auto& container : containers) absl::StrAppend(&out, container.id(), "\n");
    return out;
  }
  std::vector<std::vector<std::string>> rows = {
      {"CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"}};
  for (const auto& container : containers) {
    // kubelet names the image by id; crictl shortens an id like any other.
    std::string image = container.image().image();
    if (absl::StartsWith(image, "sha256:")) image = TruncateId(image);
    std::string pod = "unknown";
    auto label = container.labels().find(kPodNameLabel);
    if (label != container.labels().end()) {
      pod = label->second;
    } else if (auto it = pod_names.find(container.pod_sandbox_id()); it != pod_names.end()) {
      pod = it->second;
    }
    rows.push_back({TruncateId(container.id()), image, Ago(container.created_at(), now),
                    ContainerStateName(container.state()), container.metadata().name(),
                    absl::StrCat(container.metadata().attempt()),
                    TruncateId(container.pod_sandbox_id()), pod});
  }
  return FormatTable(rows);
}

std::string FormatContainerInspect(const runtime::v1::ContainerStatusResponse& response) {
  const runtime::v1::ContainerStatus& status = response.status();
  std::string status_json;
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(status, &status_json, print);
  nlohmann::ordered_json status_object =
      nlohmann::ordered_json::parse(status_json, nullptr, /*allow_exceptions=*/false);
  if (!status_object.is_object()) status_object = nlohmann::ordered_json::object();
  // As crictl: a time only where the state says it happened.
  status_object["createdAt"] = GoTime(status.created_at());
  status_object["startedAt"] =
      GoTime(status.state() == runtime::v1::CONTAINER_CREATED ? 0 : status.started_at());
  status_object["finishedAt"] = GoTime(status.state() == runtime::v1::CONTAINER_EXITED ||
                                               (status.state() == runtime::v1::CONTAINER_UNKNOWN &&
                                                status.finished_at() > 0)
                                           ? status.finished_at()
                                           : 0);
  // Keys sorted, as Go's encoding/json prints crictl's map.
  std::map<std::string, nlohmann::ordered_json> top;
  for (const auto& [key, value] : response.info()) {
    nlohmann::ordered_json parsed =
        nlohmann::ordered_json::parse(value, nullptr, /*allow_exceptions=*/false);
    top[key] = parsed.is_discarded() ? nlohmann::ordered_json(value) : std::move(parsed);
  }
  top["status"] = std::move(status_object);
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (auto& [key, value] : top) out[key] = std::move(value);
  return out.dump(2) + "\n";
}

std::string FormatStats(std::vector<runtime::v1::ContainerStats> stats) {
  std::sort(stats.begin(), stats.end(),
            [](const runtime::v1::ContainerStats& a, const runtime::v1::ContainerStats& b) {
              return a.attributes().id() < b.attributes().id();
            });
  std::vector<std::vector<std::string>> rows = {
      {"CONTAINER", "NAME", "CPU TIME", "MEM", "DISK", "INODES"}};
  for (const auto& entry : stats) {
    std::string cpu = "-", memory = "-", disk = "-", inodes = "-";
    if (entry.cpu().has_usage_core_nano_seconds()) {
      cpu = absl::StrFormat("%.2fs", entry.cpu().usage_core_nano_seconds().value() / 1e9);
    }
    if (entry.memory().has_working_set_bytes()) {
      memory = HumanSize(entry.memory().working_set_bytes().value());
    }
    if (entry.writable_layer().has_used_bytes()) {
      disk = HumanSize(entry.writable_layer().used_bytes().value());
    }
    if (entry.writable_layer().has_inodes_used()) {
      inodes = absl::StrCat(entry.writable_layer().inodes_used().value());
    }
    rows.push_back({TruncateId(entry.attributes().id()), entry.attributes().metadata().name(), cpu,
                    memory, disk, inodes});
  }
  return FormatTable(rows, /*min_width=*/20, /*padding=*/3);
}

absl::Status ListContainersCommand(const ContainerCommandContext& context,
                                   const PsOptions& options) {
  runtime::v1::ContainerFilter filter;
  filter.set_pod_sandbox_id(options.pod);
  if (!options.all) filter.mutable_state()->set_state(runtime::v1::CONTAINER_RUNNING);
  CONVERGE_ASSIGN_OR_RETURN(std::vector<runtime::v1::Container> containers, List(context, filter));
  std::map<std::string, std::string> pod_names;
  if (!options.quiet) {
    runtime::v1::ListPodSandboxResponse pods;
    auto call = CallContext(context);
    grpc::Status status =
        Stub(context)->ListPodSandbox(call.get(), runtime::v1::ListPodSandboxRequest(), &pods);
    if (!status.ok()) return FromGrpc(status, "list pod sandboxes");
    for (const auto& pod : pods.items()) pod_names[pod.id()] = pod.metadata().name();
  }
  std::fputs(FormatContainers(std::move(containers), pod_names, options.quiet, absl::Now()).c_str(),
             stdout);
  return absl::OkStatus();
}

absl::Status InspectContainerCommand(const ContainerCommandContext& context,
                                     const std::string& id) {
  CONVERGE_ASSIGN_OR_RETURN(runtime::v1::ContainerStatusResponse response,
                            GetStatus(context, id, /*verbose=*/true));
  std::fputs(FormatContainerInspect(response).c_str(), stdout);
  return absl::OkStatus();
}

absl::StatusOr<int> ExecSyncCommand(const ContainerCommandContext& context, const std::string& id,
                                    const std::vector<std::string>& command) {
  runtime::v1::ExecSyncRequest request;
  request.set_container_id(id);
  for (const std::string& arg : command) request.add_cmd(arg);
  request.set_timeout(std::max<int64_t>(1, absl::ToInt64Seconds(context.timeout)));
  runtime::v1::ExecSyncResponse response;
  // The runtime answers DEADLINE_EXCEEDED itself when the command overruns.
  auto call = CallContext(context, absl::Seconds(10));
  grpc::Status status = Stub(context)->ExecSync(call.get(), request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("exec in container ", id));
  std::fwrite(response.stdout().data(), 1, response.stdout().size(), stdout);
  std::fwrite(response.stderr().data(), 1, response.stderr().size(), stderr);
  return response.exit_code();
}

absl::Status StopContainersCommand(const ContainerCommandContext& context,
                                   const std::vector<std::string>& ids, int64_t timeout_seconds) {
  absl::Status first;
  for (const std::string& id : ids) {
    runtime::v1::StopContainerRequest request;
    request.set_container_id(id);
    request.set_timeout(timeout_seconds);
    runtime::v1::StopContainerResponse response;
    // The call lasts the grace period, then the kill.
    auto call = CallContext(context, absl::Seconds(timeout_seconds));
    grpc::Status status = Stub(context)->StopContainer(call.get(), request, &response);
    if (!status.ok()) {
      absl::Status failed = FromGrpc(status, absl::StrCat("stop container ", id));
      std::fprintf(stderr, "convergectl: %s\n", failed.ToString().c_str());
      if (first.ok()) first = failed;
      continue;
    }
    std::printf("%s\n", id.c_str());
  }
  return first;
}

absl::Status RemoveContainersCommand(const ContainerCommandContext& context,
                                     const std::vector<std::string>& ids) {
  absl::Status first;
  for (const std::string& id : ids) {
    runtime::v1::RemoveContainerRequest request;
    request.set_container_id(id);
    runtime::v1::RemoveContainerResponse response;
    auto call = CallContext(context);
    grpc::Status status = Stub(context)->RemoveContainer(call.get(), request, &response);
    if (!status.ok()) {
      absl::Status failed = FromGrpc(status, absl::StrCat("remove container ", id));
      std::fprintf(stderr, "convergectl: %s\n", failed.ToString().c_str());
      if (first.ok()) first = failed;
      continue;
    }
    std::printf("%s\n", id.c_str());
  }
  return first;
}

absl::Status StatsCommand(const ContainerCommandContext& context, const std::string& id,
                          bool all) {
  runtime::v1::ListContainerStatsRequest request;
  request.mutable_filter()->set_id(id);
  runtime::v1::ListContainerStatsResponse response;
  auto call = CallContext(context);
  grpc::Status status = Stub(context)->ListContainerStats(call.get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "list container stats");
  std::vector<runtime::v1::ContainerStats> shown;
  if (all || !id.empty()) {
    shown.assign(response.stats().begin(), response.stats().end());
  } else {
    runtime::v1::ContainerFilter running;
    running.mutable_state()->set_state(runtime::v1::CONTAINER_RUNNING);
    CONVERGE_ASSIGN_OR_RETURN(std::vector<runtime::v1::Container> containers,
                              List(context, running));
    std::set<std::string> ids;
    for (const auto& container : containers) ids.insert(container.id());
    for (const auto& entry : response.stats()) {
      if (ids.count(entry.attributes().id()) > 0) shown.push_back(entry);
    }
  }
  std::fputs(FormatStats(std::move(shown)).c_str(), stdout);
  return absl::OkStatus();
}

absl::Status CreateContainerCommand(const ContainerCommandContext& context,
                                    const std::string& pod_id, const std::string& container_config,
                                    const std::string& pod_config) {
  runtime::v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(pod_id);
  CONVERGE_RETURN_IF_ERROR(
      ParseJsonFile(container_config, "ContainerConfig", request.mutable_config()));
  CONVERGE_RETURN_IF_ERROR(
      ParseJsonFile(pod_config, "PodSandboxConfig", request.mutable_sandbox_config()));
  runtime::v1::CreateContainerResponse response;
  auto call = CallContext(context);
  grpc::Status status = Stub(context)->CreateContainer(call.get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "create container");
  std::printf("%s\n", response.container_id().c_str());
  return absl::OkStatus();
}

absl::Status StartContainerCommand(const ContainerCommandContext& context, const std::string& id) {
  runtime::v1::StartContainerRequest request;
  request.set_container_id(id);
  runtime::v1::StartContainerResponse response;
  auto call = CallContext(context);
  grpc::Status status = Stub(context)->StartContainer(call.get(), request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("start container ", id));
  std::printf("%s\n", id.c_str());
  return absl::OkStatus();
}

absl::Status LogsCommand(const ContainerCommandContext& context, const std::string& id,
                         bool follow, int64_t tail) {
  CONVERGE_ASSIGN_OR_RETURN(runtime::v1::ContainerStatusResponse response,
                            GetStatus(context, id, /*verbose=*/false));
  const std::string& path = response.status().log_path();
  if (path.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container ", id, " has no log file (its pod sandbox config has no log_directory)"));
  }
  const std::string full_id = response.status().id();
  LogFollowOptions options;
  // Asked whenever the reader has caught up; the daemon is asked at most
  // once a second.
  absl::Time last_asked = absl::InfinitePast();
  bool running = response.status().state() != runtime::v1::CONTAINER_EXITED;
  options.keep_following = [&]() {
    if (!running) return false;
    if (absl::Now() - last_asked < absl::Seconds(1)) return true;
    last_asked = absl::Now();
    auto now = GetStatus(context, full_id, /*verbose=*/false);
    // Removed meanwhile (NOT_FOUND) counts as exited; a daemon that does not
    // answer does not stop the reader.
    if (!now.ok()) {
      running = !absl::IsNotFound(now.status());
    } else {
      running = now->status().state() != runtime::v1::CONTAINER_EXITED;
    }
    return running;
  };
  options.on_bad_record = [](const absl::Status& status) {
    std::fprintf(stderr, "convergectl: skipping a malformed log record: %s\n",
                 std::string(status.message()).c_str());
  };
  return PrintLogFile(path, tail, follow, options, [](LogStream stream, absl::string_view text) {
    std::FILE* out = stream == LogStream::kStdout ? stdout : stderr;
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
  });
}

}  // namespace converge

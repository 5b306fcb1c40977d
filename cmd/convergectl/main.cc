// convergectl: converge's operator tool. `dump` reads the state store
// directly (daemon up or down); the other commands talk CRI to the daemon,
// with crictl-like output.
//
//   convergectl runp pod.json
//   convergectl pods
//   convergectl ps -a
//   convergectl logs -f --tail 20 3f2a9c1d
//   convergectl exec 3f2a9c1d sh -c 'cat /etc/resolv.conf'
//   convergectl --root /var/lib/converge dump --diff
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "api/cri/api.grpc.pb.h"
#include "cmd/convergectl/containers.h"
#include "cmd/convergectl/dump.h"
#include "cmd/convergectl/images.h"
#include "common/host_port.h"
#include "common/proto_json.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "httplib.h"
#include "store/view.h"

ABSL_FLAG(std::string, socket, "/run/converge/converge.sock", "converged's CRI socket");
ABSL_FLAG(std::string, root, "/var/lib/converge", "converged's --root, for dump");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(4), "How long a CRI call may take");
ABSL_FLAG(bool, json, false, "dump: JSON output");
ABSL_FLAG(bool, diff, false, "dump: only sandboxes that have not converged");
ABSL_FLAG(bool, quiet, false, "pods, images: only print ids");
ABSL_FLAG(std::string, creds, "", "pull: registry credentials USERNAME:PASSWORD");
ABSL_FLAG(std::string, image_name, "",
          "image import: repository for images the archive names only by a tag, or not at all");
ABSL_FLAG(bool, live, false,
          "dump: also ask the running daemon what it observes now (--metrics_address)");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9338", "converged's --metrics_address");
ABSL_FLAG(std::string, id, "", "dump: only sandboxes whose id starts with this");
ABSL_FLAG(std::string, name, "", "dump: only pods with this name");
ABSL_FLAG(std::string, namespace, "", "dump: only pods in this namespace");
ABSL_FLAG(bool, a, false, "ps, stats: all containers, not only running ones (also --all)");
ABSL_FLAG(bool, all, false, "ps, stats: same as -a");
ABSL_FLAG(std::string, pod, "", "ps: only containers of this pod sandbox (id or prefix)");
ABSL_FLAG(bool, f, false, "logs: follow the log until the container exits (also --follow)");
ABSL_FLAG(bool, follow, false, "logs: same as -f");
ABSL_FLAG(int64_t, tail, -1, "logs: only the last N lines (-1: all)");
ABSL_FLAG(int64_t, t, 0, "stop: seconds between the stop signal and SIGKILL (crictl's default 0)");

namespace {

using runtime::v1::RuntimeService;

constexpr char kUsage[] = R"(convergectl COMMAND [ARGS] [FLAGS]

Commands:
  version              runtime name and version
  runp CONFIG.json     run a pod sandbox from a CRI PodSandboxConfig (JSON)
  pods                 list pod sandboxes (--quiet for ids only)
  ps                   list containers: running ones, all with -a; --pod ID, --quiet
  inspect ID           container status with desired and actual records (JSON)
  logs ID              print a container's log (-f to follow it until the container
                       exits, across log rotation; --tail N for the last N lines)
  exec ID CMD [ARG...] run CMD in the container (ExecSync, at most --timeout) and exit
                       with its exit code; flags go before ID
  stop ID...           stop containers (-t SECONDS of grace before SIGKILL, default 0)
  rm ID...             remove containers
  stats [ID]           CPU time, memory, writable layer of containers (-a: all)
  create POD-ID CONTAINER.json POD.json
                       create a container from a CRI ContainerConfig and the pod's
                       PodSandboxConfig (JSON); prints the id
  start ID             start a created container
  inspectp ID          pod sandbox status, with desired and actual records
  stopp ID...          stop pod sandboxes
  rmp ID...            remove pod sandboxes
  images               list images (--quiet for ids only)
  pull IMAGE           pull an image (--creds USER:PASSWORD for a private registry)
  rmi IMAGE...         remove images (by name, id or id prefix)
  inspecti IMAGE       image status with manifest, config and layers
  imagefsinfo          usage of the image store
  image import FILE    import an OCI layout or `docker save` archive (air-gapped nodes;
                       --image_name REPO for archives that name images only by tag)
  dump                 desired vs actual state from the store (--root, --json, --diff,
                       --id PREFIX, --name NAME, --namespace NS); works while
                       converged runs and after it died. --live adds what the
                       running daemon observes now and where it disagrees
)";

int Fail(const std::string& what) {
  std::fprintf(stderr, "convergectl: %s\n", what.c_str());
  return 1;
}

int Fail(const grpc::Status& status, const std::string& what) {
  return Fail(absl::StrCat(what, ": ", status.error_message(), " (code ",
                           static_cast<int>(status.error_code()), ")"));
}

std::unique_ptr<RuntimeService::Stub> Connect() {
  return RuntimeService::NewStub(grpc::CreateChannel("unix://" + absl::GetFlag(FLAGS_socket),
                                                     grpc::InsecureChannelCredentials()));
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
}


int Version() {
  grpc::ClientContext context;
  SetDeadline(&context);
  runtime::v1::VersionResponse response;
  grpc::Status status = Connect()->Version(&context, runtime::v1::VersionRequest(), &response);
  if (!status.ok()) return Fail(status, "version");
  std::printf("Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n",
              response.version().c_str(), response.runtime_name().c_str(),
              response.runtime_version().c_str(), response.runtime_api_version().c_str());
  return 0;
}

int RunPod(const std::string& config_path) {
  std::ifstream in(config_path);
  if (!in) return Fail(absl::StrCat("cannot read `", config_path, "`"));
  std::stringstream text;
  text << in.rdbuf();
  runtime::v1::RunPodSandboxRequest request;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed =
      google::protobuf::util::JsonStringToMessage(text.str(), request.mutable_config(), options);
  if (!parsed.ok()) {
    return Fail(absl::StrCat("`", config_path, "` is not a PodSandboxConfig: ", parsed.ToString()));
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  runtime::v1::RunPodSandboxResponse response;
  grpc::Status status = Connect()->RunPodSandbox(&context, request, &response);
  if (!status.ok()) return Fail(status, "run pod sandbox");
  std::printf("%s\n", response.pod_sandbox_id().c_str());
  return 0;
}

int Pods() {
  grpc::ClientContext context;
  SetDeadline(&context);
  runtime::v1::ListPodSandboxResponse response;
  grpc::Status status =
      Connect()->ListPodSandbox(&context, runtime::v1::ListPodSandboxRequest(), &response);
  if (!status.ok()) return Fail(status, "list pod sandboxes");
  if (absl::GetFlag(FLAGS_quiet)) {
    for (const auto& pod : response.items()) std::printf("%s\n", pod.id().c_str());
    return 0;
  }
  std::printf("%-13s  %-18s  %-8s  %-30s  %-20s  %-7s  %s\n", "POD ID", "CREATED", "STATE", "NAME",
              "NAMESPACE", "ATTEMPT", "RUNTIME");
  for (const auto& pod : response.items()) {
    std::printf("%-13s  %-18s  %-8s  %-30s  %-20s  %-7u  %s\n", pod.id().substr(0, 13).c_str(),
                converge::Ago(pod.created_at(), absl::Now()).c_str(),
                pod.state() == runtime::v1::SANDBOX_READY ? "Ready" : "NotReady",
                pod.metadata().name().c_str(), pod.metadata().namespace_().c_str(),
                pod.metadata().attempt(),
                pod.runtime_handler().empty() ? "(default)" : pod.runtime_handler().c_str());
  }
  return 0;
}

int InspectPod(const std::string& id) {
  grpc::ClientContext context;
  SetDeadline(&context);
  runtime::v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(id);
  request.set_verbose(true);
  runtime::v1::PodSandboxStatusResponse response;
  grpc::Status status = Connect()->PodSandboxStatus(&context, request, &response);
  if (!status.ok()) return Fail(status, absl::StrCat("inspect pod sandbox ", id));
  std::printf("%s\n", converge::ProtoToJson(response, /*pretty=*/true).c_str());
  return 0;
}

template <typename Request, typename Response>
int ForEachId(const std::vector<std::string>& ids, const char* verb, const char* done,
              grpc::Status (RuntimeService::Stub::*call)(grpc::ClientContext*, const Request&,
                                                         Response*)) {
  auto stub = Connect();
  int failures = 0;
  for (const std::string& id : ids) {
    grpc::ClientContext context;
    SetDeadline(&context);
    Request request;
    request.set_pod_sandbox_id(id);
    Response response;
    grpc::Status status = (stub.get()->*call)(&context, request, &response);
    if (!status.ok()) {
      Fail(status, absl::StrCat(verb, " pod sandbox ", id));
      ++failures;
      continue;
    }
    std::printf("%s pod sandbox %s\n", done, id.c_str());
  }
  return failures == 0 ? 0 : 1;
}

absl::StatusOr<std::map<std::string, converge::LiveView>> FetchLiveObservations(
    const std::string& address) {
  absl::StatusOr<converge::HostPort> daemon = converge::ParseHostPort("--metrics_address", address);
  if (!daemon.ok()) return daemon.status();
  httplib::Client client(daemon->host, daemon->port);
  client.set_connection_timeout(2);
  client.set_read_timeout(absl::ToInt64Seconds(absl::GetFlag(FLAGS_timeout)));
  httplib::Result result = client.Get("/debug/observe");
  if (!result) {
    return absl::UnavailableError(absl::StrCat("cannot reach converged at http://", address,
                                               "/debug/observe: ", httplib::to_string(result.error())));
  }
  if (result->status != 200) {
    return absl::UnavailableError(absl::StrCat("converged answered ", result->status, ": ", result->body));
  }
  return converge::ParseLiveObservations(result->body);
}

int Dump() {
  auto view = converge::StoreView::Open(absl::GetFlag(FLAGS_root) + "/db");
  if (!view.ok()) return Fail(std::string(view.status().message()));
  auto records = (*view)->ListSandboxes();
  if (!records.ok()) return Fail(std::string(records.status().message()));
  converge::DumpOptions options;
  options.json = absl::GetFlag(FLAGS_json);
  options.diff_only = absl::GetFlag(FLAGS_diff);
  options.id = absl::GetFlag(FLAGS_id);
  options.name = absl::GetFlag(FLAGS_name);
  options.pod_namespace = absl::GetFlag(FLAGS_namespace);
  if (absl::GetFlag(FLAGS_live)) {
    auto live = FetchLiveObservations(absl::GetFlag(FLAGS_metrics_address));
    if (!live.ok()) return Fail(std::string(live.status().message()));
    options.live = *std::move(live);
  }
  std::fputs(converge::FormatDump(*records, options).c_str(), stdout);
  // Images have no pod to filter by; the JSON form stays the sandbox array.
  const bool filtered = !options.id.empty() || !options.name.empty() || !options.pod_namespace.empty();
  if (!options.json && !filtered) {
    auto images = (*view)->ListImages();
    if (!images.ok()) return Fail(std::string(images.status().message()));
    std::fputs(converge::FormatImageDump(images->refs, images->images, options).c_str(), stdout);
  }
  return 0;
}

// Whether `token` is a flag that takes its value from the next argument
// ("--tail 5"; not "--tail=5", and never a bool flag).
bool TakesNextArgument(const std::string& token) {
  if (token.size() < 2 || token[0] != '-' || token.find('=') != std::string::npos) return false;
  const std::string name = token.substr(token[1] == '-' ? 2 : 1);
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  return flag != nullptr && !flag->IsOfType<bool>();
}

// `exec ID CMD ARGS...`: the command's own options ("sh -c ...") are not
// ours, so "--" (the end of our flags) goes right after ID unless the user
// wrote it already. Flags may still come before ID.
std::vector<std::string> ProtectExecCommand(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  int positional = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& token = args[i];
    if (token == "--") break;
    if (token.size() > 1 && token[0] == '-') {
      if (TakesNextArgument(token)) ++i;
      continue;
    }
    ++positional;
    if (positional == 1 && token != "exec") break;
    if (positional == 2) {
      if (i + 1 < args.size() && args[i + 1] != "--") args.insert(args.begin() + i + 1, "--");
      break;
    }
  }
  return args;
}

int FailStatus(const absl::Status& status) { return Fail(status.ToString()); }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<std::string> protected_args = ProtectExecCommand(argc, argv);
  std::vector<char*> raw_args;
  for (std::string& arg : protected_args) raw_args.push_back(arg.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(raw_args.size()), raw_args.data());
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "version" && rest.empty()) return Version();
  if (command == "runp" && rest.size() == 1) return RunPod(rest[0]);
  if (command == "pods" && rest.empty()) return Pods();
  if (command == "inspectp" && rest.size() == 1) return InspectPod(rest[0]);
  if (command == "stopp" && !rest.empty()) {
    return ForEachId(rest, "stop", "stopped", &RuntimeService::Stub::StopPodSandbox);
  }
  if (command == "rmp" && !rest.empty()) {
    return ForEachId(rest, "remove", "removed", &RuntimeService::Stub::RemovePodSandbox);
  }
  if (command == "dump" && rest.empty()) return Dump();

  const converge::ContainerCommandContext containers{
      grpc::CreateChannel("unix://" + absl::GetFlag(FLAGS_socket), grpc::InsecureChannelCredentials()),
      absl::GetFlag(FLAGS_timeout)};
  const bool all = absl::GetFlag(FLAGS_a) || absl::GetFlag(FLAGS_all);
  if (command == "ps" && rest.empty()) {
    converge::PsOptions options;
    options.all = all;
    options.pod = absl::GetFlag(FLAGS_pod);
    options.quiet = absl::GetFlag(FLAGS_quiet);
    absl::Status status = converge::ListContainersCommand(containers, options);
    return status.ok() ? 0 : FailStatus(status);
  }
  if (command == "inspect" && rest.size() == 1) {
    absl::Status status = converge::InspectContainerCommand(containers, rest[0]);
    return status.ok() ? 0 : FailStatus(status);
  }
  if (command == "logs" && rest.size() == 1) {
    absl::Status status = converge::LogsCommand(
        containers, rest[0], absl::GetFlag(FLAGS_f) || absl::GetFlag(FLAGS_follow),
        absl::GetFlag(FLAGS_tail));
    return status.ok() ? 0 : FailStatus(status);
  }
  if (command == "exec" && rest.size() >= 2) {
    absl::StatusOr<int> exit_code = converge::ExecSyncCommand(
        containers, rest[0], std::vector<std::string>(rest.begin() + 1, rest.end()));
    if (!exit_code.ok()) return FailStatus(exit_code.status());
    return *exit_code & 0xff;
  }
  if (command == "stop" && !rest.empty()) {
    return converge::StopContainersCommand(containers, rest, absl::GetFlag(FLAGS_t)).ok() ? 0 : 1;
  }
  if (command == "rm" && !rest.empty()) {
    return converge::RemoveContainersCommand(containers, rest).ok() ? 0 : 1;
  }
  if (command == "stats" && rest.size() <= 1) {
    absl::Status status = converge::StatsCommand(containers, rest.empty() ? "" : rest[0], all);
    return status.ok() ? 0 : FailStatus(status);
  }
  if (command == "create" && rest.size() == 3) {
    absl::Status status = converge::CreateContainerCommand(containers, rest[0], rest[1], rest[2]);
    return status.ok() ? 0 : FailStatus(status);
  }
  if (command == "start" && rest.size() == 1) {
    absl::Status status = converge::StartContainerCommand(containers, rest[0]);
    return status.ok() ? 0 : FailStatus(status);
  }

  const converge::ImageCommandContext images{
      grpc::CreateChannel("unix://" + absl::GetFlag(FLAGS_socket), grpc::InsecureChannelCredentials()),
      absl::GetFlag(FLAGS_timeout)};
  absl::Status status;
  if (command == "images" && rest.empty()) {
    status = converge::ListImagesCommand(images, absl::GetFlag(FLAGS_quiet));
  } else if (command == "pull" && rest.size() == 1) {
    status = converge::PullCommand(images, rest[0], absl::GetFlag(FLAGS_creds));
  } else if (command == "rmi" && !rest.empty()) {
    return converge::RemoveImagesCommand(images, rest).ok() ? 0 : 1;
  } else if (command == "inspecti" && rest.size() == 1) {
    status = converge::InspectImageCommand(images, rest[0]);
  } else if (command == "imagefsinfo" && rest.empty()) {
    status = converge::ImageFsInfoCommand(images);
  } else if (command == "image" && rest.size() == 2 && rest[0] == "import") {
    status = converge::ImportCommand(images, absl::GetFlag(FLAGS_root) + "/images", rest[1],
                                     absl::GetFlag(FLAGS_image_name));
  } else {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (!status.ok()) return Fail(status.ToString());
  return 0;
}

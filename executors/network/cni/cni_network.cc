#include "executors/network/cni/cni_network.h"

#include <fcntl.h>

#include <cerrno>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"
#include "executors/network/cni/plugin_config.h"
#include "executors/network/cni/result.h"

namespace converge {
namespace {

constexpr char kAttachmentKind[] = "converge.cni.attachment/v1";
constexpr size_t kMaxIfnameLength = 15;

std::shared_ptr<spdlog::logger> Log() { return NamedLogger("cni"); }

// libcni's ValidateInterfaceName.
absl::Status ValidateIfname(const std::string& ifname) {
  if (ifname.empty() || ifname.size() > kMaxIfnameLength || ifname == "." ||
      ifname == "..") {
    return absl::InvalidArgumentError(absl::StrCat(
        "interface name \"", ifname, "\" must be 1 to 15 bytes, not . or .."));
  }
  for (char c : ifname) {
    if (c == '/' || c == ':' || absl::ascii_isspace(c) || c == '\0') {
      return absl::InvalidArgumentError(absl::StrCat(
          "interface name \"", ifname, "\" contains '/', ':' or whitespace"));
    }
  }
  return absl::OkStatus();
}

// OK iff `path` is a network namespace: NOT_FOUND if it does not exist,
// FAILED_PRECONDITION if it is something else (e.g. a stale pin file).
absl::Status CheckNetns(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open netns `", path, "`");
  return CheckIsNetns(fd.get(), path);
}

// What DEL gets as CNI_NETNS for the request's path (see the header).
std::string NetnsForDel(const std::string& path, const std::string& id) {
  if (path.empty()) return path;
  absl::Status status = CheckNetns(path);
  if (absl::IsFailedPrecondition(status)) {
    Log()->warn("cni del sandbox={} netns={} passing no netns: {}", id, path,
                std::string(status.message()));
    return "";
  }
  return path;  // a netns, or gone: plugins handle a missing path on DEL
}

// What result_json holds: everything DEL and CHECK need.
struct CachedAttachment {
  std::string container_id;
  std::string ifname;
  std::string netns;
  std::string cni_args;
  NetworkConfigList list;
  Json capability_args = Json::object();
  Json result;
};

std::string AttachmentToJson(const CachedAttachment& attachment) {
  Json doc = Json::object();
  doc["kind"] = kAttachmentKind;
  doc["containerId"] = attachment.container_id;
  doc["ifName"] = attachment.ifname;
  doc["netns"] = attachment.netns;
  doc["cniArgs"] = attachment.cni_args;
  doc["networkName"] = attachment.list.name;
  doc["configSource"] = attachment.list.source_path;
  // The canonical conflist, embedded as an object: parses back to the list.
  absl::StatusOr<Json> config =
      ParseJson(NetworkConfigListToJson(attachment.list), "config");
  doc["config"] = config.ok() ? *config : Json();
  doc["capabilityArgs"] = attachment.capability_args;
  doc["result"] = attachment.result;
  return DumpJson(doc);
}

absl::StatusOr<CachedAttachment> ParseAttachment(const std::string& text) {
  CONVERGE_ASSIGN_OR_RETURN(Json doc, ParseJson(text, "cached CNI result"));
  if (!doc.is_object() || StringField(doc, "kind") != kAttachmentKind) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cached CNI result is not a ", kAttachmentKind, " object"));
  }
  CachedAttachment attachment;
  attachment.container_id = StringField(doc, "containerId");
  attachment.ifname = StringField(doc, "ifName");
  attachment.netns = StringField(doc, "netns");
  attachment.cni_args = StringField(doc, "cniArgs");
  auto config = doc.find("config");
  if (config == doc.end() || !config->is_object()) {
    return absl::InvalidArgumentError("cached CNI result has no config");
  }
  std::string source = StringField(doc, "configSource");
  CONVERGE_ASSIGN_OR_RETURN(
      attachment.list,
      NetworkConfigListFromJson(DumpJson(*config),
                                absl::StrCat("cached config from ", source)));
  attachment.list.source_path = source;
  auto args = doc.find("capabilityArgs");
  if (args != doc.end() && args->is_object())
    attachment.capability_args = *args;
  auto result = doc.find("result");
  if (result != doc.end() && result->is_object()) attachment.result = *result;
  if (attachment.ifname.empty()) {
    return absl::InvalidArgumentError("cached CNI result has no ifName");
  }
  return attachment;
}

// libcni passes prevResult to DEL and CHECK from spec 0.4.0 on.
bool PassesCachedResult(const NetworkConfigList& list) {
  absl::StatusOr<int> cmp = CompareCniVersions(list.cni_version, "0.4.0");
  return cmp.ok() && *cmp >= 0;
}

// The ADD error itself goes to the caller, which logs it; this says only
// whether the immediate undo worked.
void LogUndo(const std::string& id, const std::string& network,
             const absl::Status& undone) {
  if (undone.ok()) {
    Log()->info("cni add failed and was undone sandbox={} network={}", id,
                network);
  } else {
    Log()->warn("cni undo of failed add failed sandbox={} network={} error={}",
                id, network, undone.ToString());
  }
}

absl::Status InvalidIfContainsSeparator(const std::string& value,
                                        const char* what) {
  if (value.find_first_of(";=") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", value, "\" contains ';' or '='"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> KubernetesCniArgs(const NetworkRequest& request) {
  CONVERGE_RETURN_IF_ERROR(
      InvalidIfContainsSeparator(request.pod_namespace, "pod namespace"));
  CONVERGE_RETURN_IF_ERROR(
      InvalidIfContainsSeparator(request.pod_name, "pod name"));
  CONVERGE_RETURN_IF_ERROR(
      InvalidIfContainsSeparator(request.sandbox_id, "sandbox id"));
  CONVERGE_RETURN_IF_ERROR(
      InvalidIfContainsSeparator(request.pod_uid, "pod uid"));
  return absl::StrCat("IgnoreUnknown=1;K8S_POD_NAMESPACE=",
                      request.pod_namespace, ";K8S_POD_NAME=", request.pod_name,
                      ";K8S_POD_INFRA_CONTAINER_ID=", request.sandbox_id,
                      ";K8S_POD_UID=", request.pod_uid);
}

absl::StatusOr<std::unique_ptr<CniNetwork>> CniNetwork::Create(
    CniNetworkOptions options) {
  if (options.conf_dir.empty() || options.conf_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("CNI conf_dir `", options.conf_dir, "` is not absolute"));
  }
  if (options.bin_dirs.empty()) {
    return absl::InvalidArgumentError("no CNI bin dirs");
  }
  for (const std::string& dir : options.bin_dirs) {
    if (dir.empty() || dir[0] != '/' || dir.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CNI bin dir `", dir, "` is not an absolute path without ':'"));
    }
  }
  CONVERGE_RETURN_IF_ERROR(ValidateIfname(options.ifname));
  if (options.plugin_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("CNI plugin timeout must be positive");
  }
  return std::unique_ptr<CniNetwork>(new CniNetwork(std::move(options)));
}

absl::StatusOr<NetworkConfigList> CniNetwork::LoadConfig() {
  CONVERGE_ASSIGN_OR_RETURN(NetworkConfigList list,
                            LoadNetworkConfigList(options_.conf_dir));
  std::string skipped = absl::StrJoin(list.skipped, "; ");
  absl::MutexLock lock(&log_mu_);
  if (skipped != last_skipped_) {
    last_skipped_ = skipped;
    if (!skipped.empty()) {
      Log()->warn("cni config={} used; skipped invalid files before it: {}",
                  list.source_path, skipped);
    }
  }
  return list;
}

absl::StatusOr<std::vector<std::string>> CniNetwork::ResolvePlugins(
    const NetworkConfigList& list) {
  std::vector<std::string> paths;
  for (const CniPluginConfig& plugin : list.plugins) {
    CONVERGE_ASSIGN_OR_RETURN(std::string path,
                              FindPlugin(plugin.type, options_.bin_dirs));
    CONVERGE_RETURN_IF_ERROR(versions_.CheckSupports(path, list.cni_version,
                                                     options_.plugin_timeout));
    paths.push_back(std::move(path));
  }
  return paths;
}

absl::StatusOr<NetworkResult> CniNetwork::Setup(const NetworkRequest& request) {
  CONVERGE_RETURN_IF_ERROR(ValidateSetupRequest(request));
  CONVERGE_RETURN_IF_ERROR(ValidateCniName(request.sandbox_id, "sandbox id"));
  CONVERGE_ASSIGN_OR_RETURN(std::string cni_args, KubernetesCniArgs(request));
  const std::string context = absl::StrCat("sandbox ", request.sandbox_id);
  CONVERGE_RETURN_IF_ERROR(Annotate(CheckNetns(request.netns_path), context));
  absl::StatusOr<NetworkConfigList> loaded = LoadConfig();
  if (!loaded.ok()) return Annotate(loaded.status(), context);
  CachedAttachment attachment{request.sandbox_id,
                              options_.ifname,
                              request.netns_path,
                              cni_args,
                              *std::move(loaded),
                              CapabilityArgs(request.runtime_config),
                              Json()};
  const NetworkConfigList& list = attachment.list;
  const std::string network = absl::StrCat(
      context, ": CNI network \"", list.name, "\" (", list.source_path, ")");
  absl::StatusOr<std::vector<std::string>> paths = ResolvePlugins(list);
  if (!paths.ok()) return Annotate(paths.status(), network);
  // From here on DEL may be owed: let the caller keep the exact config, so
  // that a crash during ADD is undone with it whatever the conf dir holds by
  // then.
  if (request.record_intent) {
    CONVERGE_RETURN_IF_ERROR(
        Annotate(request.record_intent(AttachmentToJson(attachment)), network));
  }

  PluginEnv env{"ADD",           request.sandbox_id, request.netns_path,
                options_.ifname, cni_args,           options_.bin_dirs};
  Json result;
  for (size_t i = 0; i < list.plugins.size(); ++i) {
    Json conf =
        BuildPluginConfig(list, list.plugins[i], i == 0 ? nullptr : &result,
                          attachment.capability_args);
    absl::StatusOr<Json> added = Observed(list.plugins[i].type, "ADD", [&] {
      return ExecPluginWithResult((*paths)[i], env, DumpJson(conf),
                                  options_.plugin_timeout, list.cni_version);
    });
    if (!added.ok()) {
      absl::Status error = Annotate(added.status(), network);
      // Undo what the plugins before (and this one, partly) did.
      PluginEnv del_env = env;
      del_env.command = "DEL";
      LogUndo(
          request.sandbox_id, list.name,
          DelList(list, del_env, nullptr, attachment.capability_args, false));
      return error;
    }
    result = *std::move(added);
  }

  // ExecPluginWithResult checked that it parses.
  absl::StatusOr<CniResult> parsed = CniResultFromJson(result);
  std::vector<std::string> ips;
  if (parsed.ok()) ips = PodIps(*parsed, options_.ifname);
  if (ips.empty()) {
    absl::Status error = absl::FailedPreconditionError(
        absl::StrCat(network, ": the result gives no IP to interface ",
                     options_.ifname, " in the sandbox: ", DumpJson(result)));
    PluginEnv del_env = env;
    del_env.command = "DEL";
    LogUndo(request.sandbox_id, list.name,
            DelList(list, del_env, PassesCachedResult(list) ? &result : nullptr,
                    attachment.capability_args, false));
    return error;
  }
  attachment.result = std::move(result);
  Log()->info("cni add sandbox={} network={} ifname={} ips={}",
              request.sandbox_id, list.name, options_.ifname,
              absl::StrJoin(ips, ","));
  return NetworkResult{std::move(ips), AttachmentToJson(attachment)};
}

absl::Status CniNetwork::DelList(const NetworkConfigList& list,
                                 const PluginEnv& env, const Json* prev_result,
                                 const Json& capability_args,
                                 bool skip_missing) {
  for (size_t i = list.plugins.size(); i-- > 0;) {
    const CniPluginConfig& plugin = list.plugins[i];
    absl::StatusOr<std::string> path =
        FindPlugin(plugin.type, options_.bin_dirs);
    if (!path.ok()) {
      if (skip_missing && absl::IsFailedPrecondition(path.status())) {
        Log()->warn("cni del sandbox={} skipping: {}", env.container_id,
                    std::string(path.status().message()));
        continue;
      }
      return path.status();
    }
    Json conf = BuildPluginConfig(list, plugin, prev_result, capability_args);
    CONVERGE_RETURN_IF_ERROR(Observed(plugin.type, env.command, [&] {
                               return ExecPlugin(*path, env, DumpJson(conf),
                                                 options_.plugin_timeout);
                             }).status());
  }
  return absl::OkStatus();
}

absl::Status CniNetwork::Teardown(const NetworkRequest& request,
                                  const NetworkResult& cached) {
  CONVERGE_RETURN_IF_ERROR(ValidateTeardownRequest(request));
  CONVERGE_RETURN_IF_ERROR(ValidateCniName(request.sandbox_id, "sandbox id"));
  const std::string context = absl::StrCat("sandbox ", request.sandbox_id);
  std::optional<CachedAttachment> attachment;
  if (!cached.result_json.empty()) {
    absl::StatusOr<CachedAttachment> parsed =
        ParseAttachment(cached.result_json);
    if (parsed.ok()) {
      if (parsed->container_id != request.sandbox_id) {
        return absl::InvalidArgumentError(
            absl::StrCat(context, ": cached CNI result belongs to container \"",
                         parsed->container_id, "\""));
      }
      attachment = *std::move(parsed);
    } else {
      // As libcni does with an unreadable cache: DEL without it.
      Log()->error("cni del sandbox={} ignoring unreadable cached result: {}",
                   request.sandbox_id, parsed.status().ToString());
    }
  }
  const bool from_cache = attachment.has_value();
  if (!from_cache) {
    // Teardown must not be blocked by a pod name CNI_ARGS cannot carry (Setup
    // failed on it before any ADD): DEL without the Kubernetes arguments.
    absl::StatusOr<std::string> kubernetes_args = KubernetesCniArgs(request);
    std::string cni_args = kubernetes_args.ok() ? *kubernetes_args : "IgnoreUnknown=1";
    absl::StatusOr<NetworkConfigList> loaded = LoadConfig();
    if (!loaded.ok()) {
      Log()->warn("cni del sandbox={} skipped: nothing cached and {}",
                  request.sandbox_id, std::string(loaded.status().message()));
      return absl::OkStatus();
    }
    attachment = CachedAttachment{request.sandbox_id,
                                  options_.ifname,
                                  request.netns_path,
                                  std::move(cni_args),
                                  *std::move(loaded),
                                  CapabilityArgs(request.runtime_config),
                                  Json()};
  }
  const NetworkConfigList& list = attachment->list;
  PluginEnv env{"DEL",
                request.sandbox_id,
                NetnsForDel(request.netns_path, request.sandbox_id),
                attachment->ifname,
                attachment->cni_args,
                options_.bin_dirs};
  const Json* prev_result =
      from_cache && attachment->result.is_object() && PassesCachedResult(list)
          ? &attachment->result
          : nullptr;
  absl::Status status =
      DelList(list, env, prev_result, attachment->capability_args, !from_cache);
  if (!status.ok()) {
    return Annotate(status, context, ": CNI network \"", list.name, "\"",
                    from_cache ? " (cached config)" : "");
  }
  Log()->info("cni del sandbox={} network={} cached={}", request.sandbox_id,
              list.name, from_cache);
  return absl::OkStatus();
}

absl::Status CniNetwork::Ready() {
  absl::StatusOr<NetworkConfigList> list = LoadConfig();
  absl::Status status = list.status();
  // Each plugin, then its IPAM plugin; then the versions.
  for (size_t i = 0; status.ok() && i < list->plugins.size(); ++i) {
    const CniPluginConfig& plugin = list->plugins[i];
    status = FindPlugin(plugin.type, options_.bin_dirs).status();
    auto ipam = plugin.raw.find("ipam");
    if (status.ok() && ipam != plugin.raw.end() &&
        !StringField(*ipam, "type").empty()) {
      status =
          FindPlugin(StringField(*ipam, "type"), options_.bin_dirs).status();
    }
  }
  if (status.ok()) status = ResolvePlugins(*list).status();
  if (status.ok()) return status;
  if (list.ok()) {
    status = Annotate(status, "CNI network \"", list->name, "\" (",
                      list->source_path, ")");
  }
  return absl::FailedPreconditionError(std::string(status.message()));
}

absl::Status CniNetwork::Check(const NetworkRequest& request,
                               const NetworkResult& cached) {
  CONVERGE_RETURN_IF_ERROR(ValidateSetupRequest(request));
  const std::string context = absl::StrCat("sandbox ", request.sandbox_id);
  if (cached.result_json.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(context, ": no cached CNI result to CHECK against"));
  }
  absl::StatusOr<CachedAttachment> attachment =
      ParseAttachment(cached.result_json);
  if (!attachment.ok()) return Annotate(attachment.status(), context);
  if (attachment->container_id != request.sandbox_id) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": cached CNI result belongs to container \"",
                     attachment->container_id, "\""));
  }
  const NetworkConfigList& list = attachment->list;
  if (!PassesCachedResult(list)) {
    return absl::UnimplementedError(absl::StrCat(
        context, ": CNI network \"", list.name, "\" has cniVersion ",
        list.cni_version, "; CHECK needs 0.4.0 or later"));
  }
  if (list.disable_check) return absl::OkStatus();
  CONVERGE_RETURN_IF_ERROR(Annotate(CheckNetns(request.netns_path), context));
  const std::string network =
      absl::StrCat(context, ": CNI network \"", list.name, "\"");
  absl::StatusOr<std::vector<std::string>> paths = ResolvePlugins(list);
  if (!paths.ok()) return Annotate(paths.status(), network);
  PluginEnv env{"CHECK",
                request.sandbox_id,
                request.netns_path,
                attachment->ifname,
                attachment->cni_args,
                options_.bin_dirs};
  for (size_t i = 0; i < list.plugins.size(); ++i) {
    Json conf = BuildPluginConfig(list, list.plugins[i], &attachment->result,
                                  attachment->capability_args);
    CONVERGE_RETURN_IF_ERROR(Annotate(Observed(list.plugins[i].type, "CHECK",
                                               [&] {
                                                 return ExecPlugin(
                                                     (*paths)[i], env, DumpJson(conf),
                                                     options_.plugin_timeout);
                                               })
                                          .status(),
                                      network));
  }
  return absl::OkStatus();
}

}  // namespace converge

#include "cmd/converged/config.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/validation.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"

namespace converge {

config::DaemonConfig DefaultDaemonConfig() {
  config::DaemonConfig config;
  config.set_socket("/run/converge/converge.sock");
  config.set_root("/var/lib/converge");
  config.set_state("/run/converge");
  config.set_metrics_address("127.0.0.1:9338");
  config.set_resync_period("10s");
  config.set_workers(4);
  config.set_default_cgroup_parent("/converge");
  config.set_cgroup_root("/sys/fs/cgroup");
  config.set_log_level("info");
  config.set_cni_conf_dir("/etc/cni/net.d");
  config.set_cni_bin_dirs("/usr/lib/cni:/opt/cni/bin");
  config.set_cni_plugin_timeout("60s");
  config.set_registry_certs_dir("/etc/converge/certs.d");
  return config;
}

namespace {

absl::StatusOr<absl::Duration> PositiveDuration(absl::string_view field, const std::string& value,
                                                absl::string_view example) {
  absl::Duration duration;
  if (!absl::ParseDuration(value, &duration) || duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", value,
                                                   "\" is not a positive duration like ", example));
  }
  return duration;
}

}  // namespace

absl::StatusOr<absl::Duration> ResyncPeriod(const config::DaemonConfig& config) {
  return PositiveDuration("resync_period", config.resync_period(), "10s");
}

absl::StatusOr<absl::Duration> CniPluginTimeout(const config::DaemonConfig& config) {
  return PositiveDuration("cni_plugin_timeout", config.cni_plugin_timeout(), "60s");
}

absl::StatusOr<registry::RegistryHosts> RegistryHostsOf(const config::DaemonConfig& config) {
  registry::RegistryHosts hosts;
  auto mirrors = registry::ParseMirrors(config.registry_mirrors());
  if (!mirrors.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("registry_mirrors: ", mirrors.status().message()));
  }
  hosts.mirrors = *std::move(mirrors);
  auto insecure = registry::ParseInsecureRegistries(config.insecure_registries());
  if (!insecure.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("insecure_registries: ", insecure.status().message()));
  }
  hosts.insecure = *std::move(insecure);
  hosts.certs_dir = config.registry_certs_dir();
  return hosts;
}

std::vector<std::string> CniBinDirs(const config::DaemonConfig& config) {
  return absl::StrSplit(config.cni_bin_dirs(), ':', absl::SkipEmpty());
}

absl::StatusOr<config::DaemonConfig> ResolveDaemonConfig(
    const std::string& file_text, const std::map<std::string, std::string>& flags) {
  config::DaemonConfig config = DefaultDaemonConfig();
  if (!file_text.empty()) {
    config::DaemonConfig from_file;
    if (!google::protobuf::TextFormat::ParseFromString(file_text, &from_file)) {
      return absl::InvalidArgumentError(
          "config: not a valid converge.config.DaemonConfig in protobuf text format");
    }
    config.MergeFrom(from_file);
  }
  const auto* descriptor = config.GetDescriptor();
  const auto* reflection = config.GetReflection();
  for (const auto& [name, value] : flags) {
    const auto* field = descriptor->FindFieldByName(name);
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a config field"));
    }
    if (field->type() == google::protobuf::FieldDescriptor::TYPE_INT32) {
      int32_t number;
      if (!absl::SimpleAtoi(value, &number)) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, ": \"", value, "\" is not a number"));
      }
      reflection->SetInt32(&config, field, number);
    } else {
      reflection->SetString(&config, field, value);
    }
  }
  CONVERGE_RETURN_IF_ERROR(ValidateCleanAbsolutePath("root", config.root()));
  CONVERGE_RETURN_IF_ERROR(ValidateCleanAbsolutePath("state", config.state()));
  CONVERGE_RETURN_IF_ERROR(ValidateCleanAbsolutePath("socket", config.socket()));
  CONVERGE_RETURN_IF_ERROR(ValidateCleanAbsolutePath("cgroup_root", config.cgroup_root()));
  CONVERGE_RETURN_IF_ERROR(
      ValidateCleanAbsolutePath("default_cgroup_parent", config.default_cgroup_parent()));
  if (config.socket().size() > 107) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket: \"", config.socket(), "\" is longer than 107 bytes"));
  }
  if (config.workers() < 1 || config.workers() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers: ", config.workers(), " is outside 1..256"));
  }
  CONVERGE_RETURN_IF_ERROR(ResyncPeriod(config).status());
  CONVERGE_RETURN_IF_ERROR(CniPluginTimeout(config).status());
  CONVERGE_RETURN_IF_ERROR(ValidateCleanAbsolutePath("cni_conf_dir", config.cni_conf_dir()));
  if (CniBinDirs(config).empty()) {
    return absl::InvalidArgumentError("cni_bin_dirs: names no directory");
  }
  for (const std::string& dir : CniBinDirs(config)) {
    CONVERGE_RETURN_IF_ERROR(ValidateCleanAbsolutePath("cni_bin_dirs", dir));
  }
  CONVERGE_RETURN_IF_ERROR(
      ValidateCleanAbsolutePath("registry_certs_dir", config.registry_certs_dir()));
  CONVERGE_RETURN_IF_ERROR(RegistryHostsOf(config).status());
  if (!config.monitor_binary().empty()) {
    CONVERGE_RETURN_IF_ERROR(ValidateCleanAbsolutePath("monitor_binary", config.monitor_binary()));
  }
  return config;
}

}  // namespace converge

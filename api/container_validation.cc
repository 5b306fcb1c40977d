#include "api/container_validation.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/validation.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/process/seccomp/seccomp_profile.h"
#include "executors/process/spec/build_spec.h"
#include "executors/process/spec/capabilities.h"
#include "executors/process/spec/defaults.h"

// The deprecated apparmor_profile / seccomp_profile_path are still checked.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace converge {
namespace {

using runtime::v1::ContainerConfig;
using runtime::v1::LinuxContainerResources;
using runtime::v1::SecurityProfile;

constexpr size_t kMaxMapBytes = 256 * 1024;  // Kubernetes TotalAnnotationSizeLimitB

absl::Status Unimplemented(absl::string_view field, absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(field, ": ", what, " is not supported by converge yet"));
}

// Prefixes a status from the executors (fields relative to ContainerConfig)
// with "config.".
absl::Status InConfig(const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("config.", status.message()));
}

bool HasNul(absl::string_view value) { return value.find('\0') != absl::string_view::npos; }

bool HasComponent(absl::string_view path, absl::string_view component) {
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == component) return true;
  }
  return false;
}

absl::Status ValidateLogPath(absl::string_view log_path) {
  if (log_path.empty()) return absl::OkStatus();
  const char* kField = "config.log_path";
  if (HasNul(log_path)) return Invalid(kField, "contains a NUL byte");
  if (log_path[0] == '/') {
    return Invalid(kField, absl::StrCat("\"", log_path, "\" must be relative to the pod's "
                                                        "log_directory"));
  }
  for (absl::string_view part : absl::StrSplit(log_path, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return Invalid(kField, absl::StrCat("\"", log_path,
                                          "\" has an empty, \".\" or \"..\" component"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMap(absl::string_view field,
                         const google::protobuf::Map<std::string, std::string>& map) {
  size_t total = 0;
  for (const auto& [key, value] : map) {
    if (key.empty()) return Invalid(field, "has an empty key");
    total += key.size() + value.size();
  }
  if (total > kMaxMapBytes) {
    return Invalid(field, absl::StrCat("keys and values take ", total,
                                       " bytes, more than the 262144 allowed"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEnvs(const ContainerConfig& config) {
  for (int i = 0; i < config.envs_size(); ++i) {
    const auto& env = config.envs(i);
    const std::string field = absl::StrCat("config.envs[", i, "]");
    if (env.key().empty()) return Invalid(absl::StrCat(field, ".key"), "must not be empty");
    if (env.key().find('=') != std::string::npos || HasNul(env.key())) {
      return Invalid(absl::StrCat(field, ".key"),
                     absl::StrCat("\"", env.key(), "\" contains '=' or a NUL byte"));
    }
    if (HasNul(env.value())) return Invalid(absl::StrCat(field, ".value"), "contains a NUL byte");
  }
  return absl::OkStatus();
}

absl::Status ValidateMounts(const ContainerConfig& config) {
  for (int i = 0; i < config.mounts_size(); ++i) {
    const runtime::v1::Mount& mount = config.mounts(i);
    const std::string field = absl::StrCat("config.mounts[", i, "]");
    if (mount.has_image() && !mount.image().image().empty()) {
      return Unimplemented(absl::StrCat(field, ".image"), "an image volume");
    }
    const std::string& target = mount.container_path();
    if (target.empty() || target[0] != '/' || HasNul(target) || HasComponent(target, "..")) {
      return Invalid(absl::StrCat(field, ".container_path"),
                     absl::StrCat("\"", target, "\" is not an absolute path without \"..\""));
    }
    const std::string& source = mount.host_path();
    if (source.empty() || source[0] != '/' || HasNul(source)) {
      return Invalid(absl::StrCat(field, ".host_path"),
                     absl::StrCat("\"", source, "\" is not an absolute path"));
    }
    if (!runtime::v1::MountPropagation_IsValid(mount.propagation())) {
      return Invalid(absl::StrCat(field, ".propagation"),
                     absl::StrCat("unknown mode ", static_cast<int>(mount.propagation())));
    }
    if (mount.recursive_read_only() && !mount.readonly()) {
      // containerd: "recursive read-only mount conflicts with RW mount".
      return Invalid(absl::StrCat(field, ".recursive_read_only"), "needs readonly");
    }
    if (mount.recursive_read_only()) {
      return Unimplemented(absl::StrCat(field, ".recursive_read_only"),
                           "a recursive read-only mount");
    }
    if (mount.uidmappings_size() > 0 || mount.gidmappings_size() > 0) {
      return Unimplemented(absl::StrCat(field, mount.uidmappings_size() > 0 ? ".uidMappings"
                                                                           : ".gidMappings"),
                           "an id-mapped mount");
    }
  }
  return absl::OkStatus();
}

// containerd's AppArmor rules when AppArmor is unavailable, which is always
// the case for converge: RuntimeDefault and Unconfined are accepted (and
// enforce nothing), Localhost is refused.
absl::Status ValidateAppArmor(const runtime::v1::LinuxContainerSecurityContext& security) {
  const char* kField = "config.linux.security_context.apparmor";
  if (security.has_apparmor()) {
    const SecurityProfile& profile = security.apparmor();
    if (!SecurityProfile::ProfileType_IsValid(profile.profile_type())) {
      return Invalid(absl::StrCat(kField, ".profile_type"),
                     absl::StrCat("unknown type ", static_cast<int>(profile.profile_type())));
    }
    if (profile.profile_type() != SecurityProfile::Localhost && !profile.localhost_ref().empty()) {
      return Invalid(absl::StrCat(kField, ".localhost_ref"),
                     "must only be set if profile_type is Localhost");
    }
    if (profile.profile_type() == SecurityProfile::Localhost) {
      return Unimplemented(kField, "an AppArmor Localhost profile");
    }
    return absl::OkStatus();
  }
  const std::string& legacy = security.apparmor_profile();
  const char* kLegacy = "config.linux.security_context.apparmor_profile";
  if (legacy.empty() || legacy == "runtime/default" || legacy == "unconfined") {
    return absl::OkStatus();
  }
  if (absl::StartsWith(legacy, "localhost/")) {
    return Unimplemented(kLegacy, "an AppArmor Localhost profile");
  }
  return Invalid(kLegacy, absl::StrCat("invalid profile \"", legacy, "\""));
}

absl::Status ValidateSecurity(const runtime::v1::CreateContainerRequest& request) {
  const auto& security = request.config().linux().security_context();
  CONVERGE_RETURN_IF_ERROR(InConfig(process::ResolveCapabilities(security, 0).status()));
  if (security.has_seccomp() &&
      !SecurityProfile::ProfileType_IsValid(security.seccomp().profile_type())) {
    return Invalid("config.linux.security_context.seccomp.profile_type",
                   absl::StrCat("unknown type ", static_cast<int>(security.seccomp().profile_type())));
  }
  CONVERGE_RETURN_IF_ERROR(InConfig(process::ChooseSeccompProfile(security).status()));
  CONVERGE_RETURN_IF_ERROR(ValidateAppArmor(security));

  const auto& options = security.namespace_options();
  const std::string prefix = "config.linux.security_context.namespace_options.";
  auto mode_name = [](runtime::v1::NamespaceMode mode) {
    return runtime::v1::NamespaceMode_IsValid(mode) ? runtime::v1::NamespaceMode_Name(mode)
                                                    : absl::StrCat(static_cast<int>(mode));
  };
  for (const auto& [name, mode] : {std::make_pair("network", options.network()),
                                   std::make_pair("ipc", options.ipc())}) {
    if (mode != runtime::v1::POD && mode != runtime::v1::NODE) {
      return Invalid(absl::StrCat(prefix, name),
                     absl::StrCat("namespace mode ", mode_name(mode), " is not supported"));
    }
  }
  if (options.pid() == runtime::v1::TARGET) {
    return Unimplemented(absl::StrCat(prefix, "pid"), "pid namespace mode TARGET");
  }
  if (options.pid() != runtime::v1::POD && options.pid() != runtime::v1::CONTAINER &&
      options.pid() != runtime::v1::NODE) {
    return Invalid(absl::StrCat(prefix, "pid"),
                   absl::StrCat("namespace mode ", mode_name(options.pid()), " is not supported"));
  }
  if (options.has_userns_options() && options.userns_options().mode() != runtime::v1::NODE) {
    return Unimplemented(absl::StrCat(prefix, "userns_options"), "a user namespace");
  }
  if (security.privileged() &&
      !request.sandbox_config().linux().security_context().privileged()) {
    return Invalid("config.linux.security_context.privileged",
                   "a privileged container needs a privileged pod sandbox");
  }
  return absl::OkStatus();
}

// "0-3,5": ascending single numbers or ranges; each at most 1<<20.
bool IsCpusetList(absl::string_view list) {
  if (list.empty()) return false;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    std::pair<absl::string_view, absl::string_view> range = absl::StrSplit(item, '-');
    uint32_t low = 0;
    uint32_t high = 0;
    auto digits = [](absl::string_view s) {
      return !s.empty() && s.find_first_not_of("0123456789") == absl::string_view::npos;
    };
    if (!digits(range.first) || !absl::SimpleAtoi(range.first, &low)) return false;
    high = low;
    if (item.find('-') != absl::string_view::npos) {
      if (!digits(range.second) || !absl::SimpleAtoi(range.second, &high)) return false;
    }
    if (high < low || high > (1u << 20)) return false;
  }
  return true;
}

// "2MB", "1GB", "64KB": a power of two with the kernel's unit suffix.
bool IsHugepageSize(absl::string_view size) {
  for (absl::string_view unit : {"KB", "MB", "GB"}) {
    if (!absl::EndsWith(size, unit)) continue;
    absl::string_view number = size.substr(0, size.size() - 2);
    uint64_t value = 0;
    if (number.empty() || number.find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(number, &value)) {
      return false;
    }
    return value > 0 && (value & (value - 1)) == 0;
  }
  return false;
}

absl::Status ValidateResources(absl::string_view prefix, const LinuxContainerResources& r) {
  auto field = [&](absl::string_view name) { return absl::StrCat(prefix, ".", name); };
  if (r.cpu_shares() != 0 && (r.cpu_shares() < 2 || r.cpu_shares() > 262144)) {
    return Invalid(field("cpu_shares"),
                   absl::StrCat(r.cpu_shares(), " is neither 0 nor within 2..262144"));
  }
  if (r.cpu_period() != 0 && (r.cpu_period() < 1000 || r.cpu_period() > 1000000)) {
    return Invalid(field("cpu_period"),
                   absl::StrCat(r.cpu_period(), " is neither 0 nor within 1000..1000000"));
  }
  if (r.cpu_quota() != 0 && r.cpu_quota() != -1 && r.cpu_quota() < 1000) {
    return Invalid(field("cpu_quota"),
                   absl::StrCat(r.cpu_quota(), " is neither 0, -1 nor at least 1000"));
  }
  if (r.memory_limit_in_bytes() < 0) {
    return Invalid(field("memory_limit_in_bytes"),
                   absl::StrCat(r.memory_limit_in_bytes(), " is negative"));
  }
  const int64_t swap = r.memory_swap_limit_in_bytes();
  if (swap < -1) return Invalid(field("memory_swap_limit_in_bytes"), absl::StrCat(swap, " is below -1"));
  if (swap > 0 && r.memory_limit_in_bytes() > 0 && swap < r.memory_limit_in_bytes()) {
    return Invalid(field("memory_swap_limit_in_bytes"),
                   absl::StrCat(swap, " is below memory_limit_in_bytes (it counts memory plus swap)"));
  }
  if (r.oom_score_adj() < -1000 || r.oom_score_adj() > 1000) {
    return Invalid(field("oom_score_adj"),
                   absl::StrCat(r.oom_score_adj(), " is outside -1000..1000"));
  }
  if (!r.cpuset_cpus().empty() && !IsCpusetList(r.cpuset_cpus())) {
    return Invalid(field("cpuset_cpus"),
                   absl::StrCat("\"", r.cpuset_cpus(), "\" is not a list like \"0-3,5\""));
  }
  if (!r.cpuset_mems().empty() && !IsCpusetList(r.cpuset_mems())) {
    return Invalid(field("cpuset_mems"),
                   absl::StrCat("\"", r.cpuset_mems(), "\" is not a list like \"0-3,5\""));
  }
  std::set<std::string> sizes;
  for (int i = 0; i < r.hugepage_limits_size(); ++i) {
    const std::string& size = r.hugepage_limits(i).page_size();
    const std::string name = field(absl::StrCat("hugepage_limits[", i, "].page_size"));
    if (!IsHugepageSize(size)) {
      return Invalid(name, absl::StrCat("\"", size, "\" is not a page size like \"2MB\" or \"1GB\""));
    }
    if (!sizes.insert(size).second) {
      return Invalid(name, absl::StrCat("\"", size, "\" is limited twice"));
    }
  }
  for (const auto& [key, value] : r.unified()) {
    const std::string name = field(absl::StrCat("unified[\"", key, "\"]"));
    if (key.find('.') == std::string::npos || key.find('/') != std::string::npos ||
        key[0] == '.' || HasControlCharacter(key)) {
      return Invalid(name, "is not a cgroup interface file name");
    }
    if (absl::StartsWith(key, "cgroup.")) {
      return Invalid(name, "cgroup core files are managed by converge");
    }
    if (value.find_first_of(std::string("\n\0", 2)) != std::string::npos) {
      return Invalid(name, "the value must be one line without NUL");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCreateContainer(const runtime::v1::CreateContainerRequest& request) {
  CONVERGE_RETURN_IF_ERROR(ValidateId("pod_sandbox_id", request.pod_sandbox_id()));
  if (!request.has_config()) return Invalid("config", "is required");
  const ContainerConfig& config = request.config();
  if (!config.has_metadata()) return Invalid("config.metadata", "is required");
  CONVERGE_RETURN_IF_ERROR(ValidateName("config.metadata.name", config.metadata().name()));
  if (config.image().image().empty()) return Invalid("config.image.image", "must not be empty");
  CONVERGE_RETURN_IF_ERROR(ValidateLogPath(config.log_path()));
  if (!config.working_dir().empty() &&
      (config.working_dir()[0] != '/' || HasNul(config.working_dir()))) {
    return Invalid("config.working_dir",
                   absl::StrCat("\"", config.working_dir(), "\" is not an absolute path"));
  }
  CONVERGE_RETURN_IF_ERROR(ValidateEnvs(config));
  CONVERGE_RETURN_IF_ERROR(ValidateMap("config.labels", config.labels()));
  CONVERGE_RETURN_IF_ERROR(ValidateMap("config.annotations", config.annotations()));
  CONVERGE_RETURN_IF_ERROR(ValidateMounts(config));
  if (config.devices_size() > 0) return Unimplemented("config.devices", "a host device");
  if (config.cdi_devices_size() > 0) return Unimplemented("config.CDI_devices", "a CDI device");
  if (!runtime::v1::Signal_IsValid(config.stop_signal())) {
    return Invalid("config.stop_signal",
                   absl::StrCat("unknown signal ", static_cast<int>(config.stop_signal())));
  }
  CONVERGE_RETURN_IF_ERROR(ValidateSecurity(request));
  return ValidateResources("config.linux.resources", config.linux().resources());
}

absl::Status CheckMountSources(const ContainerConfig& config) {
  for (int i = 0; i < config.mounts_size(); ++i) {
    const std::string& path = config.mounts(i).host_path();
    struct stat st;
    if (stat(path.c_str(), &st) == 0) continue;
    const int err = errno;
    const std::string field = absl::StrCat("config.mounts[", i, "].host_path");
    if (err == ENOENT || err == ENOTDIR) {
      return Invalid(field, absl::StrCat("\"", path, "\" does not exist"));
    }
    return ErrnoError(err, field, ": stat `", path, "`");
  }
  return absl::OkStatus();
}

absl::Status CheckSeccompProfile(const ContainerConfig& config) {
  CONVERGE_ASSIGN_OR_RETURN(std::optional<std::string> path,
                            process::LocalhostSeccompProfilePath(config));
  if (!path) return absl::OkStatus();
  const char* field = config.linux().security_context().has_seccomp()
                          ? "config.linux.security_context.seccomp.localhost_ref"
                          : "config.linux.security_context.seccomp_profile_path";
  std::ifstream in(*path);
  if (!in) return Invalid(field, absl::StrCat("cannot read \"", *path, "\""));
  std::string profile((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::Status valid = process::ValidateSeccompProfile(profile);
  if (!valid.ok()) {
    return Invalid(field, absl::StrCat("profile \"", *path, "\": ", valid.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateUpdateContainerResources(const LinuxContainerResources& resources) {
  return ValidateResources("linux", resources);
}

}  // namespace converge

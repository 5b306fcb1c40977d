#include "api/validation.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/quantity.h"
#include "common/status_macros.h"
#include "executors/cgroup/cgroup.h"
#include "executors/namespace/namespace.h"

namespace converge {
namespace {

using runtime::v1::NamespaceMode;

absl::Status ValidateMode(absl::string_view field, NamespaceMode mode,
                          std::initializer_list<NamespaceMode> allowed) {
  for (NamespaceMode ok : allowed) {
    if (mode == ok) return absl::OkStatus();
  }
  std::string name = runtime::v1::NamespaceMode_IsValid(mode)
                         ? runtime::v1::NamespaceMode_Name(mode)
                         : absl::StrCat(static_cast<int>(mode));
  return Invalid(field, absl::StrCat("namespace mode ", name, " is not supported for a pod sandbox"));
}

absl::Status ValidateHostname(absl::string_view hostname) {
  if (hostname.size() > 64) return Invalid("config.hostname", "longer than 64 characters");
  for (char c : hostname) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) {
      return Invalid("config.hostname", absl::StrCat("\"", hostname, "\" is not a valid hostname"));
    }
  }
  return absl::OkStatus();
}

// Only sysctls isolated by a namespace the pod owns: writing one into a host
// namespace would change the node.
absl::Status ValidateSysctls(const google::protobuf::Map<std::string, std::string>& sysctls,
                             const runtime::v1::NamespaceOption& options) {
  std::set<std::string> seen;
  for (const auto& [name, value] : sysctls) {
    const std::string field = absl::StrCat("config.linux.sysctls[\"", name, "\"]");
    absl::StatusOr<SysctlName> parsed = ParseSysctlName(name);
    if (!parsed.ok()) return Invalid(field, parsed.status().message());
    if (!seen.insert(parsed->name).second) {
      return Invalid(field, absl::StrCat("the same sysctl as another key (", parsed->name, ")"));
    }
    const bool host_namespace = parsed->kind == NamespaceKind::kNet
                                    ? options.network() == runtime::v1::NODE
                                    : options.ipc() == runtime::v1::NODE;
    if (host_namespace) {
      return Invalid(field, "the pod shares this namespace with the host");
    }
    if (value.empty() || value.size() > kMaxSysctlValueLength ||
        value.find_first_of(std::string("\n\0", 2)) != std::string::npos) {
      return Invalid(field, "the value must be one non-empty line of at most 4096 bytes");
    }
  }
  return absl::OkStatus();
}

// What the pod asks of CNI: ports in range, bandwidth annotations readable.
absl::Status ValidateNetworkRequests(const runtime::v1::PodSandboxConfig& config) {
  for (int i = 0; i < config.port_mappings_size(); ++i) {
    const auto& mapping = config.port_mappings(i);
    const std::string field = absl::StrCat("config.port_mappings[", i, "]");
    if (mapping.host_port() < 0 || mapping.host_port() > 65535) {
      return Invalid(field, absl::StrCat("host_port ", mapping.host_port(), " is outside 0..65535"));
    }
    if (mapping.container_port() < 0 || mapping.container_port() > 65535 ||
        (mapping.host_port() > 0 && mapping.container_port() == 0)) {
      return Invalid(field, absl::StrCat("container_port ", mapping.container_port(),
                                         " is outside 1..65535"));
    }
    if (!runtime::v1::Protocol_IsValid(mapping.protocol())) {
      return Invalid(field, absl::StrCat("unknown protocol ", static_cast<int>(mapping.protocol())));
    }
  }
  for (const char* annotation :
       {"kubernetes.io/ingress-bandwidth", "kubernetes.io/egress-bandwidth"}) {
    auto it = config.annotations().find(annotation);
    if (it == config.annotations().end()) continue;
    absl::StatusOr<uint64_t> rate = ParseQuantity(it->second);
    if (!rate.ok()) {
      return Invalid(absl::StrCat("config.annotations[\"", annotation, "\"]"),
                     rate.status().message());
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

bool HasControlCharacter(absl::string_view value) {
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

absl::Status ValidateName(absl::string_view field, absl::string_view value) {
  if (value.empty()) return Invalid(field, "must not be empty");
  if (value.size() > 253) return Invalid(field, "longer than 253 characters");
  if (value.find_first_of("/;=") != absl::string_view::npos || HasControlCharacter(value)) {
    return Invalid(field, absl::StrCat("\"", value,
                                       "\" contains '/', ';', '=' or a control character"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCleanAbsolutePath(absl::string_view field, absl::string_view path) {
  if (path.empty() || path[0] != '/') {
    return Invalid(field, absl::StrCat("\"", path, "\" is not an absolute path"));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return Invalid(field, "contains a NUL byte");
  }
  if (path == "/") return absl::OkStatus();
  absl::string_view rest = path.substr(1);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  for (absl::string_view part : absl::StrSplit(rest, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return Invalid(field, absl::StrCat("\"", path, "\" has an empty, \".\" or \"..\" component"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return Invalid(field, "must not be empty");
  if (id.size() > 128 || HasControlCharacter(id) || id.find('/') != absl::string_view::npos) {
    return Invalid(field, absl::StrCat("\"", id, "\" is not a valid id"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRunPodSandbox(const runtime::v1::RunPodSandboxRequest& request) {
  if (!request.runtime_handler().empty()) {
    return Invalid("runtime_handler",
                   absl::StrCat("\"", request.runtime_handler(),
                                "\" is not configured (only the default handler \"\" is)"));
  }
  if (!request.has_config()) return Invalid("config", "is required");
  const auto& config = request.config();
  if (!config.has_metadata()) return Invalid("config.metadata", "is required");
  CONVERGE_RETURN_IF_ERROR(ValidateName("config.metadata.name", config.metadata().name()));
  CONVERGE_RETURN_IF_ERROR(
      ValidateName("config.metadata.namespace", config.metadata().namespace_()));
  CONVERGE_RETURN_IF_ERROR(ValidateName("config.metadata.uid", config.metadata().uid()));
  CONVERGE_RETURN_IF_ERROR(ValidateHostname(config.hostname()));
  if (!config.log_directory().empty()) {
    CONVERGE_RETURN_IF_ERROR(
        ValidateCleanAbsolutePath("config.log_directory", config.log_directory()));
  }
  const auto& linux = config.linux();
  if (!linux.cgroup_parent().empty()) {
    absl::Status path = ValidateCleanAbsolutePath("config.linux.cgroup_parent",
                                                  linux.cgroup_parent());
    // The driver's own rules too (lengths, characters), checked on the
    // longest path converge derives from the parent, and no "cgroup.*"
    // component (the kernel's interface files): refused now rather than
    // retried forever later.
    if (path.ok()) {
      absl::Status usable = ValidateCgroupPath(
          absl::StrCat(linux.cgroup_parent(), "/converge-", std::string(64, '0')));
      if (usable.ok() && absl::StrContains(linux.cgroup_parent(), "/cgroup.")) {
        usable = absl::InvalidArgumentError("names a cgroup control file");
      }
      if (!usable.ok()) {
        path = absl::InvalidArgumentError(
            absl::StrCat("config.linux.cgroup_parent: ", usable.message()));
      }
    }
    if (!path.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.message(), " (converge uses the cgroupfs driver)"));
    }
  }
  const auto& options = linux.security_context().namespace_options();
  const char* kPrefix = "config.linux.security_context.namespace_options.";
  CONVERGE_RETURN_IF_ERROR(ValidateMode(absl::StrCat(kPrefix, "network"), options.network(),
                                        {runtime::v1::POD, runtime::v1::NODE}));
  CONVERGE_RETURN_IF_ERROR(ValidateMode(absl::StrCat(kPrefix, "ipc"), options.ipc(),
                                        {runtime::v1::POD, runtime::v1::NODE}));
  CONVERGE_RETURN_IF_ERROR(
      ValidateMode(absl::StrCat(kPrefix, "pid"), options.pid(),
                   {runtime::v1::POD, runtime::v1::CONTAINER, runtime::v1::NODE}));
  CONVERGE_RETURN_IF_ERROR(ValidateSysctls(linux.sysctls(), options));
  return ValidateNetworkRequests(config);
}

}  // namespace converge

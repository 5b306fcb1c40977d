#include "executors/namespace/namespace.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace converge {
namespace {

bool IsSysctlNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == '/';
}

std::string SwapDotsAndSlashes(absl::string_view in) {
  std::string out(in);
  for (char& c : out) {
    if (c == '.') {
      c = '/';
    } else if (c == '/') {
      c = '.';
    }
  }
  return out;
}

// The namespace a sysctl (in dot form) belongs to, if a pod may set it. The
// prefixes are kubelet's list of namespaced sysctls.
absl::StatusOr<NamespaceKind> SysctlNamespace(const std::string& name) {
  if (absl::StartsWith(name, "net.")) return NamespaceKind::kNet;
  if (absl::StartsWith(name, "kernel.shm") ||
      absl::StartsWith(name, "kernel.msg") || name == "kernel.sem" ||
      absl::StartsWith(name, "fs.mqueue.")) {
    return NamespaceKind::kIpc;
  }
  if (name == "kernel.hostname" || name == "kernel.domainname") {
    return absl::InvalidArgumentError(absl::StrCat(
        "sysctl `", name,
        "` is not settable: the pod's hostname has a field of its own"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("sysctl `", name,
                   "` is not namespaced by the pod's net or ipc namespace"));
}

}  // namespace

absl::string_view NamespaceKindName(NamespaceKind kind) {
  switch (kind) {
    case NamespaceKind::kNet:
      return "net";
    case NamespaceKind::kIpc:
      return "ipc";
    case NamespaceKind::kUts:
      return "uts";
  }
  return "unknown";
}

absl::StatusOr<SysctlName> ParseSysctlName(absl::string_view name) {
  auto invalid = [name](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("sysctl name `", name, "` ", why));
  };
  if (name.empty()) return invalid("is empty");
  for (char c : name) {
    if (!IsSysctlNameChar(c)) {
      return invalid("may contain only a-z, 0-9, '_', '-', '.' and '/'");
    }
  }
  const char first = name.front(), last = name.back();
  if (first == '.' || first == '/' || last == '.' || last == '/') {
    return invalid("starts or ends with a separator");
  }
  if (absl::StrContains(name, "..") || absl::StrContains(name, "//")) {
    return invalid("has an empty or `..` component");
  }
  // Dot form keeps dots as separators and '/' as a literal dot; slash form is
  // the path. Swapping '.' and '/' turns one into the other.
  const size_t first_separator = name.find_first_of("./");
  const bool slash_form = first_separator != absl::string_view::npos &&
                          name[first_separator] == '/';
  SysctlName parsed;
  parsed.name = slash_form ? SwapDotsAndSlashes(name) : std::string(name);
  const std::string path = SwapDotsAndSlashes(parsed.name);
  // Dot form "net./.x" is the path net/./x and "net.x./" net/x/.: no
  // component may stay in or leave its directory.
  for (absl::string_view component : absl::StrSplit(path, '/')) {
    if (component.empty() || component == "." || component == "..") {
      return invalid(absl::StrCat("has the path component `", component, "`"));
    }
  }
  parsed.proc_path = absl::StrCat("/proc/sys/", path);
  absl::StatusOr<NamespaceKind> kind = SysctlNamespace(parsed.name);
  if (!kind.ok()) return kind.status();
  parsed.kind = *kind;
  return parsed;
}

absl::Status ValidateCreateArgs(const std::vector<PinSpec>& pins,
                                const NamespaceSetup& setup) {
  if (pins.empty()) {
    return absl::InvalidArgumentError("no namespaces requested");
  }
  std::set<NamespaceKind> kinds;
  std::set<std::string> paths;
  for (const PinSpec& pin : pins) {
    if (pin.pin_path.empty() || pin.pin_path[0] != '/' ||
        pin.pin_path.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("pin path `", pin.pin_path, "` for ",
                       NamespaceKindName(pin.kind), " is not absolute"));
    }
    if (!kinds.insert(pin.kind).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(NamespaceKindName(pin.kind), " requested twice"));
    }
    if (!paths.insert(pin.pin_path).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("pin path `", pin.pin_path, "` used twice"));
    }
  }
  const std::string& hostname = setup.hostname;
  if (hostname.size() > kMaxHostnameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("hostname `", hostname, "` is ", hostname.size(),
                     " bytes, longer than ", kMaxHostnameLength));
  }
  if (hostname.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("hostname contains a NUL byte");
  }
  if (!hostname.empty() && kinds.count(NamespaceKind::kUts) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hostname `", hostname, "` given without a uts namespace"));
  }
  // Normalised name -> the name as given, to catch "a.b" next to "a/b".
  std::map<std::string, std::string> seen;
  for (const auto& [name, value] : setup.sysctls) {
    absl::StatusOr<SysctlName> sysctl = ParseSysctlName(name);
    if (!sysctl.ok()) return sysctl.status();
    auto [it, inserted] = seen.emplace(sysctl->name, name);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("sysctl `", sysctl->name, "` given twice, as `",
                       it->second, "` and `", name, "`"));
    }
    if (kinds.count(sysctl->kind) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sysctl `", sysctl->name, "` needs a new ",
                       NamespaceKindName(sysctl->kind),
                       " namespace, and none is requested"));
    }
    if (value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("sysctl `", sysctl->name, "` has an empty value"));
    }
    if (value.size() > kMaxSysctlValueLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("sysctl `", sysctl->name, "` value is ", value.size(),
                       " bytes, longer than ", kMaxSysctlValueLength));
    }
    if (value.find_first_of(std::string("\n\0", 2)) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sysctl `", sysctl->name, "` value contains a newline or NUL byte"));
    }
  }
  return absl::OkStatus();
}

}  // namespace converge

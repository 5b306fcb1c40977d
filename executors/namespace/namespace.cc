#include "executors/namespace/namespace.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace converge {

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

absl::Status ValidateCreateArgs(const std::vector<PinSpec>& pins,
                                const std::string& hostname) {
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
  return absl::OkStatus();
}

}  // namespace converge

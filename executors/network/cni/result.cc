#include "executors/network/cni/result.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace converge {
namespace {

constexpr const char* kResultVersions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0",
                                           "1.1.0"};

absl::Status Malformed(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("CNI result: \"", field, "\": ", problem));
}

// Canonical text of an IPv4 or IPv6 address; nullopt if it is neither.
// `family` receives AF_INET or AF_INET6.
std::optional<std::string> CanonicalIp(const std::string& text,
                                       int* family = nullptr) {
  unsigned char buf[sizeof(struct in6_addr)];
  char out[INET6_ADDRSTRLEN];
  for (int af : {AF_INET, AF_INET6}) {
    if (inet_pton(af, text.c_str(), buf) == 1 &&
        inet_ntop(af, buf, out, sizeof(out)) != nullptr) {
      if (family != nullptr) *family = af;
      return std::string(out);
    }
  }
  return std::nullopt;
}

bool IsCidr(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) return false;
  int family = 0;
  if (!CanonicalIp(text.substr(0, slash), &family)) return false;
  int prefix = -1;
  absl::string_view bits = absl::string_view(text).substr(slash + 1);
  if (bits.empty() || bits[0] == '+' || bits[0] == '-' ||
      !absl::SimpleAtoi(bits, &prefix)) {
    return false;
  }
  return prefix >= 0 && prefix <= (family == AF_INET ? 32 : 128);
}

// Reads an optional string member; absent and null are "".
absl::StatusOr<std::string> OptString(const Json& object, const char* key,
                                      const std::string& field) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Malformed(absl::StrCat(field, key), "must be a string");
  }
  return it->get<std::string>();
}

absl::StatusOr<std::vector<std::string>> OptStrings(const Json& object,
                                                    const char* key,
                                                    const std::string& field) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) {
    return Malformed(absl::StrCat(field, key), "must be an array of strings");
  }
  for (const Json& item : *it) {
    if (!item.is_string()) {
      return Malformed(absl::StrCat(field, key), "must be an array of strings");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// The array member `key`, or null when absent/null; error if another type.
absl::StatusOr<const Json*> OptArray(const Json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return nullptr;
  if (!it->is_array()) return Malformed(key, "must be an array");
  return &*it;
}

absl::Status ParseInterfaces(const Json& doc, CniResult& result) {
  CONVERGE_ASSIGN_OR_RETURN(const Json* interfaces,
                            OptArray(doc, "interfaces"));
  if (interfaces == nullptr) return absl::OkStatus();
  for (size_t i = 0; i < interfaces->size(); ++i) {
    const Json& item = (*interfaces)[i];
    std::string field = absl::StrCat("interfaces[", i, "].");
    if (!item.is_object()) {
      return Malformed(field.substr(0, field.size() - 1), "must be an object");
    }
    CniInterface interface;
    CONVERGE_ASSIGN_OR_RETURN(interface.name, OptString(item, "name", field));
    CONVERGE_ASSIGN_OR_RETURN(interface.mac, OptString(item, "mac", field));
    CONVERGE_ASSIGN_OR_RETURN(interface.sandbox,
                              OptString(item, "sandbox", field));
    result.interfaces.push_back(std::move(interface));
  }
  return absl::OkStatus();
}

absl::Status ParseIps(const Json& doc, CniResult& result) {
  CONVERGE_ASSIGN_OR_RETURN(const Json* ips, OptArray(doc, "ips"));
  if (ips == nullptr) return absl::OkStatus();
  for (size_t i = 0; i < ips->size(); ++i) {
    const Json& item = (*ips)[i];
    std::string field = absl::StrCat("ips[", i, "].");
    if (!item.is_object()) {
      return Malformed(field.substr(0, field.size() - 1), "must be an object");
    }
    CniIpConfig ip;
    CONVERGE_ASSIGN_OR_RETURN(ip.address, OptString(item, "address", field));
    if (!IsCidr(ip.address)) {
      return Malformed(
          field + "address",
          absl::StrCat("\"", ip.address, "\" is not an IP/prefix"));
    }
    CONVERGE_ASSIGN_OR_RETURN(ip.gateway, OptString(item, "gateway", field));
    if (!ip.gateway.empty() && !CanonicalIp(ip.gateway)) {
      return Malformed(field + "gateway",
                       absl::StrCat("\"", ip.gateway, "\" is not an IP"));
    }
    auto index = item.find("interface");
    if (index != item.end() && !index->is_null()) {
      if (!index->is_number_integer() || index->get<int64_t>() < 0 ||
          index->get<int64_t>() > (1 << 20)) {
        return Malformed(field + "interface", "must be a non-negative integer");
      }
      ip.interface = static_cast<int>(index->get<int64_t>());
    }
    result.ips.push_back(std::move(ip));
  }
  return absl::OkStatus();
}

absl::Status ParseRoutes(const Json& doc, CniResult& result) {
  CONVERGE_ASSIGN_OR_RETURN(const Json* routes, OptArray(doc, "routes"));
  if (routes == nullptr) return absl::OkStatus();
  for (size_t i = 0; i < routes->size(); ++i) {
    const Json& item = (*routes)[i];
    std::string field = absl::StrCat("routes[", i, "].");
    if (!item.is_object()) {
      return Malformed(field.substr(0, field.size() - 1), "must be an object");
    }
    CniRoute route;
    CONVERGE_ASSIGN_OR_RETURN(route.dst, OptString(item, "dst", field));
    if (!IsCidr(route.dst)) {
      return Malformed(field + "dst",
                       absl::StrCat("\"", route.dst, "\" is not an IP/prefix"));
    }
    CONVERGE_ASSIGN_OR_RETURN(route.gw, OptString(item, "gw", field));
    if (!route.gw.empty() && !CanonicalIp(route.gw)) {
      return Malformed(field + "gw",
                       absl::StrCat("\"", route.gw, "\" is not an IP"));
    }
    result.routes.push_back(std::move(route));
  }
  return absl::OkStatus();
}

absl::Status ParseDns(const Json& doc, CniResult& result) {
  auto it = doc.find("dns");
  if (it == doc.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return Malformed("dns", "must be an object");
  const std::string field = "dns.";
  CONVERGE_ASSIGN_OR_RETURN(result.dns.nameservers,
                            OptStrings(*it, "nameservers", field));
  CONVERGE_ASSIGN_OR_RETURN(result.dns.domain, OptString(*it, "domain", field));
  CONVERGE_ASSIGN_OR_RETURN(result.dns.search,
                            OptStrings(*it, "search", field));
  CONVERGE_ASSIGN_OR_RETURN(result.dns.options,
                            OptStrings(*it, "options", field));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CniResult> CniResultFromJson(const Json& doc) {
  if (!doc.is_object()) {
    return absl::InvalidArgumentError("CNI result: not a JSON object");
  }
  CniResult result;
  CONVERGE_ASSIGN_OR_RETURN(result.cni_version,
                            OptString(doc, "cniVersion", ""));
  if (result.cni_version.empty()) return Malformed("cniVersion", "missing");
  if (std::find(std::begin(kResultVersions), std::end(kResultVersions),
                result.cni_version) == std::end(kResultVersions)) {
    return Malformed("cniVersion",
                     absl::StrCat("result version \"", result.cni_version,
                                  "\" is not supported"));
  }
  CONVERGE_RETURN_IF_ERROR(ParseInterfaces(doc, result));
  CONVERGE_RETURN_IF_ERROR(ParseIps(doc, result));
  CONVERGE_RETURN_IF_ERROR(ParseRoutes(doc, result));
  CONVERGE_RETURN_IF_ERROR(ParseDns(doc, result));
  return result;
}

absl::StatusOr<CniResult> ParseCniResult(absl::string_view text) {
  CONVERGE_ASSIGN_OR_RETURN(Json doc, ParseJson(text, "CNI result"));
  return CniResultFromJson(doc);
}

std::vector<std::string> PodIps(const CniResult& result,
                                absl::string_view ifname) {
  std::vector<std::string> v4, v6;
  for (const CniIpConfig& ip : result.ips) {
    // As containerd's go-cni: an IP naming no interface belongs to the pod's
    // (Calico lists only its host-side veth and leaves the index out); one
    // naming an interface counts if that interface is `ifname`.
    if (ip.interface) {
      if (*ip.interface >= result.interfaces.size()) continue;
      if (result.interfaces[*ip.interface].name != ifname) continue;
    }
    int family = 0;
    std::optional<std::string> address =
        CanonicalIp(ip.address.substr(0, ip.address.find('/')), &family);
    if (!address) continue;
    std::vector<std::string>& out = family == AF_INET ? v4 : v6;
    if (std::find(out.begin(), out.end(), *address) == out.end()) {
      out.push_back(*address);
    }
  }
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

std::string CniError::Message() const {
  std::string out = msg;
  if (!details.empty()) absl::StrAppend(&out, out.empty() ? "" : "; ", details);
  if (code != 0) {
    out = out.empty() ? absl::StrCat("CNI error code ", code)
                      : absl::StrCat(out, " (CNI error code ", code, ")");
  }
  return out;
}

std::optional<CniError> ParseCniError(absl::string_view text) {
  absl::StatusOr<Json> doc = ParseJson(text, "CNI error");
  if (!doc.ok() || !doc->is_object()) return std::nullopt;
  CniError error;
  error.cni_version = StringField(*doc, "cniVersion");
  error.msg = StringField(*doc, "msg");
  error.details = StringField(*doc, "details");
  auto code = doc->find("code");
  if (code != doc->end() && code->is_number_integer()) {
    error.code = code->get<int64_t>();
  }
  if (error.msg.empty() && error.code == 0) return std::nullopt;
  return error;
}

}  // namespace converge

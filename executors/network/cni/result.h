// CNI results and errors (SPEC section 5), parsed. Pure.
//
//   CONVERGE_ASSIGN_OR_RETURN(CniResult result, ParseCniResult(stdout_text));
//   std::vector<std::string> ips = PodIps(result, "eth0");  // IPv4 first
//
//   if (std::optional<CniError> error = ParseCniError(stdout_text)) ...
//
// Result versions 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0 share one shape
// (0.3.x adds "version": "4"|"6" to each IP, ignored here; 1.1.0 adds route
// and interface fields, ignored). 0.1.0/0.2.0 results (ip4/ip6) are refused.
#ifndef CONVERGE_EXECUTORS_NETWORK_CNI_RESULT_H_
#define CONVERGE_EXECUTORS_NETWORK_CNI_RESULT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/network/cni/json_util.h"

namespace converge {

struct CniInterface {
  std::string name;
  std::string mac;
  std::string sandbox;  // netns path; empty for host-side interfaces
};

struct CniIpConfig {
  std::string address;           // CIDR, e.g. "10.22.0.5/24"
  std::string gateway;           // may be empty
  std::optional<int> interface;  // index into CniResult::interfaces
};

struct CniRoute {
  std::string dst;  // CIDR
  std::string gw;   // may be empty
};

struct CniDns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
};

struct CniResult {
  std::string cni_version;
  std::vector<CniInterface> interfaces;
  std::vector<CniIpConfig> ips;
  std::vector<CniRoute> routes;
  CniDns dns;
};

// INVALID_ARGUMENT naming the field for anything malformed: not an object, a
// missing or unsupported cniVersion, a wrong type, an address that is not
// CIDR, a gateway that is not an IP, a negative interface index. An
// interface index past the end of `interfaces` is kept (PodIps skips it).
absl::StatusOr<CniResult> CniResultFromJson(const Json& doc);
absl::StatusOr<CniResult> ParseCniResult(absl::string_view text);

// The pod's IPs as containerd reports them: the addresses (no prefix,
// canonical text form) of the IPs whose `interface` is an interface named
// `ifname`, or that name no interface at all (go-cni's rule, which Calico's
// results rely on); all IPv4 ones first, then IPv6, each family in result
// order, duplicates dropped.
std::vector<std::string> PodIps(const CniResult& result,
                                absl::string_view ifname);

// A plugin's error object {cniVersion, code, msg, details}.
struct CniError {
  std::string cni_version;
  int64_t code = 0;
  std::string msg;
  std::string details;

  // libcni's form: "msg; details" ("msg" alone without details), plus
  // " (CNI error code N)" when code is non-zero.
  std::string Message() const;
};

// nullopt unless `text` is a JSON object with a non-empty string `msg` or a
// non-zero numeric `code`.
std::optional<CniError> ParseCniError(absl::string_view text);

// CNI error codes with a meaning for the caller (SPEC "Error").
inline constexpr int64_t kCniErrIncompatibleVersion = 1;
inline constexpr int64_t kCniErrUnknownContainer = 3;
inline constexpr int64_t kCniErrTryAgainLater = 11;

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_CNI_RESULT_H_

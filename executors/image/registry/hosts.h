// Which endpoints serve a registry host: configured mirrors, then the origin,
// over plain HTTP only where the daemon's configuration allows it.
//
//   CONVERGE_ASSIGN_OR_RETURN(hosts.mirrors,
//       ParseMirrors("docker.io=https://mirror.gcr.io,registry.k8s.io=http://10.0.0.5:5000"));
//   CONVERGE_ASSIGN_OR_RETURN(hosts.insecure, ParseInsecureRegistries("10.0.0.7:5000"));
//   EndpointsFor(hosts, "docker.io");
//   // {"https://mirror.gcr.io", "https://registry-1.docker.io"}
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_HOSTS_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_HOSTS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge::registry {

struct RegistryHosts {
  // Reference domain ("docker.io", "registry.k8s.io") -> mirror endpoint URL
  // ("https://mirror.example", "http://127.0.0.1:5000/prefix"). A mirror given
  // as http:// is contacted over plain HTTP: configuring it so is the consent.
  std::map<std::string, std::string> mirrors;
  // "host:port" (that port only) or "host" (any port) that may be reached
  // over plain HTTP when HTTPS fails, as docker's --insecure-registry.
  std::set<std::string> insecure;
  // `<certs_dir>/<host[:port]>/ca.crt`, when present, is trusted beside the
  // system's CAs for that endpoint (a private registry's own CA), as in
  // containerd's certs.d. Empty: none.
  std::string certs_dir;
};

// The extra CA certificates (PEM) for an endpoint URL under
// `hosts.certs_dir`, or "" when it has none.
absl::StatusOr<std::string> ExtraCaFor(const RegistryHosts& hosts, absl::string_view endpoint);

// "HOST=ENDPOINT[,HOST=ENDPOINT...]"; ENDPOINT is http(s)://authority[/path]
// and loses any trailing slash. INVALID_ARGUMENT naming the bad item. Empty
// text gives no mirrors.
absl::StatusOr<std::map<std::string, std::string>> ParseMirrors(absl::string_view flag);

// "HOST[:PORT][,...]"; INVALID_ARGUMENT naming the bad item.
absl::StatusOr<std::set<std::string>> ParseInsecureRegistries(absl::string_view flag);

// The endpoints to try, in order, for a reference domain: its mirror (if
// any), then https://<domain> (https://registry-1.docker.io for docker.io),
// then http://<domain> if the domain is insecure.
std::vector<std::string> EndpointsFor(const RegistryHosts& hosts, absl::string_view domain);

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_HOSTS_H_

#include "executors/image/registry/hosts.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "executors/image/reference.h"

namespace converge::registry {
namespace {

constexpr char kDockerHubEndpoint[] = "https://registry-1.docker.io";

absl::Status BadItem(absl::string_view flag, absl::string_view item, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " item \"", item, "\": ", why));
}

// http(s)://authority[/path], without a trailing slash.
absl::StatusOr<std::string> ParseEndpoint(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError("endpoint must start with http:// or https://");
  }
  if (rest.find_first_of("?#@") != absl::string_view::npos) {
    return absl::InvalidArgumentError("endpoint may not have user info, a query or a fragment");
  }
  absl::string_view authority = rest.substr(0, rest.find('/'));
  if (!IsValidRegistryHost(authority)) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint host \"", authority, "\" is not HOST[:PORT]"));
  }
  while (absl::ConsumeSuffix(&url, "/")) {
  }
  return std::string(url);
}

bool IsInsecure(const RegistryHosts& hosts, absl::string_view domain) {
  return hosts.insecure.count(std::string(domain)) > 0 ||
         hosts.insecure.count(std::string(domain.substr(0, domain.rfind(':')))) > 0;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseMirrors(absl::string_view flag) {
  std::map<std::string, std::string> mirrors;
  for (absl::string_view item : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    if (item.find('=') == absl::string_view::npos) {
      return BadItem("mirror", item, "want HOST=ENDPOINT");
    }
    std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(item, '=');
    auto host = ParseRegistryHost(parts.first);
    if (!host.ok()) return BadItem("mirror", item, host.status().message());
    auto endpoint = ParseEndpoint(parts.second);
    if (!endpoint.ok()) return BadItem("mirror", item, endpoint.status().message());
    if (!mirrors.emplace(*host, *endpoint).second) {
      return BadItem("mirror", item, "a second mirror for the same host");
    }
  }
  return mirrors;
}

absl::StatusOr<std::set<std::string>> ParseInsecureRegistries(absl::string_view flag) {
  std::set<std::string> insecure;
  for (absl::string_view item : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    auto host = ParseRegistryHost(item);
    if (!host.ok()) return BadItem("insecure registry", item, host.status().message());
    insecure.insert(*host);
  }
  return insecure;
}

std::vector<std::string> EndpointsFor(const RegistryHosts& hosts, absl::string_view domain) {
  std::vector<std::string> endpoints;
  if (auto mirror = hosts.mirrors.find(std::string(domain)); mirror != hosts.mirrors.end()) {
    endpoints.push_back(mirror->second);
  }
  endpoints.push_back(domain == kDockerHubDomain ? std::string(kDockerHubEndpoint)
                                                 : absl::StrCat("https://", domain));
  if (IsInsecure(hosts, domain)) endpoints.push_back(absl::StrCat("http://", domain));
  return endpoints;
}

absl::StatusOr<std::string> ExtraCaFor(const RegistryHosts& hosts, absl::string_view endpoint) {
  if (hosts.certs_dir.empty()) return std::string();
  absl::string_view authority = endpoint;
  if (!absl::ConsumePrefix(&authority, "https://")) return std::string();  // no TLS, no CA
  authority = authority.substr(0, authority.find('/'));
  // Endpoints come from validated reference domains or from the daemon's
  // own configuration; a host never names a path outside certs_dir.
  if (!IsValidRegistryHost(authority)) return std::string();
  const std::string path = absl::StrCat(hosts.certs_dir, "/", authority, "/ca.crt");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    return ErrnoError(errno, "open `", path, "`");
  }
  std::string pem;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) pem.append(buffer, static_cast<size_t>(n));
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) return ErrnoError(read_errno, "read `", path, "`");
  return pem;
}

}  // namespace converge::registry

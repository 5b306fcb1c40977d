// WWW-Authenticate challenges (RFC 7235) as registries send them:
//
//   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
//          scope="repository:library/busybox:pull"
//   Basic realm="Registry Realm"
//
//   for (const Challenge& c : ParseChallenges(header)) {
//     if (c.scheme == "bearer") realm = c.Param("realm");
//   }
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_CHALLENGE_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_CHALLENGE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace converge::registry {

struct Challenge {
  std::string scheme;                         // lower case: "bearer", "basic"
  std::map<std::string, std::string> params;  // lower-case names, unquoted values

  std::string Param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? "" : it->second;
  }
};

// Every challenge in a header value (several may share one header, separated
// by commas). Quoted values may contain commas and backslash escapes.
// Malformed input yields what could be read: the caller then finds no usable
// challenge and reports the header.
std::vector<Challenge> ParseChallenges(absl::string_view header);

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_CHALLENGE_H_

// Turning a registry's 401 challenge and the caller's credentials into an
// Authorization header value, as docker's distribution client does: Basic
// credentials directly, or a bearer token from the challenge's token server
// (GET with Basic credentials, or the OAuth2 refresh-token POST when an
// identity token is given). Private to the registry package.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::string authorization,
//       Authorize(transport, challenges, credentials, "repository:library/busybox:pull",
//                 /*allow_http_realm=*/false));
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_AUTH_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_AUTH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/image/registry/challenge.h"
#include "executors/image/registry/registry.h"
#include "executors/image/registry/transport.h"

namespace converge::registry {

// "Basic <base64>" from username/password or `auth`; "" when neither is set.
// INVALID_ARGUMENT when `auth` is not base64 "user:password" (without
// repeating it).
absl::StatusOr<std::string> BasicAuthorization(const Credentials& credentials);

// The Authorization value answering `challenges` (Bearer preferred over
// Basic). UNAUTHENTICATED when no challenge can be answered (Basic without
// credentials, an unknown scheme) or the token server refuses; other token
// server failures as ResponseError maps them. A realm over plain HTTP is
// refused unless `allow_http_realm` (the registry itself is plain HTTP), so
// credentials never travel unencrypted from an https registry's challenge.
absl::StatusOr<std::string> Authorize(Transport& transport,
                                      const std::vector<Challenge>& challenges,
                                      const Credentials& credentials, absl::string_view scope,
                                      bool allow_http_realm);

// application/x-www-form-urlencoded escaping of one value.
std::string FormEncode(absl::string_view value);

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_AUTH_H_

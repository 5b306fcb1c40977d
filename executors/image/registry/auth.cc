#include "executors/image/registry/auth.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace converge::registry {
namespace {

// Identifies converge to OAuth2 token servers (docker sends "docker").
constexpr char kClientId[] = "converge";

const Challenge* Find(const std::vector<Challenge>& challenges, absl::string_view scheme) {
  auto it = std::find_if(challenges.begin(), challenges.end(),
                         [&](const Challenge& c) { return c.scheme == scheme; });
  return it == challenges.end() ? nullptr : &*it;
}

absl::StatusOr<HttpRequest> TokenRequest(const Challenge& bearer, const Credentials& credentials,
                                         absl::string_view scope, bool allow_http_realm) {
  const std::string realm = bearer.Param("realm");
  if (!absl::StartsWith(realm, "https://") &&
      !(allow_http_realm && absl::StartsWith(realm, "http://"))) {
    return absl::UnauthenticatedError(absl::StrCat("bearer realm \"", RedactUrl(realm),
                                                   "\" is not an ",
                                                   allow_http_realm ? "http(s)" : "https", " URL"));
  }
  std::string params;
  if (std::string service = bearer.Param("service"); !service.empty()) {
    params = absl::StrCat("service=", FormEncode(service), "&");
  }
  absl::StrAppend(&params, "scope=", FormEncode(scope));

  HttpRequest request;
  if (!credentials.identity_token.empty()) {
    // docker's OAuth2 flow: exchange the refresh token for an access token.
    request.method = "POST";
    request.url = realm;
    request.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    request.body = absl::StrCat(
        "grant_type=refresh_token&refresh_token=", FormEncode(credentials.identity_token), "&",
        params, "&client_id=", kClientId);
    return request;
  }
  request.url = absl::StrCat(realm, realm.find('?') == std::string::npos ? "?" : "&", params);
  CONVERGE_ASSIGN_OR_RETURN(std::string basic, BasicAuthorization(credentials));
  if (!basic.empty()) request.headers.push_back("Authorization: " + basic);
  return request;
}

absl::StatusOr<std::string> FetchToken(Transport& transport, const Challenge& bearer,
                                       const Credentials& credentials, absl::string_view scope,
                                       bool allow_http_realm) {
  CONVERGE_ASSIGN_OR_RETURN(HttpRequest request,
                            TokenRequest(bearer, credentials, scope, allow_http_realm));
  HttpResult result = transport.Perform(request);
  if (!result.response.ok()) return Annotate(result.response.status(), "fetch token");
  const HttpResponse& response = *result.response;
  if (response.status != 200) return ResponseError("fetch token", request, response);
  nlohmann::json doc = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  // Token servers answer `token`, OAuth2 ones `access_token`; either will do.
  for (const char* key : {"token", "access_token"}) {
    if (doc.is_object() && doc.contains(key) && doc[key].is_string() &&
        !doc[key].get<std::string>().empty()) {
      return doc[key].get<std::string>();
    }
  }
  return absl::UnauthenticatedError(absl::StrCat(
      "fetch token: ", request.method, " ", RedactUrl(request.url), ": response has no token"));
}

}  // namespace

std::string FormEncode(absl::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%",
                      absl::AsciiStrToUpper(absl::BytesToHexString(
                          absl::string_view(reinterpret_cast<char*>(&c), 1))));
    }
  }
  return out;
}

absl::StatusOr<std::string> BasicAuthorization(const Credentials& credentials) {
  std::string user_password;
  if (!credentials.username.empty() || !credentials.password.empty()) {
    user_password = absl::StrCat(credentials.username, ":", credentials.password);
  } else if (!credentials.auth.empty()) {
    if (!absl::Base64Unescape(credentials.auth, &user_password) ||
        user_password.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          "credentials: auth is not the base64 encoding of username:password");
    }
  } else {
    return std::string();
  }
  return absl::StrCat("Basic ", absl::Base64Escape(user_password));
}

absl::StatusOr<std::string> Authorize(Transport& transport,
                                      const std::vector<Challenge>& challenges,
                                      const Credentials& credentials, absl::string_view scope,
                                      bool allow_http_realm) {
  if (const Challenge* bearer = Find(challenges, "bearer")) {
    CONVERGE_ASSIGN_OR_RETURN(std::string token,
                              FetchToken(transport, *bearer, credentials, scope, allow_http_realm));
    return absl::StrCat("Bearer ", token);
  }
  if (Find(challenges, "basic") != nullptr) {
    CONVERGE_ASSIGN_OR_RETURN(std::string basic, BasicAuthorization(credentials));
    if (basic.empty()) {
      return absl::UnauthenticatedError(
          "registry requires a username and password; no credentials were given");
    }
    return basic;
  }
  std::vector<std::string> schemes;
  for (const Challenge& challenge : challenges) schemes.push_back(challenge.scheme);
  return absl::UnauthenticatedError(absl::StrCat("no supported WWW-Authenticate challenge (got [",
                                                 absl::StrJoin(schemes, ", "), "])"));
}

}  // namespace converge::registry

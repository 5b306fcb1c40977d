#include "executors/image/registry/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "executors/image/registry/auth.h"
#include "executors/image/registry/challenge.h"

namespace converge::registry {
namespace {

// How often a retry wait looks at the cancellation hook.
constexpr absl::Duration kCancelPollInterval = absl::Milliseconds(100);

bool IsRetryableStatus(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

absl::Status WithContext(absl::string_view what, const absl::Status& status) {
  return what.empty() ? status : Annotate(status, what);
}

// The first byte offset of a 206 response: "bytes <start>-<end>/<size>".
bool RangeStart(absl::string_view content_range, int64_t* start) {
  if (!absl::ConsumePrefix(&content_range, "bytes ")) return false;
  return absl::SimpleAtoi(content_range.substr(0, content_range.find('-')), start);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpSession>> HttpSession::Create(std::string endpoint,
                                                                 std::string repository,
                                                                 std::string path,
                                                                 Credentials credentials,
                                                                 const ClientOptions& options,
                                                                 const std::string& extra_ca_pem) {
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport,
                            Transport::Create(options, extra_ca_pem));
  return std::unique_ptr<HttpSession>(new HttpSession(std::move(endpoint), std::move(repository),
                                                      std::move(path), std::move(credentials),
                                                      options, std::move(transport)));
}

HttpSession::HttpSession(std::string endpoint, std::string repository, std::string path,
                         Credentials credentials, const ClientOptions& options,
                         std::unique_ptr<Transport> transport)
    : endpoint_(std::move(endpoint)),
      repository_(std::move(repository)),
      path_(std::move(path)),
      credentials_(std::move(credentials)),
      options_(options),
      transport_(std::move(transport)),
      // A registry token needs no challenge: it is the Authorization.
      authorization_(credentials_.registry_token.empty()
                         ? ""
                         : absl::StrCat("Bearer ", credentials_.registry_token)) {}

std::string HttpSession::Url(absl::string_view kind, absl::string_view reference) const {
  return absl::StrCat(endpoint_, "/v2/", path_, "/", kind, "/", reference);
}

absl::StatusOr<HttpResponse> HttpSession::Send(absl::string_view what,
                                               const std::function<HttpRequest()>& make_request,
                                               const BodySink& sink) {
  bool authenticated = false;
  int retries = 0;
  while (true) {
    HttpRequest request = make_request();
    if (!authorization_.empty()) request.headers.push_back("Authorization: " + authorization_);
    HttpResult result = transport_->Perform(request, sink);
    absl::Status error;
    absl::Duration delay = options_.initial_backoff * (1 << std::min(retries, 16));
    if (!result.response.ok()) {
      error = WithContext(what, result.response.status());
      if (!result.transient || retries >= options_.max_retries) return error;
    } else {
      const HttpResponse& response = *result.response;
      if (response.status >= 200 && response.status < 300) return *std::move(result.response);
      // A 401 means no or an expired Authorization: earn one, once per call.
      // A registry token is all we have, so its refusal is final.
      if (response.status == 401 && !authenticated && credentials_.registry_token.empty()) {
        authenticated = true;
        CONVERGE_RETURN_IF_ERROR(WithContext(what, Authenticate(response)));
        continue;
      }
      error = ResponseError(what, request, response);
      if (response.status == 401 && credentials_.empty()) {
        error = absl::Status(error.code(),
                             absl::StrCat(error.message(), "; no credentials were given"));
      }
      if (!IsRetryableStatus(response.status) || retries >= options_.max_retries) return error;
      if (int64_t seconds = 0;
          absl::SimpleAtoi(response.Header("retry-after"), &seconds) && seconds >= 0) {
        delay = absl::Seconds(seconds);
      }
    }
    delay = std::min(delay, options_.max_retry_delay);
    ++retries;
    NamedLogger("registry")
        ->warn("retry attempt={}/{} delay={} error={}", retries, options_.max_retries,
               absl::FormatDuration(delay), error.ToString());
    if (!Wait(delay)) return absl::CancelledError(absl::StrCat(error.message(), "; cancelled"));
  }
}

absl::Status HttpSession::Authenticate(const HttpResponse& unauthorized) {
  const std::string scope = absl::StrCat("repository:", path_, ":pull");
  absl::StatusOr<std::string> authorization =
      Authorize(*transport_, ParseChallenges(unauthorized.Header("www-authenticate")), credentials_,
                scope, absl::StartsWith(endpoint_, "http://"));
  if (!authorization.ok()) return Annotate(authorization.status(), "authenticate to ", endpoint_);
  authorization_ = *std::move(authorization);
  return absl::OkStatus();
}

bool HttpSession::Wait(absl::Duration delay) const {
  const absl::Time deadline = absl::Now() + delay;
  while (true) {
    if (options_.cancelled && options_.cancelled()) return false;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, kCancelPollInterval));
  }
}

absl::StatusOr<HttpResponse> HttpSession::GetManifest(absl::string_view what,
                                                      absl::string_view tag_or_digest,
                                                      const Digest& want) {
  const std::string url = Url("manifests", tag_or_digest);
  CONVERGE_ASSIGN_OR_RETURN(
      HttpResponse response, Send(what, [&] {
        HttpRequest request;
        request.url = url;
        request.headers.push_back(absl::StrCat("Accept: ", oci::kAcceptManifests));
        request.max_body = kMaxManifestBytes;
        return request;
      }));
  // Without a digest to check against, the registry's own claim is checked:
  // a corrupted body should not become an image.
  Digest expected = want;
  if (auto claimed = Digest::Parse(response.Header("docker-content-digest"));
      expected.empty() && claimed.ok()) {
    expected = *claimed;
  }
  if (Digest got = Digest::Of(response.body); !expected.empty() && got != expected) {
    return WithContext(
        what, absl::DataLossError(absl::StrCat("manifest from ", RedactUrl(url), " hashes to ",
                                               got.str(), ", not ", expected.str())));
  }
  return response;
}

absl::StatusOr<std::string> HttpSession::FetchManifest(const oci::Descriptor& descriptor) {
  const std::string what = absl::StrCat(repository_, "@", descriptor.digest.str());
  if (descriptor.size > kMaxManifestBytes) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": manifest of ", descriptor.size,
                                                      " bytes exceeds the limit of ",
                                                      kMaxManifestBytes));
  }
  CONVERGE_ASSIGN_OR_RETURN(HttpResponse response,
                            GetManifest(what, descriptor.digest.str(), descriptor.digest));
  if (static_cast<int64_t>(response.body.size()) != descriptor.size) {
    return absl::DataLossError(absl::StrCat(what, ": manifest has ", response.body.size(),
                                            " bytes, want ", descriptor.size));
  }
  return std::move(response.body);
}

absl::Status HttpSession::FetchBlob(const oci::Descriptor& descriptor,
                                    ContentStore::Writer& writer) {
  const std::string what = absl::StrCat(repository_, "@", descriptor.digest.str());
  const std::string url = Url("blobs", descriptor.digest.str());
  // Bytes of the current response to drop before writing: what a server that
  // ignores Range sends again. -1 until the response's first chunk.
  int64_t skip = -1;
  auto make_request = [&] {
    skip = -1;
    HttpRequest request;
    request.url = url;
    // The writer is append-only: after a broken transfer, ask for the rest.
    if (writer.written() > 0) {
      request.headers.push_back(absl::StrCat("Range: bytes=", writer.written(), "-"));
    }
    return request;
  };
  auto sink = [&](const HttpResponse& head, absl::string_view chunk) -> absl::Status {
    if (skip < 0) {
      skip = writer.written();
      if (head.status == 206) {
        int64_t start = -1;
        if (!RangeStart(head.Header("content-range"), &start) || start != writer.written()) {
          return absl::DataLossError(absl::StrCat("asked for bytes from ", writer.written(),
                                                  ", got Content-Range \"",
                                                  head.Header("content-range"), "\""));
        }
        skip = 0;
      }
    }
    const int64_t dropped = std::min<int64_t>(skip, chunk.size());
    chunk.remove_prefix(dropped);
    skip -= dropped;
    if (writer.written() + static_cast<int64_t>(chunk.size()) > descriptor.size) {
      return absl::DataLossError(
          absl::StrCat("blob is larger than its descriptor's ", descriptor.size, " bytes"));
    }
    return writer.Write(chunk);
  };
  CONVERGE_RETURN_IF_ERROR(Send(what, make_request, sink).status());
  if (writer.written() != descriptor.size) {
    return absl::DataLossError(absl::StrCat(what, ": GET ", RedactUrl(url), ": blob ended after ",
                                            writer.written(), " of ", descriptor.size, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace converge::registry

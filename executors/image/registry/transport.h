// One libcurl easy handle making HTTP requests for a registry session, and
// the mapping of failed HTTP exchanges to statuses. Private to the registry
// package.
//
//   CONVERGE_ASSIGN_OR_RETURN(auto transport, Transport::Create(options));
//   HttpResult result = transport->Perform(request);
//   if (result.response.ok() && result.response->status != 200)
//     return ResponseError("busybox", request, *result.response);
//
// Redirects are followed (registries send blob GETs to storage); curl drops
// the request's Authorization header when a redirect changes host, port or
// scheme, and an https request may only be redirected to https.
//
// Thread safety: a Transport is used by one thread at a time.
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_TRANSPORT_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/image/registry/options.h"

namespace converge::registry {

struct HttpRequest {
  std::string method = "GET";  // GET, or POST with `body`
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // form-encoded POST body
  // Without a sink, a 2xx body larger than this fails FAILED_PRECONDITION.
  int64_t max_body = 1 << 20;
};

struct HttpResponse {
  int status = 0;
  // The final response's headers (after redirects): lower-case names, a
  // repeated header's values joined with ", ".
  std::map<std::string, std::string> headers;
  // A 2xx body when no sink took it; the first 64 KiB of any other body.
  std::string body;

  std::string Header(const std::string& lower_case_name) const;
};

// Takes a 2xx body as it arrives; `head` has the status and headers. An
// error aborts the transfer and becomes the result.
using BodySink = std::function<absl::Status(const HttpResponse& head, absl::string_view chunk)>;

struct HttpResult {
  // Any HTTP response, whatever its status; or the transport's failure naming
  // the method, URL and curl's error (UNAVAILABLE; DATA_LOSS for a body cut
  // short; CANCELLED), or the sink's error.
  absl::StatusOr<HttpResponse> response;
  // The failure may not recur: a reset, truncated or stalled transfer.
  bool transient = false;
};

class Transport {
 public:
  // `extra_ca_pem`: certificates trusted beside the system's CA bundle for
  // this endpoint (a private registry's CA); empty for none.
  static absl::StatusOr<std::unique_ptr<Transport>> Create(const ClientOptions& options,
                                                           const std::string& extra_ca_pem = "");
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  HttpResult Perform(const HttpRequest& request, const BodySink& sink = nullptr);

 private:
  Transport(void* curl, ClientOptions options, std::string ca_bundle);

  void* curl_;  // CURL*, kept out of this header
  const ClientOptions options_;
  // The system bundle plus the extra CA, when there is one.
  std::string ca_bundle_;
};

// `url` without its query string, which may carry signatures (pre-signed
// storage URLs): what error messages and logs may show.
std::string RedactUrl(absl::string_view url);

// The status for a non-2xx response: 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED (with any
// Retry-After), 5xx UNAVAILABLE, others UNKNOWN. The message is
// "[<what>: ]<phrase>: <METHOD> <redacted URL>: HTTP <status> (<message>)",
// the message taken from the registry's error JSON ({"errors":[{"code",
// "message"}]}), an OAuth2 error, or the start of the body.
absl::Status ResponseError(absl::string_view what, const HttpRequest& request,
                           const HttpResponse& response);

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_TRANSPORT_H_

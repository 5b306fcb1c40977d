// A RegistrySession over HTTP: one repository on one endpoint, one curl
// handle, the Authorization it earned from the registry's challenge, and the
// retry policy every request goes through. Private to the registry package;
// HttpRegistry creates these.
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_SESSION_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_SESSION_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/image/registry/options.h"
#include "executors/image/registry/registry.h"
#include "executors/image/registry/transport.h"

namespace converge::registry {

class HttpSession final : public RegistrySession {
 public:
  // `endpoint` is "scheme://authority[/prefix]"; `repository` the reference's
  // domain/path, for messages; `path` the repository path on the endpoint.
  static absl::StatusOr<std::unique_ptr<HttpSession>> Create(std::string endpoint,
                                                             std::string repository,
                                                             std::string path,
                                                             Credentials credentials,
                                                             const ClientOptions& options,
                                                             const std::string& extra_ca_pem);

  const std::string& endpoint() const override { return endpoint_; }
  absl::StatusOr<std::string> FetchManifest(const oci::Descriptor& descriptor) override;
  absl::Status FetchBlob(const oci::Descriptor& descriptor, ContentStore::Writer& writer) override;

  // GET /v2/<path>/manifests/<tag or digest>: the 2xx response, its body at
  // most kMaxManifestBytes and hashing to `want` (when not empty, else to the
  // Docker-Content-Digest header when there is one), or DATA_LOSS. Errors are
  // prefixed with `what` when it is not empty.
  absl::StatusOr<HttpResponse> GetManifest(absl::string_view what, absl::string_view tag_or_digest,
                                           const Digest& want);

 private:
  HttpSession(std::string endpoint, std::string repository, std::string path,
              Credentials credentials, const ClientOptions& options,
              std::unique_ptr<Transport> transport);

  // Sends the request `make_request` builds (called again for every attempt)
  // with this session's Authorization. A 401 is answered once per call by
  // authenticating against its challenge; transient failures are retried
  // after a backoff. Returns the 2xx response.
  absl::StatusOr<HttpResponse> Send(absl::string_view what,
                                    const std::function<HttpRequest()>& make_request,
                                    const BodySink& sink = nullptr);
  absl::Status Authenticate(const HttpResponse& unauthorized);
  // Sleeps `delay`, waking early (false) if the caller cancels.
  bool Wait(absl::Duration delay) const;
  std::string Url(absl::string_view kind, absl::string_view reference) const;

  const std::string endpoint_;
  const std::string repository_;
  const std::string path_;
  const Credentials credentials_;
  const ClientOptions options_;
  const std::unique_ptr<Transport> transport_;
  std::string authorization_;  // sent with every request once known
};

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_SESSION_H_

#include "executors/image/registry/http_registry.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/image/registry/session.h"

namespace converge::registry {

HttpRegistry::HttpRegistry(RegistryHosts hosts, ClientOptions options)
    : hosts_(std::move(hosts)), options_(std::move(options)) {}

absl::StatusOr<Resolution> HttpRegistry::Resolve(const ImageReference& ref,
                                                 const Credentials& credentials) {
  const auto mirror = hosts_.mirrors.find(ref.domain);
  std::vector<std::string> errors;
  absl::StatusCode code = absl::StatusCode::kUnknown;
  for (const std::string& endpoint : EndpointsFor(hosts_, ref.domain)) {
    const bool is_mirror = mirror != hosts_.mirrors.end() && endpoint == mirror->second;
    absl::StatusOr<Resolution> resolved =
        ResolveAt(endpoint, ref, is_mirror ? Credentials() : credentials);
    if (resolved.ok() || absl::IsCancelled(resolved.status())) return resolved;
    errors.push_back(std::string(resolved.status().message()));
    // The last endpoint is the origin, whose answer (say NOT_FOUND rather
    // than a mirror's UNAVAILABLE) is the one to act on.
    code = resolved.status().code();
  }
  return absl::Status(code, absl::StrCat(ref.String(), ": ", absl::StrJoin(errors, "; ")));
}

absl::StatusOr<Resolution> HttpRegistry::ResolveAt(const std::string& endpoint,
                                                   const ImageReference& ref,
                                                   const Credentials& credentials) const {
  CONVERGE_ASSIGN_OR_RETURN(std::string extra_ca, ExtraCaFor(hosts_, endpoint));
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<HttpSession> session,
                            HttpSession::Create(endpoint, ref.Repository(), ref.path, credentials,
                                                options_, extra_ca));
  // The digest governs when there is one, even if a tag is given too.
  const std::string tag_or_digest = ref.digest.empty() ? ref.tag : ref.digest.str();
  CONVERGE_ASSIGN_OR_RETURN(HttpResponse response,
                            session->GetManifest("", tag_or_digest, ref.digest));
  Resolution resolution;
  auto media_type = oci::DocumentMediaType(response.Header("content-type"), response.body);
  if (!media_type.ok()) return Annotate(media_type.status(), "manifest from ", endpoint);
  resolution.top.media_type = *std::move(media_type);
  resolution.top.digest = Digest::Of(response.body);
  resolution.top.size = static_cast<int64_t>(response.body.size());
  resolution.body = std::move(response.body);
  resolution.session = std::move(session);
  return resolution;
}

}  // namespace converge::registry

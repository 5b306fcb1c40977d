// The image puller's view of an OCI distribution registry: resolve a reference
// to its top manifest or index, then fetch the documents and blobs it names
// from the same endpoint with the same authorization.
//
//   CONVERGE_ASSIGN_OR_RETURN(Resolution resolved, registry.Resolve(ref, credentials));
//   // resolved.top.media_type is an index or a manifest; resolved.body its bytes.
//   CONVERGE_ASSIGN_OR_RETURN(std::string manifest,
//                             resolved.session->FetchManifest(chosen));
//   CONVERGE_ASSIGN_OR_RETURN(auto writer, store.NewWriter(layer.digest, layer.size));
//   CONVERGE_RETURN_IF_ERROR(resolved.session->FetchBlob(layer, *writer));
//   CONVERGE_RETURN_IF_ERROR(writer->Commit());
//
// Error codes: NOT_FOUND (no such tag, manifest or blob), UNAUTHENTICATED
// (credentials missing or refused), PERMISSION_DENIED (HTTP 403),
// RESOURCE_EXHAUSTED (rate limited, HTTP 429), UNAVAILABLE (connection
// failures, HTTP 5xx), DATA_LOSS (content that does not match its digest or
// size, a truncated transfer), FAILED_PRECONDITION (a manifest over 4 MiB),
// INVALID_ARGUMENT (bad credentials encoding, unreadable documents), CANCELLED
// (the caller's cancellation hook fired). Messages name the URL, the HTTP
// status and the registry's own error message; never credentials.
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_REGISTRY_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_REGISTRY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executors/image/content_store.h"
#include "executors/image/oci.h"
#include "executors/image/reference.h"

namespace converge::registry {

// CRI's AuthConfig. Any one of them may be set; all empty means anonymous.
struct Credentials {
  std::string username;
  std::string password;
  std::string auth;            // base64("username:password"), as in docker's config.json
  std::string identity_token;  // an OAuth2 refresh token for the registry's token server
  std::string registry_token;  // a bearer token sent to the registry as is

  bool empty() const {
    return username.empty() && password.empty() && auth.empty() && identity_token.empty() &&
           registry_token.empty();
  }
};

// Manifests and indexes larger than this are refused (containerd's limit).
inline constexpr int64_t kMaxManifestBytes = 4 << 20;

// One repository on the endpoint that resolved it, with that endpoint's
// authorization (a bearer token is fetched once and reused).
//
// Thread safety: a session is used by one thread at a time; different
// sessions may be used concurrently.
class RegistrySession {
 public:
  virtual ~RegistrySession() = default;

  // The endpoint URL requests go to ("https://registry-1.docker.io").
  virtual const std::string& endpoint() const = 0;

  // A manifest or index by digest. DATA_LOSS unless the body hashes to the
  // descriptor's digest and has its size; FAILED_PRECONDITION above
  // kMaxManifestBytes.
  virtual absl::StatusOr<std::string> FetchManifest(const oci::Descriptor& descriptor) = 0;

  // Streams a blob into `writer`, from writer.written() on: after a broken
  // transfer it asks for the rest with a Range request (and, from a server
  // that ignores Range, drops what `writer` already has). DATA_LOSS as soon as more than descriptor.size bytes
  // arrive, or when fewer do; `writer` verifies the digest on Commit(), which
  // is the caller's to call.
  virtual absl::Status FetchBlob(const oci::Descriptor& descriptor,
                                 ContentStore::Writer& writer) = 0;
};

struct Resolution {
  std::unique_ptr<RegistrySession> session;
  // Media type (from Content-Type or the document), the digest of the body
  // exactly as served, and its size.
  oci::Descriptor top;
  std::string body;
};

// Thread safety: Resolve may be called concurrently.
class Registry {
 public:
  virtual ~Registry() = default;

  // Fetches the manifest or index `ref` names (by digest when it has one, else
  // by tag). When `ref` has a digest the body must hash to it (DATA_LOSS).
  virtual absl::StatusOr<Resolution> Resolve(const ImageReference& ref,
                                             const Credentials& credentials) = 0;
};

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_REGISTRY_H_

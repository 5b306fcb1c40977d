// The Registry the daemon uses: OCI distribution over HTTP(S) with libcurl.
//
//   ClientOptions options;
//   options.user_agent = "converge/1.2";
//   HttpRegistry registry(hosts, options);
//   CONVERGE_ASSIGN_OR_RETURN(Resolution resolved, registry.Resolve(ref, credentials));
//
// Resolve tries each endpoint EndpointsFor() gives (a mirror, then the
// origin) in order and keeps the first that serves the manifest, as
// containerd does: any failure on one endpoint falls through to the next, and
// when all fail the error lists each one's. Credentials go to the origin
// only; a mirror is asked anonymously, so a private image is fetched from the
// origin. Certificates are verified against the system CA store; HTTP_PROXY
// and friends are honoured (curl's environment handling).
//
// Thread safety: Resolve may be called from any number of threads at once;
// each Resolution's session belongs to the thread that uses it.
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_HTTP_REGISTRY_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_HTTP_REGISTRY_H_

#include "executors/image/registry/hosts.h"
#include "executors/image/registry/options.h"
#include "executors/image/registry/registry.h"

namespace converge::registry {

class HttpRegistry final : public Registry {
 public:
  HttpRegistry(RegistryHosts hosts, ClientOptions options);

  absl::StatusOr<Resolution> Resolve(const ImageReference& ref,
                                     const Credentials& credentials) override;

 private:
  absl::StatusOr<Resolution> ResolveAt(const std::string& endpoint, const ImageReference& ref,
                                       const Credentials& credentials) const;

  const RegistryHosts hosts_;
  const ClientOptions options_;
};

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_HTTP_REGISTRY_H_

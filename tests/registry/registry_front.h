// An HTTP server in the test process, on 127.0.0.1:<free port>, in front of a
// LocalRegistry: it forwards GET and HEAD requests under /v2/ and adds what a
// plain docker-registry cannot do on demand: bearer-token auth, injected
// faults and per-path request counts.
//
//   auto front = RegistryFront::Start(**registry);
//   ASSERT_TRUE(front.ok()) << front.status();
//   (*front)->RequireBearerAuth("puller", "secret");
//   (*front)->FailNext("/blobs/", 1, 429, /*retry_after_seconds=*/1);
//   ... pull (*front)->host_port() + "/library/busybox:latest" ...
//   EXPECT_EQ((*front)->RequestCount(layer_digest, "GET", 200), 1);
//
// Forwarding: the client's Accept headers go upstream (with the registry's
// own basic credentials when it has some, never the client's Authorization);
// the status and Content-Type, Content-Length, Docker-Content-Digest,
// Docker-Distribution-Api-Version and Location come back. 200 bodies with a
// length are streamed (a multi-GiB blob is never held in memory), and Range
// requests are answered by the front itself from the full upstream body.
//
// Thread-safe: the settings below may change while requests are in flight;
// a request uses the settings of the moment it arrives.
#ifndef CONVERGE_TESTS_REGISTRY_REGISTRY_FRONT_H_
#define CONVERGE_TESTS_REGISTRY_REGISTRY_FRONT_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "httplib.h"
#include "tests/registry/local_registry.h"

namespace converge::testing {

class RegistryFront {
 public:
  // The `service` of the bearer challenge and the token endpoint.
  static constexpr char kService[] = "converge-test";

  // Serves until destroyed. `upstream` must stay running while requests come.
  static absl::StatusOr<std::unique_ptr<RegistryFront>> Start(const LocalRegistry& upstream);
  // Stops listening and waits for requests in flight.
  ~RegistryFront();
  RegistryFront(const RegistryFront&) = delete;
  RegistryFront& operator=(const RegistryFront&) = delete;

  // "127.0.0.1:PORT".
  const std::string& host_port() const { return host_port_; }

  // Bearer auth, as Docker Hub does it: a /v2/ request without a valid token
  // gets 401 with `WWW-Authenticate: Bearer realm="http://<host_port>/token",
  // service="converge-test",scope="repository:<name>:pull"` (no scope for
  // /v2/ itself). `GET /token?service=converge-test&scope=...` with basic
  // credentials `user`:`password` answers {"token": T, "access_token": T,
  // "expires_in": 300}; wrong or missing credentials get 401, another service
  // 400. Any token issued so far is then accepted for every repository.
  void RequireBearerAuth(std::string user, std::string password);
  // Back to forwarding without auth (the default; /token then answers 404).
  // Issued tokens are kept.
  void DisableAuth();
  int tokens_issued() const;

  // Faults, each for the next `count` requests whose path contains
  // `path_substring` (checked after auth: a 401 challenge consumes none).
  // When several match, the one added first is used.
  //
  // Answers `status` (e.g. 429, 500, 404) with a registry-style JSON error,
  // and `Retry-After: <retry_after_seconds>` when that is positive. Applies
  // to /token too (before its credentials are checked).
  void FailNext(std::string path_substring, int count, int status, int retry_after_seconds = 0);
  // GET of a 200 body: sends the headers (with the full Content-Length) and
  // the first `after_bytes` bytes, then closes the connection.
  void TruncateNext(std::string path_substring, int count, size_t after_bytes);
  // GET of a 200 body: inverts the byte in the middle of the body, keeping
  // its length, so only a digest check notices.
  void CorruptNext(std::string path_substring, int count);
  void ClearFaults();

  // Every request so far (including /token and rejected ones), in order of
  // completion of its handler, i.e. before its body is streamed.
  struct RequestRecord {
    std::string method;
    std::string path;  // without the query
    int status;
  };
  std::vector<RequestRecord> requests() const;
  // How many requests have a path containing `path_substring`, with method
  // `method` and status `status` if given ("" and 0 match any).
  int RequestCount(absl::string_view path_substring, absl::string_view method = "",
                   int status = 0) const;
  void ResetCounts();

 private:
  enum class FaultKind { kStatus, kTruncate, kCorrupt };
  struct Fault {
    FaultKind kind;
    std::string path_substring;
    int remaining;
    int status = 0;
    int retry_after_seconds = 0;
    size_t after_bytes = 0;
  };

  RegistryFront(std::string upstream_host, int upstream_port, std::string upstream_authorization)
      : upstream_host_(std::move(upstream_host)),
        upstream_port_(upstream_port),
        upstream_authorization_(std::move(upstream_authorization)) {}

  void Handle(const httplib::Request& req, httplib::Response& res);
  // True if `req` may pass; otherwise fills in the 401 challenge.
  bool Authorized(const httplib::Request& req, httplib::Response& res);
  void IssueToken(const httplib::Request& req, httplib::Response& res);
  void Forward(const httplib::Request& req, httplib::Response& res,
               const std::optional<Fault>& body_fault);
  // Takes one use of the first fault matching `req`, if any.
  std::optional<Fault> TakeFault(const httplib::Request& req);
  void AddFault(Fault fault);

  const std::string upstream_host_;
  const int upstream_port_;
  const std::string upstream_authorization_;  // "Basic ..." or empty
  std::string host_port_;
  httplib::Server server_;
  std::thread listener_;

  mutable absl::Mutex mu_;
  std::optional<std::string> basic_credentials_ ABSL_GUARDED_BY(mu_);  // "Basic ..." when on
  std::set<std::string> tokens_ ABSL_GUARDED_BY(mu_);
  std::deque<Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::vector<RequestRecord> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge::testing

#endif  // CONVERGE_TESTS_REGISTRY_REGISTRY_FRONT_H_

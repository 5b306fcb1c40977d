// An OCI distribution registry in the test process (cpp-httplib on
// 127.0.0.1, a free port), with the behaviours a client must cope with:
// Basic or Bearer authentication (its own token endpoint, with the OAuth2
// refresh-token POST), injected error replies, blobs cut short, blobs
// redirected to storage, Range support that can be switched off. Every
// request is logged for assertions.
//
//   FakeRegistryServer server;
//   Digest layer = server.AddBlob("library/app", "layer bytes");
//   Digest top = server.AddManifest("library/app", "latest", oci::kOciManifest, json);
//   server.RequireBearer("user", "secret");
//   server.InjectReplies("/manifests/", {{503}});
//   ... HttpRegistry({.mirrors = {{"docker.io", server.url()}}}, options) ...
//   EXPECT_EQ(server.Count("/token"), 1);
//
// Thread safety: all methods may be called while requests are served.
#ifndef CONVERGE_EXECUTORS_IMAGE_REGISTRY_TESTING_FAKE_REGISTRY_SERVER_H_
#define CONVERGE_EXECUTORS_IMAGE_REGISTRY_TESTING_FAKE_REGISTRY_SERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "executors/image/digest.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace converge::registry {

class FakeRegistryServer {
 public:
  struct Reply {
    int status = 500;
    std::map<std::string, std::string> headers;
    std::string body;
  };
  struct LoggedRequest {
    std::string method;
    std::string path;                           // without the query
    std::map<std::string, std::string> params;  // query or form parameters
    std::string authorization;
    std::string range;
    std::string accept;
  };

  FakeRegistryServer();
  ~FakeRegistryServer();
  FakeRegistryServer(const FakeRegistryServer&) = delete;
  FakeRegistryServer& operator=(const FakeRegistryServer&) = delete;

  std::string host() const;  // "127.0.0.1:<port>"
  std::string url() const;   // "http://127.0.0.1:<port>"

  // Stores a manifest under its digest and, when `tag` is not empty, the tag.
  Digest AddManifest(const std::string& path, const std::string& tag,
                     const std::string& content_type, const std::string& body);
  // Serves `body` for `reference` (a tag or digest) whatever it hashes to.
  void AddRawManifest(const std::string& path, const std::string& reference,
                      const std::string& content_type, const std::string& body);
  Digest AddBlob(const std::string& path, const std::string& data);

  // /v2/ requests need `Authorization: Basic` with these credentials.
  void RequireBasic(const std::string& username, const std::string& password);
  // /v2/ requests need a token from <url>/token, which requires these Basic
  // credentials (an anonymous request gets a token the registry refuses) or,
  // by POST, `refresh_token` as the OAuth2 refresh token.
  void RequireBearer(const std::string& username, const std::string& password,
                     const std::string& refresh_token = "");
  // Also accepted as a bearer token without asking the token endpoint.
  void AcceptRegistryToken(const std::string& token);

  // The next requests whose path contains `path_part` get these replies, in
  // order, instead of being served.
  void InjectReplies(const std::string& path_part, std::vector<Reply> replies);
  // The next `times` GETs of the blob announce its full length but close the
  // connection after `sent` bytes.
  void TruncateBlob(const Digest& digest, int64_t sent, int times);
  // Blob GETs answer 307 to <base_url>/storage/<hex>, which serves the blob
  // without authentication.
  void RedirectBlobs(const std::string& base_url);
  // Serve whole blobs (200) even when asked for a Range.
  void IgnoreRange();

  std::vector<LoggedRequest> requests() const;
  // Requests whose path contains `path_part`.
  int Count(const std::string& path_part) const;

 private:
  struct Manifest {
    std::string content_type;
    std::string body;
  };
  using Key = std::pair<std::string, std::string>;  // repository path, reference

  void Handle(const httplib::Request& request, httplib::Response& response);
  bool Authorized(const httplib::Request& request, const std::string& path,
                  httplib::Response& response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ServeToken(const httplib::Request& request, httplib::Response& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ServeBlob(const httplib::Request& request, const std::string& data, const Digest& digest,
                 httplib::Response& response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable absl::Mutex mu_;
  std::map<Key, Manifest> manifests_ ABSL_GUARDED_BY(mu_);
  std::map<Key, std::string> blobs_ ABSL_GUARDED_BY(mu_);  // keyed by digest string
  std::string basic_ ABSL_GUARDED_BY(mu_);                 // "Basic ..." required, when set
  std::string bearer_basic_ ABSL_GUARDED_BY(mu_);          // the token endpoint's Basic credentials
  std::string refresh_token_ ABSL_GUARDED_BY(mu_);
  bool bearer_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> tokens_ ABSL_GUARDED_BY(mu_);  // accepted bearer tokens
  std::vector<std::pair<std::string, Reply>> injected_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::pair<int64_t, int>> truncated_ ABSL_GUARDED_BY(mu_);
  std::string redirect_base_ ABSL_GUARDED_BY(mu_);
  bool ignore_range_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<LoggedRequest> log_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge::registry

#endif  // CONVERGE_EXECUTORS_IMAGE_REGISTRY_TESTING_FAKE_REGISTRY_SERVER_H_

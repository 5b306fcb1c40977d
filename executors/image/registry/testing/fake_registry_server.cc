#include "executors/image/registry/testing/fake_registry_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "httplib.h"

namespace converge::registry {
namespace {

constexpr char kService[] = "fake-registry";

std::string ErrorJson(absl::string_view code, absl::string_view message) {
  return absl::StrCat(R"({"errors":[{"code":")", code, R"(","message":")", message, R"("}]})");
}

void SetError(httplib::Response& response, int status, absl::string_view code,
              absl::string_view message) {
  response.status = status;
  response.set_content(ErrorJson(code, message), "application/json");
}

}  // namespace

FakeRegistryServer::FakeRegistryServer() : server_(std::make_unique<httplib::Server>()) {
  auto handler = [this](const httplib::Request& request, httplib::Response& response) {
    Handle(request, response);
  };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  port_ = server_->bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) absl::SleepFor(absl::Milliseconds(1));
}

FakeRegistryServer::~FakeRegistryServer() {
  server_->stop();
  thread_.join();
}

std::string FakeRegistryServer::host() const { return absl::StrCat("127.0.0.1:", port_); }
std::string FakeRegistryServer::url() const { return absl::StrCat("http://", host()); }

Digest FakeRegistryServer::AddManifest(const std::string& path, const std::string& tag,
                                       const std::string& content_type, const std::string& body) {
  Digest digest = Digest::Of(body);
  AddRawManifest(path, digest.str(), content_type, body);
  if (!tag.empty()) AddRawManifest(path, tag, content_type, body);
  return digest;
}

void FakeRegistryServer::AddRawManifest(const std::string& path, const std::string& reference,
                                        const std::string& content_type, const std::string& body) {
  absl::MutexLock lock(&mu_);
  manifests_[{path, reference}] = Manifest{content_type, body};
}

Digest FakeRegistryServer::AddBlob(const std::string& path, const std::string& data) {
  Digest digest = Digest::Of(data);
  absl::MutexLock lock(&mu_);
  blobs_[{path, digest.str()}] = data;
  return digest;
}

void FakeRegistryServer::RequireBasic(const std::string& username, const std::string& password) {
  absl::MutexLock lock(&mu_);
  basic_ = absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(username, ":", password)));
}

void FakeRegistryServer::RequireBearer(const std::string& username, const std::string& password,
                                       const std::string& refresh_token) {
  absl::MutexLock lock(&mu_);
  bearer_ = true;
  bearer_basic_ = absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(username, ":", password)));
  refresh_token_ = refresh_token;
}

void FakeRegistryServer::AcceptRegistryToken(const std::string& token) {
  absl::MutexLock lock(&mu_);
  bearer_ = true;
  tokens_.push_back(token);
}

void FakeRegistryServer::InjectReplies(const std::string& path_part, std::vector<Reply> replies) {
  absl::MutexLock lock(&mu_);
  for (Reply& reply : replies) injected_.emplace_back(path_part, std::move(reply));
}

void FakeRegistryServer::TruncateBlob(const Digest& digest, int64_t sent, int times) {
  absl::MutexLock lock(&mu_);
  truncated_[digest.str()] = {sent, times};
}

void FakeRegistryServer::RedirectBlobs(const std::string& base_url) {
  absl::MutexLock lock(&mu_);
  redirect_base_ = base_url;
}

void FakeRegistryServer::IgnoreRange() {
  absl::MutexLock lock(&mu_);
  ignore_range_ = true;
}

std::vector<FakeRegistryServer::LoggedRequest> FakeRegistryServer::requests() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

int FakeRegistryServer::Count(const std::string& path_part) const {
  absl::MutexLock lock(&mu_);
  return std::count_if(log_.begin(), log_.end(), [&](const LoggedRequest& logged) {
    return absl::StrContains(logged.path, path_part);
  });
}

void FakeRegistryServer::Handle(const httplib::Request& request, httplib::Response& response) {
  absl::MutexLock lock(&mu_);
  LoggedRequest logged{request.method,
                       request.path,
                       {},
                       request.get_header_value("Authorization"),
                       request.get_header_value("Range"),
                       request.get_header_value("Accept")};
  for (const auto& [name, value] : request.params) logged.params[name] = value;
  log_.push_back(std::move(logged));

  auto injected = std::find_if(injected_.begin(), injected_.end(), [&](const auto& entry) {
    return absl::StrContains(request.path, entry.first);
  });
  if (injected != injected_.end()) {
    const Reply& reply = injected->second;
    response.status = reply.status;
    for (const auto& [name, value] : reply.headers) response.set_header(name, value);
    response.set_content(reply.body, "application/json");
    injected_.erase(injected);
    return;
  }

  if (request.path == "/token") return ServeToken(request, response);
  absl::string_view path = request.path;
  if (absl::ConsumePrefix(&path, "/storage/")) {
    for (const auto& [key, data] : blobs_) {
      if (key.second == absl::StrCat("sha256:", path)) {
        return ServeBlob(request, data, Digest::Of(data), response);
      }
    }
    return SetError(response, 404, "BLOB_UNKNOWN", "not in storage");
  }
  if (!absl::ConsumePrefix(&path, "/v2/")) return SetError(response, 404, "NOT_FOUND", "no route");
  for (absl::string_view kind : {"/manifests/", "/blobs/"}) {
    size_t at = path.rfind(kind);
    if (at == absl::string_view::npos) continue;
    const std::string repository(path.substr(0, at));
    const std::string reference(path.substr(at + kind.size()));
    if (!Authorized(request, repository, response)) return;
    if (kind == "/manifests/") {
      auto manifest = manifests_.find({repository, reference});
      if (manifest == manifests_.end()) {
        return SetError(response, 404, "MANIFEST_UNKNOWN",
                        absl::StrCat("manifest unknown: ", reference));
      }
      response.status = 200;
      response.set_content(manifest->second.body, manifest->second.content_type);
      return;
    }
    auto blob = blobs_.find({repository, reference});
    if (blob == blobs_.end()) return SetError(response, 404, "BLOB_UNKNOWN", "blob unknown");
    if (!redirect_base_.empty()) {
      return response.set_redirect(
          absl::StrCat(redirect_base_, "/storage/", absl::StripPrefix(reference, "sha256:")), 307);
    }
    return ServeBlob(request, blob->second, Digest::Of(blob->second), response);
  }
  SetError(response, 404, "NOT_FOUND", "no route");
}

bool FakeRegistryServer::Authorized(const httplib::Request& request, const std::string& path,
                                    httplib::Response& response) {
  const std::string authorization = request.get_header_value("Authorization");
  if (!basic_.empty()) {
    if (authorization == basic_) return true;
    response.set_header("WWW-Authenticate", R"(Basic realm="fake registry")");
  } else if (bearer_) {
    absl::string_view token = authorization;
    if (absl::ConsumePrefix(&token, "Bearer ") &&
        std::find(tokens_.begin(), tokens_.end(), token) != tokens_.end()) {
      return true;
    }
    response.set_header("WWW-Authenticate",
                        absl::StrCat(R"(Bearer realm=")", url(), R"(/token",service=")", kService,
                                     R"(",scope="repository:)", path, R"(:pull")"));
  } else {
    return true;
  }
  SetError(response, 401, "UNAUTHORIZED", "authentication required");
  return false;
}

void FakeRegistryServer::ServeToken(const httplib::Request& request, httplib::Response& response) {
  const bool oauth = request.method == "POST";
  if (oauth) {
    if (refresh_token_.empty() || request.get_param_value("grant_type") != "refresh_token" ||
        request.get_param_value("refresh_token") != refresh_token_) {
      response.status = 401;
      response.set_content(R"({"error":"invalid_grant","error_description":"bad refresh token"})",
                           "application/json");
      return;
    }
  } else {
    const std::string authorization = request.get_header_value("Authorization");
    if (authorization.empty()) {
      // Like Docker Hub: anonymous callers get a token, which grants nothing here.
      response.set_content(R"({"token":"anonymous"})", "application/json");
      return;
    }
    if (authorization != bearer_basic_) {
      return SetError(response, 401, "UNAUTHORIZED", "incorrect username or password");
    }
  }
  std::string token = absl::StrCat("token-", tokens_.size());
  tokens_.push_back(token);
  response.set_content(absl::StrCat(R"({")", oauth ? "access_token" : "token", R"(":")", token,
                                    R"(","expires_in":300})"),
                       "application/json");
}

void FakeRegistryServer::ServeBlob(const httplib::Request& request, const std::string& data,
                                   const Digest& digest, httplib::Response& response) {
  // httplib would apply a Range itself; this fake decides how to answer one.
  const_cast<httplib::Request&>(request).ranges.clear();
  int64_t start = 0;
  absl::string_view range = request.get_header_value("Range");
  if (!ignore_range_ && absl::ConsumePrefix(&range, "bytes=") &&
      absl::SimpleAtoi(absl::StripSuffix(range, "-"), &start) && start <= data.size()) {
    response.status = 206;
    response.set_header("Content-Range",
                        absl::StrCat("bytes ", start, "-", data.size() - 1, "/", data.size()));
  } else {
    start = 0;
    response.status = 200;
  }
  std::string body = data.substr(start);
  auto truncated = truncated_.find(digest.str());
  if (truncated != truncated_.end() && truncated->second.second > 0) {
    --truncated->second.second;
    const size_t sent = std::min<size_t>(truncated->second.first, body.size());
    // Announces the whole length, sends `sent` bytes, then fails the stream
    // so httplib closes the connection.
    response.set_content_provider(body.size(), "application/octet-stream",
                                  [body, sent](size_t, size_t, httplib::DataSink& sink) {
                                    sink.write(body.data(), sent);
                                    return false;
                                  });
    return;
  }
  response.set_content(body, "application/octet-stream");
}

}  // namespace converge::registry

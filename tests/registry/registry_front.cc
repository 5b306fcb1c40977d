#include "tests/registry/registry_front.h"

#include <algorithm>
#include <cstdint>
#include <regex>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace converge::testing {
namespace {

// Upstream body bytes held for one response before the upstream read waits
// for the client to catch up.
constexpr size_t kMaxBuffered = 4 << 20;
constexpr int kServerThreads = 16;
// Short, so that destroying the front does not wait long for idle
// keep-alive connections.
constexpr int kKeepAliveSeconds = 2;

// One upstream request, run on its own thread so that the server thread can
// send the status and headers before the body arrives, then hand the body on
// in chunks as they come. Destroying it cancels the request.
class UpstreamTransfer {
 public:
  UpstreamTransfer(const std::string& host, int port, httplib::Request request)
      : thread_(&UpstreamTransfer::Run, this, host, port, std::move(request)) {}
  ~UpstreamTransfer() {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    thread_.join();
  }
  UpstreamTransfer(const UpstreamTransfer&) = delete;
  UpstreamTransfer& operator=(const UpstreamTransfer&) = delete;

  // Waits for the response's status and headers; false if the request
  // failed before them (see error()).
  bool WaitHeaders() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&headers_ready_));
    return status_ > 0;
  }
  int status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  httplib::Headers headers() {
    absl::MutexLock lock(&mu_);
    return headers_;
  }
  std::string error() {
    absl::MutexLock lock(&mu_);
    return httplib::to_string(error_);
  }

  // The next piece of the body; false once it ended (completely or not).
  bool Next(std::string* chunk) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &UpstreamTransfer::ChunkOrDone));
    if (chunks_.empty()) return false;
    *chunk = std::move(chunks_.front());
    chunks_.pop_front();
    buffered_ -= chunk->size();
    return true;
  }

 private:
  bool ChunkOrDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !chunks_.empty() || done_; }
  bool RoomOrCancelled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return buffered_ < kMaxBuffered || cancelled_;
  }

  void Run(const std::string& host, int port, httplib::Request request) {
    httplib::Client client(host, port);
    client.set_url_encode(false);  // the target is forwarded as received
    client.set_keep_alive(false);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(60, 0);
    request.response_handler = [this](const httplib::Response& response) {
      absl::MutexLock lock(&mu_);
      status_ = response.status;
      headers_ = response.headers;
      headers_ready_ = true;
      return !cancelled_;
    };
    request.content_receiver = [this](const char* data, size_t length, uint64_t, uint64_t) {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &UpstreamTransfer::RoomOrCancelled));
      if (cancelled_) return false;
      chunks_.emplace_back(data, length);
      buffered_ += length;
      return true;
    };
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    client.send(request, response, error);
    absl::MutexLock lock(&mu_);
    // HEAD and 204 responses skip the response handler.
    if (!headers_ready_ && error == httplib::Error::Success) {
      status_ = response.status;
      headers_ = response.headers;
    }
    headers_ready_ = true;
    error_ = error;
    done_ = true;
  }

  absl::Mutex mu_;
  bool headers_ready_ ABSL_GUARDED_BY(mu_) = false;
  int status_ ABSL_GUARDED_BY(mu_) = -1;
  httplib::Headers headers_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> chunks_ ABSL_GUARDED_BY(mu_);
  size_t buffered_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  httplib::Error error_ ABSL_GUARDED_BY(mu_) = httplib::Error::Success;
  std::thread thread_;  // last: starts once the rest is initialized
};

// The server side of a streamed 200 body: pulls upstream chunks as the
// server asks for [offset, offset + length) and applies a body fault.
struct BodyStream {
  std::shared_ptr<UpstreamTransfer> transfer;
  size_t total_length = 0;
  std::string chunk;
  size_t chunk_pos = 0;    // unread part of `chunk` starts here
  size_t body_offset = 0;  // body offset of chunk[chunk_pos]
  size_t sent = 0;
  bool corrupt = false;
  std::optional<size_t> truncate_after;

  bool Provide(size_t offset, size_t length, httplib::DataSink& sink) {
    for (;;) {
      if (chunk_pos == chunk.size()) {
        if (!transfer->Next(&chunk)) return false;  // upstream ended short
        chunk_pos = 0;
      }
      size_t available = chunk.size() - chunk_pos;
      if (body_offset < offset) {  // before a requested range
        size_t skip = std::min(available, offset - body_offset);
        chunk_pos += skip;
        body_offset += skip;
        continue;
      }
      size_t n = std::min(available, length);
      size_t middle = total_length / 2;
      if (corrupt && body_offset <= middle && middle < body_offset + n) {
        chunk[chunk_pos + (middle - body_offset)] ^= 0xff;
      }
      bool cut = truncate_after && sent + n > *truncate_after;
      if (cut) n = *truncate_after - sent;
      if (n > 0 && !sink.write(chunk.data() + chunk_pos, n)) return false;
      chunk_pos += n;
      body_offset += n;
      sent += n;
      return !cut;  // false closes the connection
    }
  }
};

// The repository named in a /v2/<name>/{manifests,blobs,tags}/... path.
std::string RepositoryOf(const std::string& path) {
  static const std::regex pattern("^/v2/(.+)/(manifests|blobs|tags)/.*");
  std::smatch match;
  return std::regex_match(path, match, pattern) ? match[1].str() : "";
}

// A registry-style error body (distribution's error codes).
void SetError(httplib::Response& res, int status, const std::string& path,
              const std::string& message) {
  std::string code = "UNKNOWN";
  if (status == 401) {
    code = "UNAUTHORIZED";
  } else if (status == 429) {
    code = "TOOMANYREQUESTS";
  } else if (status == 404) {
    code = absl::StrContains(path, "/manifests/") ? "MANIFEST_UNKNOWN"
           : absl::StrContains(path, "/blobs/")   ? "BLOB_UNKNOWN"
                                                  : "NAME_UNKNOWN";
  }
  nlohmann::json body = {{"errors", {{{"code", code}, {"message", message}}}}};
  res.status = status;
  res.set_content(body.dump(), "application/json; charset=utf-8");
}

}  // namespace

absl::StatusOr<std::unique_ptr<RegistryFront>> RegistryFront::Start(const LocalRegistry& upstream) {
  std::string authorization;
  if (!upstream.options().user.empty()) {
    authorization = "Basic " + absl::Base64Escape(absl::StrCat(upstream.options().user, ":",
                                                               upstream.options().password));
  }
  std::unique_ptr<RegistryFront> front(
      new RegistryFront("127.0.0.1", upstream.port(), std::move(authorization)));
  RegistryFront* self = front.get();
  front->server_.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  front->server_.set_keep_alive_timeout(kKeepAliveSeconds);
  // Also serves HEAD: httplib routes it to the GET handlers.
  front->server_.Get(".*", [self](const httplib::Request& req, httplib::Response& res) {
    self->Handle(req, res);
  });
  int port = front->server_.bind_to_any_port("127.0.0.1");
  if (port < 0) return absl::InternalError("RegistryFront: cannot bind 127.0.0.1:0");
  front->host_port_ = absl::StrCat("127.0.0.1:", port);
  front->listener_ = std::thread([self] { self->server_.listen_after_bind(); });
  // httplib's stop() does nothing until the server runs: without this wait,
  // destroying a fresh front could hang in join().
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!front->server_.is_running()) {
    if (absl::Now() > deadline) return absl::InternalError("RegistryFront: server did not start");
    absl::SleepFor(absl::Milliseconds(1));
  }
  return front;
}

RegistryFront::~RegistryFront() {
  server_.stop();
  if (listener_.joinable()) listener_.join();
}

void RegistryFront::RequireBearerAuth(std::string user, std::string password) {
  absl::MutexLock lock(&mu_);
  basic_credentials_ = "Basic " + absl::Base64Escape(absl::StrCat(user, ":", password));
}

void RegistryFront::DisableAuth() {
  absl::MutexLock lock(&mu_);
  basic_credentials_.reset();
}

int RegistryFront::tokens_issued() const {
  absl::MutexLock lock(&mu_);
  return tokens_.size();
}

void RegistryFront::AddFault(Fault fault) {
  absl::MutexLock lock(&mu_);
  faults_.push_back(std::move(fault));
}

void RegistryFront::FailNext(std::string path_substring, int count, int status,
                             int retry_after_seconds) {
  Fault fault{FaultKind::kStatus, std::move(path_substring), count};
  fault.status = status;
  fault.retry_after_seconds = retry_after_seconds;
  AddFault(std::move(fault));
}

void RegistryFront::TruncateNext(std::string path_substring, int count, size_t after_bytes) {
  Fault fault{FaultKind::kTruncate, std::move(path_substring), count};
  fault.after_bytes = after_bytes;
  AddFault(std::move(fault));
}

void RegistryFront::CorruptNext(std::string path_substring, int count) {
  AddFault(Fault{FaultKind::kCorrupt, std::move(path_substring), count});
}

void RegistryFront::ClearFaults() {
  absl::MutexLock lock(&mu_);
  faults_.clear();
}

std::vector<RegistryFront::RequestRecord> RegistryFront::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int RegistryFront::RequestCount(absl::string_view path_substring, absl::string_view method,
                                int status) const {
  absl::MutexLock lock(&mu_);
  return std::count_if(requests_.begin(), requests_.end(), [&](const RequestRecord& request) {
    return absl::StrContains(request.path, path_substring) &&
           (method.empty() || request.method == method) &&
           (status == 0 || request.status == status);
  });
}

void RegistryFront::ResetCounts() {
  absl::MutexLock lock(&mu_);
  requests_.clear();
}

std::optional<RegistryFront::Fault> RegistryFront::TakeFault(const httplib::Request& req) {
  // Body faults only make sense where a body is forwarded.
  bool body = req.method == "GET" && absl::StartsWith(req.path, "/v2/");
  absl::MutexLock lock(&mu_);
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (!absl::StrContains(req.path, it->path_substring)) continue;
    if (it->kind != FaultKind::kStatus && !body) continue;
    Fault taken = *it;
    if (--it->remaining <= 0) faults_.erase(it);
    return taken;
  }
  return std::nullopt;
}

void RegistryFront::Handle(const httplib::Request& req, httplib::Response& res) {
  bool registry_api = absl::StartsWith(req.path, "/v2/");
  if (!registry_api && req.path != "/token") {
    SetError(res, 404, req.path, "not a registry path");
  } else if (!registry_api || Authorized(req, res)) {
    std::optional<Fault> fault = TakeFault(req);
    if (fault && fault->kind == FaultKind::kStatus) {
      SetError(res, fault->status, req.path, "injected by RegistryFront");
      if (fault->retry_after_seconds > 0) {
        res.set_header("Retry-After", absl::StrCat(fault->retry_after_seconds));
      }
    } else if (!registry_api) {
      IssueToken(req, res);
    } else {
      Forward(req, res, fault);
    }
  }
  absl::MutexLock lock(&mu_);
  requests_.push_back(RequestRecord{req.method, req.path, res.status});
}

bool RegistryFront::Authorized(const httplib::Request& req, httplib::Response& res) {
  absl::MutexLock lock(&mu_);
  if (!basic_credentials_) return true;
  std::string authorization = req.get_header_value("Authorization");
  if (absl::StartsWith(authorization, "Bearer ") && tokens_.count(authorization.substr(7)) > 0) {
    return true;
  }
  std::string challenge =
      absl::StrCat("Bearer realm=\"http://", host_port_, "/token\",service=\"", kService, "\"");
  std::string repository = RepositoryOf(req.path);
  if (!repository.empty()) {
    absl::StrAppend(&challenge, ",scope=\"repository:", repository, ":pull\"");
  }
  SetError(res, 401, req.path, "authentication required");
  res.set_header("WWW-Authenticate", challenge);
  return false;
}

void RegistryFront::IssueToken(const httplib::Request& req, httplib::Response& res) {
  absl::MutexLock lock(&mu_);
  if (!basic_credentials_) {
    SetError(res, 404, req.path, "bearer auth is off");
  } else if (req.get_param_value("service") != kService) {
    SetError(res, 400, req.path,
             absl::StrCat("unknown service `", req.get_param_value("service"), "`"));
  } else if (req.get_header_value("Authorization") != *basic_credentials_) {
    SetError(res, 401, req.path, "wrong credentials");
    res.set_header("WWW-Authenticate", absl::StrCat("Basic realm=\"", kService, "\""));
  } else {
    std::string token = RandomHex(16);
    tokens_.insert(token);
    nlohmann::json body = {{"token", token}, {"access_token", token}, {"expires_in", 300}};
    res.status = 200;
    res.set_content(body.dump(), "application/json");
  }
}

void RegistryFront::Forward(const httplib::Request& req, httplib::Response& res,
                            const std::optional<Fault>& body_fault) {
  httplib::Request upstream;
  upstream.method = req.method;
  upstream.path = req.target;
  for (const auto& [name, value] : req.headers) {
    if (absl::EqualsIgnoreCase(name, "Accept")) upstream.headers.emplace("Accept", value);
  }
  if (!upstream_authorization_.empty()) {
    upstream.headers.emplace("Authorization", upstream_authorization_);
  }
  auto transfer =
      std::make_shared<UpstreamTransfer>(upstream_host_, upstream_port_, std::move(upstream));
  if (!transfer->WaitHeaders()) {
    SetError(
        res, 502, req.path,
        absl::StrCat("upstream ", upstream_host_, ":", upstream_port_, ": ", transfer->error()));
    return;
  }
  res.status = transfer->status();
  httplib::Headers headers = transfer->headers();
  auto header = [&headers](const char* name) -> std::optional<std::string> {
    auto it = headers.find(name);  // httplib::Headers compares names case-insensitively
    if (it == headers.end()) return std::nullopt;
    return it->second;
  };
  for (const char* name :
       {"Docker-Content-Digest", "Docker-Distribution-Api-Version", "Location"}) {
    if (std::optional<std::string> value = header(name)) res.set_header(name, *value);
  }
  std::string content_type = header("Content-Type").value_or("application/octet-stream");
  std::optional<std::string> content_length = header("Content-Length");
  if (req.method == "HEAD") {
    res.set_header("Content-Type", content_type);
    if (content_length) res.set_header("Content-Length", *content_length);
    return;
  }
  size_t length = 0;
  if (res.status == 200 && content_length && absl::SimpleAtoi(*content_length, &length) &&
      length > 0) {
    auto stream = std::make_shared<BodyStream>();
    stream->transfer = transfer;
    stream->total_length = length;
    if (body_fault && body_fault->kind == FaultKind::kCorrupt) stream->corrupt = true;
    if (body_fault && body_fault->kind == FaultKind::kTruncate) {
      stream->truncate_after = body_fault->after_bytes;
    }
    // httplib answers a Range request from this provider itself.
    if (!req.ranges.empty()) res.status = 206;
    res.set_content_provider(length, content_type,
                             [stream](size_t offset, size_t length, httplib::DataSink& sink) {
                               return stream->Provide(offset, length, sink);
                             });
    return;
  }
  std::string body, chunk;
  while (transfer->Next(&chunk)) body += chunk;
  res.set_content(body, content_type);
}

}  // namespace converge::testing

#include "executors/image/registry/transport.h"

#include <curl/curl.h>

#include <fstream>
#include <sstream>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "nlohmann/json.hpp"

namespace converge::registry {
namespace {

constexpr char kSystemCaBundle[] = "/etc/ssl/certs/ca-certificates.crt";

constexpr size_t kMaxErrorBody = 64 << 10;
constexpr size_t kMaxErrorSnippet = 200;
constexpr long kMaxRedirects = 10;

// One Perform call's state, shared with curl's callbacks.
struct Exchange {
  const HttpRequest& request;
  const BodySink& sink;
  const ClientOptions& options;
  HttpResponse response;
  absl::Status aborted;  // why a callback stopped the transfer
  bool cancelled = false;
};

bool IsSuccess(int status) { return status >= 200 && status < 300; }

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto& exchange = *static_cast<Exchange*>(user);
  absl::string_view line = absl::StripAsciiWhitespace(absl::string_view(data, size * count));
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a redirect, a 100 Continue or a proxy's CONNECT):
    // only the last one counts.
    exchange.response = HttpResponse();
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &exchange.response.status)) {
      exchange.response.status = 0;
    }
  } else if (size_t colon = line.find(':'); colon != absl::string_view::npos) {
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    std::string& slot = exchange.response.headers[name];
    slot = slot.empty() ? std::string(value) : absl::StrCat(slot, ", ", value);
  }
  return size * count;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto& exchange = *static_cast<Exchange*>(user);
  absl::string_view chunk(data, size * count);
  HttpResponse& response = exchange.response;
  if (!IsSuccess(response.status)) {
    size_t room = kMaxErrorBody - std::min(kMaxErrorBody, response.body.size());
    absl::StrAppend(&response.body, chunk.substr(0, room));
    return chunk.size();
  }
  if (exchange.sink) {
    exchange.aborted = exchange.sink(response, chunk);
  } else if (response.body.size() + chunk.size() > static_cast<size_t>(exchange.request.max_body)) {
    exchange.aborted = absl::FailedPreconditionError(
        absl::StrCat("response larger than ", exchange.request.max_body, " bytes"));
  } else {
    absl::StrAppend(&response.body, chunk);
  }
  return exchange.aborted.ok() ? chunk.size() : 0;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& exchange = *static_cast<Exchange*>(user);
  exchange.cancelled = exchange.options.cancelled && exchange.options.cancelled();
  return exchange.cancelled ? 1 : 0;
}

// Failures a second attempt may not meet. A timeout counts only once a
// response had begun: before that it is an unreachable host, which the next
// endpoint should handle rather than a retry.
bool IsTransient(CURLcode code, const HttpResponse& partial) {
  switch (code) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    case CURLE_OPERATION_TIMEDOUT:
      return partial.status != 0;
    default:
      return false;
  }
}

// The registry's explanation in an error body, or "" when there is none.
std::string ErrorDetail(absl::string_view body) {
  nlohmann::json doc =
      nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  auto text = [](const nlohmann::json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (doc.is_object()) {
    if (auto errors = doc.find("errors"); errors != doc.end() && errors->is_array()) {
      std::vector<std::string> parts;
      for (const nlohmann::json& error : *errors) {
        if (!error.is_object()) continue;
        std::string code = text(error, "code"), message = text(error, "message");
        parts.push_back(code.empty() || message.empty() ? code + message
                                                        : absl::StrCat(code, ": ", message));
      }
      return absl::StrJoin(parts, "; ");
    }
    // OAuth2 token servers (RFC 6749 section 5.2).
    if (std::string error = text(doc, "error"); !error.empty()) {
      std::string description = text(doc, "error_description");
      return description.empty() ? error : absl::StrCat(error, ": ", description);
    }
  }
  std::string snippet(body.substr(0, kMaxErrorSnippet));
  std::replace_if(
      snippet.begin(), snippet.end(), [](char c) { return absl::ascii_iscntrl(c); }, ' ');
  return std::string(absl::StripAsciiWhitespace(snippet));
}

}  // namespace

std::string HttpResponse::Header(const std::string& lower_case_name) const {
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? "" : it->second;
}

std::string RedactUrl(absl::string_view url) {
  return std::string(url.substr(0, url.find_first_of("?#")));
}

absl::StatusOr<std::unique_ptr<Transport>> Transport::Create(const ClientOptions& options,
                                                             const std::string& extra_ca_pem) {
  // curl_global_init is not thread-safe; a function-local static runs it once.
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global_init != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init: ", curl_easy_strerror(global_init)));
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  std::string ca_bundle;
  if (!extra_ca_pem.empty()) {
    // curl takes one CA source: the system's bundle (Debian's ca-certificates)
    // and the extra CA together.
    std::ifstream system_bundle(kSystemCaBundle);
    std::stringstream text;
    text << system_bundle.rdbuf();
    ca_bundle = absl::StrCat(text.str(), "\n", extra_ca_pem);
  }
  return std::unique_ptr<Transport>(new Transport(curl, options, std::move(ca_bundle)));
}

Transport::Transport(void* curl, ClientOptions options, std::string ca_bundle)
    : curl_(curl), options_(std::move(options)), ca_bundle_(std::move(ca_bundle)) {}

Transport::~Transport() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResult Transport::Perform(const HttpRequest& request, const BodySink& sink) {
  CURL* curl = static_cast<CURL*>(curl_);
  // Keeps the handle's connection and DNS caches but no options of the last request.
  curl_easy_reset(curl);
  Exchange exchange{request, sink, options_};
  char error_buffer[CURL_ERROR_SIZE] = "";
  curl_slist* header_list = nullptr;
  for (const std::string& header : request.headers) {
    header_list = curl_slist_append(header_list, header.c_str());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(header_list,
                                                                      curl_slist_free_all);
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_blob ca_blob{ca_bundle_.data(), ca_bundle_.size(), CURL_BLOB_NOCOPY};
  if (!ca_bundle_.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca_blob);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  // Never downgrade: an https request's redirects stay on https.
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR,
                   absl::StartsWith(request.url, "https://") ? "https" : "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT,
                   static_cast<long>(options_.low_speed_bytes_per_second));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(absl::ToInt64Seconds(options_.low_speed_time)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded daemon
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &exchange);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &exchange);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &exchange);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  }

  CURLcode code = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);  // error_buffer goes out of scope
  if (code == CURLE_OK) return HttpResult{std::move(exchange.response)};
  const std::string where = absl::StrCat(request.method, " ", RedactUrl(request.url));
  if (exchange.cancelled)
    return HttpResult{absl::CancelledError(absl::StrCat(where, ": cancelled"))};
  if (!exchange.aborted.ok()) return HttpResult{Annotate(exchange.aborted, where)};
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  absl::Status status(
      code == CURLE_PARTIAL_FILE ? absl::StatusCode::kDataLoss : absl::StatusCode::kUnavailable,
      absl::StrCat(where, ": ", detail));
  return HttpResult{std::move(status), IsTransient(code, exchange.response)};
}

absl::Status ResponseError(absl::string_view what, const HttpRequest& request,
                           const HttpResponse& response) {
  absl::StatusCode code = absl::StatusCode::kUnknown;
  absl::string_view phrase = "unexpected response";
  if (response.status == 401) {
    code = absl::StatusCode::kUnauthenticated;
    phrase = "authentication failed";
  } else if (response.status == 403) {
    code = absl::StatusCode::kPermissionDenied;
    phrase = "access denied";
  } else if (response.status == 404) {
    code = absl::StatusCode::kNotFound;
    phrase = "not found";
  } else if (response.status == 429) {
    code = absl::StatusCode::kResourceExhausted;
    phrase = "rate limited";
  } else if (response.status >= 500) {
    code = absl::StatusCode::kUnavailable;
    phrase = "registry unavailable";
  }
  std::string message = absl::StrCat(what, what.empty() ? "" : ": ", phrase, ": ", request.method,
                                     " ", RedactUrl(request.url), ": HTTP ", response.status);
  if (std::string detail = ErrorDetail(response.body); !detail.empty()) {
    absl::StrAppend(&message, " (", detail, ")");
  }
  if (std::string retry_after = response.Header("retry-after"); !retry_after.empty()) {
    absl::StrAppend(&message, "; Retry-After: ", retry_after);
  }
  return absl::Status(code, message);
}

}  // namespace converge::registry

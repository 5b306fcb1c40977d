#include "cmd/converged/http_endpoint.h"

#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/host_port.h"
#include "common/status_macros.h"
#include "httplib.h"

namespace converge {

namespace {

bool IsLoopback(const std::string& remote) {
  return remote == "::1" || remote.rfind("127.", 0) == 0 || remote.rfind("::ffff:127.", 0) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    const std::string& address, const metrics::Registry* registry,
    std::function<std::string()> observe_json) {
  CONVERGE_ASSIGN_OR_RETURN(HostPort listen, ParseHostPort("metrics_address", address));

  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  endpoint->server_ = std::make_unique<httplib::Server>();
  // httplib sets SO_REUSEPORT by default, which would let a second daemon
  // bind the same port and split scrapes between the two: reuse only the
  // address (for quick restarts).
  endpoint->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  endpoint->server_->Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->Exposition(), metrics::kContentType);
  });
  endpoint->server_->Get("/debug/observe", [observe_json = std::move(observe_json)](
                                               const httplib::Request& req, httplib::Response& res) {
    if (!IsLoopback(req.remote_addr)) {
      res.status = 403;
      res.set_content("/debug/observe is for loopback clients only\n", "text/plain");
      return;
    }
    res.set_content(observe_json(), "application/json");
  });
  endpoint->host_ = listen.host;
  endpoint->port_ = listen.port == 0
                        ? endpoint->server_->bind_to_any_port(listen.host)
                        : (endpoint->server_->bind_to_port(listen.host, listen.port) ? listen.port : -1);
  if (endpoint->port_ < 0) {
    return absl::UnavailableError(absl::StrCat("metrics_address: cannot listen on ", address));
  }
  httplib::Server* server = endpoint->server_.get();
  endpoint->thread_ = std::thread([server] { server->listen_after_bind(); });
  // stop() does nothing until the listen loop runs; wait for it, so that an
  // early Stop() (a start-up failure right after this) cannot hang in join.
  for (int i = 0; i < 1000 && !server->is_running(); ++i) absl::SleepFor(absl::Milliseconds(1));
  return endpoint;
}

HttpEndpoint::~HttpEndpoint() { Stop(); }

void HttpEndpoint::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace converge

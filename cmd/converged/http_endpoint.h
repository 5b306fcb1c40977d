// converged's HTTP endpoint (loopback by default): Prometheus metrics at
// /metrics, and at /debug/observe what the daemon observes on the host right
// now (JSON; answered to loopback clients only, whatever the bind address).
// Served by cpp-httplib on its own threads.
//
//   CONVERGE_ASSIGN_OR_RETURN(auto endpoint,
//       HttpEndpoint::Start("127.0.0.1:9338", &registry, [&] { return LiveJson(); }));
//   ...
//   endpoint->Stop();
#ifndef CONVERGE_CMD_CONVERGED_HTTP_ENDPOINT_H_
#define CONVERGE_CMD_CONVERGED_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "metrics/metrics.h"

namespace httplib {
class Server;
}

namespace converge {

class HttpEndpoint {
 public:
  // Binds `address` ("host:port"; port 0 picks a free one) and serves.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(
      const std::string& address, const metrics::Registry* registry,
      std::function<std::string()> observe_json);
  ~HttpEndpoint();

  void Stop();
  const std::string& host() const { return host_; }
  int port() const { return port_; }

 private:
  HttpEndpoint() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
};

}  // namespace converge

#endif  // CONVERGE_CMD_CONVERGED_HTTP_ENDPOINT_H_

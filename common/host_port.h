// "host:port" addresses as converge's flags take them ("127.0.0.1:9338",
// "[::1]:9338"); port 0 means "any free port" to a listener.
#ifndef CONVERGE_COMMON_HOST_PORT_H_
#define CONVERGE_COMMON_HOST_PORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge {

struct HostPort {
  std::string host;  // without IPv6 brackets
  int port = 0;
};

// INVALID_ARGUMENT naming `field` unless `address` is host:port, port 0..65535.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view field, absl::string_view address);

}  // namespace converge

#endif  // CONVERGE_COMMON_HOST_PORT_H_

#include "executors/network/loopback_network.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/dedicated_thread.h"
#include "executors/namespace/unique_fd.h"

namespace converge {
namespace {

constexpr char kLoopback[] = "lo";

// Runs on the dedicated thread: joins the netns behind `netns_fd` and sets
// IFF_UP on lo. The socket is created after setns, so its ioctls act on the
// pod's devices.
absl::Status BringUpLoopback(int netns_fd, const std::string& path) {
  if (setns(netns_fd, CLONE_NEWNET) != 0) {
    return ErrnoError(errno, "setns `", path, "`");
  }
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) {
    return ErrnoError(errno, "socket in netns `", path, "`");
  }
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::strncpy(ifr.ifr_name, kLoopback, IFNAMSIZ - 1);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) {
    return ErrnoError(errno, "SIOCGIFFLAGS ", kLoopback, " in netns `", path,
                      "`");
  }
  if ((ifr.ifr_flags & IFF_UP) != 0) return absl::OkStatus();
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) {
    return ErrnoError(errno, "SIOCSIFFLAGS ", kLoopback, " up in netns `", path,
                      "`");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NetworkResult> LoopbackNetwork::Setup(
    const NetworkRequest& request) {
  CONVERGE_RETURN_IF_ERROR(ValidateSetupRequest(request));
  const std::string& path = request.netns_path;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open netns `", path, "`");
  CONVERGE_RETURN_IF_ERROR(CheckIsNetns(fd.get(), path));
  absl::Status inner;
  CONVERGE_RETURN_IF_ERROR(
      RunOnDedicatedThread([&] { inner = BringUpLoopback(fd.get(), path); }));
  CONVERGE_RETURN_IF_ERROR(inner);
  return NetworkResult{};
}

absl::Status LoopbackNetwork::Teardown(const NetworkRequest& request,
                                       const NetworkResult& /*cached*/) {
  // lo lives and dies with the namespace: nothing to undo.
  return ValidateTeardownRequest(request);
}

absl::Status LoopbackNetwork::Ready() {
  return absl::FailedPreconditionError(
      "CNI is not configured: converge only brings up loopback, pods get no "
      "network interface or IP");
}

}  // namespace converge

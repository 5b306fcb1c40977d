// The pod's monitor socket and how to reach it even when its path is longer
// than a unix socket address holds (107 bytes): the directory is opened and
// the socket named through `/proc/self/fd/<dirfd>/<name>`, which the kernel
// resolves at bind(2)/connect(2) time. Shared by the monitor and the client.
//
//   CONVERGE_ASSIGN_OR_RETURN(UnixAddress address, UnixAddress::For(pod_dir, kMonitorSocket));
//   connect(fd, address.sockaddr(), address.length());
#ifndef CONVERGE_EXECUTORS_PROCESS_MONITOR_UNIX_SOCKET_H_
#define CONVERGE_EXECUTORS_PROCESS_MONITOR_UNIX_SOCKET_H_

#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "absl/status/statusor.h"
#include "executors/namespace/unique_fd.h"

namespace converge::process {

inline constexpr char kMonitorSocket[] = "monitor.sock";
inline constexpr char kMonitorPidFile[] = "monitor.pid";
inline constexpr char kMonitorLockFile[] = "monitor.lock";
inline constexpr char kMonitorLogFile[] = "monitor.log";
// Holds the pid (in the host pid namespace) of the pod pid namespace holder.
inline constexpr char kPidNamespaceFile[] = "pidns";

class UnixAddress {
 public:
  // `dir`/`name` directly when it fits, else through an O_PATH fd of `dir`
  // that this object holds (so keep it alive until bind/connect returned).
  // `name` must be short (< 64 bytes). Errors: those of open(`dir`).
  static absl::StatusOr<UnixAddress> For(const std::string& dir, const std::string& name);

  const struct sockaddr* sockaddr() const {
    return reinterpret_cast<const struct sockaddr*>(&address_);
  }
  socklen_t length() const { return length_; }
  // The path actually used (for messages).
  const char* path() const { return address_.sun_path; }

 private:
  UniqueFd dir_fd_;
  struct sockaddr_un address_ = {};
  socklen_t length_ = 0;
};

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_MONITOR_UNIX_SOCKET_H_

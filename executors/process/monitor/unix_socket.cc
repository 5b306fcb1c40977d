#include "executors/process/monitor/unix_socket.h"

#include <fcntl.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errors.h"

namespace converge::process {

absl::StatusOr<UnixAddress> UnixAddress::For(const std::string& dir, const std::string& name) {
  UnixAddress address;
  address.address_.sun_family = AF_UNIX;
  std::string path = absl::StrCat(dir, "/", name);
  if (path.size() >= sizeof(address.address_.sun_path)) {
    address.dir_fd_ = UniqueFd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!address.dir_fd_.valid()) return ErrnoError(errno, "open `", dir, "`");
    path = absl::StrCat("/proc/self/fd/", address.dir_fd_.get(), "/", name);
    if (path.size() >= sizeof(address.address_.sun_path)) {
      return absl::InvalidArgumentError(absl::StrCat("socket name `", name, "` is too long"));
    }
  }
  std::memcpy(address.address_.sun_path, path.c_str(), path.size() + 1);
  address.length_ = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() + 1);
  return address;
}

}  // namespace converge::process

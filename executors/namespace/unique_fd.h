// UniqueFd owns a file descriptor and closes it on destruction. Internal to
// the executors (the daemon keeps almost no fds open, see notes/machine.md,
// so every one it does open must be closed on every path).
//
//   UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd.valid()) return ErrnoError(errno, "open `", path, "`");
#ifndef CONVERGE_EXECUTORS_NAMESPACE_UNIQUE_FD_H_
#define CONVERGE_EXECUTORS_NAMESPACE_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace converge {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  bool valid() const { return fd_ >= 0; }
  int get() const { return fd_; }

  // Gives up ownership: the caller closes the returned fd.
  int Release() { return std::exchange(fd_, -1); }

  void Reset(int fd = -1) {
    // close(2) errors on a read-only fd carry no information worth acting on.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NAMESPACE_UNIQUE_FD_H_

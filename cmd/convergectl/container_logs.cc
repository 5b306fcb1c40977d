#include "cmd/convergectl/container_logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace converge {
namespace {

constexpr size_t kReadSize = 64 * 1024;

// Closes the descriptor it owns.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  ~Fd() { Close(); }
  int get() const { return fd_; }

 private:
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

struct FileId {
  dev_t dev;
  ino_t ino;
  bool operator==(const FileId& other) const { return dev == other.dev && ino == other.ino; }
};

// Reads `fd` from where it is to its end.
absl::Status ReadToEnd(int fd, const std::string& path, std::string* out) {
  char buffer[kReadSize];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read `", path, "`");
    }
    if (n == 0) return absl::OkStatus();
    out->append(buffer, static_cast<size_t>(n));
  }
}

// The file `path` names now; nullopt while there is none (renamed away by
// rotation, not created again yet).
absl::StatusOr<std::optional<FileId>> IdOfPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return ErrnoError(errno, "stat `", path, "`");
  }
  return FileId{st.st_dev, st.st_ino};
}

// Follows one log file and the files that replace it.
class Follower {
 public:
  Follower(std::string path, const LogFollowOptions& options, LogWriteFn write)
      : path_(std::move(path)), options_(options), write_(write) {}

  absl::Status Open() {
    fd_ = Fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd_.get() < 0) return ErrnoError(errno, "open `", path_, "`");
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) return ErrnoError(errno, "stat `", path_, "`");
    id_ = FileId{st.st_dev, st.st_ino};
    splitter_.Reset();
    return absl::OkStatus();
  }

  // Records read from the current file, not printed yet.
  absl::StatusOr<std::vector<LogRecord>> ReadRecords() {
    std::string bytes;
    CONVERGE_RETURN_IF_ERROR(ReadToEnd(fd_.get(), path_, &bytes));
    std::vector<LogRecord> records;
    for (const std::string& line : splitter_.Feed(bytes)) {
      absl::StatusOr<LogRecord> record = ParseLogRecord(line);
      if (!record.ok()) {
        options_.on_bad_record(Annotate(record.status(), "`", path_, "`"));
        continue;
      }
      records.push_back(*std::move(record));
    }
    return records;
  }

  absl::Status PrintNew() {
    CONVERGE_ASSIGN_OR_RETURN(std::vector<LogRecord> records, ReadRecords());
    for (const LogRecord& record : records) {
      write_(record.stream, record.content);
      if (!record.partial) write_(record.stream, "\n");
    }
    return absl::OkStatus();
  }

  // After the reader caught up: switches to the file that replaced the
  // current one (its remaining records printed first), or back to the start
  // of a file truncated in place. Returns whether anything changed.
  absl::StatusOr<bool> SwitchIfReplaced() {
    CONVERGE_ASSIGN_OR_RETURN(std::optional<FileId> now, IdOfPath(path_));
    if (now && !(*now == id_)) {
      CONVERGE_RETURN_IF_ERROR(PrintNew());  // What was written before the switch.
      absl::Status opened = Open();
      // Replaced again, or removed, between stat and open: look next time.
      if (!opened.ok() && absl::IsNotFound(opened)) return false;
      CONVERGE_RETURN_IF_ERROR(opened);
      return true;
    }
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) return ErrnoError(errno, "stat `", path_, "`");
    const off_t offset = ::lseek(fd_.get(), 0, SEEK_CUR);
    if (offset >= 0 && st.st_size < offset) {
      if (::lseek(fd_.get(), 0, SEEK_SET) < 0) return ErrnoError(errno, "seek `", path_, "`");
      splitter_.Reset();
      return true;
    }
    return false;
  }

  absl::Status Follow() {
    while (true) {
      CONVERGE_RETURN_IF_ERROR(PrintNew());
      CONVERGE_ASSIGN_OR_RETURN(bool switched, SwitchIfReplaced());
      if (switched) continue;
      if (!options_.keep_following()) break;
      options_.sleep(options_.poll);
    }
    // The container is gone: what it wrote last may be in a file that
    // replaced ours after we looked.
    CONVERGE_RETURN_IF_ERROR(PrintNew());
    CONVERGE_ASSIGN_OR_RETURN(bool switched, SwitchIfReplaced());
    if (switched) CONVERGE_RETURN_IF_ERROR(PrintNew());
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const LogFollowOptions& options_;
  LogWriteFn write_;
  Fd fd_;
  FileId id_{};
  LogRecordSplitter splitter_;
};

}  // namespace

std::vector<LogLine> JoinLogRecords(const std::vector<LogRecord>& records) {
  std::vector<LogLine> finished;
  // The unfinished line of each stream, if any, and the order they started.
  std::optional<LogLine> open[2];
  int started[2] = {0, 0};
  int next_start = 0;
  for (const LogRecord& record : records) {
    const int index = record.stream == LogStream::kStdout ? 0 : 1;
    std::optional<LogLine>& line = open[index];
    if (!line) {
      line = LogLine{record.stream, ""};
      started[index] = next_start++;
    }
    line->text.append(record.content);
    if (record.partial) continue;
    line->text.push_back('\n');
    finished.push_back(*std::move(line));
    line.reset();
  }
  const bool stdout_first = started[0] <= started[1];
  for (int index : {stdout_first ? 0 : 1, stdout_first ? 1 : 0}) {
    if (open[index]) finished.push_back(*std::move(open[index]));
  }
  return finished;
}

std::vector<LogLine> LastLines(std::vector<LogLine> lines, int64_t n) {
  if (n < 0 || static_cast<size_t>(n) >= lines.size()) return lines;
  lines.erase(lines.begin(), lines.end() - n);
  return lines;
}

std::vector<std::string> LogRecordSplitter::Feed(absl::string_view bytes) {
  std::vector<std::string> records;
  while (!bytes.empty()) {
    const size_t newline = bytes.find('\n');
    if (newline == absl::string_view::npos) {
      pending_.append(bytes.data(), bytes.size());
      break;
    }
    pending_.append(bytes.data(), newline);
    records.push_back(std::move(pending_));
    pending_.clear();
    bytes.remove_prefix(newline + 1);
  }
  return records;
}

absl::Status PrintLogFile(const std::string& path, int64_t tail, bool follow,
                          const LogFollowOptions& options, LogWriteFn write) {
  Follower follower(path, options, write);
  CONVERGE_RETURN_IF_ERROR(follower.Open());
  CONVERGE_ASSIGN_OR_RETURN(std::vector<LogRecord> records, follower.ReadRecords());
  for (const LogLine& line : LastLines(JoinLogRecords(records), tail)) {
    write(line.stream, line.text);
  }
  if (!follow) return absl::OkStatus();
  return follower.Follow();
}

}  // namespace converge

#include "executors/process/monitor/exit_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"
#include "nlohmann/json.hpp"

namespace converge::process {
namespace {

using nlohmann::json;

// Exit records are a few hundred bytes; a bigger file is not one.
constexpr size_t kMaxExitRecordBytes = 64 * 1024;

absl::Status WriteAllFd(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "write `", path, "`");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status GetInt(const json& object, const char* name, bool required, T* out) {
  auto it = object.find(name);
  if (it == object.end()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("exit record: `", name, "` is missing"));
  }
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("exit record: `", name, "`: expected an integer"));
  }
  const int64_t value = it->get<int64_t>();
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
    return absl::InvalidArgumentError(absl::StrCat("exit record: `", name, "` out of range"));
  }
  if (value < std::numeric_limits<T>::min() || value > std::numeric_limits<T>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("exit record: `", name, "` out of range"));
  }
  *out = static_cast<T>(value);
  return absl::OkStatus();
}

}  // namespace

std::string SerializeExitRecord(const ExitRecord& record) {
  json object = {
      {"exit_code", record.exit_code},
      {"signal", record.signal},
      {"finished_at_unix_nanos", record.finished_at_unix_nanos},
      {"oom_killed", record.oom_killed},
      {"reason", record.reason},
  };
  // Invalid UTF-8 in the reason cannot break the record.
  return object.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

absl::StatusOr<ExitRecord> ParseExitRecord(absl::string_view text) {
  json object = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return absl::InvalidArgumentError("exit record: not valid JSON");
  if (!object.is_object()) return absl::InvalidArgumentError("exit record: not a JSON object");
  ExitRecord record;
  absl::Status status = GetInt(object, "exit_code", true, &record.exit_code);
  if (status.ok()) status = GetInt(object, "signal", false, &record.signal);
  if (status.ok()) {
    status = GetInt(object, "finished_at_unix_nanos", true, &record.finished_at_unix_nanos);
  }
  if (!status.ok()) return status;
  if (auto it = object.find("oom_killed"); it != object.end()) {
    if (!it->is_boolean()) return absl::InvalidArgumentError("exit record: `oom_killed`: expected a boolean");
    record.oom_killed = it->get<bool>();
  }
  if (auto it = object.find("reason"); it != object.end()) {
    if (!it->is_string()) return absl::InvalidArgumentError("exit record: `reason`: expected a string");
    record.reason = it->get<std::string>();
  }
  return record;
}

absl::StatusOr<std::optional<ExitRecord>> ReadExitRecord(const std::string& container_dir) {
  const std::string path = absl::StrCat(container_dir, "/", kExitRecordFile);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<ExitRecord>();
    return ErrnoError(errno, "open `", path, "`");
  }
  CONVERGE_ASSIGN_OR_RETURN(std::string text, ReadFdUpTo(fd.get(), path, kMaxExitRecordBytes));
  absl::StatusOr<ExitRecord> record = ParseExitRecord(text);
  if (!record.ok()) return Annotate(record.status(), "`", path, "`");
  return std::optional<ExitRecord>(*std::move(record));
}

absl::Status WriteExitRecord(const std::string& container_dir, const ExitRecord& record) {
  const std::string tmp = absl::StrCat(container_dir, "/.", kExitRecordFile, ".tmp");
  const std::string path = absl::StrCat(container_dir, "/", kExitRecordFile);
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError(errno, "create `", tmp, "`");
    absl::Status written = WriteAllFd(fd.get(), SerializeExitRecord(record), tmp);
    if (written.ok() && fsync(fd.get()) != 0) written = ErrnoError(errno, "fsync `", tmp, "`");
    if (!written.ok()) {
      unlink(tmp.c_str());
      return written;
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return ErrnoError(err, "rename `", tmp, "` to `", path, "`");
  }
  UniqueFd dir(open(container_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoError(errno, "open `", container_dir, "`");
  if (fsync(dir.get()) != 0) return ErrnoError(errno, "fsync `", container_dir, "`");
  return absl::OkStatus();
}

}  // namespace converge::process

// Reading a whole small file (a spec, an exit record, /etc/passwd, a seccomp
// profile) into memory, with a bound so that a file that is not what it should
// be cannot make the reader allocate without limit.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::string spec, ReadFileUpTo(path, 4 << 20));
#ifndef CONVERGE_COMMON_READ_FILE_H_
#define CONVERGE_COMMON_READ_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace converge {

// Everything left to read on `fd`. INVALID_ARGUMENT "`<display>` is larger
// than <limit> bytes" past `limit`; read errors carry errno and `display`.
absl::StatusOr<std::string> ReadFdUpTo(int fd, const std::string& display, size_t limit);

// ReadFdUpTo on `path`; open errors carry errno (NOT_FOUND for ENOENT).
absl::StatusOr<std::string> ReadFileUpTo(const std::string& path, size_t limit);

}  // namespace converge

#endif  // CONVERGE_COMMON_READ_FILE_H_

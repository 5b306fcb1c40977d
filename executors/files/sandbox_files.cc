#include "executors/files/sandbox_files.h"

#include "absl/strings/str_cat.h"

namespace converge {

absl::Status ValidateSandboxFiles(const std::string& dir,
                                  const std::map<std::string, std::string>& files) {
  if (dir.empty() || dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("sandbox dir `", dir, "` is not absolute"));
  }
  for (const auto& [name, content] : files) {
    if (name.empty() || name == "." || name == ".." ||
        name.find_first_of(std::string("/\0", 2)) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("sandbox file name `", name,
                                                     "` is not a bare file name"));
    }
  }
  return absl::OkStatus();
}

}  // namespace converge

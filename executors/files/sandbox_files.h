// SandboxFilesExecutor keeps a pod sandbox's own directory of generated files
// (resolv.conf, hostname) that its containers will bind-mount, under the
// daemon's state dir: `<state>/sandboxes/<id>/`.
//
//   CONVERGE_RETURN_IF_ERROR(files.Write(dir, {{"resolv.conf", text}}));
//   CONVERGE_ASSIGN_OR_RETURN(bool present, files.Exists(dir));   // observe
//   CONVERGE_RETURN_IF_ERROR(files.Remove(dir));                  // teardown
//
// Thread safety: any method from any thread; calls for one directory are
// serialized by the caller (the reconciler never runs one pod twice at once).
// Idempotence: Write replaces the files atomically (write + rename), so a
// crash leaves either the old or the new content; Remove of an absent
// directory is OK.
// Errors: INVALID_ARGUMENT for a relative dir or a file name that is not a
// bare name; errno-mapped codes naming the path otherwise.
#ifndef CONVERGE_EXECUTORS_FILES_SANDBOX_FILES_H_
#define CONVERGE_EXECUTORS_FILES_SANDBOX_FILES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace converge {

class SandboxFilesExecutor {
 public:
  virtual ~SandboxFilesExecutor() = default;

  // Creates `dir` (and parents) and writes each name -> content, mode 0644.
  virtual absl::Status Write(const std::string& dir,
                             const std::map<std::string, std::string>& files) = 0;
  // True iff `dir` exists and holds every file in `names`.
  virtual absl::StatusOr<bool> Exists(const std::string& dir,
                                      const std::vector<std::string>& names) = 0;
  // Removes `dir` and everything in it.
  virtual absl::Status Remove(const std::string& dir) = 0;
  // The node's resolver configuration, for pods that bring none.
  virtual absl::StatusOr<std::string> HostResolvConf() = 0;
};

// Checks shared by implementations: an absolute dir, bare file names.
absl::Status ValidateSandboxFiles(const std::string& dir,
                                  const std::map<std::string, std::string>& files);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_FILES_SANDBOX_FILES_H_

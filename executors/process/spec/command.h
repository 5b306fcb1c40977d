// A container process's argv, environment and working directory, derived from
// the CRI ContainerConfig and the image config the way containerd's CRI plugin
// derives them (internal/cri/opts WithProcessArgs, container_create.go) and runc
// finishes them (env de-duplication, HOME). Pure functions: no I/O.
//
//   CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> argv, ProcessArgs(config, image));
//   CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> env,
//                             ProcessEnv(config, image, hostname, user.home));
//   CONVERGE_ASSIGN_OR_RETURN(std::string cwd, WorkingDir(config, image));
//
// kubelet expands $(VAR) references in command, args and env values before it
// calls CreateContainer, so nothing here expands them: a "$(X)" that reaches the
// runtime was escaped as "$$(X)" or names no variable, and is meant literally.
//
// Errors are INVALID_ARGUMENT naming the CRI field ("args[1]") or the image
// config field ("image config Env[0]"). NUL bytes are rejected everywhere
// because exec(2) would silently cut the string at the first one.
#ifndef CONVERGE_EXECUTORS_PROCESS_SPEC_COMMAND_H_
#define CONVERGE_EXECUTORS_PROCESS_SPEC_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/cri/api.pb.h"
#include "api/records.pb.h"

namespace converge::process {

// containerd's default when neither the image nor the pod sets PATH.
inline constexpr char kDefaultPathEnv[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// If config.command is set: command + config.args (image Entrypoint and Cmd
// ignored). Otherwise: image Entrypoint + (config.args if set, else image Cmd),
// where an Entrypoint of exactly [""] counts as none (Dockerfile `ENTRYPOINT
// [""]` resets it). An empty result is INVALID_ARGUMENT "no command specified".
absl::StatusOr<std::vector<std::string>> ProcessArgs(const runtime::v1::ContainerConfig& config,
                                                     const records::ImageRuntimeConfig& image);

// The environment, in this order of precedence (later overrides earlier by key):
//   PATH=<kDefaultPathEnv>, TERM=xterm (only with config.tty),
//   HOSTNAME=<hostname>, the image's Env, config.envs;
// then HOME=<home> appended when nothing set HOME. An overridden variable keeps
// the position of its first appearance. An image Env entry without '=' unsets
// that variable from the runtime's defaults (PATH, TERM, HOSTNAME) and is
// dropped, as containerd's replaceOrAppendEnvValues does.
//
// `hostname` is the pod's hostname (the node's when the sandbox config leaves it
// empty); `home` is ProcessUser::home.
absl::StatusOr<std::vector<std::string>> ProcessEnv(const runtime::v1::ContainerConfig& config,
                                                    const records::ImageRuntimeConfig& image,
                                                    absl::string_view hostname,
                                                    absl::string_view home);

// config.working_dir, else the image's WorkingDir, else "/". Must be absolute,
// as runc requires; the path is used as given (not cleaned).
absl::StatusOr<std::string> WorkingDir(const runtime::v1::ContainerConfig& config,
                                       const records::ImageRuntimeConfig& image);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SPEC_COMMAND_H_

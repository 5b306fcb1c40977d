// converged's effective configuration: built-in defaults, then the optional
// text-format config file, then the flags given on the command line.
#ifndef CONVERGE_CMD_CONVERGED_CONFIG_H_
#define CONVERGE_CMD_CONVERGED_CONFIG_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/config.pb.h"
#include "executors/image/registry/hosts.h"

namespace converge {

config::DaemonConfig DefaultDaemonConfig();

// Merges `file_text` (may be empty) over the defaults, then `flags` (flag name
// -> value, only those set on the command line) over that, and validates the
// result. Errors name the field or flag.
absl::StatusOr<config::DaemonConfig> ResolveDaemonConfig(
    const std::string& file_text, const std::map<std::string, std::string>& flags);

absl::StatusOr<absl::Duration> ResyncPeriod(const config::DaemonConfig& config);
absl::StatusOr<absl::Duration> CniPluginTimeout(const config::DaemonConfig& config);
std::vector<std::string> CniBinDirs(const config::DaemonConfig& config);

// Mirrors and insecure registries; errors name the config field.
absl::StatusOr<registry::RegistryHosts> RegistryHostsOf(const config::DaemonConfig& config);

}  // namespace converge

#endif  // CONVERGE_CMD_CONVERGED_CONFIG_H_

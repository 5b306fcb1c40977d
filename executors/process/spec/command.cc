#include "executors/process/spec/command.h"

#include <cstddef>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace converge::process {
namespace {

bool HasNul(absl::string_view s) { return s.find('\0') != absl::string_view::npos; }

absl::Status CheckNoNul(const google::protobuf::RepeatedPtrField<std::string>& values,
                        absl::string_view field) {
  for (int i = 0; i < values.size(); ++i) {
    if (HasNul(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] contains a NUL byte"));
    }
  }
  return absl::OkStatus();
}

absl::string_view EnvKey(absl::string_view entry) { return entry.substr(0, entry.find('=')); }

}  // namespace

absl::StatusOr<std::vector<std::string>> ProcessArgs(const runtime::v1::ContainerConfig& config,
                                                     const records::ImageRuntimeConfig& image) {
  for (const auto& [values, field] :
       {std::pair{&config.command(), "command"}, std::pair{&config.args(), "args"},
        std::pair{&image.entrypoint(), "image config Entrypoint"},
        std::pair{&image.cmd(), "image config Cmd"}}) {
    if (absl::Status s = CheckNoNul(*values, field); !s.ok()) return s;
  }
  std::vector<std::string> argv;
  if (!config.command().empty()) {
    argv.assign(config.command().begin(), config.command().end());
  } else if (!(image.entrypoint().size() == 1 && image.entrypoint(0).empty())) {
    argv.assign(image.entrypoint().begin(), image.entrypoint().end());
  }
  // Image Cmd only fills in for args when the pod overrides neither command nor args.
  const auto& args =
      config.command().empty() && config.args().empty() ? image.cmd() : config.args();
  argv.insert(argv.end(), args.begin(), args.end());
  if (argv.empty()) return absl::InvalidArgumentError("no command specified");
  return argv;
}

absl::StatusOr<std::vector<std::string>> ProcessEnv(const runtime::v1::ContainerConfig& config,
                                                    const records::ImageRuntimeConfig& image,
                                                    absl::string_view hostname,
                                                    absl::string_view home) {
  // The runtime's defaults; these alone can be unset by a bare image entry.
  std::vector<std::optional<std::string>> env = {std::string(kDefaultPathEnv)};
  if (config.tty()) env.push_back(std::string("TERM=xterm"));
  env.push_back(absl::StrCat("HOSTNAME=", hostname));
  absl::flat_hash_map<std::string, size_t> default_index;
  for (size_t i = 0; i < env.size(); ++i) default_index[std::string(EnvKey(*env[i]))] = i;

  absl::flat_hash_map<std::string, size_t> index = default_index;
  auto set = [&](std::string entry) {
    auto [it, inserted] = index.try_emplace(std::string(EnvKey(entry)), env.size());
    if (inserted) {
      env.push_back(std::move(entry));
    } else {
      env[it->second] = std::move(entry);  // later wins, in the first one's place
    }
  };

  for (int i = 0; i < image.env_size(); ++i) {
    const std::string& entry = image.env(i);
    const std::string field = absl::StrCat("image config Env[", i, "]");
    if (HasNul(entry)) return absl::InvalidArgumentError(field + " contains a NUL byte");
    if (!absl::StrContains(entry, '=')) {
      if (auto it = default_index.find(entry); it != default_index.end()) {
        env[it->second].reset();  // a later entry with this key refills the slot
      }
      continue;
    }
    if (EnvKey(entry).empty()) return absl::InvalidArgumentError(field + " has an empty name");
    set(entry);
  }
  for (int i = 0; i < config.envs_size(); ++i) {
    const runtime::v1::KeyValue& kv = config.envs(i);
    const std::string field = absl::StrCat("envs[", i, "]");
    if (kv.key().empty() || absl::StrContains(kv.key(), '=') || HasNul(kv.key())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".key \"", kv.key(), "\" is not a valid variable name"));
    }
    if (HasNul(kv.value())) {
      return absl::InvalidArgumentError(field + ".value contains a NUL byte");
    }
    set(absl::StrCat(kv.key(), "=", kv.value()));
  }
  if (!index.contains("HOME")) set(absl::StrCat("HOME=", home));

  std::vector<std::string> out;
  out.reserve(env.size());
  for (std::optional<std::string>& entry : env) {
    if (entry) out.push_back(std::move(*entry));
  }
  return out;
}

absl::StatusOr<std::string> WorkingDir(const runtime::v1::ContainerConfig& config,
                                       const records::ImageRuntimeConfig& image) {
  absl::string_view dir = "/";
  absl::string_view field;
  if (!config.working_dir().empty()) {
    dir = config.working_dir();
    field = "working_dir";
  } else if (!image.working_dir().empty()) {
    dir = image.working_dir();
    field = "image config WorkingDir";
  }
  if (HasNul(dir)) return absl::InvalidArgumentError(absl::StrCat(field, " contains a NUL byte"));
  if (dir.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", dir, "\" is not an absolute path"));
  }
  return std::string(dir);
}

}  // namespace converge::process

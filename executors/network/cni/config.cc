#include "executors/network/cni/config.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "executors/namespace/unique_fd.h"

namespace converge {
namespace {

// A config file larger than this is not a config file.
constexpr size_t kMaxConfigFileBytes = 1 << 20;

absl::Status FieldError(const std::string& source, absl::string_view field,
                        absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": \"", field, "\": ", problem));
}

std::string Quoted(const Json& value) { return DumpJson(value); }

// Parses "MAJOR.MINOR.PATCH" into three numbers.
std::optional<std::vector<int>> ParseVersion(absl::string_view version) {
  std::vector<absl::string_view> parts = absl::StrSplit(version, '.');
  if (parts.size() != 3) return std::nullopt;
  std::vector<int> numbers;
  for (absl::string_view part : parts) {
    int n = 0;
    if (part.empty() || !absl::SimpleAtoi(part, &n) || n < 0 ||
        !absl::ascii_isdigit(part[0])) {
      return std::nullopt;
    }
    numbers.push_back(n);
  }
  return numbers;
}

// Reads a boolean that libcni also accepts as the string "true"/"false".
absl::StatusOr<bool> ReadLooseBool(const Json& doc, const char* key,
                                   const std::string& source) {
  auto it = doc.find(key);
  if (it == doc.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) {
    std::string value = absl::AsciiStrToLower(it->get<std::string>());
    if (value == "true") return true;
    if (value == "false") return false;
  }
  return FieldError(source, key,
                    absl::StrCat("must be true or false, got ", Quoted(*it)));
}

// Picks the version to run from `cniVersion` and `cniVersions`.
absl::StatusOr<std::string> SelectVersion(const Json& doc,
                                          const std::string& source) {
  std::vector<std::string> candidates;
  auto version = doc.find("cniVersion");
  if (version != doc.end()) {
    if (!version->is_string()) {
      return FieldError(
          source, "cniVersion",
          absl::StrCat("must be a string, got ", Quoted(*version)));
    }
    candidates.push_back(version->get<std::string>());
  }
  auto versions = doc.find("cniVersions");
  if (versions != doc.end()) {
    if (!versions->is_array()) {
      return FieldError(source, "cniVersions", "must be an array of strings");
    }
    for (size_t i = 0; i < versions->size(); ++i) {
      if (!(*versions)[i].is_string()) {
        return FieldError(source, absl::StrCat("cniVersions[", i, "]"),
                          "must be a string");
      }
      candidates.push_back((*versions)[i].get<std::string>());
    }
  }
  if (candidates.empty() || (candidates.size() == 1 && candidates[0].empty())) {
    return FieldError(source, "cniVersion",
                      "missing (the implied 0.1.0 is not supported)");
  }
  std::optional<std::string> best;
  for (const std::string& candidate : candidates) {
    if (!ParseVersion(candidate)) {
      return FieldError(source, "cniVersion",
                        absl::StrCat("\"", candidate, "\" is not a version"));
    }
    if (!IsSupportedCniVersion(candidate)) continue;
    if (!best || *CompareCniVersions(candidate, *best) > 0) best = candidate;
  }
  if (!best) {
    return FieldError(
        source, "cniVersion",
        absl::StrCat("none of ", absl::StrJoin(candidates, ", "),
                     " is supported (converge supports ",
                     absl::StrJoin(kSupportedCniVersions, ", "), ")"));
  }
  return *best;
}

// `field` is where the plugin object sits ("plugins[2]"), empty for the
// top level of a single-plugin .conf.
absl::StatusOr<CniPluginConfig> ParsePlugin(const Json& raw,
                                            const std::string& field,
                                            const std::string& source) {
  auto sub = [&](absl::string_view key) {
    return field.empty() ? std::string(key) : absl::StrCat(field, ".", key);
  };
  if (!raw.is_object()) {
    return FieldError(source, field, "must be an object");
  }
  CniPluginConfig plugin;
  plugin.raw = raw;
  auto type = raw.find("type");
  if (type == raw.end()) {
    return FieldError(source, sub("type"), "missing");
  }
  if (!type->is_string()) {
    return FieldError(source, sub("type"),
                      absl::StrCat("must be a string, got ", Quoted(*type)));
  }
  plugin.type = type->get<std::string>();
  absl::Status valid = ValidatePluginType(plugin.type);
  if (!valid.ok()) {
    return FieldError(source, sub("type"), valid.message());
  }
  auto capabilities = raw.find("capabilities");
  if (capabilities != raw.end()) {
    if (!capabilities->is_object()) {
      return FieldError(source, sub("capabilities"),
                        "must be an object of booleans");
    }
    for (auto it = capabilities->begin(); it != capabilities->end(); ++it) {
      if (!it.value().is_boolean()) {
        return FieldError(
            source, sub(absl::StrCat("capabilities.", it.key())),
            absl::StrCat("must be a boolean, got ", Quoted(it.value())));
      }
      plugin.capabilities[it.key()] = it.value().get<bool>();
    }
  }
  auto ipam = raw.find("ipam");
  if (ipam != raw.end() && ipam->is_object()) {
    auto ipam_type = ipam->find("type");
    if (ipam_type != ipam->end()) {
      absl::Status ipam_valid =
          ipam_type->is_string()
              ? ValidatePluginType(ipam_type->get<std::string>())
              : absl::InvalidArgumentError("must be a string");
      if (!ipam_valid.ok()) {
        return FieldError(source, sub("ipam.type"), ipam_valid.message());
      }
    }
  }
  return plugin;
}

// Fills name, cniVersion and disableCheck from `doc`.
absl::Status ParseListHeader(const Json& doc, const std::string& source,
                             NetworkConfigList& list) {
  auto name = doc.find("name");
  if (name == doc.end()) return FieldError(source, "name", "missing");
  if (!name->is_string()) {
    return FieldError(source, "name",
                      absl::StrCat("must be a string, got ", Quoted(*name)));
  }
  list.name = name->get<std::string>();
  absl::Status valid = ValidateCniName(list.name, "network name");
  if (!valid.ok()) return FieldError(source, "name", valid.message());
  CONVERGE_ASSIGN_OR_RETURN(list.cni_version, SelectVersion(doc, source));
  CONVERGE_ASSIGN_OR_RETURN(list.disable_check,
                            ReadLooseBool(doc, "disableCheck", source));
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseObject(absl::string_view bytes,
                                 const std::string& source) {
  CONVERGE_ASSIGN_OR_RETURN(Json doc, ParseJson(bytes, source));
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a JSON object"));
  }
  return doc;
}

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open `", path, "`");
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoError(errno, "fstat `", path, "`");
  if (static_cast<size_t>(st.st_size) > kMaxConfigFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than ", kMaxConfigFileBytes, " bytes"));
  }
  std::string data;
  char buffer[8192];
  while (true) {
    ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read `", path, "`");
    }
    if (n == 0) break;
    data.append(buffer, n);
    if (data.size() > kMaxConfigFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", kMaxConfigFileBytes, " bytes"));
    }
  }
  return data;
}

// libcni's filepath.Ext: from the last '.' of the base name.
absl::string_view Extension(absl::string_view name) {
  size_t dot = name.rfind('.');
  return dot == absl::string_view::npos ? absl::string_view()
                                        : name.substr(dot);
}

// Candidate file names in `dir`, sorted; an absent directory has none.
absl::StatusOr<std::vector<std::string>> ConfFiles(const std::string& dir) {
  std::vector<std::string> files;
  DIR* stream = opendir(dir.c_str());
  if (stream == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return files;
    return ErrnoError(errno, "opendir `", dir, "`");
  }
  errno = 0;
  while (struct dirent* entry = readdir(stream)) {
    absl::string_view name = entry->d_name;
    absl::string_view ext = Extension(name);
    if (ext != ".conflist" && ext != ".conf" && ext != ".json") continue;
    struct stat st;
    std::string path = absl::StrCat(dir, "/", name);
    // Symlinks to files count (ConfigMap mounts are symlinks); directories
    // and dangling links do not.
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    files.emplace_back(name);
    errno = 0;
  }
  int read_errno = errno;
  closedir(stream);
  if (read_errno != 0) return ErrnoError(read_errno, "readdir `", dir, "`");
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

bool IsSupportedCniVersion(absl::string_view version) {
  for (const char* supported : kSupportedCniVersions) {
    if (version == supported) return true;
  }
  return false;
}

absl::StatusOr<int> CompareCniVersions(absl::string_view a,
                                       absl::string_view b) {
  std::optional<std::vector<int>> va = ParseVersion(a);
  std::optional<std::vector<int>> vb = ParseVersion(b);
  if (!va || !vb) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed CNI version \"", !va ? a : b,
                     "\" (want MAJOR.MINOR.PATCH)"));
  }
  for (int i = 0; i < 3; ++i) {
    if ((*va)[i] != (*vb)[i]) return (*va)[i] < (*vb)[i] ? -1 : 1;
  }
  return 0;
}

absl::Status ValidatePluginType(absl::string_view type) {
  if (type.empty()) return absl::InvalidArgumentError("empty plugin type");
  if (type == "." || type == ".." ||
      type.find_first_of(absl::string_view("/\0", 2)) !=
          absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("plugin type \"", type, "\" must be a bare file name"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCniName(absl::string_view name, absl::string_view what) {
  bool ok = !name.empty() && absl::ascii_isalnum(name[0]);
  for (size_t i = 1; ok && i < name.size(); ++i) {
    char c = name[i];
    ok = absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", name, "\" must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"));
  }
  return absl::OkStatus();
}

absl::StatusOr<NetworkConfigList> ParseNetworkConfigList(
    absl::string_view bytes, const std::string& source) {
  CONVERGE_ASSIGN_OR_RETURN(Json doc, ParseObject(bytes, source));
  NetworkConfigList list;
  CONVERGE_RETURN_IF_ERROR(ParseListHeader(doc, source, list));
  auto plugins = doc.find("plugins");
  if (plugins == doc.end()) return FieldError(source, "plugins", "missing");
  if (!plugins->is_array()) {
    return FieldError(source, "plugins", "must be an array");
  }
  if (plugins->empty()) return FieldError(source, "plugins", "empty");
  for (size_t i = 0; i < plugins->size(); ++i) {
    CONVERGE_ASSIGN_OR_RETURN(
        CniPluginConfig plugin,
        ParsePlugin((*plugins)[i], absl::StrCat("plugins[", i, "]"), source));
    list.plugins.push_back(std::move(plugin));
  }
  list.source_path = source;
  list.bytes = std::string(bytes);
  return list;
}

absl::StatusOr<NetworkConfigList> ParseSingleNetworkConfig(
    absl::string_view bytes, const std::string& source) {
  CONVERGE_ASSIGN_OR_RETURN(Json doc, ParseObject(bytes, source));
  if (!doc.contains("type") && doc.contains("plugins")) {
    return FieldError(source, "type", "missing; perhaps this is a .conflist?");
  }
  NetworkConfigList list;
  CONVERGE_RETURN_IF_ERROR(ParseListHeader(doc, source, list));
  CONVERGE_ASSIGN_OR_RETURN(CniPluginConfig plugin,
                            ParsePlugin(doc, "", source));
  list.plugins.push_back(std::move(plugin));
  list.source_path = source;
  list.bytes = std::string(bytes);
  return list;
}

absl::StatusOr<NetworkConfigList> LoadNetworkConfigList(
    const std::string& conf_dir) {
  CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> files,
                            ConfFiles(conf_dir));
  if (files.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no CNI network config in ", conf_dir));
  }
  std::vector<std::string> skipped;
  for (const std::string& file : files) {
    std::string path = absl::StrCat(conf_dir, "/", file);
    absl::StatusOr<std::string> bytes = ReadConfigFile(path);
    if (!bytes.ok()) {
      skipped.emplace_back(bytes.status().message());
      continue;
    }
    absl::StatusOr<NetworkConfigList> list =
        Extension(file) == ".conflist" ? ParseNetworkConfigList(*bytes, path)
                                       : ParseSingleNetworkConfig(*bytes, path);
    if (list.ok()) {
      list->skipped = std::move(skipped);
      return list;
    }
    skipped.emplace_back(list.status().message());
  }
  return absl::FailedPreconditionError(
      absl::StrCat("no valid CNI network config in ", conf_dir, ": ",
                   absl::StrJoin(skipped, "; ")));
}

std::string NetworkConfigListToJson(const NetworkConfigList& list) {
  Json doc = Json::object();
  doc["cniVersion"] = list.cni_version;
  doc["name"] = list.name;
  if (list.disable_check) doc["disableCheck"] = true;
  doc["plugins"] = Json::array();
  for (const CniPluginConfig& plugin : list.plugins) {
    doc["plugins"].push_back(plugin.raw);
  }
  return DumpJson(doc);
}

absl::StatusOr<NetworkConfigList> NetworkConfigListFromJson(
    absl::string_view json, const std::string& source) {
  return ParseNetworkConfigList(json, source);
}

}  // namespace converge

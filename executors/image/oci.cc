#include "executors/image/oci.h"

#include <sys/utsname.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace converge::oci {
namespace {

using nlohmann::json;

constexpr char kDockerSchema1[] = "application/vnd.docker.distribution.manifest.v1";

absl::Status Invalid(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
}

absl::StatusOr<json> ParseObject(absl::string_view text, absl::string_view what) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Invalid(what, "not a JSON object");
  return doc;
}

// The string at `key`, "" when absent; an error when present but not a string.
absl::StatusOr<std::string> OptionalString(const json& object, const char* key,
                                           absl::string_view field) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Invalid(field, "not a string");
  return it->get<std::string>();
}

absl::StatusOr<std::vector<std::string>> OptionalStrings(const json& object, const char* key,
                                                         absl::string_view field) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return Invalid(field, "not an array");
  for (const json& item : *it) {
    if (!item.is_string()) return Invalid(field, "has a non-string element");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// Keys of an object of empty objects (ExposedPorts, Volumes).
absl::StatusOr<std::vector<std::string>> OptionalKeys(const json& object, const char* key,
                                                      absl::string_view field) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_object()) return Invalid(field, "not an object");
  for (auto entry = it->begin(); entry != it->end(); ++entry) out.push_back(entry.key());
  return out;
}

absl::StatusOr<Descriptor> ParseDescriptor(const json& object, absl::string_view field) {
  if (!object.is_object()) return Invalid(field, "not an object");
  Descriptor descriptor;
  CONVERGE_ASSIGN_OR_RETURN(descriptor.media_type,
                            OptionalString(object, "mediaType", absl::StrCat(field, ".mediaType")));
  CONVERGE_ASSIGN_OR_RETURN(std::string digest,
                            OptionalString(object, "digest", absl::StrCat(field, ".digest")));
  auto parsed = Digest::Parse(digest);
  if (!parsed.ok()) return Invalid(absl::StrCat(field, ".digest"), parsed.status().message());
  descriptor.digest = *parsed;
  auto size = object.find("size");
  if (size == object.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return Invalid(absl::StrCat(field, ".size"), "missing or not a non-negative integer");
  }
  descriptor.size = size->get<int64_t>();
  if (auto platform = object.find("platform"); platform != object.end()) {
    if (!platform->is_object()) return Invalid(absl::StrCat(field, ".platform"), "not an object");
    Platform p;
    CONVERGE_ASSIGN_OR_RETURN(p.os, OptionalString(*platform, "os", "platform.os"));
    CONVERGE_ASSIGN_OR_RETURN(p.architecture,
                              OptionalString(*platform, "architecture", "platform.architecture"));
    CONVERGE_ASSIGN_OR_RETURN(p.variant, OptionalString(*platform, "variant", "platform.variant"));
    descriptor.platform = std::move(p);
  }
  if (auto annotations = object.find("annotations");
      annotations != object.end() && annotations->is_object()) {
    for (auto it = annotations->begin(); it != annotations->end(); ++it) {
      if (it->is_string()) descriptor.annotations[it.key()] = it->get<std::string>();
    }
  }
  return descriptor;
}

json DescriptorJson(const Descriptor& descriptor) {
  json out = {{"mediaType", descriptor.media_type},
              {"digest", descriptor.digest.str()},
              {"size", descriptor.size}};
  if (!descriptor.annotations.empty()) out["annotations"] = descriptor.annotations;
  return out;
}

// Go's GOARCH names, which image platforms use.
std::string GoArch(absl::string_view machine) {
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  if (machine == "i686" || machine == "i386") return "386";
  if (machine == "armv7l" || machine == "armv6l") return "arm";
  return std::string(machine);
}

std::string NormalizedVariant(const Platform& platform) {
  // containerd's normalisation: arm64 without a variant is v8.
  if (platform.architecture == "arm64" && platform.variant.empty()) return "v8";
  return platform.variant;
}

}  // namespace

bool IsIndexMediaType(absl::string_view media_type) {
  return media_type == kOciIndex || media_type == kDockerManifestList;
}

bool IsManifestMediaType(absl::string_view media_type) {
  return media_type == kOciManifest || media_type == kDockerManifest;
}

Platform HostPlatform() {
  utsname name{};
  uname(&name);
  Platform platform{"linux", GoArch(name.machine), ""};
  if (platform.architecture == "arm64") platform.variant = "v8";
  return platform;
}

std::string PlatformString(const Platform& platform) {
  std::string out = absl::StrCat(platform.os, "/", platform.architecture);
  if (!platform.variant.empty()) absl::StrAppend(&out, "/", platform.variant);
  return out;
}

absl::StatusOr<std::string> DocumentMediaType(absl::string_view content_type,
                                              absl::string_view json_text) {
  // Registries may append parameters (`; charset=utf-8`).
  absl::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  if (IsIndexMediaType(type) || IsManifestMediaType(type)) return std::string(type);
  if (absl::StartsWith(type, kDockerSchema1)) {
    return Invalid("manifest", "Docker schema 1 manifests are not supported");
  }
  CONVERGE_ASSIGN_OR_RETURN(json doc, ParseObject(json_text, "manifest"));
  CONVERGE_ASSIGN_OR_RETURN(std::string own, OptionalString(doc, "mediaType", "mediaType"));
  if (IsIndexMediaType(own) || IsManifestMediaType(own)) return own;
  if (!own.empty() || doc.contains("fsLayers")) {
    return Invalid("manifest", absl::StrCat("unsupported media type \"",
                                            own.empty() ? std::string(type) : own, "\""));
  }
  if (doc.contains("manifests")) return std::string(kOciIndex);
  if (doc.contains("layers") && doc.contains("config")) return std::string(kOciManifest);
  return Invalid("manifest", "neither an image manifest nor an index");
}

absl::StatusOr<Manifest> ParseManifest(absl::string_view text) {
  CONVERGE_ASSIGN_OR_RETURN(json doc, ParseObject(text, "manifest"));
  Manifest manifest;
  CONVERGE_ASSIGN_OR_RETURN(manifest.media_type, DocumentMediaType("", text));
  if (!IsManifestMediaType(manifest.media_type)) {
    return Invalid("manifest", absl::StrCat("is a ", manifest.media_type));
  }
  auto config = doc.find("config");
  if (config == doc.end()) return Invalid("manifest.config", "missing");
  CONVERGE_ASSIGN_OR_RETURN(manifest.config, ParseDescriptor(*config, "manifest.config"));
  auto layers = doc.find("layers");
  if (layers == doc.end() || !layers->is_array()) {
    return Invalid("manifest.layers", "missing or not an array");
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    CONVERGE_ASSIGN_OR_RETURN(
        Descriptor layer, ParseDescriptor((*layers)[i], absl::StrCat("manifest.layers[", i, "]")));
    manifest.layers.push_back(std::move(layer));
  }
  return manifest;
}

absl::StatusOr<Index> ParseIndex(absl::string_view text) {
  CONVERGE_ASSIGN_OR_RETURN(json doc, ParseObject(text, "index"));
  Index index;
  CONVERGE_ASSIGN_OR_RETURN(index.media_type, DocumentMediaType("", text));
  if (!IsIndexMediaType(index.media_type)) {
    return Invalid("index", absl::StrCat("is a ", index.media_type));
  }
  auto manifests = doc.find("manifests");
  if (manifests == doc.end() || !manifests->is_array()) {
    return Invalid("index.manifests", "missing or not an array");
  }
  for (size_t i = 0; i < manifests->size(); ++i) {
    CONVERGE_ASSIGN_OR_RETURN(Descriptor entry,
                              ParseDescriptor((*manifests)[i],
                                              absl::StrCat("index.manifests[", i, "]")));
    index.manifests.push_back(std::move(entry));
  }
  return index;
}

absl::StatusOr<ImageConfig> ParseImageConfig(absl::string_view text) {
  CONVERGE_ASSIGN_OR_RETURN(json doc, ParseObject(text, "image config"));
  ImageConfig image;
  CONVERGE_ASSIGN_OR_RETURN(image.os, OptionalString(doc, "os", "config.os"));
  CONVERGE_ASSIGN_OR_RETURN(image.architecture,
                            OptionalString(doc, "architecture", "config.architecture"));
  if (auto runtime = doc.find("config"); runtime != doc.end() && !runtime->is_null()) {
    if (!runtime->is_object()) return Invalid("config.config", "not an object");
    const json& c = *runtime;
    CONVERGE_ASSIGN_OR_RETURN(image.user, OptionalString(c, "User", "config.User"));
    CONVERGE_ASSIGN_OR_RETURN(image.env, OptionalStrings(c, "Env", "config.Env"));
    CONVERGE_ASSIGN_OR_RETURN(image.entrypoint,
                              OptionalStrings(c, "Entrypoint", "config.Entrypoint"));
    CONVERGE_ASSIGN_OR_RETURN(image.cmd, OptionalStrings(c, "Cmd", "config.Cmd"));
    CONVERGE_ASSIGN_OR_RETURN(image.working_dir,
                              OptionalString(c, "WorkingDir", "config.WorkingDir"));
    CONVERGE_ASSIGN_OR_RETURN(image.stop_signal,
                              OptionalString(c, "StopSignal", "config.StopSignal"));
    CONVERGE_ASSIGN_OR_RETURN(image.exposed_ports,
                              OptionalKeys(c, "ExposedPorts", "config.ExposedPorts"));
    CONVERGE_ASSIGN_OR_RETURN(image.volumes, OptionalKeys(c, "Volumes", "config.Volumes"));
    if (auto labels = c.find("Labels"); labels != c.end() && labels->is_object()) {
      for (auto it = labels->begin(); it != labels->end(); ++it) {
        if (it->is_string()) image.labels[it.key()] = it->get<std::string>();
      }
    }
  }
  auto rootfs = doc.find("rootfs");
  if (rootfs == doc.end() || !rootfs->is_object()) {
    return Invalid("config.rootfs", "missing or not an object");
  }
  CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> diff_ids,
                            OptionalStrings(*rootfs, "diff_ids", "config.rootfs.diff_ids"));
  for (const std::string& text_id : diff_ids) {
    auto diff_id = Digest::Parse(text_id);
    if (!diff_id.ok()) return Invalid("config.rootfs.diff_ids", diff_id.status().message());
    image.diff_ids.push_back(*diff_id);
  }
  return image;
}

absl::StatusOr<Descriptor> SelectPlatform(const Index& index, const Platform& platform) {
  std::vector<std::string> offered;
  for (const Descriptor& entry : index.manifests) {
    if (!entry.platform) continue;
    offered.push_back(PlatformString(*entry.platform));
    if (entry.platform->os != platform.os ||
        entry.platform->architecture != platform.architecture) {
      continue;
    }
    const std::string want = NormalizedVariant(platform);
    const std::string have = NormalizedVariant(*entry.platform);
    if (!want.empty() && !have.empty() && want != have) continue;
    return entry;
  }
  return absl::NotFoundError(absl::StrCat("no manifest for platform ", PlatformString(platform),
                                          " in the index (it offers: ",
                                          offered.empty() ? "none" : absl::StrJoin(offered, ", "),
                                          ")"));
}

std::string SerializeManifest(const Manifest& manifest) {
  json layers = json::array();
  for (const Descriptor& layer : manifest.layers) layers.push_back(DescriptorJson(layer));
  json doc = {{"schemaVersion", 2},
              {"mediaType", manifest.media_type.empty() ? kOciManifest : manifest.media_type},
              {"config", DescriptorJson(manifest.config)},
              {"layers", layers}};
  return doc.dump();
}

}  // namespace converge::oci

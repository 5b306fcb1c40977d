#include "executors/image/archive/archive_import.h"

#include <archive.h>
#include <archive_entry.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

using nlohmann::json;

constexpr size_t kChunkBytes = 64 << 10;
constexpr char kBlobPrefix[] = "blobs/sha256/";
constexpr char kIndexJson[] = "index.json";
constexpr char kManifestJson[] = "manifest.json";
constexpr char kOciLayout[] = "oci-layout";
constexpr char kOciLayoutVersion[] = "1.0.0";
constexpr char kContainerdImageName[] = "io.containerd.image.name";
constexpr char kOciRefName[] = "org.opencontainers.image.ref.name";
// Links followed from one name before giving up (a loop, or a hostile chain).
constexpr int kMaxLinkHops = 16;
// Indexes within indexes; real images use one level.
constexpr int kMaxIndexDepth = 8;

// `path` relative to the archive root with "." and empty components dropped
// and ".." applied; nullopt for absolute paths and any that climb out.
std::optional<std::string> Normalize(absl::string_view path) {
  if (absl::StartsWith(path, "/")) return std::nullopt;
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part != "..") {
      parts.push_back(part);
    } else if (parts.empty()) {
      return std::nullopt;
    } else {
      parts.pop_back();
    }
  }
  if (parts.empty()) return std::nullopt;
  return absl::StrJoin(parts, "/");
}

struct Member {
  Digest digest;
  int64_t size = 0;
  bool gzip = false;
};

// What one pass over the archive found, by normalised member name.
struct ArchiveContents {
  std::map<std::string, Member> files;          // stored regular members
  std::map<std::string, std::string> links;     // symlinks and hard links -> target
  std::map<std::string, std::string> metadata;  // index.json, manifest.json, oci-layout

  absl::StatusOr<Member> Lookup(absl::string_view path) const {
    std::optional<std::string> name = Normalize(path);
    for (int hop = 0; name && hop <= kMaxLinkHops; ++hop) {
      if (auto file = files.find(*name); file != files.end()) return file->second;
      auto link = links.find(*name);
      if (link == links.end()) break;
      name = link->second;
    }
    return absl::NotFoundError(absl::StrCat("archive has no member `", path, "`"));
  }
};

absl::Status ArchiveError(archive* reader, absl::string_view what) {
  const char* message = archive_error_string(reader);
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": ", message != nullptr ? message : "unknown libarchive error"));
}

// Passes the current member's data to `consume` chunk by chunk.
absl::Status ReadData(archive* reader, const std::string& name, std::vector<char>& buffer,
                      const std::function<absl::Status(absl::string_view)>& consume) {
  for (;;) {
    const la_ssize_t n = archive_read_data(reader, buffer.data(), buffer.size());
    if (n < 0) return ArchiveError(reader, absl::StrCat("read archive member `", name, "`"));
    if (n == 0) return absl::OkStatus();
    CONVERGE_RETURN_IF_ERROR(consume(absl::string_view(buffer.data(), static_cast<size_t>(n))));
  }
}

absl::StatusOr<Member> StoreMember(archive* reader, archive_entry* entry, const std::string& name,
                                   std::vector<char>& buffer, ContentStore& store) {
  Digest expected;
  if (absl::StartsWith(name, kBlobPrefix)) {
    // Anything else under blobs/ is just a member like any other.
    expected = Digest::Parse(absl::StrCat("sha256:", name.substr(sizeof(kBlobPrefix) - 1)))
                   .value_or(Digest());
  }
  const int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
  CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<ContentStore::Writer> writer,
                            store.NewWriter(expected, size));
  std::string head;  // the first two bytes, for the gzip magic
  CONVERGE_RETURN_IF_ERROR(ReadData(reader, name, buffer, [&](absl::string_view chunk) {
    absl::StrAppend(&head, chunk.substr(0, 2 - head.size()));
    return writer->Write(chunk);
  }));
  CONVERGE_RETURN_IF_ERROR(Annotate(writer->Commit(), "archive member `", name, "`"));
  return Member{writer->digest(), writer->written(), head == "\x1f\x8b"};
}

absl::StatusOr<std::string> ReadMetadata(archive* reader, archive_entry* entry,
                                         const std::string& name, std::vector<char>& buffer) {
  const auto too_big = [&name] {
    return absl::InvalidArgumentError(absl::StrCat("archive member `", name, "` is larger than ",
                                                   kMaxArchiveMetadataBytes, " bytes"));
  };
  if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > kMaxArchiveMetadataBytes) {
    return too_big();
  }
  std::string data;
  CONVERGE_RETURN_IF_ERROR(ReadData(reader, name, buffer, [&](absl::string_view chunk) {
    if (data.size() + chunk.size() > static_cast<size_t>(kMaxArchiveMetadataBytes)) {
      return too_big();
    }
    absl::StrAppend(&data, chunk);
    return absl::OkStatus();
  }));
  return data;
}

void SetLink(ArchiveContents& contents, const std::string& name,
             const std::optional<std::string>& target) {
  contents.files.erase(name);
  // A target outside the archive is left out, so looking the link up fails.
  if (target) {
    contents.links[name] = *target;
  } else {
    contents.links.erase(name);
  }
}

// Stores every regular member and notes links and metadata files.
absl::StatusOr<ArchiveContents> ReadArchive(int fd, ContentStore& store) {
  std::unique_ptr<archive, int (*)(archive*)> reader(archive_read_new(), archive_read_free);
  if (reader == nullptr) return absl::ResourceExhaustedError("archive_read_new failed");
  archive* a = reader.get();
  if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
      archive_read_support_filter_none(a) != ARCHIVE_OK ||
      archive_read_support_format_tar(a) != ARCHIVE_OK ||
      archive_read_support_format_gnutar(a) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat("configure libarchive: ", archive_error_string(a)));
  }
  if (archive_read_open_fd(a, fd, kChunkBytes) != ARCHIVE_OK) {
    return ArchiveError(a, "open image archive");
  }
  ArchiveContents contents;
  std::vector<char> buffer(kChunkBytes);
  for (;;) {
    archive_entry* entry = nullptr;
    const int result = archive_read_next_header(a, &entry);
    if (result == ARCHIVE_EOF) return contents;
    if (result < ARCHIVE_WARN) return ArchiveError(a, "read image archive");
    const char* path = archive_entry_pathname(entry);
    std::optional<std::string> name = path != nullptr ? Normalize(path) : std::nullopt;
    // A name outside the archive is never looked up; its data is skipped.
    if (!name) continue;
    if (const char* target = archive_entry_hardlink(entry); target != nullptr) {
      SetLink(contents, *name, Normalize(target));  // relative to the archive root
      continue;
    }
    if (archive_entry_filetype(entry) == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      const size_t slash = name->rfind('/');
      const std::string dir = slash == std::string::npos ? "" : name->substr(0, slash + 1);
      // Relative to the link's directory; absolute targets point at the host.
      SetLink(contents, *name,
              target == nullptr || target[0] == '/' ? std::nullopt : Normalize(dir + target));
      continue;
    }
    if (archive_entry_filetype(entry) != AE_IFREG) continue;  // directories carry no content
    if (*name == kIndexJson || *name == kManifestJson || *name == kOciLayout) {
      CONVERGE_ASSIGN_OR_RETURN(contents.metadata[*name], ReadMetadata(a, entry, *name, buffer));
      continue;
    }
    // Stored whether or not anything turns out to reference it: the archive
    // is read only once. The image GC removes what stays unreferenced.
    CONVERGE_ASSIGN_OR_RETURN(Member member, StoreMember(a, entry, *name, buffer, store));
    contents.links.erase(*name);
    contents.files[*name] = member;
  }
}

// Checks that `descriptor` and everything it references is in the store with
// the declared sizes; `verified` holds digests already checked.
absl::Status VerifyTree(const oci::Descriptor& descriptor, ContentStore& store,
                        std::set<Digest>& verified, int depth) {
  if (!verified.insert(descriptor.digest).second) return absl::OkStatus();
  if (!store.Has(descriptor.digest)) {
    return absl::NotFoundError(absl::StrCat("blob ", descriptor.digest.str(), " (",
                                            descriptor.media_type,
                                            ") is referenced but not in the archive"));
  }
  CONVERGE_ASSIGN_OR_RETURN(int64_t size, store.Size(descriptor.digest));
  if (size != descriptor.size) {
    return absl::DataLossError(absl::StrCat("blob ", descriptor.digest.str(), " is ", size,
                                            " bytes, its descriptor says ", descriptor.size));
  }
  const bool index = oci::IsIndexMediaType(descriptor.media_type);
  if (!index && !oci::IsManifestMediaType(descriptor.media_type)) return absl::OkStatus();
  if (depth >= kMaxIndexDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("indexes nested more than ", kMaxIndexDepth, " deep"));
  }
  CONVERGE_ASSIGN_OR_RETURN(std::string body,
                            store.Read(descriptor.digest, kMaxArchiveMetadataBytes));
  std::vector<oci::Descriptor> children;
  if (index) {
    absl::StatusOr<oci::Index> parsed = oci::ParseIndex(body);
    if (!parsed.ok()) return Annotate(parsed.status(), "index ", descriptor.digest.str());
    children = std::move(parsed->manifests);
  } else {
    absl::StatusOr<oci::Manifest> parsed = oci::ParseManifest(body);
    if (!parsed.ok()) return Annotate(parsed.status(), "manifest ", descriptor.digest.str());
    children = std::move(parsed->layers);
    children.push_back(std::move(parsed->config));
  }
  for (const oci::Descriptor& child : children) {
    CONVERGE_RETURN_IF_ERROR(VerifyTree(child, store, verified, depth + 1));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> ParseJson(const std::string& text, absl::string_view what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(what, ": not JSON"));
  return doc;
}

absl::StatusOr<std::vector<ImportedImage>> ImportOciLayout(const ArchiveContents& contents,
                                                           ContentStore& store) {
  if (auto layout = contents.metadata.find(kOciLayout); layout != contents.metadata.end()) {
    CONVERGE_ASSIGN_OR_RETURN(json doc, ParseJson(layout->second, kOciLayout));
    auto version = doc.is_object() ? doc.find("imageLayoutVersion") : doc.end();
    if (version == doc.end() || !version->is_string() || *version != kOciLayoutVersion) {
      return absl::InvalidArgumentError(
          absl::StrCat("oci-layout: imageLayoutVersion is not \"", kOciLayoutVersion, "\""));
    }
  }
  absl::StatusOr<oci::Index> index = oci::ParseIndex(contents.metadata.at(kIndexJson));
  if (!index.ok()) return Annotate(index.status(), kIndexJson);
  std::vector<ImportedImage> images;
  std::set<Digest> verified;
  for (oci::Descriptor& entry : index->manifests) {
    CONVERGE_RETURN_IF_ERROR(Annotate(VerifyTree(entry, store, verified, 0), kIndexJson));
    ImportedImage image;
    for (const char* key : {kContainerdImageName, kOciRefName}) {
      auto name = entry.annotations.find(key);
      if (name != entry.annotations.end() && !name->second.empty()) {
        image.names.push_back(name->second);
        break;
      }
    }
    image.top = std::move(entry);
    images.push_back(std::move(image));
  }
  return images;
}

// The strings in `object[key]`: required unless `optional` (absent or null).
absl::StatusOr<std::vector<std::string>> Strings(const json& object, const char* key,
                                                 const std::string& field, bool optional) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (optional && (it == object.end() || it->is_null())) return out;
  if (it == object.end() || !it->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": missing or not an array"));
  }
  for (const json& item : *it) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": has a non-string element"));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

absl::StatusOr<ImportedImage> ImportDockerImage(const ArchiveContents& contents, const json& entry,
                                                const std::string& field, ContentStore& store) {
  auto config_path = entry.find("Config");
  if (config_path == entry.end() || !config_path->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".Config: missing or not a string"));
  }
  CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> layer_paths,
                            Strings(entry, "Layers", field + ".Layers", false));
  ImportedImage image;
  CONVERGE_ASSIGN_OR_RETURN(image.names, Strings(entry, "RepoTags", field + ".RepoTags", true));

  CONVERGE_ASSIGN_OR_RETURN(Member config, contents.Lookup(config_path->get<std::string>()));
  CONVERGE_ASSIGN_OR_RETURN(std::string config_json,
                            store.Read(config.digest, kMaxArchiveMetadataBytes));
  absl::StatusOr<oci::ImageConfig> parsed = oci::ParseImageConfig(config_json);
  if (!parsed.ok()) return Annotate(parsed.status(), field, ".Config");
  if (parsed->diff_ids.size() != layer_paths.size()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", layer_paths.size(),
                                                   " layers, but the config has ",
                                                   parsed->diff_ids.size(), " diff ids"));
  }
  oci::Manifest manifest;
  manifest.media_type = oci::kOciManifest;
  manifest.config = {oci::kDockerConfig, config.digest, config.size};
  for (size_t i = 0; i < layer_paths.size(); ++i) {
    CONVERGE_ASSIGN_OR_RETURN(Member layer, contents.Lookup(layer_paths[i]));
    // A compressed layer is checked against its diff id when it is unpacked.
    if (!layer.gzip && layer.digest != parsed->diff_ids[i]) {
      return absl::DataLossError(absl::StrCat("layer `", layer_paths[i], "` has digest ",
                                              layer.digest.str(), ", the config's diff id is ",
                                              parsed->diff_ids[i].str()));
    }
    manifest.layers.push_back(
        {layer.gzip ? oci::kOciLayerGzip : oci::kOciLayerTar, layer.digest, layer.size});
  }
  const std::string body = oci::SerializeManifest(manifest);
  image.top = {oci::kOciManifest, Digest::Of(body), static_cast<int64_t>(body.size())};
  CONVERGE_RETURN_IF_ERROR(store.Put(image.top.digest, body));
  return image;
}

absl::StatusOr<std::vector<ImportedImage>> ImportDockerSave(const ArchiveContents& contents,
                                                            ContentStore& store) {
  CONVERGE_ASSIGN_OR_RETURN(json doc,
                            ParseJson(contents.metadata.at(kManifestJson), kManifestJson));
  if (!doc.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(kManifestJson, ": not a JSON array"));
  }
  std::vector<ImportedImage> images;
  for (size_t i = 0; i < doc.size(); ++i) {
    const std::string field = absl::StrCat(kManifestJson, "[", i, "]");
    if (!doc[i].is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": not an object"));
    }
    CONVERGE_ASSIGN_OR_RETURN(ImportedImage image,
                              ImportDockerImage(contents, doc[i], field, store));
    images.push_back(std::move(image));
  }
  return images;
}

}  // namespace

absl::StatusOr<std::vector<ImportedImage>> ImportArchive(int fd, ContentStore& store) {
  absl::StatusOr<ArchiveContents> contents = ReadArchive(fd, store);
  if (!contents.ok()) return Annotate(contents.status(), "import image archive");
  absl::StatusOr<std::vector<ImportedImage>> images;
  if (contents->metadata.count(kIndexJson) > 0) {
    images = ImportOciLayout(*contents, store);
  } else if (contents->metadata.count(kManifestJson) > 0) {
    images = ImportDockerSave(*contents, store);
  } else {
    images = absl::InvalidArgumentError(
        "archive has neither index.json (an OCI image layout) nor manifest.json (docker save)");
  }
  if (!images.ok()) return Annotate(images.status(), "import image archive");
  return images;
}

}  // namespace converge

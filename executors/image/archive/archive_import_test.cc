#include "executors/image/archive/archive_import.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "executors/namespace/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

// One tar member: a directory when `name` ends in '/', a symlink when
// `symlink` is set, a hard link when `hardlink` is, else a regular file.
struct Member {
  std::string name;
  std::string data;
  std::string symlink;
  std::string hardlink;
};

la_ssize_t Append(archive*, void* out, const void* data, size_t size) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
  return static_cast<la_ssize_t>(size);
}

std::string Tar(const std::vector<Member>& members, bool gzip = false) {
  std::string out;
  std::unique_ptr<archive, int (*)(archive*)> writer(archive_write_new(), archive_write_free);
  archive* w = writer.get();
  EXPECT_EQ(archive_write_set_format_pax_restricted(w), ARCHIVE_OK);
  if (gzip) {
    EXPECT_EQ(archive_write_add_filter_gzip(w), ARCHIVE_OK);
  }
  EXPECT_EQ(archive_write_open(w, &out, nullptr, Append, nullptr), ARCHIVE_OK);
  for (const Member& member : members) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                   archive_entry_free);
    archive_entry* e = entry.get();
    archive_entry_set_pathname(e, member.name.c_str());
    archive_entry_set_perm(e, 0644);
    if (!member.symlink.empty()) {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, member.symlink.c_str());
    } else if (!member.hardlink.empty()) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, member.hardlink.c_str());
    } else if (member.name.back() == '/') {
      archive_entry_set_filetype(e, AE_IFDIR);
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, static_cast<la_int64_t>(member.data.size()));
    }
    EXPECT_EQ(archive_write_header(w, e), ARCHIVE_OK) << archive_error_string(w);
    if (!member.data.empty()) {
      EXPECT_EQ(archive_write_data(w, member.data.data(), member.data.size()),
                static_cast<la_ssize_t>(member.data.size()));
    }
  }
  EXPECT_EQ(archive_write_close(w), ARCHIVE_OK);
  return out;
}

std::string Hex(const std::string& data) { return Digest::Of(data).hex(); }
std::string BlobName(const std::string& data) { return "blobs/sha256/" + Hex(data); }

json DescriptorJson(const std::string& media_type, const std::string& data) {
  return {{"mediaType", media_type}, {"digest", Digest::Of(data).str()}, {"size", data.size()}};
}

std::string ConfigJson(const std::vector<std::string>& uncompressed_layers) {
  json diff_ids = json::array();
  for (const std::string& layer : uncompressed_layers) diff_ids.push_back(Digest::Of(layer).str());
  return json{{"architecture", "amd64"},
              {"os", "linux"},
              {"config", {{"Cmd", {"/hello"}}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
      .dump();
}

// A one-layer OCI image: gzip'd layer, config, manifest, and index.json
// naming it with `annotations`.
struct OciImage {
  explicit OciImage(const json& annotations = {{"org.opencontainers.image.ref.name", "latest"}}) {
    layer_tar = Tar({{"hello", "#!/bin/sh\necho hi\n"}});
    layer = Tar({{"hello", "#!/bin/sh\necho hi\n"}}, /*gzip=*/true);
    config = ConfigJson({layer_tar});
    manifest = json{{"schemaVersion", 2},
                    {"mediaType", oci::kOciManifest},
                    {"config", DescriptorJson(oci::kOciConfig, config)},
                    {"layers", {DescriptorJson(oci::kOciLayerGzip, layer)}}}
                   .dump();
    json entry = DescriptorJson(oci::kOciManifest, manifest);
    entry["annotations"] = annotations;
    index =
        json{{"schemaVersion", 2}, {"mediaType", oci::kOciIndex}, {"manifests", {entry}}}.dump();
  }

  // The layout's members, each name prefixed with `prefix` ("./" as
  // `tar -C dir .` writes them).
  std::vector<Member> Members(const std::string& prefix = "") const {
    return {{prefix + "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"},
            {prefix + "index.json", index},
            {prefix + "blobs/"},
            {prefix + "blobs/sha256/"},
            {prefix + BlobName(manifest), manifest},
            {prefix + BlobName(config), config},
            {prefix + BlobName(layer), layer}};
  }

  std::vector<Digest> Digests() const {
    return {Digest::Of(manifest), Digest::Of(config), Digest::Of(layer)};
  }

  std::string layer_tar, layer, config, manifest, index;
};

class ArchiveImportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(store_, ContentStore::Open(dir_.Sub("store"))); }

  absl::StatusOr<std::vector<ImportedImage>> Import(const std::string& bytes) {
    UniqueFd fd(::memfd_create("archive", MFD_CLOEXEC));
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    EXPECT_EQ(::lseek(fd.get(), 0, SEEK_SET), 0);
    return ImportArchive(fd.get(), *store_);
  }

  std::vector<Digest> Stored() {
    absl::StatusOr<std::vector<Digest>> listed = store_->List();
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.value_or(std::vector<Digest>());
  }

  // Reads back a manifest the importer stored.
  oci::Manifest StoredManifest(const oci::Descriptor& top) {
    absl::StatusOr<std::string> body = store_->Read(top.digest, 1 << 20);
    EXPECT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(static_cast<int64_t>(body.value_or("").size()), top.size);
    absl::StatusOr<oci::Manifest> manifest = oci::ParseManifest(body.value_or(""));
    EXPECT_TRUE(manifest.ok()) << manifest.status();
    return manifest.value_or(oci::Manifest());
  }

  TempTestDir dir_;
  std::unique_ptr<ContentStore> store_;
};

TEST_F(ArchiveImportTest, OciLayout) {
  OciImage image;
  ASSERT_OK_AND_ASSIGN(std::vector<ImportedImage> images, Import(Tar(image.Members())));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].top.media_type, oci::kOciManifest);
  EXPECT_EQ(images[0].top.digest, Digest::Of(image.manifest));
  EXPECT_EQ(images[0].top.size, static_cast<int64_t>(image.manifest.size()));
  EXPECT_THAT(images[0].names, ElementsAre("latest"));
  // index.json and oci-layout are not content.
  EXPECT_THAT(Stored(), UnorderedElementsAreArray(image.Digests()));
}

TEST_F(ArchiveImportTest, GzipCompressedLayoutWithDotSlashNames) {
  OciImage image({{"org.opencontainers.image.ref.name", "1.36"},
                  {"io.containerd.image.name", "docker.io/library/busybox:1.36"}});
  ASSERT_OK_AND_ASSIGN(std::vector<ImportedImage> images,
                       Import(Tar(image.Members("./"), /*gzip=*/true)));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].top.digest, Digest::Of(image.manifest));
  EXPECT_THAT(images[0].names, ElementsAre("docker.io/library/busybox:1.36"));
  EXPECT_THAT(Stored(), UnorderedElementsAreArray(image.Digests()));
}

TEST_F(ArchiveImportTest, NestedIndexIsVerifiedThrough) {
  OciImage image;
  json platform_entry = DescriptorJson(oci::kOciManifest, image.manifest);
  platform_entry["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
  const std::string nested =
      json{{"schemaVersion", 2}, {"mediaType", oci::kOciIndex}, {"manifests", {platform_entry}}}
          .dump();
  const std::string index =
      json{{"schemaVersion", 2}, {"manifests", {DescriptorJson(oci::kOciIndex, nested)}}}.dump();
  std::vector<Member> members = image.Members();
  members[1].data = index;
  members.push_back({BlobName(nested), nested});
  ASSERT_OK_AND_ASSIGN(std::vector<ImportedImage> images, Import(Tar(members)));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].top.media_type, oci::kOciIndex);
  EXPECT_EQ(images[0].top.digest, Digest::Of(nested));
  EXPECT_THAT(images[0].names, IsEmpty());

  members.erase(members.begin() + 6);  // the layer
  ASSERT_OK(store_->Delete(Digest::Of(image.layer)));
  absl::Status missing = Import(Tar(members)).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(std::string(missing.message()), HasSubstr(Digest::Of(image.layer).str()));
}

TEST_F(ArchiveImportTest, LegacyDockerSave) {
  const std::string layer = Tar({{"bin/"}, {"bin/busybox", "ELF..."}});
  const std::string config = ConfigJson({layer});
  const std::string id = std::string(64, 'a');
  const std::string manifest_json = json::array({{{"Config", Hex(config) + ".json"},
                                                  {"RepoTags", {"busybox:latest", "busybox:1.36"}},
                                                  {"Layers", {id + "/layer.tar"}}}})
                                        .dump();
  ASSERT_OK_AND_ASSIGN(
      std::vector<ImportedImage> images,
      Import(Tar({{id + "/"},
                  {id + "/VERSION", "1.0"},
                  {id + "/json", "{}"},
                  {id + "/layer.tar", layer},
                  {Hex(config) + ".json", config},
                  {"manifest.json", manifest_json},
                  {"repositories", R"({"busybox":{"latest":")" + id + R"("}})"}})));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_THAT(images[0].names, ElementsAre("busybox:latest", "busybox:1.36"));
  EXPECT_EQ(images[0].top.media_type, oci::kOciManifest);
  oci::Manifest manifest = StoredManifest(images[0].top);
  EXPECT_EQ(manifest.media_type, oci::kOciManifest);
  EXPECT_EQ(manifest.config.media_type, oci::kDockerConfig);
  EXPECT_EQ(manifest.config.digest, Digest::Of(config));
  EXPECT_EQ(manifest.config.size, static_cast<int64_t>(config.size()));
  ASSERT_EQ(manifest.layers.size(), 1u);
  EXPECT_EQ(manifest.layers[0].media_type, oci::kOciLayerTar);
  EXPECT_EQ(manifest.layers[0].digest, Digest::Of(layer));
  EXPECT_EQ(manifest.layers[0].size, static_cast<int64_t>(layer.size()));
  for (const Digest& digest : {images[0].top.digest, Digest::Of(config), Digest::Of(layer)}) {
    EXPECT_TRUE(store_->Has(digest)) << digest.str();
  }
}

TEST_F(ArchiveImportTest, Docker25SaveWithBlobsAndLinks) {
  const std::string base_tar = Tar({{"etc/"}, {"etc/os-release", "ID=test"}});
  const std::string base = Tar({{"etc/"}, {"etc/os-release", "ID=test"}}, /*gzip=*/true);
  const std::string app = Tar({{"app", "binary"}});
  const std::string config = ConfigJson({base_tar, app});
  const std::string id = std::string(64, 'b');
  const std::string manifest_json = json::array({{{"Config", BlobName(config)},
                                                  {"RepoTags", nullptr},
                                                  {"Layers", {BlobName(base), "alias/layer.tar"}}},
                                                 {{"Config", "./" + BlobName(config)},
                                                  {"RepoTags", {"app:v1"}},
                                                  {"Layers", {BlobName(base), "hard.tar"}}}})
                                        .dump();
  ASSERT_OK_AND_ASSIGN(std::vector<ImportedImage> images,
                       Import(Tar({{"blobs/"},
                                   {"blobs/sha256/"},
                                   {BlobName(base), base},
                                   {BlobName(app), app},
                                   {BlobName(config), config},
                                   {id + "/layer.tar", "", "../" + BlobName(app)},
                                   {"alias/layer.tar", "", "../" + id + "/layer.tar"},  // a chain
                                   {"hard.tar", "", "", BlobName(app)},
                                   {"manifest.json", manifest_json}})));
  ASSERT_EQ(images.size(), 2u);
  EXPECT_THAT(images[0].names, IsEmpty());
  EXPECT_THAT(images[1].names, ElementsAre("app:v1"));
  EXPECT_EQ(images[1].top.digest, images[0].top.digest);
  oci::Manifest manifest = StoredManifest(images[0].top);
  EXPECT_EQ(manifest.config.digest, Digest::Of(config));
  ASSERT_EQ(manifest.layers.size(), 2u);
  EXPECT_EQ(manifest.layers[0].media_type, oci::kOciLayerGzip);
  EXPECT_EQ(manifest.layers[0].digest, Digest::Of(base));
  EXPECT_EQ(manifest.layers[1].media_type, oci::kOciLayerTar);
  EXPECT_EQ(manifest.layers[1].digest, Digest::Of(app));
  EXPECT_EQ(manifest.layers[1].size, static_cast<int64_t>(app.size()));
}

TEST_F(ArchiveImportTest, CorruptBlobIsDataLossAndNotStored) {
  OciImage image;
  std::vector<Member> members = image.Members();
  const std::string garbage = "not the layer it claims to be";
  members[6].data = garbage;
  absl::Status status = Import(Tar(members)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(BlobName(image.layer)));
  EXPECT_FALSE(store_->Has(Digest::Of(image.layer)));
  EXPECT_FALSE(store_->Has(Digest::Of(garbage)));
  EXPECT_TRUE(fs::is_empty(dir_.Sub("store/ingest")));
}

TEST_F(ArchiveImportTest, MissingReferencedBlobIsNotFound) {
  OciImage image;
  std::vector<Member> members = image.Members();
  members.erase(members.begin() + 5);  // the config
  absl::Status status = Import(Tar(members)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(Digest::Of(image.config).str()));
}

TEST_F(ArchiveImportTest, DescriptorSizeMustMatchTheBlob) {
  OciImage image;
  json index = json::parse(image.index);
  index["manifests"][0]["size"] = image.manifest.size() + 1;
  std::vector<Member> members = image.Members();
  members[1].data = index.dump();
  absl::Status status = Import(Tar(members)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
}

TEST_F(ArchiveImportTest, DockerLayerMustMatchItsDiffId) {
  const std::string layer = Tar({{"a", "a"}});
  const std::string config = ConfigJson({Tar({{"b", "b"}})});
  const std::string manifest_json =
      json::array({{{"Config", "c.json"}, {"Layers", {"l.tar"}}}}).dump();
  absl::Status status =
      Import(Tar({{"c.json", config}, {"l.tar", layer}, {"manifest.json", manifest_json}}))
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("`l.tar`"));
}

TEST_F(ArchiveImportTest, HostileNamesEscapeNothing) {
  ASSERT_FALSE(fs::exists("/etc/x")) << "the test needs /etc/x absent";
  const std::string escaped = "written through ../../etc/x";
  const std::string layer = Tar({{"a", "a"}});
  const std::string config = ConfigJson({layer});
  std::vector<Member> members = {
      {"../../etc/x", escaped},
      {"/etc/x", escaped + " (absolute)"},
      {"blobs/sha256/" + std::string(64, 'c'), "", "../../../../etc/passwd"},
      {"abs-link", "", "/etc/passwd"},
      {"c.json", config},
  };
  for (const std::string& layer_path :
       {std::string("../../etc/x"), std::string("/etc/x"), "blobs/sha256/" + std::string(64, 'c'),
        std::string("abs-link")}) {
    SCOPED_TRACE(layer_path);
    std::vector<Member> with_manifest = members;
    with_manifest.push_back(
        {"manifest.json", json::array({{{"Config", "c.json"}, {"Layers", {layer_path}}}}).dump()});
    absl::Status status = Import(Tar(with_manifest)).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("`" + layer_path + "`"));
  }
  EXPECT_FALSE(fs::exists("/etc/x"));
  EXPECT_THAT(Stored(), ElementsAre(Digest::Of(config)));
  std::vector<std::string> top;
  for (const auto& entry : fs::directory_iterator(dir_.path()))
    top.push_back(entry.path().filename());
  EXPECT_THAT(top, ElementsAre("store"));
}

TEST_F(ArchiveImportTest, NotATarIsInvalidArgument) {
  for (const std::string& bytes : {std::string("this is not a tar archive, just some text\n"),
                                   std::string(), std::string("\x1f\x8b\x08\x00garbage", 12)}) {
    absl::Status status = Import(bytes).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  }
  absl::Status status = Import(Tar({{"README", "hello"}})).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("neither index.json"));
}

TEST_F(ArchiveImportTest, MetadataIsLimitedTo4MiB) {
  OciImage image;
  std::vector<Member> members = image.Members();
  members[1].data = image.index + std::string(kMaxArchiveMetadataBytes, ' ');
  absl::Status status = Import(Tar(members)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("`index.json` is larger than"));
}

}  // namespace
}  // namespace converge

#include "executors/image/oci.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge::oci {
namespace {

const std::string kDigestA = "sha256:" + std::string(64, 'a');
const std::string kDigestB = "sha256:" + std::string(64, 'b');

std::string Entry(const std::string& arch, const std::string& variant = "") {
  std::string platform = absl::StrCat(R"({"os":"linux","architecture":")", arch, "\"");
  if (!variant.empty()) absl::StrAppend(&platform, R"(,"variant":")", variant, "\"");
  return absl::StrCat(R"({"mediaType":")", kOciManifest, R"(","digest":")",
                      arch == "amd64" ? kDigestA : kDigestB, R"(","size":10,"platform":)",
                      platform, "}}");
}

TEST(OciTest, ParsesManifestWithConfigAndLayers) {
  const std::string text = absl::StrCat(
      R"({"schemaVersion":2,"mediaType":")", kDockerManifest, R"(","config":{"mediaType":")",
      kDockerConfig, R"(","digest":")", kDigestA, R"(","size":7},"layers":[{"mediaType":")",
      kDockerLayerGzip, R"(","digest":")", kDigestB, R"(","size":100}]})");
  ASSERT_OK_AND_ASSIGN(Manifest manifest, ParseManifest(text));
  EXPECT_EQ(manifest.media_type, kDockerManifest);
  EXPECT_EQ(manifest.config.digest.str(), kDigestA);
  ASSERT_EQ(manifest.layers.size(), 1u);
  EXPECT_EQ(manifest.layers[0].size, 100);
  // The serialised form parses back to the same descriptors.
  ASSERT_OK_AND_ASSIGN(Manifest again, ParseManifest(SerializeManifest(manifest)));
  EXPECT_EQ(again.layers[0].digest, manifest.layers[0].digest);
}

TEST(OciTest, RejectsBadDocumentsNamingTheField) {
  struct Case {
    std::string text;
    std::string field;
  } cases[] = {
      {"[]", "manifest"},
      {R"({"config":{"digest":"md5:x","size":1},"layers":[]})", "manifest.config.digest"},
      {absl::StrCat(R"({"config":{"digest":")", kDigestA, R"(","size":-1},"layers":[]})"),
       "manifest.config.size"},
      {absl::StrCat(R"({"config":{"digest":")", kDigestA, R"(","size":1},"layers":{}})"),
       "manifest.layers"},
      {R"({"schemaVersion":1,"fsLayers":[]})", "manifest"},
  };
  for (const Case& c : cases) {
    absl::Status status = ParseManifest(c.text).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_TRUE(absl::StartsWith(status.message(), c.field)) << status;
  }
}

TEST(OciTest, MediaTypeFromHeaderFieldOrShape) {
  EXPECT_EQ(*DocumentMediaType(absl::StrCat(kOciIndex, "; charset=utf-8"), "{}"), kOciIndex);
  EXPECT_EQ(*DocumentMediaType("application/json", R"({"manifests":[]})"), kOciIndex);
  EXPECT_EQ(*DocumentMediaType("", R"({"config":{},"layers":[]})"), kOciManifest);
  EXPECT_FALSE(DocumentMediaType(
                   "application/vnd.docker.distribution.manifest.v1+prettyjws", "{}")
                   .ok());
}

TEST(OciTest, SelectsThePlatform) {
  ASSERT_OK_AND_ASSIGN(Index index,
                       ParseIndex(absl::StrCat(R"({"manifests":[)", Entry("arm64", "v8"), ",",
                                               Entry("amd64"), "]}")));
  ASSERT_OK_AND_ASSIGN(Descriptor amd64, SelectPlatform(index, {"linux", "amd64", ""}));
  EXPECT_EQ(amd64.digest.str(), kDigestA);
  ASSERT_OK_AND_ASSIGN(Descriptor arm64, SelectPlatform(index, {"linux", "arm64", ""}));
  EXPECT_EQ(arm64.digest.str(), kDigestB);
  absl::Status missing = SelectPlatform(index, {"linux", "s390x", ""}).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("linux/arm64/v8, linux/amd64"), std::string::npos) << missing;
}

TEST(OciTest, ParsesImageConfig) {
  const std::string text = absl::StrCat(
      R"({"os":"linux","architecture":"amd64","config":{"User":"app","Env":["A=1"],)",
      R"("Entrypoint":["/bin/sh","-c"],"Cmd":["id"],"WorkingDir":"/home/app",)",
      R"("StopSignal":"SIGUSR1","ExposedPorts":{"8080/tcp":{}},"Volumes":{"/data":{}},)",
      R"("Labels":{"k":"v"}},"rootfs":{"type":"layers","diff_ids":[")", kDigestA, R"("]}})");
  ASSERT_OK_AND_ASSIGN(ImageConfig config, ParseImageConfig(text));
  EXPECT_EQ(config.user, "app");
  EXPECT_EQ(config.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(config.cmd, std::vector<std::string>{"id"});
  EXPECT_EQ(config.stop_signal, "SIGUSR1");
  EXPECT_EQ(config.exposed_ports, std::vector<std::string>{"8080/tcp"});
  EXPECT_EQ(config.volumes, std::vector<std::string>{"/data"});
  EXPECT_EQ(config.labels.at("k"), "v");
  ASSERT_EQ(config.diff_ids.size(), 1u);
  EXPECT_FALSE(ParseImageConfig(R"({"config":{}})").ok());  // no rootfs
}

}  // namespace
}  // namespace converge::oci

// Self-test of the registry fixture: the pushed images are what the layouts
// say, over plain HTTP, with basic auth and through the front (bearer auth,
// faults, counts), and nothing is left behind.
#include <openssl/evp.h>
#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/registry/local_registry.h"
#include "tests/registry/registry_front.h"

namespace converge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
constexpr char kDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
constexpr char kLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr char kLayerTar[] = "application/vnd.oci.image.layer.v1.tar";

struct PushedImage {
  const char* repo;
  const char* layout;
  std::vector<std::string> tags;
};

const std::vector<PushedImage>& OciImages() {
  static const auto* images = new std::vector<PushedImage>{
      {"library/busybox", "busybox", {"latest", "1.35", "stable"}},
      {"library/busybox-user", "busybox-user", {"latest"}},
      {"library/busybox-uid", "busybox-uid", {"latest"}},
      {"test/whiteout", "whiteout", {"latest"}},
      {"test/multiarch", "multiarch", {"latest"}},
      {"test/busybox-zstd", "busybox-zstd", {"latest"}},
  };
  return *images;
}

std::string Sha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), md, &length, EVP_sha256(), nullptr);
  return "sha256:" +
         absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(md), length));
}

httplib::Headers Accept(const std::string& token = "") {
  httplib::Headers headers = {{"Accept", kManifestAccept}};
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  return headers;
}

httplib::Client ClientFor(const std::string& host_port) {
  return httplib::Client("http://" + host_port);
}

nlohmann::json Json(const std::string& text) { return nlohmann::json::parse(text, nullptr, false); }

std::unique_ptr<LocalRegistry> StartRegistry(LocalRegistryOptions options = {}) {
  absl::StatusOr<std::unique_ptr<LocalRegistry>> registry = LocalRegistry::Start(options);
  EXPECT_TRUE(registry.ok()) << registry.status();
  return registry.ok() ? std::move(*registry) : nullptr;
}

// Fetches the manifest `tag` of busybox and its first layer's digest.
std::string BusyboxLayer(httplib::Client& client, const httplib::Headers& headers) {
  httplib::Result manifest = client.Get("/v2/library/busybox/manifests/latest", headers);
  if (!manifest || manifest->status != 200) return "";
  return Json(manifest->body)["layers"][0].value("digest", "");
}

TEST(RegistryFixtureTest, PlainRegistryServesEveryImageAndTag) {
  std::unique_ptr<LocalRegistry> registry = StartRegistry();
  ASSERT_NE(registry, nullptr);
  ASSERT_OK(registry->PushTestImages());
  absl::StatusOr<std::string> images = TestImagesDir();
  ASSERT_TRUE(images.ok()) << images.status();
  httplib::Client client = ClientFor(registry->host_port());

  for (const PushedImage& image : OciImages()) {
    if (!std::filesystem::exists(*images + "/" + image.layout)) continue;  // no zstd
    for (const std::string& tag : image.tags) {
      SCOPED_TRACE(absl::StrCat(image.repo, ":", tag));
      absl::StatusOr<std::string> expected = TestImageDigest(image.layout, tag);
      ASSERT_TRUE(expected.ok()) << expected.status();
      absl::StatusOr<std::string> digest = registry->ManifestDigest(image.repo, tag);
      ASSERT_TRUE(digest.ok()) << digest.status();
      EXPECT_EQ(*digest, *expected);

      httplib::Result manifest =
          client.Get(absl::StrCat("/v2/", image.repo, "/manifests/", tag), Accept());
      ASSERT_TRUE(manifest);
      ASSERT_EQ(manifest->status, 200) << manifest->body;
      EXPECT_EQ(Sha256(manifest->body), *expected);
      nlohmann::json parsed = Json(manifest->body);
      EXPECT_EQ(manifest->get_header_value("Content-Type"), parsed.value("mediaType", ""));
      if (parsed["mediaType"] == kOciIndex) continue;  // see MultiarchIsAnIndex

      // Every blob of the image, checked against its digest.
      std::vector<std::string> blobs = {parsed["config"]["digest"].get<std::string>()};
      for (const nlohmann::json& layer : parsed["layers"]) {
        blobs.push_back(layer["digest"].get<std::string>());
      }
      for (const std::string& blob : blobs) {
        httplib::Result fetched = client.Get(absl::StrCat("/v2/", image.repo, "/blobs/", blob));
        ASSERT_TRUE(fetched);
        ASSERT_EQ(fetched->status, 200);
        EXPECT_EQ(Sha256(fetched->body), blob);
      }
    }
  }

  httplib::Result tags = client.Get("/v2/library/busybox/tags/list");
  ASSERT_TRUE(tags);
  EXPECT_EQ(Json(tags->body)["tags"], nlohmann::json({"latest", "1.35", "stable"}));

  httplib::Result whiteout = client.Get("/v2/test/whiteout/manifests/latest", Accept());
  ASSERT_TRUE(whiteout);
  nlohmann::json whiteout_manifest = Json(whiteout->body);
  std::vector<std::string> media_types;
  for (const nlohmann::json& layer : whiteout_manifest["layers"]) {
    media_types.push_back(layer["mediaType"].get<std::string>());
  }
  EXPECT_THAT(media_types, ElementsAre(kLayerGzip, kLayerTar, kLayerTar));

  httplib::Result docker = client.Get("/v2/library/busybox-docker/manifests/latest", Accept());
  ASSERT_TRUE(docker);
  ASSERT_EQ(docker->status, 200);
  EXPECT_EQ(docker->get_header_value("Content-Type"), kDockerManifest);
  EXPECT_EQ(Json(docker->body)["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip");

  absl::StatusOr<std::string> missing = registry->ManifestDigest("library/busybox", "nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

TEST(RegistryFixtureTest, MultiarchIsAnIndex) {
  std::unique_ptr<LocalRegistry> registry = StartRegistry();
  ASSERT_NE(registry, nullptr);
  ASSERT_OK(registry->PushTestImages());
  httplib::Client client = ClientFor(registry->host_port());

  httplib::Result index = client.Get("/v2/test/multiarch/manifests/latest", Accept());
  ASSERT_TRUE(index);
  ASSERT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), kOciIndex);
  nlohmann::json manifests = Json(index->body)["manifests"];
  ASSERT_EQ(manifests.size(), 2u) << index->body;
  EXPECT_EQ(manifests[0]["platform"], nlohmann::json({{"architecture", "amd64"}, {"os", "linux"}}));
  EXPECT_EQ(manifests[1]["platform"],
            nlohmann::json({{"architecture", "arm64"}, {"os", "linux"}, {"variant", "v8"}}));

  std::vector<size_t> layer_counts;
  for (const nlohmann::json& descriptor : manifests) {
    std::string digest = descriptor["digest"];
    httplib::Result manifest =
        client.Get(absl::StrCat("/v2/test/multiarch/manifests/", digest), Accept());
    ASSERT_TRUE(manifest);
    ASSERT_EQ(manifest->status, 200);
    EXPECT_EQ(Sha256(manifest->body), digest);
    EXPECT_EQ(manifest->get_header_value("Content-Type"), kOciManifest);
    nlohmann::json parsed = Json(manifest->body);
    layer_counts.push_back(parsed["layers"].size());
    httplib::Result config =
        client.Get("/v2/test/multiarch/blobs/" + parsed["config"]["digest"].get<std::string>());
    ASSERT_TRUE(config);
    EXPECT_EQ(Json(config->body)["architecture"], descriptor["platform"]["architecture"]);
  }
  // amd64: busybox plus /etc/arch; arm64: /etc/arch only.
  EXPECT_THAT(layer_counts, ElementsAre(2u, 1u));
}

TEST(RegistryFixtureTest, BasicAuthRegistry) {
  LocalRegistryOptions options;
  options.user = "pusher";
  options.password = "s3cret";
  std::unique_ptr<LocalRegistry> registry = StartRegistry(options);
  ASSERT_NE(registry, nullptr);
  ASSERT_OK(registry->PushTestImages());

  httplib::Client anonymous = ClientFor(registry->host_port());
  httplib::Result challenge = anonymous.Get("/v2/");
  ASSERT_TRUE(challenge);
  EXPECT_EQ(challenge->status, 401);
  EXPECT_EQ(challenge->get_header_value("WWW-Authenticate"), "Basic realm=\"converge-test\"");

  httplib::Client wrong = ClientFor(registry->host_port());
  wrong.set_basic_auth("pusher", "wrong");
  httplib::Result rejected = wrong.Get("/v2/library/busybox/manifests/latest", Accept());
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->status, 401);

  absl::StatusOr<std::string> digest = registry->ManifestDigest("library/busybox", "latest");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest.value(), TestImageDigest("busybox").value());

  // The front brings the registry's credentials itself.
  absl::StatusOr<std::unique_ptr<RegistryFront>> front = RegistryFront::Start(*registry);
  ASSERT_TRUE(front.ok()) << front.status();
  httplib::Client through = ClientFor((*front)->host_port());
  httplib::Result manifest = through.Get("/v2/library/busybox/manifests/latest", Accept());
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->status, 200);
  EXPECT_EQ(manifest->get_header_value("Docker-Content-Digest"), *digest);
}

TEST(RegistryFixtureTest, FrontWithBearerAuth) {
  std::unique_ptr<LocalRegistry> registry = StartRegistry();
  ASSERT_NE(registry, nullptr);
  ASSERT_OK(registry->PushTestImages());
  absl::StatusOr<std::unique_ptr<RegistryFront>> started = RegistryFront::Start(*registry);
  ASSERT_TRUE(started.ok()) << started.status();
  RegistryFront& front = **started;
  front.RequireBearerAuth("puller", "pw");
  httplib::Client client = ClientFor(front.host_port());
  std::string realm = absl::StrCat("Bearer realm=\"http://", front.host_port(),
                                   "/token\",service=\"converge-test\"");

  httplib::Result root = client.Get("/v2/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 401);
  EXPECT_EQ(root->get_header_value("WWW-Authenticate"), realm);
  httplib::Result unauthenticated =
      client.Get("/v2/library/busybox/manifests/latest", Accept("not-a-token"));
  ASSERT_TRUE(unauthenticated);
  EXPECT_EQ(unauthenticated->status, 401);
  EXPECT_EQ(unauthenticated->get_header_value("WWW-Authenticate"),
            realm + ",scope=\"repository:library/busybox:pull\"");

  std::string token_path = "/token?service=converge-test&scope=repository:library/busybox:pull";
  httplib::Client wrong = ClientFor(front.host_port());
  wrong.set_basic_auth("puller", "wrong");
  httplib::Result denied = wrong.Get(token_path);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  httplib::Result anonymous = client.Get(token_path);
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(front.tokens_issued(), 0);

  httplib::Client right = ClientFor(front.host_port());
  right.set_basic_auth("puller", "pw");
  httplib::Result issued = right.Get(token_path);
  ASSERT_TRUE(issued);
  ASSERT_EQ(issued->status, 200);
  nlohmann::json token_json = Json(issued->body);
  std::string token = token_json.value("token", "");
  EXPECT_FALSE(token.empty());
  EXPECT_EQ(token_json["access_token"], token);
  EXPECT_EQ(token_json["expires_in"], 300);
  EXPECT_EQ(front.tokens_issued(), 1);

  httplib::Result manifest = client.Get("/v2/library/busybox/manifests/latest", Accept(token));
  ASSERT_TRUE(manifest);
  ASSERT_EQ(manifest->status, 200);
  std::string digest = TestImageDigest("busybox").value();
  EXPECT_EQ(manifest->get_header_value("Docker-Content-Digest"), digest);
  EXPECT_EQ(manifest->get_header_value("Content-Type"), kOciManifest);
  EXPECT_EQ(Sha256(manifest->body), digest);

  httplib::Result head = client.Head("/v2/library/busybox/manifests/latest", Accept(token));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), absl::StrCat(manifest->body.size()));
  EXPECT_EQ(head->get_header_value("Docker-Content-Digest"), digest);
  EXPECT_TRUE(head->body.empty());

  std::string layer = Json(manifest->body)["layers"][0]["digest"];
  httplib::Result blob = client.Get("/v2/library/busybox/blobs/" + layer, Accept(token));
  ASSERT_TRUE(blob);
  ASSERT_EQ(blob->status, 200);
  EXPECT_EQ(Sha256(blob->body), layer);
  EXPECT_EQ(blob->get_header_value("Docker-Content-Digest"), layer);
  EXPECT_EQ(front.RequestCount(layer, "GET", 200), 1);
  EXPECT_EQ(front.RequestCount("/v2/library/busybox/manifests/latest"), 3);
  EXPECT_EQ(front.RequestCount("/token", "GET", 401), 2);

  front.DisableAuth();
  httplib::Result open = client.Get("/v2/library/busybox/manifests/latest", Accept());
  ASSERT_TRUE(open);
  EXPECT_EQ(open->status, 200);
}

TEST(RegistryFixtureTest, FrontInjectsFaults) {
  std::unique_ptr<LocalRegistry> registry = StartRegistry();
  ASSERT_NE(registry, nullptr);
  ASSERT_OK(registry->PushTestImages());
  absl::StatusOr<std::unique_ptr<RegistryFront>> started = RegistryFront::Start(*registry);
  ASSERT_TRUE(started.ok()) << started.status();
  RegistryFront& front = **started;
  httplib::Client client = ClientFor(front.host_port());
  std::string layer = BusyboxLayer(client, Accept());
  ASSERT_FALSE(layer.empty());
  std::string blob_path = "/v2/library/busybox/blobs/" + layer;

  front.FailNext("/manifests/", 1, 429, /*retry_after_seconds=*/2);
  httplib::Result limited = client.Get("/v2/library/busybox/manifests/latest", Accept());
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->get_header_value("Retry-After"), "2");
  EXPECT_EQ(Json(limited->body)["errors"][0]["code"], "TOOMANYREQUESTS");
  EXPECT_EQ(BusyboxLayer(client, Accept()), layer);  // only the next one failed

  front.FailNext(layer, 2, 500);
  front.FailNext(layer, 1, 404);
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    httplib::Result result = client.Get(blob_path);
    ASSERT_TRUE(result);
    statuses.push_back(result->status);
  }
  EXPECT_THAT(statuses, ElementsAre(500, 500, 404, 200));
  EXPECT_EQ(front.RequestCount(layer, "GET", 500), 2);

  front.TruncateNext(layer, 1, 1000);
  httplib::Client truncated_client = ClientFor(front.host_port());
  std::string received;
  httplib::Result truncated = truncated_client.Get(blob_path, [&](const char* data, size_t length) {
    received.append(data, length);
    return true;
  });
  EXPECT_FALSE(truncated);
  EXPECT_EQ(received.size(), 1000u);

  front.CorruptNext(layer, 1);
  httplib::Result corrupt = client.Get(blob_path);
  ASSERT_TRUE(corrupt);
  ASSERT_EQ(corrupt->status, 200);
  httplib::Result intact = client.Get(blob_path);
  ASSERT_TRUE(intact);
  EXPECT_EQ(Sha256(intact->body), layer);
  EXPECT_EQ(corrupt->body.size(), intact->body.size());
  EXPECT_NE(Sha256(corrupt->body), layer);
  EXPECT_EQ(received, intact->body.substr(0, 1000));

  httplib::Result range = client.Get(blob_path, {{"Range", "bytes=100-199"}});
  ASSERT_TRUE(range);
  EXPECT_EQ(range->status, 206);
  EXPECT_EQ(range->body, intact->body.substr(100, 100));
  EXPECT_EQ(range->get_header_value("Content-Range"),
            absl::StrCat("bytes 100-199/", intact->body.size()));

  httplib::Result head = client.Head(blob_path);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), absl::StrCat(intact->body.size()));

  EXPECT_EQ(front.RequestCount(layer, "GET"), 8);
  front.ResetCounts();
  EXPECT_THAT(front.requests(), IsEmpty());
}

TEST(RegistryFixtureTest, CorruptBlobInStorage) {
  std::unique_ptr<LocalRegistry> registry = StartRegistry();
  ASSERT_NE(registry, nullptr);
  ASSERT_OK(registry->PushTestImages());
  httplib::Client client = ClientFor(registry->host_port());
  std::string layer = BusyboxLayer(client, Accept());
  ASSERT_FALSE(layer.empty());

  ASSERT_OK(registry->CorruptBlob(layer));
  httplib::Result blob = client.Get("/v2/library/busybox/blobs/" + layer);
  ASSERT_TRUE(blob);
  EXPECT_EQ(blob->status, 200);
  EXPECT_NE(Sha256(blob->body), layer);

  EXPECT_EQ(registry->CorruptBlob("sha256:" + std::string(64, '0')).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry->CorruptBlob("md5:00").code(), absl::StatusCode::kInvalidArgument);
}

bool ProcessExists(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

TEST(RegistryFixtureTest, StopLeavesNothingBehind) {
  std::unique_ptr<LocalRegistry> registry = StartRegistry();
  ASSERT_NE(registry, nullptr);
  pid_t pid = registry->pid();
  std::string dir = registry->dir();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(ProcessExists(pid));
  ASSERT_TRUE(std::filesystem::exists(dir));
  {
    absl::StatusOr<std::unique_ptr<RegistryFront>> front = RegistryFront::Start(*registry);
    ASSERT_TRUE(front.ok()) << front.status();
    std::string front_host_port = (*front)->host_port();
    front->reset();
    httplib::Client closed = ClientFor(front_host_port);
    EXPECT_FALSE(closed.Get("/v2/")) << "the front still listens";
  }
  ASSERT_OK(registry->Stop());
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(registry->pid(), -1);
  ASSERT_OK(registry->Stop());  // idempotent

  // The destructor does the same.
  registry = StartRegistry();
  ASSERT_NE(registry, nullptr);
  pid = registry->pid();
  dir = registry->dir();
  registry.reset();
  EXPECT_FALSE(ProcessExists(pid));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace converge::testing

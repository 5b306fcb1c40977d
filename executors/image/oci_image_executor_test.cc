#include "executors/image/oci_image_executor.h"

#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/testing/status_testing.h"
#include "executors/image/unpack/testing/tar_builder.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// An in-memory registry: one repository of blobs and tags, counting fetches.
class FakeRegistry : public registry::Registry {
 public:
  Digest AddBlob(const std::string& data) {
    Digest digest = Digest::Of(data);
    absl::MutexLock lock(&mu_);
    blobs_[digest] = data;
    return digest;
  }
  void Tag(const std::string& tag, const std::string& media_type, const std::string& body) {
    Digest digest = AddBlob(body);
    absl::MutexLock lock(&mu_);
    tags_[tag] = {media_type, digest, static_cast<int64_t>(body.size()), {}, {}};
  }
  int fetches(const Digest& digest) {
    absl::MutexLock lock(&mu_);
    return fetches_[digest];
  }
  int resolves() {
    absl::MutexLock lock(&mu_);
    return resolves_;
  }

  absl::StatusOr<registry::Resolution> Resolve(const ImageReference& ref,
                                                const registry::Credentials&) override {
    absl::MutexLock lock(&mu_);
    ++resolves_;
    oci::Descriptor top;
    if (!ref.digest.empty()) {
      if (blobs_.count(ref.digest) == 0) return absl::NotFoundError("no such manifest");
      top = {"", ref.digest, static_cast<int64_t>(blobs_[ref.digest].size()), {}, {}};
      top.media_type = *oci::DocumentMediaType("", blobs_[ref.digest]);
    } else {
      auto it = tags_.find(ref.tag);
      if (it == tags_.end()) return absl::NotFoundError(absl::StrCat(ref.String(), ": not found"));
      top = it->second;
    }
    return registry::Resolution{std::make_unique<Session>(this), top, blobs_[top.digest]};
  }

 private:
  class Session : public registry::RegistrySession {
   public:
    explicit Session(FakeRegistry* owner) : owner_(owner) {}
    const std::string& endpoint() const override { return endpoint_; }
    absl::StatusOr<std::string> FetchManifest(const oci::Descriptor& descriptor) override {
      return owner_->Fetch(descriptor.digest);
    }
    absl::Status FetchBlob(const oci::Descriptor& descriptor,
                           ContentStore::Writer& writer) override {
      auto data = owner_->Fetch(descriptor.digest);
      if (!data.ok()) return data.status();
      return writer.Write(*data);
    }

   private:
    FakeRegistry* owner_;
    const std::string endpoint_ = "fake://registry";
  };

  absl::StatusOr<std::string> Fetch(const Digest& digest) {
    absl::MutexLock lock(&mu_);
    ++fetches_[digest];
    auto it = blobs_.find(digest);
    if (it == blobs_.end()) return absl::NotFoundError(absl::StrCat("blob ", digest.str()));
    return it->second;
  }

  absl::Mutex mu_;
  std::map<Digest, std::string> blobs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, oci::Descriptor> tags_ ABSL_GUARDED_BY(mu_);
  std::map<Digest, int> fetches_ ABSL_GUARDED_BY(mu_);
  int resolves_ ABSL_GUARDED_BY(mu_) = 0;
};

json Descriptor(const std::string& media_type, const std::string& data) {
  return {{"mediaType", media_type},
          {"digest", Digest::Of(data).str()},
          {"size", data.size()}};
}

struct BuiltImage {
  Digest config;
  Digest layer;
  std::string manifest;
};

// A one-layer image whose layer holds `files`; pushed under `tag`, inside a
// two-platform index when `as_index`.
BuiltImage Push(FakeRegistry& registry, const std::string& tag,
                const std::vector<TarEntry>& files, bool as_index) {
  const std::string tar = MakeTar(files);
  const std::string layer = Gzip(tar);
  const std::string config =
      json{{"os", "linux"},
           {"architecture", oci::HostPlatform().architecture},
           {"config", {{"Cmd", {"sh"}}, {"User", "1000"}}},
           {"rootfs", {{"type", "layers"}, {"diff_ids", {Digest::Of(tar).str()}}}}}
          .dump();
  const std::string manifest = json{{"schemaVersion", 2},
                                    {"mediaType", oci::kOciManifest},
                                    {"config", Descriptor(oci::kOciConfig, config)},
                                    {"layers", {Descriptor(oci::kOciLayerGzip, layer)}}}
                                   .dump();
  BuiltImage built{registry.AddBlob(config), registry.AddBlob(layer), manifest};
  if (!as_index) {
    registry.Tag(tag, oci::kOciManifest, manifest);
    return built;
  }
  registry.AddBlob(manifest);
  json other = Descriptor(oci::kOciManifest, "not fetched");
  other["platform"] = {{"os", "linux"}, {"architecture", "s390x"}};
  json mine = Descriptor(oci::kOciManifest, manifest);
  mine["platform"] = {{"os", "linux"}, {"architecture", oci::HostPlatform().architecture}};
  registry.Tag(tag, oci::kOciIndex,
               json{{"schemaVersion", 2}, {"mediaType", oci::kOciIndex}, {"manifests", {other, mine}}}
                   .dump());
  return built;
}

PullRequest Request(const std::string& text) {
  PullRequest request;
  request.reference = *ParseImageReference(text);
  return request;
}

class OciImageExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto executor = OciImageExecutor::Create(dir_.Sub("images"), &registry_);
    ASSERT_TRUE(executor.ok()) << executor.status();
    executor_ = *std::move(executor);
  }

  TempTestDir dir_;
  FakeRegistry registry_;
  std::unique_ptr<OciImageExecutor> executor_;
};

TEST_F(OciImageExecutorTest, PullsAnIndexForThisPlatformAndUnpacks) {
  BuiltImage built = Push(registry_, "1.0", {TarFile("etc/motd", "hello")}, /*as_index=*/true);
  ASSERT_OK_AND_ASSIGN(PulledImage image, executor_->Pull(Request("example.com/app:1.0")));
  EXPECT_EQ(image.id, built.config);
  EXPECT_EQ(image.manifest_digest, Digest::Of(built.manifest));
  EXPECT_NE(image.top_digest, image.manifest_digest);  // the index
  EXPECT_EQ(image.config.user, "1000");
  ASSERT_EQ(image.layers.size(), 1u);
  const std::string dir = executor_->LayerDirs({image.layers[0].chain_id})[0];
  std::ifstream motd(dir + "/etc/motd");
  std::string text;
  std::getline(motd, text);
  EXPECT_EQ(text, "hello");
  EXPECT_GT(image.downloaded_bytes, 0);
  ASSERT_OK_AND_ASSIGN(ImageFsUsage usage, executor_->Usage());
  EXPECT_GT(usage.bytes, 0u);
  EXPECT_GE(usage.inodes, 4u);  // index, manifest, config, layer blobs
}

TEST_F(OciImageExecutorTest, ConcurrentPullsDownloadEachBlobOnce) {
  BuiltImage built = Push(registry_, "latest", {TarFile("a", std::string(1 << 20, 'x'))}, false);
  std::vector<std::thread> pulls;
  for (int i = 0; i < 4; ++i) {
    pulls.emplace_back([&] { EXPECT_OK(executor_->Pull(Request("example.com/app")).status()); });
  }
  for (auto& pull : pulls) pull.join();
  EXPECT_EQ(registry_.fetches(built.layer), 1);
  EXPECT_EQ(registry_.fetches(built.config), 1);
}

TEST_F(OciImageExecutorTest, PinnedDigestWithLocalContentNeedsNoRegistry) {
  Push(registry_, "latest", {TarFile("a", "b")}, /*as_index=*/true);
  ASSERT_OK_AND_ASSIGN(PulledImage first, executor_->Pull(Request("example.com/app")));
  const int resolves = registry_.resolves();
  // A plain digest pull asks the registry (with the caller's credentials).
  ASSERT_OK(executor_->Pull(Request("example.com/app@" + first.top_digest.str())).status());
  EXPECT_EQ(registry_.resolves(), resolves + 1);
  PullRequest pinned = Request("example.com/app@" + first.top_digest.str());
  pinned.prefer_local = true;
  ASSERT_OK_AND_ASSIGN(PulledImage again, executor_->Pull(pinned));
  EXPECT_EQ(registry_.resolves(), resolves + 1);
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.downloaded_bytes, 0);
}

TEST_F(OciImageExecutorTest, UnknownTagIsNotFoundAndStoresNothing) {
  absl::Status status = executor_->Pull(Request("example.com/app:nope")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_TRUE(executor_->content().List()->empty());
}

TEST_F(OciImageExecutorTest, WrongDiffIdInConfigKeepsNoLayer) {
  const std::string tar = MakeTar({TarFile("a", "b")});
  const std::string layer = Gzip(tar);
  const std::string config =
      json{{"rootfs", {{"type", "layers"}, {"diff_ids", {Digest::Of("other").str()}}}}}.dump();
  registry_.AddBlob(config);
  registry_.AddBlob(layer);
  registry_.Tag("bad", oci::kOciManifest,
                json{{"schemaVersion", 2},
                     {"config", Descriptor(oci::kOciConfig, config)},
                     {"layers", {Descriptor(oci::kOciLayerGzip, layer)}}}
                    .dump());
  absl::Status status = executor_->Pull(Request("example.com/app:bad")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_TRUE(fs::is_empty(dir_.Sub("images/layers")));
}

TEST_F(OciImageExecutorTest, CollectsWhatNoImageKeepsAndSeesMountedLayers) {
  Push(registry_, "latest", {TarFile("a", "b")}, /*as_index=*/false);
  ASSERT_OK_AND_ASSIGN(PulledImage image, executor_->Pull(Request("example.com/app")));
  const std::vector<Digest> chain = {image.layers[0].chain_id};
  ImageContent keep{{image.manifest_digest, image.config_digest, image.layers[0].blob.digest},
                    chain};
  ASSERT_TRUE(*executor_->CollectGarbage([&] { return std::vector<ImageContent>{keep}; }));
  EXPECT_EQ(executor_->content().List()->size(), 3u);
  {
    // While an import holds the lock, nothing goes, kept or not.
    UniqueFd import(::open(ImportLockPath(dir_.Sub("images")).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(import.valid());
    ASSERT_EQ(::flock(import.get(), LOCK_SH), 0);
    EXPECT_FALSE(*executor_->CollectGarbage([] { return std::vector<ImageContent>(); }));
    EXPECT_EQ(executor_->content().List()->size(), 3u);
  }

  // A container rootfs stacking the layer keeps it however unreferenced.
  const std::string target = dir_.Sub("rootfs"), empty = dir_.Sub("empty");
  fs::create_directories(target);
  fs::create_directories(empty);
  const std::string lower = executor_->LayerDirs(chain)[0];
  ASSERT_EQ(::mount("overlay", target.c_str(), "overlay", MS_RDONLY,
                    absl::StrCat("lowerdir=", lower, ":", empty).c_str()),
            0)
      << strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{target};
  EXPECT_TRUE(*executor_->InUse(chain));
  ASSERT_TRUE(*executor_->CollectGarbage([] { return std::vector<ImageContent>(); }));
  EXPECT_TRUE(executor_->content().List()->empty());
  EXPECT_TRUE(fs::exists(lower));
  ASSERT_EQ(::umount2(target.c_str(), 0), 0);
  EXPECT_FALSE(*executor_->InUse(chain));
  ASSERT_TRUE(*executor_->CollectGarbage([] { return std::vector<ImageContent>(); }));
  EXPECT_FALSE(fs::exists(lower));
}

}  // namespace
}  // namespace converge

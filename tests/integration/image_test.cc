// Images through the real socket: converged pulls from Debian's
// docker-registry on loopback (directly, through a mirror, with basic auth,
// and through a front with a bearer-token realm and injected faults), unpacks
// into its layer store, and the layers are stacked with the snapshotter the
// containers will use. Every test ends with the leak check.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executors/image/snapshot/linux_snapshotter.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/registry/local_registry.h"
#include "tests/registry/registry_front.h"

namespace converge::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::IsEmpty;
using runtime::v1::ImageService;

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A CRI image client for one daemon.
class Images {
 public:
  explicit Images(const TestDaemon& daemon)
      : stub_(ImageService::NewStub(grpc::CreateChannel("unix://" + daemon.socket(),
                                                        grpc::InsecureChannelCredentials()))) {}

  grpc::Status Pull(const std::string& image, std::string* id = nullptr,
                    const runtime::v1::AuthConfig& auth = {}) {
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    *request.mutable_auth() = auth;
    runtime::v1::PullImageResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    grpc::Status status = stub_->PullImage(&context, request, &response);
    if (id != nullptr) *id = response.image_ref();
    return status;
  }

  grpc::Status Remove(const std::string& image) {
    runtime::v1::RemoveImageRequest request;
    request.mutable_image()->set_image(image);
    runtime::v1::RemoveImageResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    return stub_->RemoveImage(&context, request, &response);
  }

  // The image (empty when absent) and the verbose info as JSON.
  std::pair<runtime::v1::Image, nlohmann::json> Status(const std::string& image) {
    runtime::v1::ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    request.set_verbose(true);
    runtime::v1::ImageStatusResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->ImageStatus(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    nlohmann::json info;
    if (response.info().count("info") != 0) info = nlohmann::json::parse(response.info().at("info"));
    return {response.image(), info};
  }

  std::vector<runtime::v1::Image> List() {
    runtime::v1::ListImagesResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->ListImages(&context, runtime::v1::ListImagesRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.images().begin(), response.images().end()};
  }

  runtime::v1::FilesystemUsage FsInfo() {
    runtime::v1::ImageFsInfoResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->ImageFsInfo(&context, runtime::v1::ImageFsInfoRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.image_filesystems_size(), 1);
    return response.image_filesystems(0);
  }

 private:
  std::unique_ptr<ImageService::Stub> stub_;
};

std::vector<std::string> AllTags(const std::vector<runtime::v1::Image>& images) {
  std::vector<std::string> tags;
  for (const auto& image : images) tags.insert(tags.end(), image.repo_tags().begin(), image.repo_tags().end());
  return tags;
}

class ImageTest : public ::testing::Test {
 protected:
  // One registry with the test images for the suite (pushing takes a
  // second); tests that damage a registry start their own.
  static void SetUpTestSuite() {
    auto registry = LocalRegistry::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    shared_ = registry->release();
    absl::Status pushed = shared_->PushTestImages();
    ASSERT_TRUE(pushed.ok()) << pushed;
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }

  void TearDown() override {
    daemon_ = nullptr;
    EXPECT_THAT(env_.Leaks(), IsEmpty());
  }

  TestDaemon& Start(std::vector<std::string> flags = {}) {
    flags.push_back("--insecure_registries=127.0.0.1");
    daemon_ = &env_.StartDaemon(flags);
    images_ = std::make_unique<Images>(*daemon_);
    return *daemon_;
  }

  std::string Ref(const std::string& path) const { return shared_->host_port() + "/" + path; }
  std::string ImagesRoot() const { return daemon_->root() + "/images"; }

  // The unpacked layer directories of a pulled image, bottom first.
  std::vector<std::string> LayerDirs(const nlohmann::json& info) const {
    std::vector<std::string> dirs;
    for (const auto& layer : info["layers"]) {
      std::string chain = layer["chainID"];
      dirs.push_back(ImagesRoot() + "/layers/" + chain.substr(7) + "/fs");
    }
    return dirs;
  }

  std::unique_ptr<LinuxSnapshotter> Snapshotter() {
    auto snapshotter = LinuxSnapshotter::Create(env_.base_dir() + "/snapshots");
    EXPECT_TRUE(snapshotter.ok()) << snapshotter.status();
    return snapshotter.ok() ? *std::move(snapshotter) : nullptr;
  }

  static LocalRegistry* shared_;
  TestEnv env_;
  TestDaemon* daemon_ = nullptr;
  std::unique_ptr<Images> images_;
};

LocalRegistry* ImageTest::shared_ = nullptr;

TEST_F(ImageTest, PullByTagAndByDigestListStatusAndFsInfo) {
  Start();
  const auto before = images_->FsInfo();
  std::string id;
  grpc::Status status = images_->Pull(Ref("library/busybox:latest"), &id);
  ASSERT_TRUE(status.ok()) << status.error_message() << daemon_->log();
  EXPECT_TRUE(absl::StartsWith(id, "sha256:")) << id;

  auto [image, info] = images_->Status(Ref("library/busybox"));
  EXPECT_EQ(image.id(), id);
  EXPECT_THAT(image.repo_tags(), Contains(Ref("library/busybox:latest")));
  ASSERT_EQ(image.repo_digests_size(), 1);
  const std::string repo_digest = image.repo_digests(0);
  EXPECT_TRUE(absl::StartsWith(repo_digest, Ref("library/busybox@sha256:"))) << repo_digest;
  EXPECT_EQ(info["manifest"]["schemaVersion"], 2);
  EXPECT_EQ(info["config"]["config"]["Cmd"][0], "sh");
  ASSERT_EQ(info["layers"].size(), 1u);
  EXPECT_GT(image.size(), 900000u);  // a static busybox, compressed

  // By digest: the same image, found by its repo digest too.
  std::string by_digest;
  ASSERT_TRUE(images_->Pull(repo_digest, &by_digest).ok());
  EXPECT_EQ(by_digest, id);
  EXPECT_EQ(images_->Status(repo_digest).first.id(), id);
  // By id and by crictl's short id.
  EXPECT_EQ(images_->Status(id).first.id(), id);
  EXPECT_EQ(images_->Status(id.substr(7, 13)).first.id(), id);

  // The layer is unpacked with busybox's applets as hard links.
  const std::string layer = LayerDirs(info)[0];
  struct stat sh, busybox;
  ASSERT_EQ(::stat((layer + "/bin/sh").c_str(), &sh), 0);
  ASSERT_EQ(::stat((layer + "/bin/busybox").c_str(), &busybox), 0);
  EXPECT_EQ(sh.st_ino, busybox.st_ino);
  EXPECT_EQ(::stat((layer + "/home/app").c_str(), &sh), 0);
  EXPECT_EQ(sh.st_uid, 1000u);

  // ImageFsInfo counts what is on disk: at least the layer's compressed and
  // unpacked bytes.
  const auto after = images_->FsInfo();
  EXPECT_EQ(after.fs_id().mountpoint(), ImagesRoot());
  EXPECT_GT(after.used_bytes().value(), before.used_bytes().value() + 2 * 900000);
  EXPECT_GT(after.inodes_used().value(), before.inodes_used().value() + 200);

  // Removing frees it all; removing again (or something unknown) is fine.
  ASSERT_TRUE(images_->Remove(Ref("library/busybox:latest")).ok());
  EXPECT_TRUE(images_->Status(id).first.id().empty());
  EXPECT_TRUE(images_->Remove(id).ok());
  EXPECT_TRUE(images_->Remove(Ref("library/never:pulled")).ok());
  EXPECT_THAT(images_->List(), IsEmpty());
  EXPECT_THAT(Names(ImagesRoot() + "/layers"), IsEmpty());
  EXPECT_THAT(Names(ImagesRoot() + "/content/blobs/sha256"), IsEmpty());
  EXPECT_EQ(images_->FsInfo().used_bytes().value(), before.used_bytes().value());
}

TEST_F(ImageTest, DockerSchema2AndUserSettings) {
  Start();
  ASSERT_TRUE(images_->Pull(Ref("library/busybox-docker:latest")).ok()) << daemon_->log();
  auto [docker, docker_info] = images_->Status(Ref("library/busybox-docker"));
  EXPECT_EQ(docker_info["manifest"]["mediaType"],
            "application/vnd.docker.distribution.manifest.v2+json");

  ASSERT_TRUE(images_->Pull(Ref("library/busybox-user")).ok());
  auto [by_name, user_info] = images_->Status(Ref("library/busybox-user"));
  EXPECT_EQ(by_name.username(), "app");
  EXPECT_FALSE(by_name.has_uid());
  EXPECT_EQ(user_info["config"]["config"]["StopSignal"], "SIGUSR1");

  ASSERT_TRUE(images_->Pull(Ref("library/busybox-uid")).ok());
  auto [by_uid, uid_info] = images_->Status(Ref("library/busybox-uid"));
  ASSERT_TRUE(by_uid.has_uid());
  EXPECT_EQ(by_uid.uid().value(), 1000);
}

TEST_F(ImageTest, MirrorServesPullsAndTheOriginalNamesStay) {
  Start({"--registry_mirrors=registry.k8s.io=http://" + shared_->host_port()});
  std::string id;
  grpc::Status status = images_->Pull("registry.k8s.io/library/busybox:1.35", &id);
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto tags = AllTags(images_->List());
  EXPECT_THAT(tags, Contains("registry.k8s.io/library/busybox:1.35"));
  EXPECT_THAT(tags, ::testing::Not(Contains(::testing::HasSubstr("127.0.0.1"))));
}

TEST_F(ImageTest, MultiArchIndexPullsThisPlatform) {
  Start();
  ASSERT_TRUE(images_->Pull(Ref("test/multiarch")).ok()) << daemon_->log();
  auto [image, info] = images_->Status(Ref("test/multiarch"));
  EXPECT_EQ(info["platform"], "linux/amd64");
  // The repo digest names the index, the manifest digest the amd64 one.
  EXPECT_NE(image.repo_digests(0).substr(image.repo_digests(0).find('@') + 1),
            info["manifestDigest"].get<std::string>());
  bool found = false;
  for (const std::string& dir : LayerDirs(info)) {
    if (fs::exists(dir + "/etc/arch")) found = ReadFile(dir + "/etc/arch").find("amd64") == 0;
  }
  EXPECT_TRUE(found);
}

TEST_F(ImageTest, WhiteoutsAndOpaqueDirsDisappearInTheMountedRootfs) {
  Start();
  ASSERT_TRUE(images_->Pull(Ref("test/whiteout")).ok()) << daemon_->log();
  auto [image, info] = images_->Status(Ref("test/whiteout"));
  ASSERT_EQ(info["layers"].size(), 3u);
  auto snapshotter = Snapshotter();
  ASSERT_NE(snapshotter, nullptr);
  auto snapshot = snapshotter->Prepare({"c1", LayerDirs(info), false});
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(Names(snapshot->rootfs + "/data"), (std::vector<std::string>{"gone", "keep", "late"}));
  EXPECT_EQ(ReadFile(snapshot->rootfs + "/data/gone"), "again\n");
  EXPECT_THAT(Names(snapshot->rootfs + "/opq"), IsEmpty());
  EXPECT_TRUE(fs::exists(snapshot->rootfs + "/bin/sh"));
  ASSERT_TRUE(snapshotter->Remove("c1").ok());
}

TEST_F(ImageTest, RemoveWhileAContainerRootfsStacksTheImageIsRefused) {
  Start();
  std::string id;
  ASSERT_TRUE(images_->Pull(Ref("library/busybox:1.35"), &id).ok());
  ASSERT_TRUE(images_->Pull(Ref("library/busybox:stable")).ok());
  auto [image, info] = images_->Status(id);
  auto snapshotter = Snapshotter();
  ASSERT_NE(snapshotter, nullptr);
  ASSERT_TRUE(snapshotter->Prepare({"c1", LayerDirs(info), false}).ok());

  grpc::Status refused = images_->Remove(Ref("library/busybox:1.35"));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("in use"));
  // Nothing was removed, not even the other name.
  EXPECT_EQ(images_->Status(id).first.repo_tags_size(), 2);

  ASSERT_TRUE(snapshotter->Remove("c1").ok());
  grpc::Status removed = images_->Remove(Ref("library/busybox:1.35"));
  EXPECT_TRUE(removed.ok()) << removed.error_message();
  EXPECT_THAT(images_->List(), IsEmpty());
  // A pull's worker may still be finishing (its in-flight count drops just
  // after it recorded the pull): the collection it owes then runs when it ends.
  for (int i = 0; i < 250 && !Names(ImagesRoot() + "/layers").empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(Names(ImagesRoot() + "/layers"), IsEmpty()) << daemon_->log();
}

TEST_F(ImageTest, NotFoundAndBadReferences) {
  Start();
  grpc::Status missing = images_->Pull(Ref("library/nope:latest"));
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND) << missing.error_message();
  EXPECT_THAT(missing.error_message(), ::testing::HasSubstr("library/nope"));
  grpc::Status bad = images_->Pull("library/BusyBox");
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), ::testing::HasSubstr("image.image"));
  EXPECT_EQ(images_->Pull("").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(images_->List(), IsEmpty());
  EXPECT_THAT(Names(ImagesRoot() + "/content/ingest"), IsEmpty());
}

TEST_F(ImageTest, BasicAuth) {
  auto registry = LocalRegistry::Start({"puller", "s3cret"});
  ASSERT_TRUE(registry.ok()) << registry.status();
  ASSERT_TRUE((*registry)->PushTestImages().ok());
  Start();
  const std::string ref = (*registry)->host_port() + "/library/busybox:latest";
  grpc::Status anonymous = images_->Pull(ref);
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED) << anonymous.error_message();
  runtime::v1::AuthConfig wrong;
  wrong.set_username("puller");
  wrong.set_password("nope");
  EXPECT_EQ(images_->Pull(ref, nullptr, wrong).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  runtime::v1::AuthConfig auth;
  auth.set_username("puller");
  auth.set_password("s3cret");
  grpc::Status pulled = images_->Pull(ref, nullptr, auth);
  EXPECT_TRUE(pulled.ok()) << pulled.error_message();
  // Credentials are never stored.
  std::string grep = absl::StrCat("grep -r -l s3cret ", daemon_->root(), " || true");
  EXPECT_EQ(*Shell(grep), "");
}

TEST_F(ImageTest, HttpsRegistryWithAPrivateCa) {
  LocalRegistryOptions options;
  options.tls = true;
  auto registry = LocalRegistry::Start(options);
  ASSERT_TRUE(registry.ok()) << registry.status();
  ASSERT_TRUE((*registry)->PushTestImages().ok());
  // No insecure registries: HTTPS only, verified.
  const std::string certs = env_.base_dir() + "/certs.d";
  daemon_ = &env_.StartDaemon({"--registry_certs_dir=" + certs});
  images_ = std::make_unique<Images>(*daemon_);
  const std::string ref = (*registry)->host_port() + "/library/busybox:latest";
  grpc::Status untrusted = images_->Pull(ref);
  EXPECT_EQ(untrusted.error_code(), grpc::StatusCode::UNAVAILABLE) << untrusted.error_message();
  EXPECT_THAT(untrusted.error_message(), ::testing::HasSubstr("certificate"));
  EXPECT_THAT(untrusted.error_message(), ::testing::Not(::testing::HasSubstr("http://")));

  // The registry's CA under certs.d/<host:port>/ca.crt; no restart needed.
  fs::create_directories(certs + "/" + (*registry)->host_port());
  fs::copy_file((*registry)->ca_cert_path(), certs + "/" + (*registry)->host_port() + "/ca.crt");
  grpc::Status trusted = images_->Pull(ref);
  EXPECT_TRUE(trusted.ok()) << trusted.error_message();
}

TEST_F(ImageTest, BearerTokenRealm) {
  auto front = RegistryFront::Start(*shared_);
  ASSERT_TRUE(front.ok()) << front.status();
  (*front)->RequireBearerAuth("puller", "s3cret");
  Start();
  const std::string ref = (*front)->host_port() + "/library/busybox:latest";
  EXPECT_EQ(images_->Pull(ref).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  runtime::v1::AuthConfig auth;
  auth.set_username("puller");
  auth.set_password("s3cret");
  grpc::Status pulled = images_->Pull(ref, nullptr, auth);
  EXPECT_TRUE(pulled.ok()) << pulled.error_message();
  EXPECT_GE((*front)->tokens_issued(), 1);
}

TEST_F(ImageTest, ConcurrentPullsDownloadTheLayerOnce) {
  auto front = RegistryFront::Start(*shared_);
  ASSERT_TRUE(front.ok()) << front.status();
  Start();
  // Two names of one image, each asked for twice at once.
  std::vector<std::thread> pulls;
  std::atomic<int> failures{0};
  for (const std::string tag : {"latest", "1.35", "latest", "1.35"}) {
    pulls.emplace_back([&, tag] {
      if (!images_->Pull((*front)->host_port() + "/library/busybox:" + tag).ok()) ++failures;
    });
  }
  for (auto& pull : pulls) pull.join();
  EXPECT_EQ(failures.load(), 0) << daemon_->log();
  auto [image, info] = images_->Status((*front)->host_port() + "/library/busybox:1.35");
  const std::string layer = info["layers"][0]["digest"];
  EXPECT_EQ((*front)->RequestCount(layer, "GET", 200), 1);
  EXPECT_EQ(image.repo_tags_size(), 2);
}

TEST_F(ImageTest, FaultsAreRetriedOrReportedAndStoreNothingBad) {
  auto front = RegistryFront::Start(*shared_);
  ASSERT_TRUE(front.ok()) << front.status();
  Start();
  const std::string ref = (*front)->host_port() + "/library/busybox:latest";
  // Transient: a 429 and a broken transfer are retried within the pull.
  (*front)->FailNext("/blobs/", 1, 429, /*retry_after_seconds=*/1);
  (*front)->TruncateNext("/blobs/", 1, 1000);
  grpc::Status pulled = images_->Pull(ref);
  EXPECT_TRUE(pulled.ok()) << pulled.error_message();
  ASSERT_TRUE(images_->Remove(ref).ok());

  // Corrupt bytes: DATA_LOSS naming the digest, and no blob kept.
  (*front)->CorruptNext("/blobs/", 100);
  grpc::Status corrupt = images_->Pull(ref);
  EXPECT_EQ(corrupt.error_code(), grpc::StatusCode::DATA_LOSS) << corrupt.error_message();
  EXPECT_THAT(corrupt.error_message(), ::testing::HasSubstr("sha256:"));
  EXPECT_THAT(images_->List(), IsEmpty());
  EXPECT_THAT(Names(ImagesRoot() + "/content/ingest"), IsEmpty());
  EXPECT_THAT(Names(ImagesRoot() + "/layers"), IsEmpty());
  (*front)->ClearFaults();

  // Persistent server errors end in UNAVAILABLE.
  (*front)->FailNext("/manifests/", 100, 503);
  EXPECT_EQ(images_->Pull(ref).error_code(), grpc::StatusCode::UNAVAILABLE);
  (*front)->ClearFaults();
  EXPECT_TRUE(images_->Pull(ref).ok());
}

TEST_F(ImageTest, CorruptBlobInTheRegistryIsDataLossAndNothingIsStored) {
  auto registry = LocalRegistry::Start();
  ASSERT_TRUE(registry.ok()) << registry.status();
  ASSERT_TRUE((*registry)->PushTestImages().ok());
  Start();
  const std::string ref = (*registry)->host_port() + "/library/busybox:latest";
  ASSERT_TRUE(images_->Pull(ref).ok());
  auto [image, info] = images_->Status(ref);
  const std::string layer = info["layers"][0]["digest"];
  ASSERT_TRUE(images_->Remove(ref).ok());
  ASSERT_TRUE((*registry)->CorruptBlob(layer).ok());
  grpc::Status status = images_->Pull(ref);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS) << status.error_message();
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr(layer));
  EXPECT_FALSE(fs::exists(ImagesRoot() + "/content/blobs/sha256/" + layer.substr(7)));
  EXPECT_THAT(Names(ImagesRoot() + "/content/ingest"), IsEmpty());
}

TEST_F(ImageTest, KillDuringAPullLeavesNothingTheNextPullTripsOver) {
  const std::string layouts = env_.base_dir() + "/big-images";
  ASSERT_TRUE(Shell(absl::StrCat("bash ", RunfilePath("testdata/images/build-images.sh"),
                                 " --big 64 ", layouts))
                  .ok());
  ASSERT_TRUE(Shell(absl::StrCat("bash ", RunfilePath("testdata/images/push-images.sh"), " ",
                                 shared_->host_port(), " ", layouts))
                  .ok());
  TestDaemon& daemon = Start();
  const std::string ref = Ref("test/big:latest");
  std::thread pull([&] { images_->Pull(ref); });
  // Killed once the layer is streaming into the content store.
  const std::string ingest = ImagesRoot() + "/content/ingest";
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  bool streaming = false;
  while (!streaming && absl::Now() < give_up) {
    for (const std::string& name : Names(ingest)) {
      std::error_code error;
      if (fs::file_size(ingest + "/" + name, error) > (1 << 20)) streaming = true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  daemon.Kill9();
  pull.join();
  ASSERT_TRUE(streaming) << "the pull never reached the layer";

  daemon.Start({"--insecure_registries=127.0.0.1"});
  images_ = std::make_unique<Images>(daemon);
  // The restart cleared the half-written blob and resumed the pull the
  // daemon had accepted; asking again finds or finishes it.
  std::string id;
  grpc::Status pulled = images_->Pull(ref, &id);
  ASSERT_TRUE(pulled.ok()) << pulled.error_message() << daemon.log();
  for (const std::string& name : Names(ingest)) ADD_FAILURE() << "left in ingest: " << name;
  for (const std::string& name : Names(ImagesRoot() + "/layers")) {
    EXPECT_FALSE(absl::StartsWith(name, "tmp-")) << name;
  }
  auto [image, info] = images_->Status(id);
  EXPECT_GT(image.size(), 60u << 20);
}

TEST_F(ImageTest, ImportedArchivesNeedNoRegistry) {
  const std::string layouts = env_.base_dir() + "/layouts";
  ASSERT_TRUE(Shell(absl::StrCat("bash ", RunfilePath("testdata/images/build-images.sh"), " ",
                                 layouts))
                  .ok());
  const std::string docker_archive = env_.base_dir() + "/app.tar";
  ASSERT_TRUE(Shell(absl::StrCat(
                        "echo '{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}' > ",
                        env_.base_dir(), "/policy.json && skopeo --policy ", env_.base_dir(),
                        "/policy.json copy -q oci:", layouts, "/busybox-user:latest docker-archive:",
                        docker_archive, ":example.com/offline/app:v1"))
                  .ok());
  const std::string oci_archive = env_.base_dir() + "/busybox-oci.tar";
  ASSERT_TRUE(Shell(absl::StrCat("tar -C ", layouts, "/busybox -cf ", oci_archive, " .")).ok());
  TestDaemon& daemon = Start();
  const std::string ctl = absl::StrCat(RunfilePath("cmd/convergectl/convergectl"), " --socket ",
                                       daemon.socket(), " --root ", daemon.root());
  auto imported = Shell(absl::StrCat(ctl, " image import ", docker_archive));
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_THAT(*imported, ::testing::HasSubstr("imported example.com/offline/app:v1"));
  // An OCI layout names its images by tag only: --image_name gives the repository.
  EXPECT_FALSE(Shell(absl::StrCat(ctl, " image import ", oci_archive)).ok());
  ASSERT_TRUE(Shell(absl::StrCat(ctl, " --image_name=example.com/offline/busybox image import ",
                                 oci_archive))
                  .ok());
  auto tags = AllTags(images_->List());
  EXPECT_THAT(tags, Contains("example.com/offline/app:v1"));
  EXPECT_THAT(tags, Contains("example.com/offline/busybox:1.35"));
  auto listing = Shell(ctl + " images");
  ASSERT_TRUE(listing.ok());
  EXPECT_THAT(*listing, ::testing::HasSubstr("example.com/offline/busybox"));
  // The image config came along: kubelet's runAsNonRoot check sees the user.
  EXPECT_EQ(images_->Status("example.com/offline/app:v1").first.username(), "app");
}

}  // namespace
}  // namespace converge::testing

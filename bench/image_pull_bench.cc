// Pull + unpack throughput of a large layer through converged, against the
// same image fetched by `skopeo copy` into an OCI layout and unpacked with
// `tar -xzf`, in the same run and from the same registry. Needs root (the
// daemon), skopeo, tar, gzip, openssl and Debian's docker-registry.
//
//   bazel build -c opt //bench:image_pull_bench
//   ./bazel-bin/bench/image_pull_bench --benchmark_repetitions=3 [--big_mb=512]
//
// Before any benchmark runs, main() starts one registry on 127.0.0.1, builds
// test/big (busybox layer + one gzip layer of --big_mb MiB of incompressible
// data; env CONVERGE_BENCH_BIG_MB works too) and library/busybox, pushes them,
// and starts one converged. Each iteration is timed by hand (the big image
// does 3 iterations per repetition, busybox as many as --benchmark_min_time
// asks for):
//
//   BM_ConvergePull/<image>           PullImage through the CRI socket, i.e.
//                                     resolve, download (sha256, fdatasync),
//                                     unpack every layer; RemoveImage after it,
//                                     untimed, so every pull starts empty.
//   BM_SkopeoCopyAndTarExtract/<image> `skopeo copy docker://... oci:DIR:latest`
//                                     then `tar -xzf` of each layer blob, in
//                                     manifest order, into a fresh directory;
//                                     counters copy_s / extract_s split it.
//
// bytes_per_second counts the compressed layer bytes of the manifest; items
// are pulls. Both sides read from the same warm registry over loopback; the
// page cache is not dropped, but a sync(2) runs (untimed) after each
// iteration's cleanup so no writeback is left over for the next one.

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/cri/api.grpc.pb.h"
#include "benchmark/benchmark.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/registry/local_registry.h"

namespace converge::testing {
namespace {

namespace fs = std::filesystem;
using runtime::v1::ImageService;

constexpr int kDefaultBigMb = 512;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read `", path, "`"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The layer blobs (in manifest order) of the image tagged `tag` in the OCI
// layout `layout`, as paths, and the sum of their sizes.
struct LayoutLayers {
  std::vector<std::string> blobs;
  int64_t bytes = 0;
};

absl::StatusOr<LayoutLayers> ReadLayoutLayers(const std::string& layout,
                                              const std::string& tag = "latest") {
  auto blob_path = [&](const std::string& digest) {
    return absl::StrCat(layout, "/blobs/sha256/", digest.substr(digest.find(':') + 1));
  };
  absl::StatusOr<std::string> index_text = ReadFile(layout + "/index.json");
  if (!index_text.ok()) return index_text.status();
  std::string manifest_digest;
  nlohmann::json index = nlohmann::json::parse(*index_text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.contains("manifests")) {
    return absl::DataLossError(absl::StrCat("`", layout, "/index.json` is not an OCI index"));
  }
  for (const auto& descriptor : index["manifests"]) {
    auto annotations = descriptor.value("annotations", nlohmann::json::object());
    if (annotations.value("org.opencontainers.image.ref.name", "") == tag) {
      manifest_digest = descriptor.value("digest", "");
    }
  }
  if (manifest_digest.empty()) {
    return absl::NotFoundError(absl::StrCat("no tag `", tag, "` in `", layout, "/index.json`"));
  }
  absl::StatusOr<std::string> manifest_text = ReadFile(blob_path(manifest_digest));
  if (!manifest_text.ok()) return manifest_text.status();
  nlohmann::json manifest = nlohmann::json::parse(*manifest_text, nullptr, false);
  if (manifest.is_discarded() || !manifest.contains("layers")) {
    return absl::DataLossError(absl::StrCat("manifest ", manifest_digest, " has no layers"));
  }
  LayoutLayers layers;
  for (const auto& layer : manifest["layers"]) {
    layers.blobs.push_back(blob_path(layer.value("digest", "")));
    layers.bytes += layer.value("size", int64_t{0});
  }
  return layers;
}

struct Image {
  std::string repo_tag;     // "test/big:latest", as pushed
  int64_t layer_bytes = 0;  // compressed, from the pushed layout's manifest
  size_t layers = 0;
};

// Everything the benchmarks share, made once in main() and torn down there.
class World {
 public:
  World() = default;
  ~World() {
    if (daemon_ != nullptr && daemon_->running()) daemon_->Stop();
    if (registry_ != nullptr) (void)registry_->Stop();
    std::error_code ignored;
    if (!work_.empty()) fs::remove_all(work_, ignored);
    // ~TestEnv removes its directories, cgroups and network.
  }

  absl::Status SetUp(int big_mb) {
    work_ = env_.base_dir() + "/image-bench";
    fs::create_directories(work_ + "/skopeo/registries.d");
    fs::create_directories(work_ + "/skopeo/tmp");
    std::ofstream(work_ + "/skopeo/policy.json")
        << "{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}\n";

    absl::StatusOr<std::unique_ptr<LocalRegistry>> registry = LocalRegistry::Start();
    if (!registry.ok()) return registry.status();
    registry_ = std::move(*registry);

    // test/big: built and pushed here; library/busybox: the fixture's images.
    const std::string scripts = RunfilePath("testdata/images");
    const std::string layouts = work_ + "/layouts";
    absl::Time start = absl::Now();
    absl::Status built =
        RunCommand({"/bin/bash", scripts + "/build-images.sh", "--big", absl::StrCat(big_mb), layouts})
            .status();
    if (!built.ok()) return built;
    absl::Time built_at = absl::Now();
    absl::Status pushed =
        RunCommand({"/bin/bash", scripts + "/push-images.sh", registry_->host_port(), layouts})
            .status();
    if (!pushed.ok()) return pushed;
    fprintf(stderr, "built test/big (%d MiB) in %.1fs, pushed in %.1fs\n", big_mb,
            absl::ToDoubleSeconds(built_at - start), absl::ToDoubleSeconds(absl::Now() - built_at));
    absl::StatusOr<LayoutLayers> big = ReadLayoutLayers(layouts + "/big");
    if (!big.ok()) return big.status();
    images_["big"] = {"test/big:latest", big->bytes, big->blobs.size()};
    fs::remove_all(layouts);  // the registry has its own copy
    absl::Status small = registry_->PushTestImages();
    if (!small.ok()) return small;
    absl::StatusOr<std::string> test_images = TestImagesDir();
    if (!test_images.ok()) return test_images.status();
    absl::StatusOr<LayoutLayers> busybox = ReadLayoutLayers(*test_images + "/busybox");
    if (!busybox.ok()) return busybox.status();
    images_["busybox"] = {"library/busybox:latest", busybox->bytes, busybox->blobs.size()};
    benchmark::AddCustomContext(
        "big_image", absl::StrCat(big_mb, " MiB random data, ", big->bytes,
                                  " compressed layer bytes in ", big->blobs.size(), " layers"));
    benchmark::AddCustomContext("busybox_image",
                                absl::StrCat(busybox->bytes, " compressed layer bytes"));

    daemon_ = &env_.NewDaemon("pull");
    daemon_->Start({"--insecure_registries=127.0.0.1", "--log_level=warn"});
    stub_ = ImageService::NewStub(
        grpc::CreateChannel("unix://" + daemon_->socket(), grpc::InsecureChannelCredentials()));
    ::sync();  // the build and the push leave ~2x the image in writeback
    return absl::OkStatus();
  }

  const Image& image(const std::string& name) const { return images_.at(name); }
  std::string Reference(const Image& image) const {
    return absl::StrCat(registry_->host_port(), "/", image.repo_tag);
  }
  const std::string& work() const { return work_; }
  TestEnv& env() { return env_; }

  grpc::Status Pull(const std::string& reference) {
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(reference);
    runtime::v1::PullImageResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(10)));
    return stub_->PullImage(&context, request, &response);
  }

  grpc::Status Remove(const std::string& reference) {
    runtime::v1::RemoveImageRequest request;
    request.mutable_image()->set_image(reference);
    runtime::v1::RemoveImageResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(2)));
    return stub_->RemoveImage(&context, request, &response);
  }

  // skopeo copy of `image` into the OCI layout `dir` (replaced); its layers.
  absl::StatusOr<LayoutLayers> SkopeoCopy(const Image& image, const std::string& dir) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    const std::string config = work_ + "/skopeo";
    absl::Status copied =
        RunCommand({"/usr/bin/skopeo", "--policy", config + "/policy.json", "--registries.d",
                    config + "/registries.d", "--tmpdir", config + "/tmp", "copy", "--quiet",
                    "--src-tls-verify=false", "docker://" + Reference(image),
                    "oci:" + dir + ":latest"})
            .status();
    if (!copied.ok()) return copied;
    return ReadLayoutLayers(dir);
  }

 private:
  TestEnv env_;
  TestDaemon* daemon_ = nullptr;  // owned by env_
  std::unique_ptr<LocalRegistry> registry_;
  std::unique_ptr<ImageService::Stub> stub_;
  std::string work_;
  std::map<std::string, Image> images_;
};

World* world = nullptr;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void BM_ConvergePull(benchmark::State& state, const char* name) {
  const Image& image = world->image(name);
  const std::string reference = world->Reference(image);
  (void)world->Remove(reference);  // idempotent: start from an empty store
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    grpc::Status pulled = world->Pull(reference);
    state.SetIterationTime(SecondsSince(start));
    if (!pulled.ok()) {
      state.SkipWithError(absl::StrCat("PullImage: ", pulled.error_message()).c_str());
      break;
    }
    grpc::Status removed = world->Remove(reference);
    if (!removed.ok()) {
      state.SkipWithError(absl::StrCat("RemoveImage: ", removed.error_message()).c_str());
      break;
    }
    ::sync();
  }
  state.SetBytesProcessed(state.iterations() * image.layer_bytes);
  state.SetItemsProcessed(state.iterations());
}
// Three pulls per repetition of the big image: a single one is at the mercy
// of whatever else the machine does for those two seconds.
BENCHMARK_CAPTURE(BM_ConvergePull, big, "big")
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ConvergePull, busybox, "busybox")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_SkopeoCopyAndTarExtract(benchmark::State& state, const char* name) {
  const Image& image = world->image(name);
  const std::string layout = world->work() + "/oci";
  const std::string rootfs = world->work() + "/rootfs";
  double copy_seconds = 0, extract_seconds = 0;
  for (auto _ : state) {
    std::error_code ignored;
    fs::remove_all(layout, ignored);
    fs::remove_all(rootfs, ignored);
    fs::create_directories(rootfs);
    ::sync();
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<LayoutLayers> layers = world->SkopeoCopy(image, layout);
    double copied = SecondsSince(start);
    if (!layers.ok()) {
      state.SkipWithError(std::string(layers.status().message()).c_str());
      break;
    }
    absl::Status extracted = absl::OkStatus();
    for (const std::string& blob : layers->blobs) {
      extracted = RunCommand({"/usr/bin/tar", "-xzf", blob, "-C", rootfs}).status();
      if (!extracted.ok()) break;
    }
    double total = SecondsSince(start);
    state.SetIterationTime(total);
    if (!extracted.ok()) {
      state.SkipWithError(std::string(extracted.message()).c_str());
      break;
    }
    copy_seconds += copied;
    extract_seconds += total - copied;
  }
  std::error_code ignored;
  fs::remove_all(layout, ignored);
  fs::remove_all(rootfs, ignored);
  state.counters["copy_s"] = benchmark::Counter(copy_seconds, benchmark::Counter::kAvgIterations);
  state.counters["extract_s"] =
      benchmark::Counter(extract_seconds, benchmark::Counter::kAvgIterations);
  state.SetBytesProcessed(state.iterations() * image.layer_bytes);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SkopeoCopyAndTarExtract, big, "big")
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SkopeoCopyAndTarExtract, busybox, "busybox")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// --big_mb=N (left in argv by benchmark::Initialize), else
// $CONVERGE_BENCH_BIG_MB, else kDefaultBigMb. Removes the flag from argv.
absl::StatusOr<int> BigMb(int* argc, char** argv) {
  std::string value;
  if (const char* from_env = std::getenv("CONVERGE_BENCH_BIG_MB")) value = from_env;
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    if (absl::StartsWith(argv[i], "--big_mb=")) {
      value = argv[i] + strlen("--big_mb=");
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
  if (value.empty()) return kDefaultBigMb;
  int mb;
  if (!absl::SimpleAtoi(value, &mb) || mb < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--big_mb: want a positive integer, got `", value, "`"));
  }
  return mb;
}

}  // namespace
}  // namespace converge::testing

int main(int argc, char** argv) {
  using converge::testing::world;
  benchmark::Initialize(&argc, argv);
  absl::StatusOr<int> big_mb = converge::testing::BigMb(&argc, argv);
  if (!big_mb.ok()) {
    fprintf(stderr, "%s\n", big_mb.status().ToString().c_str());
    return 2;
  }
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  // The registry dies with the thread that started it: this one, which also
  // runs every benchmark.
  world = new converge::testing::World();
  absl::Status ready = world->SetUp(*big_mb);
  int exit_code = 0;
  if (ready.ok()) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    fprintf(stderr, "setup failed: %s\n", ready.ToString().c_str());
    exit_code = 1;
  }
  benchmark::Shutdown();
  auto leaks = world->env().Leaks();
  for (const auto& leak : leaks) fprintf(stderr, "leak: %s\n", leak.c_str());
  delete world;
  return leaks.empty() ? exit_code : 1;
}

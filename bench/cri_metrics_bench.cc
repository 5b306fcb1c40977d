// The cost of metrics on the CRI hot path: the same RuntimeService, in the
// same process and run, served on two unix sockets, one with the metrics
// interceptor and one without; a client calls Version and ListPodSandbox
// (100 sandboxes in the store) through each.
//
//   bazel run -c opt //bench:cri_metrics_bench
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "api/cri_metrics.h"
#include "api/runtime_service.h"
#include "benchmark/benchmark.h"
#include "grpcpp/grpcpp.h"
#include "metrics/metrics.h"
#include "store/store.h"

namespace converge {
namespace {

class NetworkAlwaysReady : public HealthReporter {
 public:
  absl::Status NetworkReadiness() const override { return absl::OkStatus(); }
};

struct Served {
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> stub;
};

struct Fixture {
  Fixture() {
    dir = absl::StrCat("/tmp/cv-cri-bench-", getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    store = *Store::Open(dir + "/db");
    for (int i = 0; i < 100; ++i) {
      records::SandboxDesired desired;
      desired.set_id(absl::StrCat("sandbox", i));
      desired.set_stage(records::SANDBOX_STAGE_READY);
      desired.mutable_config()->mutable_metadata()->set_name(absl::StrCat("pod", i));
      (void)store->PutSandboxDesired(desired);
    }
    RuntimeServiceOptions options;
    options.version = "bench";
    options.new_id = [] { return std::string("unused"); };
    service = std::make_unique<RuntimeServiceImpl>(store.get(), &health, options);
    plain = Serve("plain", nullptr);
    instrumented = Serve("metrics", &registry);
  }
  ~Fixture() {
    plain.server->Shutdown();
    instrumented.server->Shutdown();
    std::filesystem::remove_all(dir);
  }

  Served Serve(const std::string& name, metrics::Registry* metrics) {
    const std::string socket = absl::StrCat(dir, "/", name, ".sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + socket, grpc::InsecureServerCredentials());
    builder.RegisterService(service.get());
    if (metrics != nullptr) {
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> f;
      f.push_back(*CriMetricsInterceptorFactory::Create(metrics));
      builder.experimental().SetInterceptorCreators(std::move(f));
    }
    Served served;
    served.server = builder.BuildAndStart();
    served.stub = runtime::v1::RuntimeService::NewStub(
        grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials()));
    return served;
  }

  std::string dir;
  std::unique_ptr<Store> store;
  NetworkAlwaysReady health;
  metrics::Registry registry;
  std::unique_ptr<RuntimeServiceImpl> service;
  Served plain, instrumented;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_Version(benchmark::State& state) {
  Served& served = state.range(0) ? Shared().instrumented : Shared().plain;
  for (auto _ : state) {
    grpc::ClientContext context;
    runtime::v1::VersionResponse response;
    if (!served.stub->Version(&context, runtime::v1::VersionRequest(), &response).ok()) {
      state.SkipWithError("Version failed");
      break;
    }
  }
}
BENCHMARK(BM_Version)->ArgName("metrics")->Arg(0)->Arg(1)->UseRealTime();

void BM_ListPodSandbox(benchmark::State& state) {
  Served& served = state.range(0) ? Shared().instrumented : Shared().plain;
  for (auto _ : state) {
    grpc::ClientContext context;
    runtime::v1::ListPodSandboxResponse response;
    if (!served.stub->ListPodSandbox(&context, runtime::v1::ListPodSandboxRequest(), &response)
             .ok()) {
      state.SkipWithError("ListPodSandbox failed");
      break;
    }
  }
}
BENCHMARK(BM_ListPodSandbox)->ArgName("metrics")->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace converge

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  delete &converge::Shared();
  return 0;
}

// Per-method CRI metrics, recorded by a gRPC server interceptor so that every
// RPC is counted, including the ones converge does not implement yet:
//
//   converge_cri_requests_total{service, method, code}
//   converge_cri_request_duration_seconds{service, method}
//
//   CONVERGE_ASSIGN_OR_RETURN(auto factory, CriMetricsInterceptorFactory::Create(&registry));
//   std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> f;
//   f.push_back(std::move(factory));
//   builder.experimental().SetInterceptorCreators(std::move(f));
#ifndef CONVERGE_API_CRI_METRICS_H_
#define CONVERGE_API_CRI_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"
#include "metrics/metrics.h"

namespace converge {

// "/runtime.v1.RuntimeService/RunPodSandbox" -> {"RuntimeService", "RunPodSandbox"}.
std::pair<std::string, std::string> SplitGrpcMethod(absl::string_view full_method);

class CriMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  static absl::StatusOr<std::unique_ptr<CriMetricsInterceptorFactory>> Create(
      metrics::Registry* registry);

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  CriMetricsInterceptorFactory(metrics::CounterFamily* requests,
                               metrics::HistogramFamily* durations)
      : requests_(requests), durations_(durations) {}

  metrics::CounterFamily* const requests_;
  metrics::HistogramFamily* const durations_;
};

}  // namespace converge

#endif  // CONVERGE_API_CRI_METRICS_H_

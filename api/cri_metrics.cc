#include "api/cri_metrics.h"

#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace converge {
namespace {

// gRPC's canonical code names, as Prometheus users see them in grpc-go's
// server metrics.
const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "Canceled";
    case grpc::StatusCode::UNKNOWN: return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT: return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND: return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS: return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED: return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FailedPrecondition";
    case grpc::StatusCode::ABORTED: return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE: return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED: return "Unimplemented";
    case grpc::StatusCode::INTERNAL: return "Internal";
    case grpc::StatusCode::UNAVAILABLE: return "Unavailable";
    case grpc::StatusCode::DATA_LOSS: return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED: return "Unauthenticated";
    default: return "Unknown";
  }
}

// One per RPC: times it from creation to the status being sent.
class CriMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  CriMetricsInterceptor(std::string service, std::string method,
                        metrics::CounterFamily* requests, metrics::HistogramFamily* durations)
      : service_(std::move(service)),
        method_(std::move(method)),
        requests_(requests),
        durations_(durations),
        start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      requests_->WithLabels({service_, method_, CodeName(status.error_code())})->Increment();
      durations_->WithLabels({service_, method_})
          ->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  const std::string service_;
  const std::string method_;
  metrics::CounterFamily* const requests_;
  metrics::HistogramFamily* const durations_;
  const absl::Time start_;
};

}  // namespace

std::pair<std::string, std::string> SplitGrpcMethod(absl::string_view full_method) {
  absl::string_view rest = full_method;
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return {"unknown", std::string(rest)};
  absl::string_view service = rest.substr(0, slash);
  const size_t dot = service.rfind('.');
  if (dot != absl::string_view::npos) service.remove_prefix(dot + 1);
  return {std::string(service), std::string(rest.substr(slash + 1))};
}

absl::StatusOr<std::unique_ptr<CriMetricsInterceptorFactory>>
CriMetricsInterceptorFactory::Create(metrics::Registry* registry) {
  CONVERGE_ASSIGN_OR_RETURN(
      metrics::CounterFamily * requests,
      registry->AddCounter("converge_cri_requests_total",
                           "CRI requests answered, by service, method and gRPC code.",
                           {"service", "method", "code"}));
  CONVERGE_ASSIGN_OR_RETURN(
      metrics::HistogramFamily * durations,
      registry->AddHistogram("converge_cri_request_duration_seconds",
                             "Time from receiving a CRI request to sending its status.",
                             {"service", "method"},
                             metrics::ExponentialBuckets(0.0005, 2, 20)));
  return std::unique_ptr<CriMetricsInterceptorFactory>(
      new CriMetricsInterceptorFactory(requests, durations));
}

grpc::experimental::Interceptor* CriMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  auto [service, method] = SplitGrpcMethod(info->method());
  return new CriMetricsInterceptor(std::move(service), std::move(method), requests_, durations_);
}

}  // namespace converge

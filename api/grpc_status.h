// absl::Status -> grpc::Status. The two share their code numbering.
#ifndef CONVERGE_API_GRPC_STATUS_H_
#define CONVERGE_API_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace converge {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace converge

#endif  // CONVERGE_API_GRPC_STATUS_H_

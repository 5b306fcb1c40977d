// Kubernetes resource quantities ("10M", "1Gi", "500k", "1000"), as kubelet
// writes them into annotations such as kubernetes.io/ingress-bandwidth.
#ifndef CONVERGE_COMMON_QUANTITY_H_
#define CONVERGE_COMMON_QUANTITY_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace converge {

// The quantity as a whole number; INVALID_ARGUMENT quoting it otherwise.
absl::StatusOr<uint64_t> ParseQuantity(absl::string_view quantity);

}  // namespace converge

#endif  // CONVERGE_COMMON_QUANTITY_H_

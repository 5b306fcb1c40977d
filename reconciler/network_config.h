// What a sandbox asks of the pod network, in CNI terms: the capability
// arguments (port mappings, DNS, bandwidth) derived from its CRI config.
// Pure and table-tested.
#ifndef CONVERGE_RECONCILER_NETWORK_CONFIG_H_
#define CONVERGE_RECONCILER_NETWORK_CONFIG_H_

#include "absl/status/statusor.h"
#include "api/cri/api.pb.h"
#include "executors/network/cni/runtime_config.h"

namespace converge {

// kubelet's bandwidth annotations, in bits per second.
inline constexpr char kIngressBandwidthAnnotation[] = "kubernetes.io/ingress-bandwidth";
inline constexpr char kEgressBandwidthAnnotation[] = "kubernetes.io/egress-bandwidth";

// Port mappings with a host port, the DNS config if any, and bandwidth limits
// from the annotations. An unparsable annotation is an error naming it.
absl::StatusOr<RuntimeConfig> CniRuntimeConfig(const runtime::v1::PodSandboxConfig& config);

}  // namespace converge

#endif  // CONVERGE_RECONCILER_NETWORK_CONFIG_H_

#include "reconciler/network_config.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/quantity.h"

namespace converge {
absl::StatusOr<RuntimeConfig> CniRuntimeConfig(const runtime::v1::PodSandboxConfig& config) {
  RuntimeConfig out;
  for (const auto& mapping : config.port_mappings()) {
    if (mapping.host_port() <= 0) continue;  // Not a host port: nothing for CNI to do.
    out.port_mappings.push_back(
        {mapping.host_port(), mapping.container_port(),
         runtime::v1::Protocol_Name(mapping.protocol()), mapping.host_ip()});
  }
  const auto& dns = config.dns_config();
  if (!dns.servers().empty() || !dns.searches().empty() || !dns.options().empty()) {
    out.dns = DnsConfig{{dns.servers().begin(), dns.servers().end()},
                        {dns.searches().begin(), dns.searches().end()},
                        {dns.options().begin(), dns.options().end()}};
  }
  for (const char* annotation : {kIngressBandwidthAnnotation, kEgressBandwidthAnnotation}) {
    auto it = config.annotations().find(annotation);
    if (it == config.annotations().end()) continue;
    absl::StatusOr<uint64_t> rate = ParseQuantity(it->second);
    if (!rate.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("annotation ", annotation, ": ", rate.status().message()));
    }
    if (!out.bandwidth) out.bandwidth.emplace();
    // No burst limit of its own, as containerd and CRI-O set it.
    const uint64_t unlimited_burst = std::numeric_limits<uint32_t>::max();
    if (annotation == std::string(kIngressBandwidthAnnotation)) {
      out.bandwidth->ingress_rate = *rate;
      out.bandwidth->ingress_burst = unlimited_burst;
    } else {
      out.bandwidth->egress_rate = *rate;
      out.bandwidth->egress_burst = unlimited_burst;
    }
  }
  return out;
}

}  // namespace converge

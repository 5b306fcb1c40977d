// RuntimeConfig carries the per-pod CNI "capability arguments" that a
// runtime hands to plugins in `runtimeConfig` (CNI CONVENTIONS.md): port
// mappings, DNS, bandwidth and IP ranges. A plugin only receives the ones it
// declares in its `capabilities` (see plugin_config.h).
//
// Plain data with no dependencies, so that executors/network/network.h can
// include it for NetworkRequest:
//
//   RuntimeConfig config;
//   config.port_mappings.push_back({8080, 80, "TCP", ""});
//   config.dns = DnsConfig{{"10.96.0.10"}, {"default.svc.cluster.local"}, {}};
#ifndef CONVERGE_EXECUTORS_NETWORK_CNI_RUNTIME_CONFIG_H_
#define CONVERGE_EXECUTORS_NETWORK_CNI_RUNTIME_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace converge {

// One CRI PortMapping. Mappings with host_port <= 0 are not host port
// mappings and are not passed to CNI (as in containerd and kubelet).
struct PortMapping {
  int32_t host_port = 0;
  int32_t container_port = 0;
  std::string protocol;  // "TCP", "UDP", "SCTP" in any case; sent lowercase
  std::string host_ip;   // empty: all addresses
};

// The pod's DNS settings (CRI DNSConfig), capability `dns`.
struct DnsConfig {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;
};

// Capability `bandwidth`: rates in bits per second, bursts in bits.
struct BandwidthConfig {
  uint64_t ingress_rate = 0;
  uint64_t ingress_burst = 0;
  uint64_t egress_rate = 0;
  uint64_t egress_burst = 0;
};

// One entry of capability `ipRanges` (host-local's `ranges` format).
struct IpRange {
  std::string subnet;  // CIDR, required
  std::string range_start;
  std::string range_end;
  std::string gateway;
};

struct RuntimeConfig {
  std::vector<PortMapping> port_mappings;
  std::optional<DnsConfig> dns;
  std::optional<BandwidthConfig> bandwidth;
  // Outer list: one entry per address to allocate; inner: the pools.
  std::vector<std::vector<IpRange>> ip_ranges;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_CNI_RUNTIME_CONFIG_H_

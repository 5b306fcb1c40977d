#include "executors/network/cni/plugin_config.h"

#include "absl/strings/ascii.h"

namespace converge {
namespace {

Json PortMappingsJson(const std::vector<PortMapping>& mappings) {
  Json out = Json::array();
  for (const PortMapping& mapping : mappings) {
    if (mapping.host_port <= 0) continue;
    Json entry = Json::object();
    entry["hostPort"] = mapping.host_port;
    entry["containerPort"] = mapping.container_port;
    entry["protocol"] = mapping.protocol.empty()
                            ? std::string("tcp")
                            : absl::AsciiStrToLower(mapping.protocol);
    if (!mapping.host_ip.empty()) entry["hostIP"] = mapping.host_ip;
    out.push_back(std::move(entry));
  }
  return out;
}

Json DnsJson(const DnsConfig& dns) {
  Json out = Json::object();
  out["servers"] = dns.servers;
  out["searches"] = dns.searches;
  out["options"] = dns.options;
  return out;
}

Json BandwidthJson(const BandwidthConfig& bandwidth) {
  Json out = Json::object();
  out["ingressRate"] = bandwidth.ingress_rate;
  out["ingressBurst"] = bandwidth.ingress_burst;
  out["egressRate"] = bandwidth.egress_rate;
  out["egressBurst"] = bandwidth.egress_burst;
  return out;
}

Json IpRangesJson(const std::vector<std::vector<IpRange>>& sets) {
  Json out = Json::array();
  for (const std::vector<IpRange>& set : sets) {
    Json ranges = Json::array();
    for (const IpRange& range : set) {
      Json entry = Json::object();
      entry["subnet"] = range.subnet;
      if (!range.range_start.empty()) entry["rangeStart"] = range.range_start;
      if (!range.range_end.empty()) entry["rangeEnd"] = range.range_end;
      if (!range.gateway.empty()) entry["gateway"] = range.gateway;
      ranges.push_back(std::move(entry));
    }
    out.push_back(std::move(ranges));
  }
  return out;
}

}  // namespace

Json CapabilityArgs(const RuntimeConfig& config) {
  Json args = Json::object();
  Json port_mappings = PortMappingsJson(config.port_mappings);
  if (!port_mappings.empty()) args["portMappings"] = std::move(port_mappings);
  if (config.dns) args["dns"] = DnsJson(*config.dns);
  if (config.bandwidth) args["bandwidth"] = BandwidthJson(*config.bandwidth);
  if (!config.ip_ranges.empty()) {
    args["ipRanges"] = IpRangesJson(config.ip_ranges);
  }
  return args;
}

Json BuildPluginConfig(const NetworkConfigList& list,
                       const CniPluginConfig& plugin, const Json* prev_result,
                       const Json& capability_args) {
  Json conf = plugin.raw.is_object() ? plugin.raw : Json::object();
  conf["name"] = list.name;
  conf["cniVersion"] = list.cni_version;
  if (prev_result != nullptr) conf["prevResult"] = *prev_result;
  Json runtime_config = Json::object();
  for (const auto& [capability, supported] : plugin.capabilities) {
    if (!supported || !capability_args.is_object()) continue;
    auto it = capability_args.find(capability);
    if (it != capability_args.end()) runtime_config[capability] = *it;
  }
  if (!runtime_config.empty())
    conf["runtimeConfig"] = std::move(runtime_config);
  return conf;
}

}  // namespace converge

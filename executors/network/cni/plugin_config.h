// The stdin document of one plugin invocation (SPEC section 3, "Deriving
// request configuration from plugin configuration"; libcni buildOneConfig).
// Pure.
//
//   Json args = CapabilityArgs(runtime_config);
//   Json conf = BuildPluginConfig(list, list.plugins[0], nullptr, args);
//   std::string stdin_bytes = DumpJson(conf);
//
// The plugin object is passed through unchanged (unknown keys, `capabilities`
// and `ipam` included, as libcni does), with:
//   name, cniVersion  from the list (overwriting any in the plugin object);
//   prevResult        when given: on ADD the previous plugin's result (none
//                     for the first plugin); on DEL and CHECK the cached
//                     final result of the ADD;
//   runtimeConfig     the capability arguments whose name the plugin
//                     declares true in `capabilities`; omitted when that
//                     leaves nothing (then a runtimeConfig written in the
//                     file, although reserved, stays as written, as in
//                     libcni).
#ifndef CONVERGE_EXECUTORS_NETWORK_CNI_PLUGIN_CONFIG_H_
#define CONVERGE_EXECUTORS_NETWORK_CNI_PLUGIN_CONFIG_H_

#include "executors/network/cni/config.h"
#include "executors/network/cni/json_util.h"
#include "executors/network/cni/runtime_config.h"

namespace converge {

// The capability arguments converge offers, keyed by capability name, each
// present only when it has something to say:
//   portMappings  [{"hostPort", "containerPort", "protocol" (lowercase,
//                  default "tcp"), "hostIP" (when set)}], for host_port > 0
//   dns           {"servers", "searches", "options"}
//   bandwidth     {"ingressRate", "ingressBurst", "egressRate",
//                  "egressBurst"}
//   ipRanges      [[{"subnet", "rangeStart", "rangeEnd", "gateway"}]]
//                 (empty strings omitted)
// This object is what CniNetwork caches with the result, so DEL gets the
// capability arguments ADD had (portmap removes nothing without them).
Json CapabilityArgs(const RuntimeConfig& config);

// `prev_result` may be null (first ADD, or DEL without a cached result).
// `capability_args` is an object as made by CapabilityArgs.
Json BuildPluginConfig(const NetworkConfigList& list,
                       const CniPluginConfig& plugin, const Json* prev_result,
                       const Json& capability_args);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_CNI_PLUGIN_CONFIG_H_

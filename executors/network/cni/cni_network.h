// CniNetwork is the NetworkExecutor that attaches pods with CNI plugins, with
// libcni's semantics (ADD in list order chaining prevResult, DEL in reverse
// with the ADD's final result, CHECK in order with it).
//
//   CniNetworkOptions options;
//   options.conf_dir = "/etc/cni/net.d";
//   options.bin_dirs = {"/usr/lib/cni", "/opt/cni/bin"};
//   CONVERGE_ASSIGN_OR_RETURN(std::unique_ptr<CniNetwork> cni,
//                             CniNetwork::Create(options));
//   CONVERGE_ASSIGN_OR_RETURN(NetworkResult attached, cni->Setup(request));
//   // persist attached.result_json, then report attached.ips
//   ...
//   CONVERGE_RETURN_IF_ERROR(cni->Teardown(request, attached));
//
// Configuration: every Setup, Ready and cache-less Teardown reads the config
// directory again (config.h: first loadable .conflist/.conf/.json in lexical
// order), so a network installed or changed after start-up is picked up
// without a restart. Plugins are found in `bin_dirs` (first match).
//
// The contract with the reconciler (what makes a failed ADD undoable):
//   1. Mark the sandbox network_attached in `actual` BEFORE calling Setup.
//   2. On success, persist NetworkResult.result_json verbatim; it holds the
//      exact config list used, the capability arguments (port mappings...),
//      the final CNI result, the ifname and the container id, so Teardown
//      needs neither the config directory nor the daemon's memory.
//   3. Whenever network_attached is set, call Teardown with whatever was
//      persisted, possibly an EMPTY NetworkResult (Setup failed, or the
//      daemon died during it). With an empty cached result Teardown loads
//      the current config and runs DEL for every plugin in reverse, without
//      prevResult: libcni semantics, DEL is safe to call when ADD never ran
//      or half ran.
//
// result_json (version 1; opaque to the reconciler, stable across daemon
// upgrades because DEL after a reboot reads it):
//   {"kind": "converge.cni.attachment/v1",
//    "containerId": "<sandbox id>", "ifName": "eth0",
//    "netns": "<netns path at ADD>", "cniArgs": "IgnoreUnknown=1;...",
//    "networkName": "<list name>", "configSource": "<file it came from>",
//    "config": {<the list as a .conflist: cniVersion, name, plugins...>},
//    "capabilityArgs": {"portMappings": [...], "dns": {...}, ...},
//    "result": {<the final ADD result, as the last plugin printed it>}}
//
// Setup also undoes a failed ADD itself right away (best-effort DEL of the
// whole list with the same config and capability arguments, as containerd
// does) before returning the ADD's error; step 3 remains the guarantee.
//
// Idempotence: CNI ADD is not (a second ADD for the same container fails,
// e.g. bridge: "container veth name provided (eth0) already exists").
// Repeating Setup after a success whose result was lost therefore fails
// once (and its undo DEL removes the old attachment), and the next Setup
// succeeds; the reconciler should rather Teardown (step 3) before Setup
// again. Teardown is idempotent (DEL is, by the spec).
//
// Teardown and the network namespace: the netns path is passed to DEL even
// when it no longer exists (plugins then skip the in-namespace work and still
// release the IP); when the path exists but is not a namespace any more (a
// stale pin file), an empty CNI_NETNS is passed instead, because loopback and
// bridge (1.1.1) fail DEL on a path that is not a netns ("unknown FS magic").
//
// Thread safety: all methods may run concurrently for different sandboxes
// (CNI plugins lock their own shared state, e.g. host-local's dataDir); the
// reconciler never runs two calls for one sandbox at once.
//
// Error codes (besides network.h's and invoke.h's):
//   INVALID_ARGUMENT     sandbox id not [a-zA-Z0-9][a-zA-Z0-9_.-]*, a pod
//                        name/namespace/uid containing ';' or '=', or a
//                        cached result for another sandbox.
//   FAILED_PRECONDITION  no loadable config, a plugin missing or not
//                        supporting the config's cniVersion, the network gave
//                        no IP to `ifname` in the sandbox (Setup), no cached
//                        result (Check).
//   UNIMPLEMENTED        Check on a cniVersion below 0.4.0.
#ifndef CONVERGE_EXECUTORS_NETWORK_CNI_CNI_NETWORK_H_
#define CONVERGE_EXECUTORS_NETWORK_CNI_CNI_NETWORK_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "executors/network/cni/config.h"
#include "executors/network/cni/invoke.h"
#include "executors/network/network.h"

namespace converge {

struct CniNetworkOptions {
  std::string conf_dir = "/etc/cni/net.d";
  // Absolute; searched in order. Debian installs plugins in /usr/lib/cni.
  std::vector<std::string> bin_dirs = {"/opt/cni/bin"};
  std::string ifname = "eth0";
  // For each plugin invocation (ADD of a 3-plugin list may take 3 times it).
  absl::Duration plugin_timeout = absl::Seconds(60);
  // Told of every plugin invocation (plugin type, CNI command, how long it
  // took, whether it succeeded), for metrics. Optional.
  std::function<void(const std::string& plugin, const std::string& command,
                     absl::Duration took, bool ok)>
      on_plugin_call;
};

// "IgnoreUnknown=1;K8S_POD_NAMESPACE=<ns>;K8S_POD_NAME=<name>;
// K8S_POD_INFRA_CONTAINER_ID=<sandbox id>;K8S_POD_UID=<uid>" (no line
// break), what kubelet and containerd pass. INVALID_ARGUMENT if a value
// contains ';' or '='.
absl::StatusOr<std::string> KubernetesCniArgs(const NetworkRequest& request);

class CniNetwork : public NetworkExecutor {
 public:
  // INVALID_ARGUMENT for a relative conf_dir or bin dir, no bin dirs, an
  // invalid ifname (libcni's ValidateInterfaceName) or a non-positive
  // timeout. Does not require the config or plugins to exist (see Ready).
  static absl::StatusOr<std::unique_ptr<CniNetwork>> Create(
      CniNetworkOptions options);

  // ADD of the whole list, in order. `request.runtime_config` supplies the
  // capability arguments (port mappings, DNS, bandwidth, IP ranges); they
  // are cached in the result for DEL.
  absl::StatusOr<NetworkResult> Setup(const NetworkRequest& request) override;

  // DEL of the whole list, in reverse. With a cached result, its config,
  // capability arguments and result are used and `request.runtime_config`
  // is ignored; with an empty one, the current config and
  // `request.runtime_config`. An empty cached result with no loadable
  // config, or plugins missing from the bin dirs, is OK (logged): with
  // nothing cached there is nothing known to undo, and failing would keep
  // the pod from ever being removed.
  absl::Status Teardown(const NetworkRequest& request,
                        const NetworkResult& cached) override;

  // OK iff a config list loads and every plugin it names (and each
  // `ipam.type`) is in the bin dirs and supports the list's cniVersion;
  // FAILED_PRECONDITION with the reason otherwise, e.g. "no CNI network
  // config in /etc/cni/net.d" or `CNI plugin "bridge" not found in
  // /usr/lib/cni:/opt/cni/bin`.
  absl::Status Ready() override;

  // CHECK with the cached config and result; OK at once when the list sets
  // disableCheck. The netns must exist.
  absl::Status Check(const NetworkRequest& request,
                     const NetworkResult& cached);

  const CniNetworkOptions& options() const { return options_; }

 private:
  explicit CniNetwork(CniNetworkOptions options)
      : options_(std::move(options)) {}

  absl::StatusOr<NetworkConfigList> LoadConfig();
  // Finds every plugin of `list` and checks its version support.
  absl::StatusOr<std::vector<std::string>> ResolvePlugins(
      const NetworkConfigList& list);
  // DEL of the whole list in reverse; stops at the first failure.
  // `skip_missing`: plugins not in the bin dirs are skipped, not an error.
  // Runs `invoke` (one plugin call) and reports it to on_plugin_call.
  template <typename Invoke>
  auto Observed(const std::string& plugin, const std::string& command, Invoke&& invoke) {
    const absl::Time start = absl::Now();
    auto result = invoke();
    if (options_.on_plugin_call) {
      options_.on_plugin_call(plugin, command, absl::Now() - start, result.ok());
    }
    return result;
  }

  absl::Status DelList(const NetworkConfigList& list, const PluginEnv& env,
                       const Json* prev_result, const Json& capability_args,
                       bool skip_missing);

  const CniNetworkOptions options_;
  PluginVersionCache versions_;
  absl::Mutex log_mu_;
  // The skipped-files report last logged, so each change is logged once.
  std::string last_skipped_ ABSL_GUARDED_BY(log_mu_);
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_CNI_CNI_NETWORK_H_

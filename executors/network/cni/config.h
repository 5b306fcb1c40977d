// CNI network configuration: finding and parsing the network config list in
// a config directory (libcni's ConfFiles + ConfListFromFile/ConfFromFile, as
// kubelet's dockershim, CRI-O's ocicni and containerd's go-cni use them).
// Pure: reads files, runs nothing.
//
//   CONVERGE_ASSIGN_OR_RETURN(NetworkConfigList list,
//                             LoadNetworkConfigList("/etc/cni/net.d"));
//   for (const CniPluginConfig& plugin : list.plugins) ...
//   std::string cached = NetworkConfigListToJson(list);  // stored at ADD
//   ...
//   CONVERGE_ASSIGN_OR_RETURN(list, NetworkConfigListFromJson(cached, src));
//
// Selection: files ending in .conflist, .conf or .json (not directories), in
// lexical order of their names; the first one that loads is the network.
// A .conflist holds a list ({"name", "cniVersion", "plugins": [...]}); a
// .conf or .json holds one plugin configuration, which is wrapped into a list
// of one. Files that fail to load are skipped, as dockershim and ocicni do
// (containerd's go-cni fails instead); they are reported in `skipped` and, if
// no file loads, in the error.
//
// Validation (per file; a failure skips the file):
//   name        string, [a-zA-Z0-9][a-zA-Z0-9_.-]* (libcni ValidateNetworkName)
//   cniVersion  one converge speaks (kSupportedCniVersions); with the
//               optional `cniVersions` list, the highest supported one of
//               all listed is chosen (SPEC "Version considerations")
//   plugins     a non-empty array of objects, each with `type` a bare file
//               name (no '/', not "." or ".."), optional `capabilities` an
//               object of booleans, optional `ipam.type` a bare file name
//   disableCheck  bool, or the string "true"/"false"
// Not supported: plugin configs in a sibling directory named after the
// network (libcni 1.2's loadOnlyInlinedPlugins=false); only inlined plugins.
#ifndef CONVERGE_EXECUTORS_NETWORK_CNI_CONFIG_H_
#define CONVERGE_EXECUTORS_NETWORK_CNI_CONFIG_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/network/cni/json_util.h"

namespace converge {

// CNI spec versions converge can run a network with, ascending. 0.1.0 and
// 0.2.0 (the old ip4/ip6 result format) are not among them.
inline constexpr const char* kSupportedCniVersions[] = {
    "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

bool IsSupportedCniVersion(absl::string_view version);

// Compares two "MAJOR.MINOR.PATCH" versions: <0, 0, >0. INVALID_ARGUMENT if
// either is malformed.
absl::StatusOr<int> CompareCniVersions(absl::string_view a,
                                       absl::string_view b);

// OK iff `type` can name a plugin binary inside a bin dir: non-empty, no '/'
// or NUL, not "." or "..". INVALID_ARGUMENT otherwise.
absl::Status ValidatePluginType(absl::string_view type);

// libcni's rule for network names and container ids:
// [a-zA-Z0-9][a-zA-Z0-9_.-]*. INVALID_ARGUMENT naming `what` otherwise.
absl::Status ValidateCniName(absl::string_view name, absl::string_view what);

struct CniPluginConfig {
  std::string type;
  // As declared, true and false entries alike; only true ones are used.
  std::map<std::string, bool> capabilities;
  // The plugin object exactly as written (key order kept), `type` and any
  // plugin-specific keys included.
  Json raw;
};

struct NetworkConfigList {
  std::string name;
  std::string cni_version;  // the version selected (see cniVersions above)
  bool disable_check = false;
  std::vector<CniPluginConfig> plugins;
  std::string source_path;  // the file it came from
  std::string bytes;        // that file's content
  // Files before `source_path` that failed to load: "<path>: <why>".
  std::vector<std::string> skipped;
};

// Loads the network of `conf_dir` (see the selection rules above).
// FAILED_PRECONDITION "no CNI network config in <dir>" when the directory is
// missing or has no candidate file; FAILED_PRECONDITION "no valid CNI network
// config in <dir>: <file>: <why>; ..." when none loads; errno errors when the
// directory cannot be read.
absl::StatusOr<NetworkConfigList> LoadNetworkConfigList(
    const std::string& conf_dir);

// Parses one .conflist document. Errors are INVALID_ARGUMENT and start with
// `source`, then the field: `<source>: "plugins[1].type": ...`.
absl::StatusOr<NetworkConfigList> ParseNetworkConfigList(
    absl::string_view bytes, const std::string& source);

// Parses one .conf/.json document (a single plugin) and wraps it into a list.
absl::StatusOr<NetworkConfigList> ParseSingleNetworkConfig(
    absl::string_view bytes, const std::string& source);

// A canonical .conflist document for `list`: name, the selected cniVersion,
// disableCheck when set, and the plugin objects verbatim. Parsing it back
// with NetworkConfigListFromJson yields the same network, so the config used
// at ADD can be cached for DEL/CHECK.
std::string NetworkConfigListToJson(const NetworkConfigList& list);
absl::StatusOr<NetworkConfigList> NetworkConfigListFromJson(
    absl::string_view json, const std::string& source);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_CNI_CONFIG_H_

// The files a sandbox provides to its containers, rendered from the desired
// record: pure functions, table-tested.
//
//   resolv.conf  from PodSandboxConfig.dns_config, or the node's own when the
//                pod brings none (as containerd does)
//   hostname     PodSandboxConfig.hostname
#ifndef CONVERGE_RECONCILER_POD_FILES_H_
#define CONVERGE_RECONCILER_POD_FILES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "api/records.pb.h"

namespace converge {

std::vector<std::string> PodFileNames();

std::string RenderResolvConf(const runtime::v1::DNSConfig& dns, absl::string_view host_resolv_conf);

std::map<std::string, std::string> RenderPodFiles(const records::SandboxDesired& desired,
                                                  absl::string_view host_resolv_conf);

}  // namespace converge

#endif  // CONVERGE_RECONCILER_POD_FILES_H_

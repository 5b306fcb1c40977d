#include "reconciler/pod_files.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace converge {

std::vector<std::string> PodFileNames() { return {"hostname", "resolv.conf"}; }

std::string RenderResolvConf(const runtime::v1::DNSConfig& dns, absl::string_view host_resolv_conf) {
  if (dns.servers().empty() && dns.searches().empty() && dns.options().empty()) {
    return std::string(host_resolv_conf);
  }
  std::string out;
  if (!dns.searches().empty()) absl::StrAppend(&out, "search ", absl::StrJoin(dns.searches(), " "), "\n");
  for (const std::string& server : dns.servers()) absl::StrAppend(&out, "nameserver ", server, "\n");
  if (!dns.options().empty()) absl::StrAppend(&out, "options ", absl::StrJoin(dns.options(), " "), "\n");
  return out;
}

std::map<std::string, std::string> RenderPodFiles(const records::SandboxDesired& desired,
                                                  absl::string_view host_resolv_conf) {
  const auto& config = desired.config();
  return {
      {"hostname", absl::StrCat(config.hostname(), "\n")},
      {"resolv.conf", RenderResolvConf(config.dns_config(), host_resolv_conf)},
  };
}

}  // namespace converge

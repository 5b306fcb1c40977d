#include "api/validation.h"

#include <functional>

#include "gtest/gtest.h"

namespace converge {
namespace {

using runtime::v1::RunPodSandboxRequest;

RunPodSandboxRequest ValidRequest() {
  RunPodSandboxRequest request;
  auto* config = request.mutable_config();
  config->mutable_metadata()->set_name("nginx");
  config->mutable_metadata()->set_namespace_("default");
  config->mutable_metadata()->set_uid("0f1e2d3c");
  config->set_hostname("nginx");
  config->set_log_directory("/var/log/pods/default_nginx_0f1e2d3c");
  config->mutable_linux()->set_cgroup_parent("/kubepods/besteffort/pod0f1e2d3c");
  return request;
}

struct Case {
  std::string name;
  std::function<void(RunPodSandboxRequest&)> mutate;
  // Empty for a valid request; else a substring of the expected message.
  std::string error;
};

TEST(ValidateRunPodSandbox, Table) {
  auto ns = [](RunPodSandboxRequest& r) {
    return r.mutable_config()->mutable_linux()->mutable_security_context()->mutable_namespace_options();
  };
  const std::vector<Case> cases = {
      {"valid", [](auto&) {}, ""},
      {"host network", [&](auto& r) { ns(r)->set_network(runtime::v1::NODE); }, ""},
      {"no log directory", [](auto& r) { r.mutable_config()->clear_log_directory(); }, ""},
      {"missing config", [](auto& r) { r.clear_config(); }, "config: is required"},
      {"missing metadata", [](auto& r) { r.mutable_config()->clear_metadata(); },
       "config.metadata: is required"},
      {"empty name", [](auto& r) { r.mutable_config()->mutable_metadata()->clear_name(); },
       "config.metadata.name: must not be empty"},
      {"empty namespace",
       [](auto& r) { r.mutable_config()->mutable_metadata()->clear_namespace_(); },
       "config.metadata.namespace: must not be empty"},
      {"empty uid", [](auto& r) { r.mutable_config()->mutable_metadata()->clear_uid(); },
       "config.metadata.uid: must not be empty"},
      {"slash in name", [](auto& r) { r.mutable_config()->mutable_metadata()->set_name("a/b"); },
       "config.metadata.name"},
      {"CNI_ARGS separator in uid",
       [](auto& r) { r.mutable_config()->mutable_metadata()->set_uid("a;K8S_POD_NAME=x"); },
       "config.metadata.uid"},
      {"relative log directory", [](auto& r) { r.mutable_config()->set_log_directory("var/log"); },
       "config.log_directory: \"var/log\" is not an absolute path"},
      {"traversing log directory",
       [](auto& r) { r.mutable_config()->set_log_directory("/var/log/../../etc"); },
       "config.log_directory: \"/var/log/../../etc\" has an empty"},
      {"relative cgroup parent",
       [](auto& r) { r.mutable_config()->mutable_linux()->set_cgroup_parent("kubepods.slice"); },
       "config.linux.cgroup_parent"},
      {"traversing cgroup parent",
       [](auto& r) { r.mutable_config()->mutable_linux()->set_cgroup_parent("/kubepods/../x"); },
       "config.linux.cgroup_parent"},
      {"cgroup parent through a control file",
       [](auto& r) { r.mutable_config()->mutable_linux()->set_cgroup_parent("/kubepods/cgroup.procs"); },
       "config.linux.cgroup_parent"},
      {"namespaced sysctls", [](auto& r) {
         (*r.mutable_config()->mutable_linux()->mutable_sysctls())["net.ipv4.ip_unprivileged_port_start"] = "0";
         (*r.mutable_config()->mutable_linux()->mutable_sysctls())["kernel.shm_rmid_forced"] = "1";
       }, ""},
      {"node-wide sysctl",
       [](auto& r) { (*r.mutable_config()->mutable_linux()->mutable_sysctls())["vm.swappiness"] = "1"; },
       "config.linux.sysctls[\"vm.swappiness\"]"},
      {"net sysctl on the host network",
       [&](auto& r) {
         ns(r)->set_network(runtime::v1::NODE);
         (*r.mutable_config()->mutable_linux()->mutable_sysctls())["net.ipv4.ip_forward"] = "1";
       },
       "shares this namespace with the host"},
      {"one sysctl in both forms",
       [](auto& r) {
         (*r.mutable_config()->mutable_linux()->mutable_sysctls())["net.ipv4.ip_forward"] = "1";
         (*r.mutable_config()->mutable_linux()->mutable_sysctls())["net/ipv4/ip_forward"] = "1";
       },
       "the same sysctl as another key"},
      {"sysctl value with a newline",
       [](auto& r) { (*r.mutable_config()->mutable_linux()->mutable_sysctls())["kernel.sem"] = "1\n2"; },
       "one non-empty line"},
      {"host port out of range",
       [](auto& r) {
         auto* m = r.mutable_config()->add_port_mappings();
         m->set_container_port(80);
         m->set_host_port(70000);
       },
       "config.port_mappings[0]: host_port 70000"},
      {"unreadable bandwidth annotation",
       [](auto& r) { (*r.mutable_config()->mutable_annotations())["kubernetes.io/egress-bandwidth"] = "fast"; },
       "config.annotations[\"kubernetes.io/egress-bandwidth\"]"},
      {"container network mode", [&](auto& r) { ns(r)->set_network(runtime::v1::CONTAINER); },
       "namespace_options.network: namespace mode CONTAINER is not supported"},
      {"unknown ipc mode",
       [&](auto& r) { ns(r)->set_ipc(static_cast<runtime::v1::NamespaceMode>(42)); },
       "namespace_options.ipc: namespace mode 42"},
      {"target pid mode", [&](auto& r) { ns(r)->set_pid(runtime::v1::TARGET); },
       "namespace_options.pid"},
      {"bad hostname", [](auto& r) { r.mutable_config()->set_hostname("a b"); },
       "config.hostname"},
      {"long hostname", [](auto& r) { r.mutable_config()->set_hostname(std::string(65, 'a')); },
       "config.hostname: longer than 64"},
      {"unknown runtime handler", [](auto& r) { r.set_runtime_handler("kata"); },
       "runtime_handler: \"kata\" is not configured"},
  };
  for (const Case& c : cases) {
    RunPodSandboxRequest request = ValidRequest();
    c.mutate(request);
    absl::Status status = ValidateRunPodSandbox(request);
    if (c.error.empty()) {
      EXPECT_TRUE(status.ok()) << c.name << ": " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_NE(status.message().find(c.error), std::string::npos)
          << c.name << ": got \"" << status.message() << "\"";
    }
  }
}

TEST(ValidateCleanAbsolutePath, AcceptsCleanRejectsTricks) {
  EXPECT_TRUE(ValidateCleanAbsolutePath("f", "/").ok());
  EXPECT_TRUE(ValidateCleanAbsolutePath("f", "/a/b/").ok());
  EXPECT_FALSE(ValidateCleanAbsolutePath("f", "").ok());
  EXPECT_FALSE(ValidateCleanAbsolutePath("f", "/a//b").ok());
  EXPECT_FALSE(ValidateCleanAbsolutePath("f", "/a/./b").ok());
  EXPECT_FALSE(ValidateCleanAbsolutePath("f", std::string("/a\0b", 4)).ok());
}

TEST(ValidateId, RejectsEmptyAndSlashes) {
  EXPECT_TRUE(ValidateId("pod_sandbox_id", "abc123").ok());
  absl::Status empty = ValidateId("pod_sandbox_id", "");
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "pod_sandbox_id: must not be empty");
  EXPECT_FALSE(ValidateId("pod_sandbox_id", "../x").ok());
}

}  // namespace
}  // namespace converge

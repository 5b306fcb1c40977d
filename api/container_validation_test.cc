#include "api/container_validation.h"

#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

// The deprecated profile fields are part of what is tested.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace converge {
namespace {

using runtime::v1::CreateContainerRequest;
using runtime::v1::LinuxContainerResources;
using runtime::v1::SecurityProfile;

CreateContainerRequest ValidRequest() {
  CreateContainerRequest request;
  request.set_pod_sandbox_id("4f1c9e");
  auto* config = request.mutable_config();
  config->mutable_metadata()->set_name("web");
  config->mutable_image()->set_image("docker.io/library/nginx:1.25");
  config->set_log_path("web/0.log");
  auto* mount = config->add_mounts();
  mount->set_container_path("/var/run/secrets/kubernetes.io/serviceaccount");
  mount->set_host_path("/var/lib/kubelet/pods/u/volumes/token");
  mount->set_readonly(true);
  auto* env = config->add_envs();
  env->set_key("FOO");
  env->set_value("bar=baz");
  auto* resources = config->mutable_linux()->mutable_resources();
  resources->set_cpu_shares(102);
  resources->set_cpu_period(100000);
  resources->set_cpu_quota(50000);
  resources->set_memory_limit_in_bytes(128 << 20);
  resources->set_oom_score_adj(1000);
  auto* security = config->mutable_linux()->mutable_security_context();
  security->mutable_capabilities()->add_drop_capabilities("ALL");
  security->mutable_capabilities()->add_add_capabilities("NET_BIND_SERVICE");
  security->mutable_seccomp()->set_profile_type(SecurityProfile::RuntimeDefault);
  return request;
}

struct Case {
  std::string name;
  std::function<void(CreateContainerRequest&)> mutate;
  absl::StatusCode code;  // kOk for a valid request
  std::string message;    // prefix of the expected message
};

constexpr auto kOk = absl::StatusCode::kOk;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kUnimplemented = absl::StatusCode::kUnimplemented;

runtime::v1::ContainerConfig& C(CreateContainerRequest& r) { return *r.mutable_config(); }
runtime::v1::LinuxContainerSecurityContext& S(CreateContainerRequest& r) {
  return *r.mutable_config()->mutable_linux()->mutable_security_context();
}
LinuxContainerResources& R(CreateContainerRequest& r) {
  return *r.mutable_config()->mutable_linux()->mutable_resources();
}
runtime::v1::Mount& M(CreateContainerRequest& r) { return *r.mutable_config()->mutable_mounts(0); }

TEST(ValidateCreateContainer, Table) {
  const std::vector<Case> cases = {
      {"valid", [](auto&) {}, kOk, ""},
      {"no log path", [](auto& r) { C(r).clear_log_path(); }, kOk, ""},
      {"unset resources are fine", [](auto& r) { C(r).mutable_linux()->clear_resources(); }, kOk,
       ""},
      {"unlimited quota", [](auto& r) { R(r).set_cpu_quota(-1); }, kOk, ""},
      {"tiny memory limit (no runc minimum)", [](auto& r) { R(r).set_memory_limit_in_bytes(4096); },
       kOk, ""},
      {"hugepages and cpusets",
       [](auto& r) {
         R(r).add_hugepage_limits()->set_page_size("2MB");
         R(r).add_hugepage_limits()->set_page_size("1GB");
         R(r).set_cpuset_cpus("0-3,5");
         R(r).set_cpuset_mems("0");
       },
       kOk, ""},
      {"container path with '.' and '//'", [](auto& r) { M(r).set_container_path("/a/./b//c"); },
       kOk, ""},
      {"legacy profiles", [](auto& r) {
         S(r).clear_seccomp();
         S(r).set_seccomp_profile_path("runtime/default");
         S(r).set_apparmor_profile("runtime/default");
       },
       kOk, ""},
      {"AppArmor RuntimeDefault enforces nothing but is accepted",
       [](auto& r) { S(r).mutable_apparmor()->set_profile_type(SecurityProfile::RuntimeDefault); },
       kOk, ""},
      {"privileged in a privileged pod",
       [](auto& r) {
         S(r).set_privileged(true);
         r.mutable_sandbox_config()->mutable_linux()->mutable_security_context()->set_privileged(
             true);
       },
       kOk, ""},

      {"no sandbox id", [](auto& r) { r.clear_pod_sandbox_id(); }, kInvalid,
       "pod_sandbox_id: must not be empty"},
      {"no config", [](auto& r) { r.clear_config(); }, kInvalid, "config: is required"},
      {"no metadata", [](auto& r) { C(r).clear_metadata(); }, kInvalid,
       "config.metadata: is required"},
      {"empty name", [](auto& r) { C(r).mutable_metadata()->clear_name(); }, kInvalid,
       "config.metadata.name: must not be empty"},
      {"slash in name", [](auto& r) { C(r).mutable_metadata()->set_name("a/b"); }, kInvalid,
       "config.metadata.name: \"a/b\" contains"},
      {"no image", [](auto& r) { C(r).mutable_image()->clear_image(); }, kInvalid,
       "config.image.image: must not be empty"},
      {"absolute log path", [](auto& r) { C(r).set_log_path("/var/log/x.log"); }, kInvalid,
       "config.log_path: \"/var/log/x.log\" must be relative"},
      {"traversing log path", [](auto& r) { C(r).set_log_path("web/../../x.log"); }, kInvalid,
       "config.log_path: \"web/../../x.log\" has an empty"},
      {"relative working dir", [](auto& r) { C(r).set_working_dir("app"); }, kInvalid,
       "config.working_dir: \"app\" is not an absolute path"},
      {"empty env key", [](auto& r) { C(r).add_envs()->set_value("x"); }, kInvalid,
       "config.envs[1].key: must not be empty"},
      {"'=' in env key", [](auto& r) { C(r).add_envs()->set_key("A=B"); }, kInvalid,
       "config.envs[1].key: \"A=B\" contains '='"},
      {"NUL in env value",
       [](auto& r) {
         auto* e = C(r).add_envs();
         e->set_key("A");
         e->set_value(std::string("a\0b", 3));
       },
       kInvalid, "config.envs[1].value: contains a NUL byte"},
      {"huge annotations",
       [](auto& r) { (*C(r).mutable_annotations())["a"] = std::string(300 * 1024, 'x'); },
       kInvalid, "config.annotations: keys and values take"},
      {"empty label key", [](auto& r) { (*C(r).mutable_labels())[""] = "x"; }, kInvalid,
       "config.labels: has an empty key"},
      {"relative container path", [](auto& r) { M(r).set_container_path("data"); }, kInvalid,
       "config.mounts[0].container_path: \"data\" is not an absolute path"},
      {"traversing container path", [](auto& r) { M(r).set_container_path("/data/../etc"); },
       kInvalid, "config.mounts[0].container_path"},
      {"relative host path", [](auto& r) { M(r).set_host_path("tmp"); }, kInvalid,
       "config.mounts[0].host_path: \"tmp\" is not an absolute path"},
      {"NUL in host path", [](auto& r) { M(r).set_host_path(std::string("/a\0b", 4)); },
       kInvalid, "config.mounts[0].host_path"},
      {"recursive read-only on a rw mount",
       [](auto& r) {
         M(r).set_readonly(false);
         M(r).set_recursive_read_only(true);
       },
       kInvalid, "config.mounts[0].recursive_read_only: needs readonly"},
      {"recursive read-only", [](auto& r) { M(r).set_recursive_read_only(true); },
       kUnimplemented, "config.mounts[0].recursive_read_only"},
      {"id-mapped mount", [](auto& r) { M(r).add_gidmappings(); }, kUnimplemented,
       "config.mounts[0].gidMappings"},
      {"image volume", [](auto& r) { M(r).mutable_image()->set_image("busybox"); },
       kUnimplemented, "config.mounts[0].image"},
      {"devices", [](auto& r) { C(r).add_devices()->set_host_path("/dev/fuse"); },
       kUnimplemented, "config.devices"},
      {"unknown stop signal",
       [](auto& r) { C(r).set_stop_signal(static_cast<runtime::v1::Signal>(99)); }, kInvalid,
       "config.stop_signal: unknown signal 99"},
      {"bad capability",
       [](auto& r) { S(r).mutable_capabilities()->add_add_capabilities("NET_ADMN"); }, kInvalid,
       "config.linux.security_context.capabilities.add_capabilities[1]: unknown capability"},
      {"seccomp ref without Localhost",
       [](auto& r) { S(r).mutable_seccomp()->set_localhost_ref("/x.json"); }, kInvalid,
       "config.linux.security_context.seccomp.localhost_ref: must only be set"},
      {"seccomp unknown type",
       [](auto& r) {
         S(r).mutable_seccomp()->set_profile_type(static_cast<SecurityProfile::ProfileType>(9));
       },
       kInvalid, "config.linux.security_context.seccomp.profile_type: unknown type 9"},
      {"relative seccomp Localhost",
       [](auto& r) {
         S(r).mutable_seccomp()->set_profile_type(SecurityProfile::Localhost);
         S(r).mutable_seccomp()->set_localhost_ref("a.json");
       },
       kInvalid, "config.linux.security_context.seccomp.localhost_ref: \"a.json\""},
      {"bad legacy seccomp",
       [](auto& r) {
         S(r).clear_seccomp();
         S(r).set_seccomp_profile_path("docker/strict");
       },
       kInvalid, "config.linux.security_context.seccomp_profile_path: invalid profile"},
      {"AppArmor Localhost",
       [](auto& r) {
         S(r).mutable_apparmor()->set_profile_type(SecurityProfile::Localhost);
         S(r).mutable_apparmor()->set_localhost_ref("k8s-nginx");
       },
       kUnimplemented, "config.linux.security_context.apparmor: an AppArmor Localhost"},
      {"AppArmor ref without Localhost",
       [](auto& r) { S(r).mutable_apparmor()->set_localhost_ref("x"); }, kInvalid,
       "config.linux.security_context.apparmor.localhost_ref"},
      {"legacy AppArmor localhost", [](auto& r) { S(r).set_apparmor_profile("localhost/x"); },
       kUnimplemented, "config.linux.security_context.apparmor_profile"},
      {"bad legacy AppArmor", [](auto& r) { S(r).set_apparmor_profile("strict"); }, kInvalid,
       "config.linux.security_context.apparmor_profile: invalid profile \"strict\""},
      {"pid TARGET",
       [](auto& r) { S(r).mutable_namespace_options()->set_pid(runtime::v1::TARGET); },
       kUnimplemented, "config.linux.security_context.namespace_options.pid"},
      {"container network",
       [](auto& r) { S(r).mutable_namespace_options()->set_network(runtime::v1::CONTAINER); },
       kInvalid,
       "config.linux.security_context.namespace_options.network: namespace mode CONTAINER"},
      {"user namespace",
       [](auto& r) {
         S(r).mutable_namespace_options()->mutable_userns_options()->set_mode(runtime::v1::POD);
       },
       kUnimplemented, "config.linux.security_context.namespace_options.userns_options"},
      {"privileged in an unprivileged pod", [](auto& r) { S(r).set_privileged(true); }, kInvalid,
       "config.linux.security_context.privileged"},
      {"resources are checked",
       [](auto& r) { R(r).set_cpu_period(999); }, kInvalid,
       "config.linux.resources.cpu_period: 999 is neither 0 nor within 1000..1000000"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    CreateContainerRequest request = ValidRequest();
    c.mutate(request);
    absl::Status status = ValidateCreateContainer(request);
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_TRUE(absl::StartsWith(status.message(), c.message)) << status;
  }
}

TEST(ValidateUpdateContainerResources, Table) {
  struct ResourceCase {
    std::string name;
    std::function<void(LinuxContainerResources&)> mutate;
    std::string message;  // empty: valid
  } cases[] = {
      {"empty", [](auto&) {}, ""},
      {"bounds", [](auto& r) {
         r.set_cpu_shares(2);
         r.set_cpu_period(1000);
         r.set_cpu_quota(1000);
         r.set_oom_score_adj(-1000);
         r.set_memory_limit_in_bytes(1 << 20);
         r.set_memory_swap_limit_in_bytes(-1);
       },
       ""},
      {"upper bounds", [](auto& r) {
         r.set_cpu_shares(262144);
         r.set_cpu_period(1000000);
         r.set_memory_limit_in_bytes(1 << 20);
         r.set_memory_swap_limit_in_bytes(1 << 20);
       },
       ""},
      {"unified", [](auto& r) { (*r.mutable_unified())["memory.high"] = "1G"; }, ""},
      {"cpu shares 1", [](auto& r) { r.set_cpu_shares(1); },
       "linux.cpu_shares: 1 is neither 0 nor within 2..262144"},
      {"cpu shares too big", [](auto& r) { r.set_cpu_shares(262145); }, "linux.cpu_shares"},
      {"cpu period too big", [](auto& r) { r.set_cpu_period(1000001); }, "linux.cpu_period"},
      {"cpu quota -2", [](auto& r) { r.set_cpu_quota(-2); },
       "linux.cpu_quota: -2 is neither 0, -1 nor at least 1000"},
      {"cpu quota 999", [](auto& r) { r.set_cpu_quota(999); }, "linux.cpu_quota"},
      {"negative memory", [](auto& r) { r.set_memory_limit_in_bytes(-1); },
       "linux.memory_limit_in_bytes: -1 is negative"},
      {"swap below memory",
       [](auto& r) {
         r.set_memory_limit_in_bytes(2 << 20);
         r.set_memory_swap_limit_in_bytes(1 << 20);
       },
       "linux.memory_swap_limit_in_bytes: 1048576 is below memory_limit_in_bytes"},
      {"swap -2", [](auto& r) { r.set_memory_swap_limit_in_bytes(-2); },
       "linux.memory_swap_limit_in_bytes: -2 is below -1"},
      {"oom score", [](auto& r) { r.set_oom_score_adj(1001); },
       "linux.oom_score_adj: 1001 is outside -1000..1000"},
      {"cpuset descending", [](auto& r) { r.set_cpuset_cpus("3-1"); },
       "linux.cpuset_cpus: \"3-1\" is not a list"},
      {"cpuset junk", [](auto& r) { r.set_cpuset_cpus("0,,1"); }, "linux.cpuset_cpus"},
      {"cpuset spaces", [](auto& r) { r.set_cpuset_mems("0, 1"); }, "linux.cpuset_mems"},
      {"cpuset sign", [](auto& r) { r.set_cpuset_mems("+1"); }, "linux.cpuset_mems"},
      {"hugepage size", [](auto& r) { r.add_hugepage_limits()->set_page_size("3MB"); },
       "linux.hugepage_limits[0].page_size: \"3MB\" is not a page size"},
      {"hugepage unit", [](auto& r) { r.add_hugepage_limits()->set_page_size("2M"); },
       "linux.hugepage_limits[0].page_size"},
      {"hugepage twice",
       [](auto& r) {
         r.add_hugepage_limits()->set_page_size("2MB");
         r.add_hugepage_limits()->set_page_size("2MB");
       },
       "linux.hugepage_limits[1].page_size: \"2MB\" is limited twice"},
      {"unified core file", [](auto& r) { (*r.mutable_unified())["cgroup.procs"] = "1"; },
       "linux.unified[\"cgroup.procs\"]: cgroup core files"},
      {"unified path", [](auto& r) { (*r.mutable_unified())["../memory.max"] = "1"; },
       "linux.unified[\"../memory.max\"]: is not a cgroup interface file name"},
      {"unified newline", [](auto& r) { (*r.mutable_unified())["memory.max"] = "1\n2"; },
       "linux.unified[\"memory.max\"]: the value must be one line"},
  };
  for (const ResourceCase& c : cases) {
    SCOPED_TRACE(c.name);
    LinuxContainerResources resources;
    c.mutate(resources);
    absl::Status status = ValidateUpdateContainerResources(resources);
    if (c.message.empty()) {
      EXPECT_OK(status);
    } else {
      EXPECT_EQ(status.code(), kInvalid) << status;
      EXPECT_TRUE(absl::StartsWith(status.message(), c.message)) << status;
    }
  }
}

TEST(CheckMountSources, MissingSourceIsNamed) {
  TempTestDir dir;
  runtime::v1::ContainerConfig config;
  config.add_mounts()->set_host_path(dir.path().string());
  config.add_mounts()->set_host_path("/");
  ASSERT_OK(CheckMountSources(config));
  const std::string missing = dir.Sub("missing");
  config.add_mounts()->set_host_path(missing);
  absl::Status status = CheckMountSources(config);
  EXPECT_EQ(status.code(), kInvalid);
  EXPECT_EQ(status.message(),
            absl::StrCat("config.mounts[2].host_path: \"", missing, "\" does not exist"));
}

}  // namespace
}  // namespace converge

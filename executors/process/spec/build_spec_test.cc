#include "executors/process/spec/build_spec.h"

#include <sys/mount.h>

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/testing/status_testing.h"
#include "executors/process/spec/capabilities.h"
#include "executors/process/spec/command.h"
#include "executors/process/spec/defaults.h"
#include "gtest/gtest.h"

// The deprecated seccomp_profile_path is part of what is tested.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace converge::process {
namespace {

using runtime::v1::SecurityProfile;
using Strings = std::vector<std::string>;

constexpr char kPasswd[] = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
constexpr char kGroup[] = "root:x:0:\napp:x:1000:\n";
constexpr char kProfile[] = R"({"defaultAction":"SCMP_ACT_ALLOW"})";

// A pod with its own network, ipc and pid (POD) namespaces, and one container
// running the busybox test image's command.
ContainerSpecInputs BaseInputs() {
  ContainerSpecInputs in;
  in.container_id = "c1";
  in.sandbox_id = "s1";
  in.config.mutable_metadata()->set_name("web");
  in.config.mutable_image()->set_image("busybox");
  in.config.set_log_path("web/0.log");
  in.sandbox_config.set_hostname("pod-host");
  in.sandbox_config.set_log_directory("/var/log/pods/ns_pod_uid");
  in.image.add_entrypoint("/bin/sh");
  in.image.add_cmd("-c");
  in.image.add_cmd("sleep 1");
  in.rootfs = "/run/converge/containers/c1/rootfs";
  in.passwd = kPasswd;
  in.group = kGroup;
  in.pod_namespaces = {{"net", "/run/converge/ns/s1/net"},
                       {"ipc", "/run/converge/ns/s1/ipc"},
                       {"uts", "/run/converge/ns/s1/uts"}};
  in.pid_namespace_holder = "/proc/4242/ns/pid";
  in.pod_files_dir = "/run/converge/pods/s1/files";
  in.cgroup_procs_files = {"/sys/fs/cgroup/kubepods/pod1/c1/cgroup.procs"};
  in.node_hostname = "node-1";
  return in;
}

runtime::v1::LinuxContainerSecurityContext& Security(ContainerSpecInputs& in) {
  return *in.config.mutable_linux()->mutable_security_context();
}

runtime::v1::Mount* AddMount(ContainerSpecInputs& in, std::string container_path,
                             std::string host_path) {
  runtime::v1::Mount* m = in.config.add_mounts();
  m->set_container_path(std::move(container_path));
  m->set_host_path(std::move(host_path));
  return m;
}

std::string Describe(const std::vector<NamespaceSpec>& namespaces) {
  Strings parts;
  for (const auto& ns : namespaces) {
    parts.push_back(ns.path.empty() ? ns.kind : absl::StrCat(ns.kind, "=", ns.path));
  }
  return absl::StrJoin(parts, " ");
}

// "destination type source [ro] [private|slave|shared]" for binds, and
// "destination type [ro]" for the rest.
Strings Describe(const std::vector<MountSpec>& mounts) {
  Strings out;
  for (const MountSpec& m : mounts) {
    std::string line = absl::StrCat(m.destination, " ", m.type);
    if (m.type == "bind") {
      absl::StrAppend(&line, " ", m.source);
      if (m.flags & MS_RDONLY) absl::StrAppend(&line, " ro");
      absl::StrAppend(&line, m.propagation == Propagation::kPrivate ? " private"
                             : m.propagation == Propagation::kSlave ? " slave"
                                                                    : " shared");
    } else if (m.flags & MS_RDONLY) {
      absl::StrAppend(&line, " ro");
    }
    out.push_back(line);
  }
  return out;
}

const Strings kDefaultMounts = {"/proc proc",   "/dev tmpfs",         "/dev/pts devpts",
                                "/dev/shm tmpfs", "/dev/mqueue mqueue", "/sys sysfs ro"};
const Strings kDefaultMountsWithoutShm = {"/proc proc", "/dev tmpfs", "/dev/pts devpts",
                                          "/dev/mqueue mqueue", "/sys sysfs ro"};
const Strings kPodFileBinds = {
    "/etc/hostname bind /run/converge/pods/s1/files/hostname private",
    "/etc/resolv.conf bind /run/converge/pods/s1/files/resolv.conf private"};

Strings Concat(std::initializer_list<Strings> lists) {
  Strings out;
  for (const Strings& l : lists) out.insert(out.end(), l.begin(), l.end());
  return out;
}

TEST(BuildContainerSpecTest, Base) {
  ASSERT_OK_AND_ASSIGN(ContainerSpec spec, BuildContainerSpec(BaseInputs()));
  EXPECT_EQ(spec.id, "c1");
  EXPECT_EQ(spec.sandbox_id, "s1");
  EXPECT_EQ(spec.rootfs, "/run/converge/containers/c1/rootfs");
  EXPECT_FALSE(spec.readonly_rootfs);
  EXPECT_EQ(spec.rootfs_propagation, Propagation::kSlave);
  EXPECT_EQ(Describe(spec.namespaces),
            "net=/run/converge/ns/s1/net ipc=/run/converge/ns/s1/ipc "
            "uts=/run/converge/ns/s1/uts pid=/proc/4242/ns/pid mnt");
  EXPECT_EQ(spec.hostname, "");
  EXPECT_EQ(Describe(spec.mounts), Concat({kDefaultMounts, kPodFileBinds}));
  EXPECT_EQ(spec.masked_paths, DefaultMaskedPaths());
  EXPECT_EQ(spec.readonly_paths, DefaultReadonlyPaths());
  EXPECT_EQ(spec.devices.size(), DefaultDevices().size());
  EXPECT_EQ(spec.cgroup_procs_files, Strings{"/sys/fs/cgroup/kubepods/pod1/c1/cgroup.procs"});
  EXPECT_EQ(spec.log_path, "/var/log/pods/ns_pod_uid/web/0.log");
  EXPECT_EQ(spec.stop_signal, 15);
  const ProcessSpec& p = spec.process;
  EXPECT_EQ(p.args, (Strings{"/bin/sh", "-c", "sleep 1"}));
  EXPECT_EQ(p.env, (Strings{kDefaultPathEnv, "HOSTNAME=pod-host", "HOME=/root"}));
  EXPECT_EQ(p.cwd, "/");
  EXPECT_EQ(p.uid, 0u);
  EXPECT_EQ(p.gid, 0u);
  EXPECT_EQ(p.capabilities.bounding, DefaultCapabilities());
  EXPECT_EQ(p.capabilities.effective, DefaultCapabilities());
  EXPECT_FALSE(p.no_new_privileges);
  EXPECT_EQ(p.seccomp.mode, SeccompSpec::Mode::kUnconfined);
  EXPECT_TRUE(p.rlimits.empty());
  EXPECT_TRUE(p.set_oom_score_adj);
  EXPECT_EQ(p.oom_score_adj, 0);
}

// One field of the spec per case, shown as a string, so the table stays flat.
struct Case {
  std::string name;
  std::function<void(ContainerSpecInputs&)> mutate;
  std::function<std::string(const ContainerSpec&)> show;
  std::string want;
};

std::string Namespaces(const ContainerSpec& s) { return Describe(s.namespaces); }
std::string Mounts(const ContainerSpec& s) { return absl::StrJoin(Describe(s.mounts), "\n"); }
std::string Joined(const Strings& v) { return absl::StrJoin(v, "\n"); }

TEST(BuildContainerSpecTest, Table) {
  auto ns = [](ContainerSpecInputs& in) { return Security(in).mutable_namespace_options(); };
  const std::vector<Case> cases = {
      // Namespaces.
      {"host network: no net, host uts",
       [&](auto& in) {
         ns(in)->set_network(runtime::v1::NODE);
         in.pod_namespaces.erase("net");
         in.pod_namespaces.erase("uts");
       },
       Namespaces, "ipc=/run/converge/ns/s1/ipc pid=/proc/4242/ns/pid mnt"},
      {"host ipc and pid",
       [&](auto& in) {
         ns(in)->set_ipc(runtime::v1::NODE);
         ns(in)->set_pid(runtime::v1::NODE);
       },
       Namespaces, "net=/run/converge/ns/s1/net uts=/run/converge/ns/s1/uts mnt"},
      {"container pid namespace", [&](auto& in) { ns(in)->set_pid(runtime::v1::CONTAINER); },
       Namespaces,
       "net=/run/converge/ns/s1/net ipc=/run/converge/ns/s1/ipc uts=/run/converge/ns/s1/uts pid "
       "mnt"},
      {"cgroup v2: cgroup namespace", [](auto& in) { in.cgroup_v2 = true; }, Namespaces,
       "net=/run/converge/ns/s1/net ipc=/run/converge/ns/s1/ipc uts=/run/converge/ns/s1/uts "
       "pid=/proc/4242/ns/pid mnt cgroup"},
      {"no uts pin: fresh uts with the pod's hostname",
       [](auto& in) { in.pod_namespaces.erase("uts"); },
       [](const ContainerSpec& s) { return absl::StrCat(Namespaces(s), " / ", s.hostname); },
       "net=/run/converge/ns/s1/net ipc=/run/converge/ns/s1/ipc uts pid=/proc/4242/ns/pid mnt / "
       "pod-host"},
      {"fresh uts falls back to the node's hostname",
       [](auto& in) {
         in.pod_namespaces.erase("uts");
         in.sandbox_config.clear_hostname();
       },
       [](const ContainerSpec& s) { return s.hostname; }, "node-1"},
      {"userns NODE is the default", [&](auto& in) {
         ns(in)->mutable_userns_options()->set_mode(runtime::v1::NODE);
       },
       [](const ContainerSpec& s) { return std::to_string(s.namespaces.size()); }, "5"},
      // Mounts.
      {"CRI mounts sorted by depth, pod files in between",
       [](auto& in) {
         AddMount(in, "/var/lib/data/cache", "/host/cache");
         AddMount(in, "/etc/hosts", "/var/lib/kubelet/pods/u/etc-hosts");
         AddMount(in, "/data", "/host/data")->set_readonly(true);
       },
       Mounts,
       Joined(Concat({kDefaultMounts,
                      {"/data bind /host/data ro private",
                       "/etc/hosts bind /var/lib/kubelet/pods/u/etc-hosts private"},
                      kPodFileBinds,
                      {"/var/lib/data/cache bind /host/cache private"}}))},
      {"propagation modes",
       [](auto& in) {
         AddMount(in, "/a", "/h/a")->set_propagation(runtime::v1::PROPAGATION_HOST_TO_CONTAINER);
         AddMount(in, "/b", "/h/b")->set_propagation(runtime::v1::PROPAGATION_BIDIRECTIONAL);
       },
       [](const ContainerSpec& s) {
         return absl::StrCat(Mounts(s), "\nrootfs ",
                             s.rootfs_propagation == Propagation::kShared ? "shared" : "other");
       },
       Joined(Concat({kDefaultMounts,
                      {"/a bind /h/a slave", "/b bind /h/b shared"},
                      kPodFileBinds,
                      {"rootfs shared"}}))},
      {"CRI mount replaces a default and a pod file",
       [](auto& in) {
         AddMount(in, "/dev/shm/", "/host/shm");
         AddMount(in, "/etc/resolv.conf", "/host/resolv.conf");
       },
       Mounts,
       Joined({"/proc proc", "/dev tmpfs", "/dev/pts devpts", "/dev/mqueue mqueue",
               "/sys sysfs ro", "/dev/shm/ bind /host/shm private",
               "/etc/resolv.conf bind /host/resolv.conf private",
               "/etc/hostname bind /run/converge/pods/s1/files/hostname private"})},
      {"a /dev mount replaces everything below /dev", [](auto& in) { AddMount(in, "/dev", "/dev"); },
       Mounts,
       Joined(Concat({{"/proc proc", "/sys sysfs ro", "/dev bind /dev private"}, kPodFileBinds}))},
      {"read-only rootfs: pod files read-only too",
       [](auto& in) { Security(in).set_readonly_rootfs(true); },
       [](const ContainerSpec& s) {
         return absl::StrCat(s.readonly_rootfs, "\n", Joined(Describe(s.mounts)));
       },
       Joined(Concat({{"1"},
                      kDefaultMounts,
                      {"/etc/hostname bind /run/converge/pods/s1/files/hostname ro private",
                       "/etc/resolv.conf bind /run/converge/pods/s1/files/resolv.conf ro "
                       "private"}}))},
      {"no files dir: no pod file binds", [](auto& in) { in.pod_files_dir.clear(); }, Mounts,
       Joined(kDefaultMounts)},
      {"pod shm is bound", [](auto& in) { in.pod_shm_path = "/run/converge/pods/s1/shm"; },
       Mounts,
       Joined(Concat({kDefaultMountsWithoutShm, kPodFileBinds,
                      {"/dev/shm bind /run/converge/pods/s1/shm private"}}))},
      {"host ipc binds the host's /dev/shm",
       [&](auto& in) {
         ns(in)->set_ipc(runtime::v1::NODE);
         in.pod_shm_path = "/run/converge/pods/s1/shm";
       },
       Mounts,
       Joined(Concat({kDefaultMountsWithoutShm, kPodFileBinds,
                      {"/dev/shm bind /dev/shm private"}}))},
      {"selinux_relabel is ignored",
       [](auto& in) { AddMount(in, "/x", "/h/x")->set_selinux_relabel(true); }, Mounts,
       Joined(Concat({kDefaultMounts, {"/x bind /h/x private"}, kPodFileBinds}))},
      // Privileged.
      {"privileged: rw /sys, nothing masked, all caps, unconfined",
       [](auto& in) {
         Security(in).set_privileged(true);
         in.sandbox_config.mutable_linux()->mutable_security_context()->set_privileged(true);
         Security(in).mutable_seccomp()->set_profile_type(SecurityProfile::RuntimeDefault);
       },
       [](const ContainerSpec& s) {
         return absl::StrCat(Describe(s.mounts)[5], " masked=", s.masked_paths.size(),
                             " readonly=", s.readonly_paths.size(),
                             " all=", s.process.capabilities.bounding == AllCapabilities(),
                             " seccomp=", static_cast<int>(s.process.seccomp.mode));
       },
       "/sys sysfs masked=0 readonly=0 all=1 seccomp=0"},
      {"privileged with a Localhost profile keeps it",
       [](auto& in) {
         Security(in).set_privileged(true);
         in.sandbox_config.mutable_linux()->mutable_security_context()->set_privileged(true);
         Security(in).mutable_seccomp()->set_profile_type(SecurityProfile::Localhost);
         Security(in).mutable_seccomp()->set_localhost_ref("/var/lib/kubelet/seccomp/p.json");
         in.seccomp_localhost_profile = kProfile;
       },
       [](const ContainerSpec& s) { return s.process.seccomp.profile_json; }, kProfile},
      // Security context.
      {"masked and read-only paths from kubelet",
       [](auto& in) {
         Security(in).add_masked_paths("/proc/kcore");
         Security(in).add_readonly_paths("/proc/sys");
       },
       [](const ContainerSpec& s) {
         return absl::StrCat(Joined(s.masked_paths), " ", Joined(s.readonly_paths));
       },
       "/proc/kcore /proc/sys"},
      {"non-root user keeps only ambient caps effective",
       [](auto& in) {
         Security(in).mutable_run_as_user()->set_value(1000);
         Security(in).set_no_new_privs(true);
       },
       [](const ContainerSpec& s) {
         return absl::StrCat(s.process.uid, ":", s.process.gid, " eff=",
                             s.process.capabilities.effective, " nnp=",
                             s.process.no_new_privileges, " ", s.process.env.back());
       },
       "1000:1000 eff=0 nnp=1 HOME=/home/app"},
      {"RuntimeDefault", [](auto& in) {
         Security(in).mutable_seccomp()->set_profile_type(SecurityProfile::RuntimeDefault);
       },
       [](const ContainerSpec& s) { return std::to_string(static_cast<int>(s.process.seccomp.mode)); },
       "1"},
      {"legacy localhost profile",
       [](auto& in) {
         Security(in).set_seccomp_profile_path("localhost//etc/p.json");
         in.seccomp_localhost_profile = kProfile;
       },
       [](const ContainerSpec& s) {
         return absl::StrCat(static_cast<int>(s.process.seccomp.mode), " ",
                             s.process.seccomp.profile_json);
       },
       absl::StrCat("2 ", kProfile)},
      {"oom_score_adj",
       [](auto& in) { in.config.mutable_linux()->mutable_resources()->set_oom_score_adj(-997); },
       [](const ContainerSpec& s) { return std::to_string(s.process.oom_score_adj); }, "-997"},
      {"no log directory: no log", [](auto& in) { in.sandbox_config.clear_log_directory(); },
       [](const ContainerSpec& s) { return s.log_path; }, ""},
      {"no log path: no log", [](auto& in) { in.config.clear_log_path(); },
       [](const ContainerSpec& s) { return s.log_path; }, ""},
      // Stop signal.
      {"image StopSignal", [](auto& in) { in.image.set_stop_signal("SIGQUIT"); },
       [](const ContainerSpec& s) { return std::to_string(s.stop_signal); }, "3"},
      {"CRI stop_signal wins over the image's",
       [](auto& in) {
         in.image.set_stop_signal("SIGQUIT");
         in.config.set_stop_signal(runtime::v1::SIGNAL_SIGRTMINPLUS3);
       },
       [](const ContainerSpec& s) { return std::to_string(s.stop_signal); }, "37"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ContainerSpecInputs in = BaseInputs();
    c.mutate(in);
    ASSERT_OK_AND_ASSIGN(ContainerSpec spec, BuildContainerSpec(in));
    EXPECT_EQ(c.show(spec), c.want);
  }
}

TEST(BuildContainerSpecTest, Errors) {
  auto ns = [](ContainerSpecInputs& in) { return Security(in).mutable_namespace_options(); };
  struct ErrorCase {
    std::string name;
    std::function<void(ContainerSpecInputs&)> mutate;
    absl::StatusCode code;
    std::string message;  // a prefix
  };
  const std::vector<ErrorCase> cases = {
      {"pid TARGET", [&](auto& in) { ns(in)->set_pid(runtime::v1::TARGET); },
       absl::StatusCode::kUnimplemented,
       "linux.security_context.namespace_options.pid: pid namespace mode TARGET is not"},
      {"user namespace",
       [&](auto& in) { ns(in)->mutable_userns_options()->set_mode(runtime::v1::POD); },
       absl::StatusCode::kUnimplemented, "linux.security_context.namespace_options.userns_options"},
      {"pod network without a pin", [](auto& in) { in.pod_namespaces.erase("net"); },
       absl::StatusCode::kFailedPrecondition,
       "linux.security_context.namespace_options.network: the container asks for the pod's net "
       "namespace but sandbox s1 has none pinned"},
      {"pod pid without a holder", [](auto& in) { in.pid_namespace_holder.clear(); },
       absl::StatusCode::kFailedPrecondition, "linux.security_context.namespace_options.pid"},
      {"container network", [&](auto& in) { ns(in)->set_network(runtime::v1::CONTAINER); },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.namespace_options.network: namespace mode CONTAINER is not "
       "supported for net"},
      {"image volume",
       [](auto& in) {
         AddMount(in, "/a", "/h/a");
         AddMount(in, "/img", "")->mutable_image()->set_image("busybox");
       },
       absl::StatusCode::kUnimplemented, "mounts[1].image: an image volume is not supported"},
      {"id-mapped mount", [](auto& in) { AddMount(in, "/a", "/h")->add_uidmappings(); },
       absl::StatusCode::kUnimplemented, "mounts[0].uidMappings"},
      {"recursive read-only",
       [](auto& in) {
         auto* m = AddMount(in, "/a", "/h");
         m->set_readonly(true);
         m->set_recursive_read_only(true);
       },
       absl::StatusCode::kUnimplemented, "mounts[0].recursive_read_only"},
      {"relative container path", [](auto& in) { AddMount(in, "a", "/h"); },
       absl::StatusCode::kInvalidArgument, "mounts[0].container_path: \"a\" is not"},
      {"traversing container path", [](auto& in) { AddMount(in, "/a/../../etc", "/h"); },
       absl::StatusCode::kInvalidArgument, "mounts[0].container_path"},
      {"relative host path", [](auto& in) { AddMount(in, "/a", "h"); },
       absl::StatusCode::kInvalidArgument, "mounts[0].host_path: \"h\" is not an absolute path"},
      {"devices", [](auto& in) { in.config.add_devices()->set_host_path("/dev/nvidia0"); },
       absl::StatusCode::kUnimplemented, "devices[0]"},
      {"privileged container in an unprivileged pod",
       [](auto& in) { Security(in).set_privileged(true); }, absl::StatusCode::kInvalidArgument,
       "linux.security_context.privileged: a privileged container needs a privileged pod"},
      {"bad capability",
       [](auto& in) {
         Security(in).mutable_capabilities()->add_add_capabilities("CHOWN");
         Security(in).mutable_capabilities()->add_add_capabilities("NOPE");
       },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.capabilities.add_capabilities[1]: unknown capability \"NOPE\""},
      {"bad stop signal", [](auto& in) { in.image.set_stop_signal("SIGFOO"); },
       absl::StatusCode::kInvalidArgument,
       "image config StopSignal: \"SIGFOO\" is not a signal"},
      {"Localhost profile not read",
       [](auto& in) {
         Security(in).mutable_seccomp()->set_profile_type(SecurityProfile::Localhost);
         Security(in).mutable_seccomp()->set_localhost_ref("/p.json");
       },
       absl::StatusCode::kInternal, "linux.security_context.seccomp.localhost_ref"},
      {"Localhost profile that does not parse",
       [](auto& in) {
         Security(in).mutable_seccomp()->set_profile_type(SecurityProfile::Localhost);
         Security(in).mutable_seccomp()->set_localhost_ref("/p.json");
         in.seccomp_localhost_profile = "{not json";
       },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.seccomp.localhost_ref: profile \"/p.json\": "},
      {"unknown user",
       [](auto& in) { Security(in).set_run_as_username("nobody-here"); },
       absl::StatusCode::kNotFound, ""},
      {"no command",
       [](auto& in) {
         in.image.clear_entrypoint();
         in.image.clear_cmd();
       },
       absl::StatusCode::kInvalidArgument, "no command specified"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ContainerSpecInputs in = BaseInputs();
    c.mutate(in);
    absl::StatusOr<ContainerSpec> spec = BuildContainerSpec(in);
    EXPECT_EQ(spec.status().code(), c.code) << spec.status();
    EXPECT_TRUE(absl::StartsWith(spec.status().message(), c.message)) << spec.status();
  }
}

TEST(LocalhostSeccompProfilePathTest, NamesTheFileToRead) {
  runtime::v1::ContainerConfig config;
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> none, LocalhostSeccompProfilePath(config));
  EXPECT_FALSE(none.has_value());
  auto* seccomp = config.mutable_linux()->mutable_security_context()->mutable_seccomp();
  seccomp->set_profile_type(SecurityProfile::Localhost);
  seccomp->set_localhost_ref("/var/lib/kubelet/seccomp/audit.json");
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> path, LocalhostSeccompProfilePath(config));
  EXPECT_EQ(path, "/var/lib/kubelet/seccomp/audit.json");
}

TEST(ParseSignalTest, MobyForms) {
  struct SignalCase {
    std::string text;
    int want;  // 0: invalid
  } cases[] = {
      {"SIGQUIT", 3},     {"QUIT", 3},        {"quit", 3},       {"sigterm", 15},
      {"3", 3},           {"9", 9},           {"64", 64},        {"SIGRTMIN", 34},
      {"SIGRTMIN+3", 37}, {"RTMIN+15", 49},   {"SIGRTMAX-14", 50}, {"RTMAX", 64},
      {"SIGCLD", 17},     {"SIGPOLL", 29},    {"SIGWINCH", 28},  {"0", 0},
      {"65", 0},          {"-1", 0},          {"", 0},           {"SIG", 0},
      {"SIGRTMIN+16", 0}, {"SIGRTMAX-15", 0}, {"SIGFOO", 0},     {"SIGRTMIN+x", 0},
  };
  for (const SignalCase& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<int> got = ParseSignal(c.text);
    if (c.want == 0) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    } else {
      ASSERT_OK_AND_ASSIGN(int number, got);
      EXPECT_EQ(number, c.want);
    }
  }
}

TEST(ResolveStopSignalTest, EveryCriSignalMaps) {
  records::ImageRuntimeConfig image;
  runtime::v1::ContainerConfig config;
  for (int value = 1; value <= 65; ++value) {
    config.set_stop_signal(static_cast<runtime::v1::Signal>(value));
    SCOPED_TRACE(runtime::v1::Signal_Name(config.stop_signal()));
    ASSERT_OK_AND_ASSIGN(int number, ResolveStopSignal(config, image));
    EXPECT_GE(number, 1);
    EXPECT_LE(number, 64);
  }
  config.set_stop_signal(runtime::v1::SIGNAL_SIGRTMAX);
  EXPECT_EQ(*ResolveStopSignal(config, image), 64);
  config.set_stop_signal(runtime::v1::SIGNAL_SIGKILL);
  EXPECT_EQ(*ResolveStopSignal(config, image), 9);
}

}  // namespace
}  // namespace converge::process

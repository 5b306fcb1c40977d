#include "executors/process/spec/container_spec_json.h"

#include <sys/mount.h>
#include <sys/resource.h>

#include <string>

#include "common/testing/status_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge::process {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ContainerSpec FullSpec() {
  ContainerSpec spec;
  spec.id = "c1";
  spec.sandbox_id = "s1";
  spec.rootfs = "/run/converge/c1/rootfs";
  spec.readonly_rootfs = true;
  spec.rootfs_propagation = Propagation::kShared;
  spec.namespaces = {{"net", "/run/converge/ns/s1/net"}, {"pid", ""}, {"mnt", ""}};
  MountSpec proc;
  proc.destination = "/proc";
  proc.type = "proc";
  proc.source = "proc";
  proc.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  MountSpec bind;
  bind.destination = "/data";
  bind.type = "bind";
  bind.source = "/var/lib/data";
  bind.flags = MS_RDONLY;
  bind.data = "x=y";
  bind.propagation = Propagation::kSlave;
  spec.mounts = {proc, bind};
  spec.masked_paths = {"/proc/kcore"};
  spec.readonly_paths = {"/proc/sys"};
  ContainerSpec::Device null_device;
  null_device.path = "/dev/null";
  null_device.major = 1;
  null_device.minor = 3;
  ContainerSpec::Device block;
  block.path = "/dev/sda";
  block.type = 'b';
  block.major = 8;
  block.mode = 0600;
  block.uid = 7;
  block.gid = 8;
  spec.devices = {null_device, block};
  spec.hostname = "web";
  spec.cgroup_procs_files = {"/sys/fs/cgroup/pids/x/cgroup.procs"};
  spec.exec_fifo = "/run/converge/c1/exec.fifo";
  spec.process.args = {"/bin/sh", "-c", "echo \"hi\" \xe2\x9c\x93"};
  spec.process.env = {"PATH=/bin", "A=b=c"};
  spec.process.cwd = "/work";
  spec.process.uid = 4294967294u;
  spec.process.gid = 1000;
  spec.process.additional_gids = {10, 20};
  spec.process.capabilities.bounding = 0x1fffeffffffULL;
  spec.process.capabilities.effective = 1;
  spec.process.capabilities.permitted = 2;
  spec.process.capabilities.inheritable = 3;
  spec.process.capabilities.ambient = 4;
  spec.process.no_new_privileges = true;
  spec.process.seccomp.mode = SeccompSpec::Mode::kProfile;
  spec.process.seccomp.profile_json = R"({"defaultAction":"SCMP_ACT_ALLOW"})";
  spec.process.rlimits = {{RLIMIT_NOFILE, 1024, 4096},
                          {RLIMIT_CORE, 0, RLIM_INFINITY}};
  spec.process.oom_score_adj = -998;
  spec.process.set_oom_score_adj = true;
  spec.log_path = "/var/log/pods/x/c/0.log";
  spec.stop_signal = 3;
  return spec;
}

TEST(ContainerSpecJsonTest, RoundTripsEveryField) {
  const ContainerSpec spec = FullSpec();
  const std::string json = SerializeContainerSpec(spec);
  ASSERT_OK_AND_ASSIGN(ContainerSpec parsed, ParseContainerSpec(json));
  EXPECT_EQ(SerializeContainerSpec(parsed), json);
  // Spot checks that the fields really made it (not just two empty specs).
  EXPECT_EQ(parsed.rootfs_propagation, Propagation::kShared);
  EXPECT_EQ(parsed.mounts[1].propagation, Propagation::kSlave);
  EXPECT_EQ(parsed.mounts[1].flags, static_cast<uint64_t>(MS_RDONLY));
  EXPECT_EQ(parsed.devices[1].type, 'b');
  EXPECT_EQ(parsed.devices[1].mode, 0600u);
  EXPECT_EQ(parsed.process.uid, 4294967294u);
  EXPECT_THAT(parsed.process.args, ElementsAre("/bin/sh", "-c", "echo \"hi\" \xe2\x9c\x93"));
  EXPECT_THAT(parsed.process.additional_gids, ElementsAre(10u, 20u));
  EXPECT_EQ(parsed.process.capabilities.bounding, 0x1fffeffffffULL);
  EXPECT_EQ(parsed.process.seccomp.mode, SeccompSpec::Mode::kProfile);
  EXPECT_EQ(parsed.process.rlimits[1].hard, static_cast<uint64_t>(RLIM_INFINITY));
  EXPECT_EQ(parsed.process.oom_score_adj, -998);
  EXPECT_EQ(parsed.stop_signal, 3);
}

TEST(ContainerSpecJsonTest, AbsentFieldsKeepDefaultsAndUnknownOnesAreIgnored) {
  ASSERT_OK_AND_ASSIGN(ContainerSpec spec,
                       ParseContainerSpec(R"({"id": "x", "from_the_future": [1]})"));
  EXPECT_EQ(spec.id, "x");
  EXPECT_EQ(spec.process.cwd, "/");
  EXPECT_EQ(spec.rootfs_propagation, Propagation::kSlave);
  EXPECT_EQ(spec.process.seccomp.mode, SeccompSpec::Mode::kRuntimeDefault);
  EXPECT_EQ(spec.stop_signal, 15);
}

TEST(ContainerSpecJsonTest, WrongTypesNameTheField) {
  struct Case {
    const char* json;
    const char* field;
  } cases[] = {
      {R"({"id": 3})", "id"},
      {R"({"readonly_rootfs": "yes"})", "readonly_rootfs"},
      {R"({"rootfs_propagation": "sideways"})", "rootfs_propagation"},
      {R"({"mounts": [{"destination": "/a"}, {"flags": -1}]})", "mounts[1].flags"},
      {R"({"mounts": [{"flags": 1.5}]})", "mounts[0].flags"},
      {R"({"mounts": [3]})", "mounts[0]"},
      {R"({"namespaces": {"kind": "net"}})", "namespaces"},
      {R"({"devices": [{"type": "x"}]})", "devices[0].type"},
      {R"({"devices": [{"major": 4294967296}]})", "devices[0].major"},
      {R"({"process": {"uid": -1}})", "process.uid"},
      {R"({"process": {"args": ["a", 1]}})", "process.args[1]"},
      {R"({"process": {"additional_gids": [1, "2"]}})", "process.additional_gids[1]"},
      {R"({"process": {"capabilities": {"ambient": true}}})", "process.capabilities.ambient"},
      {R"({"process": {"seccomp": {"mode": "strict"}}})", "process.seccomp.mode"},
      {R"({"process": {"rlimits": [{"resource": 7, "soft": "1"}]}})",
       "process.rlimits[0].soft"},
      {R"({"process": {"oom_score_adj": 3000000000}})", "process.oom_score_adj"},
      {R"({"process": []})", "process"},
      {R"({"stop_signal": "TERM"})", "stop_signal"},
      {R"([])", "(root)"},
      {R"({"id": )", "not JSON"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ContainerSpec> parsed = ParseContainerSpec(c.json);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.field))
        << c.json << " -> " << parsed.status();
  }
}

TEST(ContainerSpecJsonTest, InvalidUtf8IsReplacedNotThrown) {
  ContainerSpec spec;
  spec.process.env = {"X=\xff\xfe"};
  ASSERT_OK_AND_ASSIGN(ContainerSpec parsed, ParseContainerSpec(SerializeContainerSpec(spec)));
  EXPECT_EQ(parsed.process.env.size(), 1u);
  EXPECT_NE(parsed.process.env[0], "X=\xff\xfe");
}

}  // namespace
}  // namespace converge::process

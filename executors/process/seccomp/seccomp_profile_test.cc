#include "executors/process/seccomp/seccomp_profile.h"

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/testing/status_testing.h"
#include "executors/process/seccomp/seccomp_rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge::process {
namespace {

using ::testing::HasSubstr;

constexpr char kDenyMkdir[] = R"({
  "defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
    {"names": ["no_such_syscall_at_all"], "action": "SCMP_ACT_ERRNO"},
    {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
     "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
    {"names": ["chroot"], "action": "SCMP_ACT_LOG",
     "includes": {"caps": ["CAP_SYS_CHROOT"]}, "excludes": {"arches": ["SCMP_ARCH_S390X"]}}
  ]
})";

// Runs `body` in a forked child and returns its exit code (or 128+signal).
template <typename Body>
int RunInChild(Body body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

TEST(SeccompProfileTest, ParsesActionsArgsAndConditions) {
  ASSERT_OK_AND_ASSIGN(SeccompProfile profile, ParseSeccompProfileJson(kDenyMkdir));
  EXPECT_EQ(profile.default_action, SCMP_ACT_ALLOW);
  EXPECT_EQ(profile.arches.size(), 3u);
  ASSERT_EQ(profile.rules.size(), 4u);
  EXPECT_EQ(profile.rules[0].action, SCMP_ACT_ERRNO(13));
  EXPECT_EQ(profile.rules[1].action, SCMP_ACT_ERRNO(EPERM));  // defaultErrnoRet
  ASSERT_EQ(profile.rules[2].args.size(), 1u);
  EXPECT_EQ(profile.rules[2].args[0].op, SCMP_CMP_EQ);
  EXPECT_EQ(profile.rules[2].args[0].value, 8u);
  EXPECT_EQ(profile.rules[3].action, SCMP_ACT_LOG);
  EXPECT_EQ(profile.rules[3].includes_caps, uint64_t{1} << CAP_SYS_CHROOT);
  EXPECT_EQ(profile.rules[3].excludes_arches.size(), 1u);
}

TEST(SeccompProfileTest, UnknownSyscallIsSkipped) {
  EXPECT_OK(ValidateSeccompProfile(kDenyMkdir));
}

TEST(SeccompProfileTest, ErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* field;
  } cases[] = {
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
          {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["mkdir"], "action": "SCMP_ACT_EXPLODE"}]})",
       "syscalls[2].action"},
      {R"({"syscalls": []})", "defaultAction"},
      {R"({"defaultAction": 3})", "defaultAction"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1})", "defaultErrnoRet"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]})",
       "architectures[0]"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
          "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "op": "SCMP_CMP_EQ"}]}]})",
       "syscalls[0].args[0].index"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
          "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "SCMP_CMP_ALMOST"}]}]})",
       "syscalls[0].args[0].op"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", 4],
          "action": "SCMP_ACT_ERRNO"}]})",
       "syscalls[0].names[1]"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
          "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_FLY"]}}]})",
       "syscalls[0].includes.caps[0]"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}})", "syscalls"},
      {R"([1, 2])", "(root)"},
      {R"({"defaultAction": )", "not JSON"},
  };
  for (const Case& c : cases) {
    absl::Status status = ValidateSeccompProfile(c.json);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field)) << status;
  }
}

TEST(SeccompProfileTest, RuntimeDefaultCompilesWithAndWithoutCapabilities) {
  SeccompLoadOptions none;
  EXPECT_OK(CompileSeccompProfile(RuntimeDefaultSeccompProfile(), none).status());
  SeccompLoadOptions all;
  all.capabilities = ~uint64_t{0};
  EXPECT_OK(CompileSeccompProfile(RuntimeDefaultSeccompProfile(), all).status());
}

TEST(SeccompProfileTest, LocalhostProfileDeniesMkdirWithItsErrno) {
  TempTestDir dir;
  const std::string target = dir.Sub("made");
  int code = RunInChild([&] {
    SeccompSpec spec;
    spec.mode = SeccompSpec::Mode::kProfile;
    spec.profile_json = kDenyMkdir;
    if (!LoadSeccompFilter(spec).ok()) return 10;
    if (mkdir(target.c_str(), 0755) == 0) return 11;
    return errno == EACCES ? 0 : 12;
  });
  EXPECT_EQ(code, 0);
}

TEST(SeccompProfileTest, RuntimeDefaultRefusesUserNamespacesWithoutSysAdmin) {
  int code = RunInChild([] {
    SeccompSpec spec;  // kRuntimeDefault
    if (!LoadSeccompFilter(spec).ok()) return 10;
    if (getpid() <= 0) return 11;  // ordinary syscalls work
    if (unshare(CLONE_NEWUSER) == 0) return 12;
    return errno == EPERM ? 0 : 13;
  });
  EXPECT_EQ(code, 0);
}

TEST(SeccompProfileTest, RuntimeDefaultAllowsUnshareWithSysAdmin) {
  int code = RunInChild([] {
    SeccompSpec spec;
    SeccompLoadOptions options;
    options.capabilities = uint64_t{1} << CAP_SYS_ADMIN;
    if (!LoadSeccompFilter(spec, options).ok()) return 10;
    return unshare(CLONE_NEWUSER) == 0 ? 0 : 12;
  });
  EXPECT_EQ(code, 0);
}

TEST(SeccompProfileTest, UnconfinedLoadsNothing) {
  int code = RunInChild([] {
    SeccompSpec spec;
    spec.mode = SeccompSpec::Mode::kUnconfined;
    if (!LoadSeccompFilter(spec).ok()) return 10;
    return unshare(CLONE_NEWUSER) == 0 ? 0 : 12;
  });
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace converge::process

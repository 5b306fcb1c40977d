#include "executors/process/spec/defaults.h"

#include <sys/mount.h>

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

// The deprecated seccomp_profile_path is part of what is tested.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace converge::process {
namespace {

using runtime::v1::LinuxContainerSecurityContext;
using runtime::v1::SecurityProfile;
using Type = SeccompChoice::Type;

TEST(DefaultMountsTest, ContainerdsListWithoutRun) {
  std::vector<MountSpec> mounts = DefaultMounts();
  ASSERT_EQ(mounts.size(), 6u);
  std::vector<std::string> destinations;
  for (const MountSpec& m : mounts) destinations.push_back(m.destination);
  EXPECT_EQ(destinations, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/shm",
                                                     "/dev/mqueue", "/sys"}));
  EXPECT_EQ(mounts[1].flags, uint64_t{MS_NOSUID | MS_STRICTATIME});
  EXPECT_EQ(mounts[1].data, "mode=755,size=65536k");
  EXPECT_EQ(mounts[2].data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  EXPECT_EQ(mounts[3].source, "shm");
  EXPECT_EQ(mounts[5].flags, uint64_t{MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY});
}

TEST(DefaultDevicesTest, RuncsAllowedDevices) {
  std::vector<std::string> got;
  for (const auto& d : DefaultDevices()) {
    EXPECT_EQ(d.type, 'c');
    EXPECT_EQ(d.mode, 0666u);
    got.push_back(absl::StrCat(d.path, " ", d.major, ":", d.minor));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"/dev/null 1:3", "/dev/zero 1:5", "/dev/full 1:7",
                                           "/dev/random 1:8", "/dev/urandom 1:9",
                                           "/dev/tty 5:0"}));
}

void Seccomp(LinuxContainerSecurityContext& s, SecurityProfile::ProfileType type,
             std::string ref = "") {
  s.mutable_seccomp()->set_profile_type(type);
  s.mutable_seccomp()->set_localhost_ref(std::move(ref));
}

TEST(ChooseSeccompProfileTest, FollowsContainerd) {
  struct Case {
    std::string name;
    std::function<void(LinuxContainerSecurityContext&)> mutate;
    Type type;
    std::string path;
  } cases[] = {
      {"nothing set: unconfined", [](auto&) {}, Type::kUnconfined, ""},
      {"RuntimeDefault", [](auto& s) { Seccomp(s, SecurityProfile::RuntimeDefault); },
       Type::kRuntimeDefault, ""},
      {"Unconfined", [](auto& s) { Seccomp(s, SecurityProfile::Unconfined); },
       Type::kUnconfined, ""},
      {"Localhost",
       [](auto& s) { Seccomp(s, SecurityProfile::Localhost, "/var/lib/kubelet/seccomp/a.json"); },
       Type::kLocalhost, "/var/lib/kubelet/seccomp/a.json"},
      {"Localhost with the legacy prefix",
       [](auto& s) { Seccomp(s, SecurityProfile::Localhost, "localhost//etc/p.json"); },
       Type::kLocalhost, "/etc/p.json"},
      {"the field wins over the legacy path",
       [](auto& s) {
         Seccomp(s, SecurityProfile::Unconfined);
         s.set_seccomp_profile_path("runtime/default");
       },
       Type::kUnconfined, ""},
      {"legacy runtime/default",
       [](auto& s) { s.set_seccomp_profile_path("runtime/default"); }, Type::kRuntimeDefault, ""},
      {"legacy docker/default",
       [](auto& s) { s.set_seccomp_profile_path("docker/default"); }, Type::kRuntimeDefault, ""},
      {"legacy unconfined", [](auto& s) { s.set_seccomp_profile_path("unconfined"); },
       Type::kUnconfined, ""},
      {"legacy localhost/",
       [](auto& s) { s.set_seccomp_profile_path("localhost//etc/seccomp/x.json"); },
       Type::kLocalhost, "/etc/seccomp/x.json"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LinuxContainerSecurityContext security;
    c.mutate(security);
    ASSERT_OK_AND_ASSIGN(SeccompChoice choice, ChooseSeccompProfile(security));
    EXPECT_EQ(choice.type, c.type);
    EXPECT_EQ(choice.localhost_path, c.path);
  }
}

TEST(ChooseSeccompProfileTest, Errors) {
  struct Case {
    std::string name;
    std::function<void(LinuxContainerSecurityContext&)> mutate;
    std::string message;
  } cases[] = {
      {"ref without Localhost",
       [](auto& s) { Seccomp(s, SecurityProfile::RuntimeDefault, "/x"); },
       "linux.security_context.seccomp.localhost_ref: must only be set if profile_type is "
       "Localhost"},
      {"Localhost without ref", [](auto& s) { Seccomp(s, SecurityProfile::Localhost); },
       "linux.security_context.seccomp.localhost_ref: a Localhost profile needs a path"},
      {"relative Localhost",
       [](auto& s) { Seccomp(s, SecurityProfile::Localhost, "profiles/a.json"); },
       "linux.security_context.seccomp.localhost_ref: \"profiles/a.json\" is not a clean "
       "absolute path to the profile on the host"},
      {"traversing Localhost",
       [](auto& s) { Seccomp(s, SecurityProfile::Localhost, "/var/lib/../../etc/a.json"); },
       "linux.security_context.seccomp.localhost_ref: \"/var/lib/../../etc/a.json\" is not"},
      {"unknown legacy", [](auto& s) { s.set_seccomp_profile_path("default"); },
       "linux.security_context.seccomp_profile_path: invalid profile \"default\""},
      {"empty legacy localhost", [](auto& s) { s.set_seccomp_profile_path("localhost/"); },
       "linux.security_context.seccomp_profile_path: a Localhost profile needs a path"},
      {"unknown type",
       [](auto& s) { Seccomp(s, static_cast<SecurityProfile::ProfileType>(7)); },
       "linux.security_context.seccomp.profile_type: unknown type 7"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LinuxContainerSecurityContext security;
    c.mutate(security);
    absl::StatusOr<SeccompChoice> choice = ChooseSeccompProfile(security);
    EXPECT_EQ(choice.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(choice.status().message(), c.message)) << choice.status();
  }
}

}  // namespace
}  // namespace converge::process

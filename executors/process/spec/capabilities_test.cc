#include "executors/process/spec/capabilities.h"

#include <functional>

#include "absl/status/status.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge::process {
namespace {

using runtime::v1::LinuxContainerSecurityContext;
using Names = std::vector<std::string>;

TEST(ParseCapabilityTest, AcceptsCriAndKernelSpellingsInAnyCase) {
  struct Case {
    std::string name;
    int want;
  } cases[] = {
      {"NET_ADMIN", 12},         {"CAP_NET_ADMIN", 12}, {"net_admin", 12},
      {"cap_net_admin", 12},     {"Cap_Sys_Admin", 21}, {"CHOWN", 0},
      {"CHECKPOINT_RESTORE", 40}, {"AUDIT_WRITE", 29},  {"BPF", 39},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_OK_AND_ASSIGN(int got, ParseCapability(c.name));
    EXPECT_EQ(got, c.want);
  }
}

TEST(ParseCapabilityTest, RejectsUnknownNames) {
  for (const char* name : {"", "ALL", "CAP_", "NET_ADMN", "CAP_CAP_CHOWN", "41", "NET ADMIN"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<int> got = ParseCapability(name);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(got.status().message(), absl::StrCat("unknown capability \"", name, "\""));
  }
}

TEST(CapabilityTableTest, NamesRoundTrip) {
  for (int i = 0; i <= kLastCapability; ++i) {
    ASSERT_OK_AND_ASSIGN(int back, ParseCapability(CapabilityName(i)));
    EXPECT_EQ(back, i);
  }
  EXPECT_EQ(CapabilityName(41), "");
  EXPECT_EQ(CapabilityName(-1), "");
  EXPECT_EQ(CapabilityNames(AllCapabilities()).size(), 41u);
  EXPECT_EQ(CapabilityNames(uint64_t{1} << 41), Names{});
}

TEST(CapabilityTableTest, DefaultsAreContainerds) {
  EXPECT_EQ(CapabilityNames(DefaultCapabilities()),
            (Names{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                   "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                   "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE",
                   "CAP_SETFCAP"}));
}

struct Want {
  Names set;  // bounding = permitted
  Names effective;
  Names ambient;  // = inheritable
};

void Add(LinuxContainerSecurityContext& s, std::initializer_list<const char*> names) {
  for (const char* n : names) s.mutable_capabilities()->add_add_capabilities(n);
}
void Drop(LinuxContainerSecurityContext& s, std::initializer_list<const char*> names) {
  for (const char* n : names) s.mutable_capabilities()->add_drop_capabilities(n);
}
void Ambient(LinuxContainerSecurityContext& s, std::initializer_list<const char*> names) {
  for (const char* n : names) s.mutable_capabilities()->add_add_ambient_capabilities(n);
}

TEST(ResolveCapabilitiesTest, FollowsContainerd) {
  const Names kDefaults = CapabilityNames(DefaultCapabilities());
  const Names kAll = CapabilityNames(AllCapabilities());
  Names all_but_chown(kAll.begin() + 1, kAll.end());
  struct Case {
    std::string name;
    std::function<void(LinuxContainerSecurityContext&)> mutate;
    uint32_t uid;
    Want want;
  } cases[] = {
      {"defaults as root", [](auto&) {}, 0, {kDefaults, kDefaults, {}}},
      {"defaults as non-root: nothing effective", [](auto&) {}, 1000, {kDefaults, {}, {}}},
      {"drop ALL", [](auto& s) { Drop(s, {"ALL"}); }, 0, {{}, {}, {}}},
      {"drop ALL, add one",
       [](auto& s) {
         Drop(s, {"all"});
         Add(s, {"NET_BIND_SERVICE"});
       },
       0,
       {{"CAP_NET_BIND_SERVICE"}, {"CAP_NET_BIND_SERVICE"}, {}}},
      {"add ALL, drop one",
       [](auto& s) {
         Add(s, {"ALL"});
         Drop(s, {"CHOWN"});
       },
       0,
       {all_but_chown, all_but_chown, {}}},
      {"add ALL and drop ALL: drop wins, names still apply",
       [](auto& s) {
         Add(s, {"ALL", "KILL"});
         Drop(s, {"ALL"});
       },
       0,
       {{"CAP_KILL"}, {"CAP_KILL"}, {}}},
      {"add and drop the same: drop wins",
       [](auto& s) {
         Add(s, {"SYS_ADMIN"});
         Drop(s, {"CAP_SYS_ADMIN"});
       },
       0,
       {kDefaults, kDefaults, {}}},
      {"add to defaults, drop from them",
       [](auto& s) {
         Drop(s, {"ALL"});
         Add(s, {"net_admin", "CAP_SYS_TIME"});
       },
       0,
       {{"CAP_NET_ADMIN", "CAP_SYS_TIME"}, {"CAP_NET_ADMIN", "CAP_SYS_TIME"}, {}}},
      {"privileged ignores drops",
       [](auto& s) {
         s.set_privileged(true);
         Drop(s, {"ALL"});
       },
       0,
       {kAll, kAll, {}}},
      {"ambient for non-root",
       [](auto& s) {
         Drop(s, {"ALL"});
         Add(s, {"NET_BIND_SERVICE"});
         Ambient(s, {"NET_BIND_SERVICE"});
       },
       1000,
       {{"CAP_NET_BIND_SERVICE"}, {"CAP_NET_BIND_SERVICE"}, {"CAP_NET_BIND_SERVICE"}}},
      {"ambient ALL is the whole set",
       [](auto& s) {
         Drop(s, {"ALL"});
         Add(s, {"KILL", "CHOWN"});
         Ambient(s, {"ALL"});
       },
       1000,
       {{"CAP_CHOWN", "CAP_KILL"}, {"CAP_CHOWN", "CAP_KILL"}, {"CAP_CHOWN", "CAP_KILL"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LinuxContainerSecurityContext security;
    c.mutate(security);
    ASSERT_OK_AND_ASSIGN(CapabilitySets sets, ResolveCapabilities(security, c.uid));
    EXPECT_EQ(CapabilityNames(sets.bounding), c.want.set);
    EXPECT_EQ(CapabilityNames(sets.permitted), c.want.set);
    EXPECT_EQ(CapabilityNames(sets.effective), c.want.effective);
    EXPECT_EQ(CapabilityNames(sets.ambient), c.want.ambient);
    EXPECT_EQ(CapabilityNames(sets.inheritable), c.want.ambient);
  }
}

TEST(ResolveCapabilitiesTest, Errors) {
  struct Case {
    std::string name;
    std::function<void(LinuxContainerSecurityContext&)> mutate;
    std::string message;
  } cases[] = {
      {"unknown added",
       [](auto& s) { Add(s, {"CHOWN", "NET_ADMN"}); },
       "linux.security_context.capabilities.add_capabilities[1]: unknown capability \"NET_ADMN\""},
      {"unknown dropped, ALL skipped in the count",
       [](auto& s) { Drop(s, {"ALL", "BOGUS"}); },
       "linux.security_context.capabilities.drop_capabilities[1]: unknown capability \"BOGUS\""},
      {"unknown even when privileged",
       [](auto& s) {
         s.set_privileged(true);
         Add(s, {"X"});
       },
       "linux.security_context.capabilities.add_capabilities[0]: unknown capability \"X\""},
      {"unknown ambient",
       [](auto& s) { Ambient(s, {"Y"}); },
       "linux.security_context.capabilities.add_ambient_capabilities[0]: unknown capability "
       "\"Y\""},
      {"ambient outside the set",
       [](auto& s) { Ambient(s, {"KILL", "NET_ADMIN"}); },
       "linux.security_context.capabilities.add_ambient_capabilities[1]: CAP_NET_ADMIN is not "
       "in the container's capability set (add it to add_capabilities)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LinuxContainerSecurityContext security;
    c.mutate(security);
    absl::StatusOr<CapabilitySets> sets = ResolveCapabilities(security, 0);
    EXPECT_EQ(sets.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sets.status().message(), c.message);
  }
}

}  // namespace
}  // namespace converge::process

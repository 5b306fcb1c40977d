#include "executors/namespace/namespace.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(NamespaceKindName, MatchesProcNames) {
  EXPECT_EQ(NamespaceKindName(NamespaceKind::kNet), "net");
  EXPECT_EQ(NamespaceKindName(NamespaceKind::kIpc), "ipc");
  EXPECT_EQ(NamespaceKindName(NamespaceKind::kUts), "uts");
}

TEST(ParseSysctlName, Accepted) {
  struct Case {
    std::string given;
    std::string name;
    std::string proc_path;
    NamespaceKind kind;
  };
  const std::vector<Case> cases = {
      {"net.ipv4.ip_unprivileged_port_start",
       "net.ipv4.ip_unprivileged_port_start",
       "/proc/sys/net/ipv4/ip_unprivileged_port_start", NamespaceKind::kNet},
      {"net/ipv4/ip_forward", "net.ipv4.ip_forward",
       "/proc/sys/net/ipv4/ip_forward", NamespaceKind::kNet},
      // A dot inside a component: '/' in dot form, '.' in slash form.
      {"net.ipv4.conf.eth0/100.forwarding", "net.ipv4.conf.eth0/100.forwarding",
       "/proc/sys/net/ipv4/conf/eth0.100/forwarding", NamespaceKind::kNet},
      {"net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.eth0/100.forwarding",
       "/proc/sys/net/ipv4/conf/eth0.100/forwarding", NamespaceKind::kNet},
      {"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.all.disable_ipv6",
       "/proc/sys/net/ipv6/conf/all/disable_ipv6", NamespaceKind::kNet},
      {"kernel.shm_rmid_forced", "kernel.shm_rmid_forced",
       "/proc/sys/kernel/shm_rmid_forced", NamespaceKind::kIpc},
      {"kernel.shmmax", "kernel.shmmax", "/proc/sys/kernel/shmmax",
       NamespaceKind::kIpc},
      {"kernel.msgmnb", "kernel.msgmnb", "/proc/sys/kernel/msgmnb",
       NamespaceKind::kIpc},
      {"kernel.sem", "kernel.sem", "/proc/sys/kernel/sem", NamespaceKind::kIpc},
      {"kernel/sem", "kernel.sem", "/proc/sys/kernel/sem", NamespaceKind::kIpc},
      {"fs.mqueue.msg_max", "fs.mqueue.msg_max", "/proc/sys/fs/mqueue/msg_max",
       NamespaceKind::kIpc},
      {"fs/mqueue/queues_max", "fs.mqueue.queues_max",
       "/proc/sys/fs/mqueue/queues_max", NamespaceKind::kIpc},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SysctlName> got = ParseSysctlName(c.given);
    ASSERT_TRUE(got.ok()) << c.given << ": " << got.status();
    EXPECT_EQ(got->name, c.name) << c.given;
    EXPECT_EQ(got->proc_path, c.proc_path) << c.given;
    EXPECT_EQ(got->kind, c.kind) << c.given;
  }
}

TEST(ParseSysctlName, Refused) {
  struct Case {
    std::string given;
    std::string want_in_message;
  };
  const std::vector<Case> cases = {
      {"", "is empty"},
      {"net.ipv4.IP_forward", "may contain only"},
      {"net.ipv4.ip forward", "may contain only"},
      {std::string("net.ipv4\0.x", 11), "may contain only"},
      {".net.ipv4.ip_forward", "separator"},
      {"net.ipv4.ip_forward.", "separator"},
      {"/net/ipv4/ip_forward", "separator"},
      {"net/ipv4/ip_forward/", "separator"},
      {"net..ipv4", "empty or `..` component"},
      {"net/../../etc/passwd", "empty or `..` component"},
      {"net//ipv4", "empty or `..` component"},
      // '/' is a literal dot in dot form: these would be paths with "." and
      // ".." components.
      {"net./.ip_forward", "path component `.`"},
      {"net.ipv4./", "separator"},
      {"net.ipv4./.x", "path component `.`"},
      {"net/ipv4/./x", "path component `.`"},
      {"net", "not namespaced"},
      {"kernel.hostname", "hostname has a field of its own"},
      {"kernel/domainname", "hostname has a field of its own"},
      {"kernel.sem_next_id", "not namespaced"},
      {"kernel.pid_max", "not namespaced"},
      {"vm.swappiness", "not namespaced"},
      {"fs.mqueue", "not namespaced"},
      {"netfoo.x", "not namespaced"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SysctlName> got = ParseSysctlName(c.given);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
        << "`" << c.given << "`: " << got.status();
    EXPECT_TRUE(absl::StrContains(got.status().message(), c.want_in_message))
        << "`" << c.given << "`: " << got.status();
  }
  EXPECT_EQ(ParseSysctlName("kernel/pid_max").status().message(),
            "sysctl `kernel.pid_max` is not namespaced by the pod's net or ipc "
            "namespace");
}

struct Args {
  std::vector<PinSpec> pins;
  NamespaceSetup setup;
};

// A valid pod request; each case mutates it.
Args BaseArgs() {
  return {{{NamespaceKind::kNet, "/run/p/a-net"},
           {NamespaceKind::kIpc, "/run/p/a-ipc"},
           {NamespaceKind::kUts, "/run/p/a-uts"}},
          {"pod-a",
           {{"net.ipv4.ip_unprivileged_port_start", "0"},
            {"kernel.shm_rmid_forced", "1"}}}};
}

TEST(ValidateCreateArgs, Table) {
  struct Case {
    std::string name;
    std::function<void(Args&)> mutate;
    absl::StatusCode want;
    std::string want_in_message = "";
  };
  const std::vector<Case> cases = {
      {"valid", [](Args&) {}, absl::StatusCode::kOk},
      {"no pins",
       [](Args& a) {
         a.pins.clear();
         a.setup = {};
       },
       absl::StatusCode::kInvalidArgument, "no namespaces"},
      {"relative path", [](Args& a) { a.pins[0].pin_path = "p/a-net"; },
       absl::StatusCode::kInvalidArgument, "not absolute"},
      {"empty path", [](Args& a) { a.pins[1].pin_path.clear(); },
       absl::StatusCode::kInvalidArgument, "not absolute"},
      {"kind twice", [](Args& a) { a.pins[1].kind = NamespaceKind::kNet; },
       absl::StatusCode::kInvalidArgument, "net requested twice"},
      {"path twice", [](Args& a) { a.pins[1].pin_path = "/run/p/a-net"; },
       absl::StatusCode::kInvalidArgument, "used twice"},
      {"hostname 64 bytes",
       [](Args& a) { a.setup.hostname = std::string(kMaxHostnameLength, 'h'); },
       absl::StatusCode::kOk},
      {"hostname 65 bytes",
       [](Args& a) {
         a.setup.hostname = std::string(kMaxHostnameLength + 1, 'h');
       },
       absl::StatusCode::kInvalidArgument, "longer than 64"},
      {"hostname with NUL",
       [](Args& a) { a.setup.hostname = std::string("a\0b", 3); },
       absl::StatusCode::kInvalidArgument, "NUL"},
      {"hostname without uts", [](Args& a) { a.pins.pop_back(); },
       absl::StatusCode::kInvalidArgument, "without a uts namespace"},
      {"no hostname with uts", [](Args& a) { a.setup.hostname.clear(); },
       absl::StatusCode::kOk},
      {"net only",
       [](Args& a) {
         a.pins.resize(1);
         a.setup = {};
       },
       absl::StatusCode::kOk},
      {"no sysctls", [](Args& a) { a.setup.sysctls.clear(); },
       absl::StatusCode::kOk},
      {"slash form",
       [](Args& a) {
         a.setup.sysctls = {{"net/ipv4/ip_forward", "1"},
                            {"fs/mqueue/msg_max", "100"}};
       },
       absl::StatusCode::kOk},
      {"value with spaces",
       [](Args& a) {
         a.setup.sysctls = {{"net.ipv4.ip_local_port_range", "1024 65000"}};
       },
       absl::StatusCode::kOk},
      {"malformed name", [](Args& a) { a.setup.sysctls["net..ipv4"] = "1"; },
       absl::StatusCode::kInvalidArgument, "sysctl name `net..ipv4`"},
      {"not namespaced",
       [](Args& a) { a.setup.sysctls["vm.swappiness"] = "10"; },
       absl::StatusCode::kInvalidArgument,
       "sysctl `vm.swappiness` is not namespaced"},
      {"kernel.hostname refused",
       [](Args& a) { a.setup.sysctls["kernel.hostname"] = "x"; },
       absl::StatusCode::kInvalidArgument, "sysctl `kernel.hostname`"},
      {"net sysctl without net pin",
       [](Args& a) {
         a.pins.erase(a.pins.begin());
         a.setup.sysctls = {{"net.ipv4.ip_forward", "1"}};
       },
       absl::StatusCode::kInvalidArgument,
       "sysctl `net.ipv4.ip_forward` needs a new net namespace"},
      {"ipc sysctl without ipc pin",
       [](Args& a) {
         a.pins.erase(a.pins.begin() + 1);
         a.setup.sysctls = {{"kernel.msgmax", "8192"}};
       },
       absl::StatusCode::kInvalidArgument,
       "sysctl `kernel.msgmax` needs a new ipc namespace"},
      {"same sysctl in both forms",
       [](Args& a) {
         a.setup.sysctls = {{"net.ipv4.ip_forward", "1"},
                            {"net/ipv4/ip_forward", "0"}};
       },
       absl::StatusCode::kInvalidArgument,
       "sysctl `net.ipv4.ip_forward` given twice"},
      {"empty value",
       [](Args& a) { a.setup.sysctls["net.ipv4.ip_forward"] = ""; },
       absl::StatusCode::kInvalidArgument, "empty value"},
      {"value 4096 bytes",
       [](Args& a) {
         a.setup.sysctls["net.ipv4.ip_forward"] =
             std::string(kMaxSysctlValueLength, '1');
       },
       absl::StatusCode::kOk},
      {"value 4097 bytes",
       [](Args& a) {
         a.setup.sysctls["net.ipv4.ip_forward"] =
             std::string(kMaxSysctlValueLength + 1, '1');
       },
       absl::StatusCode::kInvalidArgument, "longer than 4096"},
      {"value with newline",
       [](Args& a) { a.setup.sysctls["net.ipv4.ip_forward"] = "1\n0"; },
       absl::StatusCode::kInvalidArgument, "newline or NUL"},
      {"value with NUL",
       [](Args& a) {
         a.setup.sysctls["net.ipv4.ip_forward"] = std::string("1\0", 2);
       },
       absl::StatusCode::kInvalidArgument, "newline or NUL"},
  };
  for (const Case& c : cases) {
    Args args = BaseArgs();
    c.mutate(args);
    absl::Status status = ValidateCreateArgs(args.pins, args.setup);
    EXPECT_EQ(status.code(), c.want) << c.name << ": " << status;
    EXPECT_TRUE(absl::StrContains(status.message(), c.want_in_message))
        << c.name << ": " << status;
  }
}

}  // namespace
}  // namespace converge

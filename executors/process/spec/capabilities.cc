#include "executors/process/spec/capabilities.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace converge::process {
namespace {

// Index = capability number (linux/capability.h).
constexpr const char* kNames[kLastCapability + 1] = {
    "CAP_CHOWN",            // 0
    "CAP_DAC_OVERRIDE",     // 1
    "CAP_DAC_READ_SEARCH",  // 2
    "CAP_FOWNER",           // 3
    "CAP_FSETID",           // 4
    "CAP_KILL",             // 5
    "CAP_SETGID",           // 6
    "CAP_SETUID",           // 7
    "CAP_SETPCAP",          // 8
    "CAP_LINUX_IMMUTABLE",  // 9
    "CAP_NET_BIND_SERVICE", // 10
    "CAP_NET_BROADCAST",    // 11
    "CAP_NET_ADMIN",        // 12
    "CAP_NET_RAW",          // 13
    "CAP_IPC_LOCK",         // 14
    "CAP_IPC_OWNER",        // 15
    "CAP_SYS_MODULE",       // 16
    "CAP_SYS_RAWIO",        // 17
    "CAP_SYS_CHROOT",       // 18
    "CAP_SYS_PTRACE",       // 19
    "CAP_SYS_PACCT",        // 20
    "CAP_SYS_ADMIN",        // 21
    "CAP_SYS_BOOT",         // 22
    "CAP_SYS_NICE",         // 23
    "CAP_SYS_RESOURCE",     // 24
    "CAP_SYS_TIME",         // 25
    "CAP_SYS_TTY_CONFIG",   // 26
    "CAP_MKNOD",            // 27
    "CAP_LEASE",            // 28
    "CAP_AUDIT_WRITE",      // 29
    "CAP_AUDIT_CONTROL",    // 30
    "CAP_SETFCAP",          // 31
    "CAP_MAC_OVERRIDE",     // 32
    "CAP_MAC_ADMIN",        // 33
    "CAP_SYSLOG",           // 34
    "CAP_WAKE_ALARM",       // 35
    "CAP_BLOCK_SUSPEND",    // 36
    "CAP_AUDIT_READ",       // 37
    "CAP_PERFMON",          // 38
    "CAP_BPF",              // 39
    "CAP_CHECKPOINT_RESTORE",  // 40
};

constexpr char kFieldPrefix[] = "linux.security_context.capabilities.";

uint64_t Bit(int capability) { return uint64_t{1} << capability; }

bool IsAll(absl::string_view name) { return absl::EqualsIgnoreCase(name, "ALL"); }

bool ContainsAll(const google::protobuf::RepeatedPtrField<std::string>& names) {
  for (const std::string& name : names) {
    if (IsAll(name)) return true;
  }
  return false;
}

// The bits of the non-"ALL" names of `list` (field `list_name`).
absl::StatusOr<uint64_t> ParseList(const google::protobuf::RepeatedPtrField<std::string>& names,
                                   absl::string_view list_name) {
  uint64_t mask = 0;
  for (int i = 0; i < names.size(); ++i) {
    if (IsAll(names[i])) continue;
    absl::StatusOr<int> capability = ParseCapability(names[i]);
    if (!capability.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(kFieldPrefix, list_name, "[", i,
                                                     "]: ", capability.status().message()));
    }
    mask |= Bit(*capability);
  }
  return mask;
}

}  // namespace

absl::string_view CapabilityName(int capability) {
  if (capability < 0 || capability > kLastCapability) return "";
  return kNames[capability];
}

absl::StatusOr<int> ParseCapability(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(upper, "CAP_")) upper = absl::StrCat("CAP_", upper);
  for (int i = 0; i <= kLastCapability; ++i) {
    if (upper == kNames[i]) return i;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown capability \"", name, "\""));
}

uint64_t AllCapabilities() { return Bit(kLastCapability + 1) - 1; }

uint64_t DefaultCapabilities() {
  // containerd pkg/oci/spec.go defaultUnixCaps.
  constexpr int kDefaults[] = {0 /*CHOWN*/,    1 /*DAC_OVERRIDE*/, 4 /*FSETID*/,
                               3 /*FOWNER*/,   27 /*MKNOD*/,       13 /*NET_RAW*/,
                               6 /*SETGID*/,   7 /*SETUID*/,       31 /*SETFCAP*/,
                               8 /*SETPCAP*/,  10 /*NET_BIND_SERVICE*/,
                               18 /*SYS_CHROOT*/, 5 /*KILL*/,      29 /*AUDIT_WRITE*/};
  uint64_t mask = 0;
  for (int capability : kDefaults) mask |= Bit(capability);
  return mask;
}

std::vector<std::string> CapabilityNames(uint64_t mask) {
  std::vector<std::string> names;
  for (int i = 0; i <= kLastCapability; ++i) {
    if (mask & Bit(i)) names.emplace_back(kNames[i]);
  }
  return names;
}

absl::StatusOr<CapabilitySets> ResolveCapabilities(
    const runtime::v1::LinuxContainerSecurityContext& security, uint32_t uid) {
  const runtime::v1::Capability& requested = security.capabilities();
  // Parse everything first, so that a bad name is reported even for a
  // privileged container (whose set ignores add/drop).
  absl::StatusOr<uint64_t> added = ParseList(requested.add_capabilities(), "add_capabilities");
  if (!added.ok()) return added.status();
  absl::StatusOr<uint64_t> dropped = ParseList(requested.drop_capabilities(), "drop_capabilities");
  if (!dropped.ok()) return dropped.status();

  uint64_t set = DefaultCapabilities();
  if (security.privileged()) {
    set = AllCapabilities();
  } else {
    // containerd internal/cri/opts WithCapabilities: ALL first, then names.
    if (ContainsAll(requested.add_capabilities())) set = AllCapabilities();
    if (ContainsAll(requested.drop_capabilities())) set = 0;
    set |= *added;
    set &= ~*dropped;
  }

  uint64_t ambient = 0;
  const auto& ambient_names = requested.add_ambient_capabilities();
  for (int i = 0; i < ambient_names.size(); ++i) {
    const std::string field = absl::StrCat(kFieldPrefix, "add_ambient_capabilities[", i, "]");
    if (IsAll(ambient_names[i])) {
      ambient |= set;
      continue;
    }
    absl::StatusOr<int> capability = ParseCapability(ambient_names[i]);
    if (!capability.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", capability.status().message()));
    }
    if ((set & Bit(*capability)) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", kNames[*capability],
                       " is not in the container's capability set (add it to add_capabilities)"));
    }
    ambient |= Bit(*capability);
  }

  CapabilitySets sets;
  sets.bounding = set;
  sets.permitted = set;
  sets.inheritable = ambient;
  sets.ambient = ambient;
  sets.effective = uid == 0 ? set : ambient;
  return sets;
}

}  // namespace converge::process

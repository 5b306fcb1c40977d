// The parsed form of a seccomp profile and its compilation with libseccomp.
// Internal to executors/process/seccomp (seccomp_profile.h is the API); the
// tests use it to check what a profile parses to.
//
//   CONVERGE_ASSIGN_OR_RETURN(SeccompProfile profile, ParseSeccompProfileJson(json));
//   CONVERGE_ASSIGN_OR_RETURN(ScmpFilter filter, CompileSeccompProfile(profile, options));
//   seccomp_load(filter.get());
#ifndef CONVERGE_EXECUTORS_PROCESS_SECCOMP_SECCOMP_RULES_H_
#define CONVERGE_EXECUTORS_PROCESS_SECCOMP_SECCOMP_RULES_H_

#include <seccomp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/process/seccomp/seccomp_profile.h"

namespace converge::process {

struct SeccompArg {
  unsigned index = 0;  // 0..5
  scmp_compare op = SCMP_CMP_EQ;
  uint64_t value = 0;
  uint64_t value_two = 0;
};

// One `syscalls[]` entry. It applies when the process has every capability
// of `includes_caps` and none of `excludes_caps`, and the native architecture
// is in `includes_arches` (when not empty) and not in `excludes_arches`.
struct SeccompRule {
  std::vector<std::string> names;
  uint32_t action = SCMP_ACT_ALLOW;  // SCMP_ACT_* with its errno / trace value
  std::vector<SeccompArg> args;
  uint64_t includes_caps = 0;
  uint64_t excludes_caps = 0;
  std::vector<uint32_t> includes_arches;  // SCMP_ARCH_*
  std::vector<uint32_t> excludes_arches;
};

struct SeccompProfile {
  uint32_t default_action = SCMP_ACT_ERRNO(1);
  // Architectures besides the native one that the filter also covers.
  std::vector<uint32_t> arches;
  std::vector<SeccompRule> rules;
};

// Parses the OCI/Docker JSON profile format. INVALID_ARGUMENT names the field
// (e.g. "syscalls[2].action: unknown action `SCMP_ACT_FOO`").
absl::StatusOr<SeccompProfile> ParseSeccompProfileJson(absl::string_view json);

// converge's built-in RuntimeDefault profile (runtime_default.cc).
const SeccompProfile& RuntimeDefaultSeccompProfile();

struct ScmpFilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using ScmpFilter = std::unique_ptr<void, ScmpFilterDeleter>;

// Builds the libseccomp filter for the process described by `options`.
// Syscall names libseccomp does not know are skipped; rules whose action is
// the default action are dropped (libseccomp refuses them).
absl::StatusOr<ScmpFilter> CompileSeccompProfile(const SeccompProfile& profile,
                                                 const SeccompLoadOptions& options);

// Capability number for "CAP_SYS_ADMIN" etc.; -1 when unknown.
int CapabilityFromName(absl::string_view name);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SECCOMP_SECCOMP_RULES_H_

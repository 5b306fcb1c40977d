// Seccomp profiles for containers: converge's built-in RuntimeDefault profile
// and Localhost profiles in the OCI/Docker JSON format (defaultAction,
// defaultErrnoRet, architectures, syscalls[{names, action, errnoRet, args}]),
// compiled with libseccomp.
//
// The daemon validates a profile when the container is created (so a profile
// that does not parse is INVALID_ARGUMENT at CreateContainer); the container
// init compiles and loads it as its last step before exec.
//
//   CONVERGE_RETURN_IF_ERROR(ValidateSeccompProfile(json));         // daemon
//   CONVERGE_RETURN_IF_ERROR(LoadSeccompFilter(                      // init
//       spec.process.seccomp, SeccompLoadOptions{caps.bounding, true}));
#ifndef CONVERGE_EXECUTORS_PROCESS_SECCOMP_SECCOMP_PROFILE_H_
#define CONVERGE_EXECUTORS_PROCESS_SECCOMP_SECCOMP_PROFILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "executors/process/spec/container_spec.h"

namespace converge::process {

// OK if `profile_json` parses and compiles (unknown syscall names are skipped,
// as runc and crun do); INVALID_ARGUMENT naming the offending field otherwise.
absl::Status ValidateSeccompProfile(absl::string_view profile_json);

// What the filter depends on besides the profile itself.
struct SeccompLoadOptions {
  // The process's capabilities (bit N = capability N; the init passes its
  // bounding set): rules with `includes.caps` / `excludes.caps` apply when
  // all / none of the named capabilities are in here, so e.g. RuntimeDefault
  // allows mount, unshare and namespace-creating clone only with
  // CAP_SYS_ADMIN, as Docker's and containerd's default profiles do.
  uint64_t capabilities = 0;
  // Whether loading the filter also sets no_new_privs (libseccomp's default).
  // False when the spec does not ask for no_new_privs: the caller then must
  // still hold CAP_SYS_ADMIN, and loads the filter before dropping it.
  bool set_no_new_privs = true;
};

// Compiles the spec's filter and loads it into the calling thread's process
// (seccomp_load). kUnconfined does nothing. Errors: INVALID_ARGUMENT for a
// profile that does not compile, else the errno of seccomp(2) (e.g.
// PERMISSION_DENIED without no_new_privs and without CAP_SYS_ADMIN).
absl::Status LoadSeccompFilter(const SeccompSpec& spec, const SeccompLoadOptions& options);

// LoadSeccompFilter(spec, {}): no capabilities, sets no_new_privs.
absl::Status LoadSeccompFilter(const SeccompSpec& spec);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SECCOMP_SECCOMP_PROFILE_H_

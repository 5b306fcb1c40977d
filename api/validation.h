// Validation of CRI requests. Pure functions: each returns INVALID_ARGUMENT
// with a message naming the offending field, so that bad input changes
// nothing and tells kubelet (or the operator) exactly what to fix.
//
//   CONVERGE_RETURN_IF_ERROR(ValidateRunPodSandbox(*request));
#ifndef CONVERGE_API_VALIDATION_H_
#define CONVERGE_API_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "api/cri/api.pb.h"

namespace converge {

// INVALID_ARGUMENT "<field>: <problem>".
absl::Status Invalid(absl::string_view field, absl::string_view problem);

bool HasControlCharacter(absl::string_view value);

// Names, namespaces and uids are Kubernetes identifiers: never empty, never
// containing '/', which separates them in converge's name index, nor ';' or
// '=', which separate CNI_ARGS.
absl::Status ValidateName(absl::string_view field, absl::string_view value);

absl::Status ValidateRunPodSandbox(const runtime::v1::RunPodSandboxRequest& request);

// An absolute path without empty, "." or ".." components, for `field`.
absl::Status ValidateCleanAbsolutePath(absl::string_view field, absl::string_view path);

// A non-empty id for `field` ("pod_sandbox_id", ...).
absl::Status ValidateId(absl::string_view field, absl::string_view id);

}  // namespace converge

#endif  // CONVERGE_API_VALIDATION_H_

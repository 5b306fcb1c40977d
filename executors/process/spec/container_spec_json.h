// The JSON form of ContainerSpec, written by the daemon into the container's
// state directory and read by converge-monitor (container_spec.h).
//
//   std::string json = SerializeContainerSpec(spec);
//   CONVERGE_ASSIGN_OR_RETURN(ContainerSpec again, ParseContainerSpec(json));
//
// Field names are the C++ member names; enums are lower-case strings
// ("private", "runtime_default", ...); flags and ids are JSON numbers; a
// device's type is "c" or "b". Parsing is strict about types and ranges
// (INVALID_ARGUMENT naming the field, e.g. "mounts[1].flags: expected an
// unsigned integer"); absent fields keep their defaults and unknown fields
// are ignored, so a monitor tolerates a newer daemon's additions.
#ifndef CONVERGE_EXECUTORS_PROCESS_SPEC_CONTAINER_SPEC_JSON_H_
#define CONVERGE_EXECUTORS_PROCESS_SPEC_CONTAINER_SPEC_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/process/spec/container_spec.h"

namespace converge::process {

// Never fails. Strings that are not valid UTF-8 have the invalid bytes
// replaced by U+FFFD (JSON cannot carry them).
std::string SerializeContainerSpec(const ContainerSpec& spec);

absl::StatusOr<ContainerSpec> ParseContainerSpec(absl::string_view json);

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SPEC_CONTAINER_SPEC_JSON_H_

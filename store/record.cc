// Pure helpers over store records, declared in store.h.
#include "absl/strings/str_cat.h"
#include "store/store.h"

namespace converge {

bool IsConverged(const SandboxRecord& record) {
  if (!record.desired || record.desired->stage() == records::SANDBOX_STAGE_REMOVED) {
    return !record.actual.has_value();
  }
  return record.actual.has_value() &&
         record.actual->observed_generation() >= record.desired->generation() &&
         record.actual->last_error().empty();
}

bool IsConverged(const ImageRefRecord& record) {
  if (!record.desired) return true;
  return record.actual.has_value() &&
         record.actual->observed_generation() >= record.desired->generation() &&
         record.actual->last_error().empty();
}

std::string SandboxNameKey(const runtime::v1::PodSandboxMetadata& metadata) {
  // '/' cannot appear in Kubernetes names, namespaces or uids.
  return absl::StrCat(metadata.namespace_(), "/", metadata.name(), "/", metadata.uid(), "/",
                      metadata.attempt());
}

}  // namespace converge

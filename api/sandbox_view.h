// How sandbox records look through CRI: pure conversions from the store's
// desired + actual records to PodSandbox / PodSandboxStatus, and the
// ListPodSandbox filter. A sandbox is READY only when kubelet wants it ready
// and the reconciler has observed it ready.
#ifndef CONVERGE_API_SANDBOX_VIEW_H_
#define CONVERGE_API_SANDBOX_VIEW_H_

#include <map>
#include <string>

#include "api/cri/api.pb.h"
#include "store/store.h"

namespace converge {

// False for tombstones (RemovePodSandbox accepted) and orphan actual records:
// CRI no longer knows them even while teardown finishes.
bool VisibleToCri(const SandboxRecord& record);

runtime::v1::PodSandboxState CriState(const SandboxRecord& record);

runtime::v1::PodSandbox ToPodSandbox(const SandboxRecord& record);

runtime::v1::PodSandboxStatus ToPodSandboxStatus(const SandboxRecord& record);

// Verbose info: {"info": {"desired": ..., "actual": ...}} as JSON.
std::map<std::string, std::string> VerboseInfo(const SandboxRecord& record);

// `filter.id` matches as a prefix, as crictl passes truncated ids.
bool MatchesFilter(const SandboxRecord& record, const runtime::v1::PodSandboxFilter& filter);

}  // namespace converge

#endif  // CONVERGE_API_SANDBOX_VIEW_H_

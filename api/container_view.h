// How container records look through CRI: pure conversions from a sandbox's
// desired + actual records to Container / ContainerStatus, and the
// ListContainers filter. A container is visible once its creation finished
// (as in containerd, a failed CreateContainer leaves nothing to list) and
// until RemoveContainer is accepted.
#ifndef CONVERGE_API_CONTAINER_VIEW_H_
#define CONVERGE_API_CONTAINER_VIEW_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/cri/api.pb.h"
#include "store/store.h"

namespace converge {

// One container and the sandbox record holding it.
struct ContainerRecord {
  std::string sandbox_id;
  const records::ContainerDesired* desired = nullptr;
  const records::ContainerActual* actual = nullptr;
};

// Every container of the sandbox either side names, desired order first.
std::vector<ContainerRecord> ContainersOf(const SandboxRecord& sandbox);
std::optional<ContainerRecord> ContainerOf(const SandboxRecord& sandbox, const std::string& id);

bool VisibleToCri(const ContainerRecord& record);
// A removed container of which nothing actual is left: its desired entry (a
// tombstone) has done its work.
bool IsSpentTombstone(const ContainerRecord& record);
runtime::v1::ContainerState CriState(const ContainerRecord& record);
runtime::v1::Container ToContainer(const ContainerRecord& record);
runtime::v1::ContainerStatus ToContainerStatus(const ContainerRecord& record);
// Verbose info: {"info": {"desired": ..., "actual": ..., "pid": N}} as JSON.
std::map<std::string, std::string> VerboseInfo(const ContainerRecord& record);

// `filter.id` and `filter.pod_sandbox_id` match as prefixes (crictl).
bool MatchesFilter(const ContainerRecord& record, const runtime::v1::ContainerFilter& filter);

}  // namespace converge

#endif  // CONVERGE_API_CONTAINER_VIEW_H_

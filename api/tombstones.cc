#include "api/tombstones.h"

#include "api/container_view.h"

#include "common/log.h"

namespace converge {

TombstoneJanitor::TombstoneJanitor(DesiredWriter* store,
                                   std::function<void(const std::string&)> purge_containers)
    : store_(store), purge_containers_(std::move(purge_containers)) {
  listener_ = store_->AddListener([this](const std::string& id, StateReader::Family family) {
    if (family != StateReader::Family::kActual) return;
    PurgeIfDone(id);
    if (purge_containers_ && HasContainerTombstones(id)) purge_containers_(id);
  });
  Sweep();
}

bool TombstoneJanitor::HasContainerTombstones(const std::string& id) const {
  std::optional<SandboxRecord> record = store_->GetSandbox(id);
  if (!record) return false;
  for (const ContainerRecord& container : ContainersOf(*record)) {
    if (IsSpentTombstone(container)) return true;
  }
  return false;
}

TombstoneJanitor::~TombstoneJanitor() { store_->RemoveListener(listener_); }

int TombstoneJanitor::Sweep() {
  int purged = 0;
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    if (record.desired && record.desired->stage() == records::SANDBOX_STAGE_REMOVED &&
        !record.actual) {
      if (PurgeIfDone(record.id)) ++purged;
    } else if (purge_containers_ && HasContainerTombstones(record.id)) {
      purge_containers_(record.id);
    }
  }
  return purged;
}

bool TombstoneJanitor::PurgeIfDone(const std::string& id) {
  std::optional<SandboxRecord> record = store_->GetSandbox(id);
  if (!record || !record->desired || record->actual ||
      record->desired->stage() != records::SANDBOX_STAGE_REMOVED) {
    return false;
  }
  // Deleting an absent record is OK, so racing RemovePodSandbox is harmless.
  absl::Status deleted = store_->DeleteSandboxDesired(id);
  if (!deleted.ok()) {
    NamedLogger("cri")->warn("tombstone not purged id={} error={}", id, deleted.ToString());
  }
  return deleted.ok();
}

}  // namespace converge

#include "api/tombstones.h"

#include "common/log.h"

namespace converge {

TombstoneJanitor::TombstoneJanitor(DesiredWriter* store) : store_(store) {
  listener_ = store_->AddListener([this](const std::string& id, StateReader::Family family) {
    if (family == StateReader::Family::kActual) PurgeIfDone(id);
  });
  Sweep();
}

TombstoneJanitor::~TombstoneJanitor() { store_->RemoveListener(listener_); }

int TombstoneJanitor::Sweep() {
  int purged = 0;
  for (const SandboxRecord& record : store_->ListSandboxes()) {
    if (record.desired && record.desired->stage() == records::SANDBOX_STAGE_REMOVED &&
        !record.actual) {
      if (PurgeIfDone(record.id)) ++purged;
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

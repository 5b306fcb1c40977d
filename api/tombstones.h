// Purges desired-state tombstones (REMOVED records) once nothing actual is
// left of their sandbox. RemovePodSandbox purges its own tombstone when it
// sees teardown finish; this catches the ones whose call did not: a timed-out
// or interrupted Remove, a daemon restart. kubelet never asks again for a
// sandbox it no longer lists, so nobody else would.
//
// It belongs to the handler side, the only writer of `desired`; it reacts to
// actual-state deletions through the store's listener and sweeps once at start.
// Removed containers are purged from their sandbox's record the same way, by
// `purge_containers` (RuntimeServiceImpl::PurgeContainerTombstones, which
// holds the handlers' lock for that record).
//
//   TombstoneJanitor janitor(store, [&](const std::string& id) {
//     runtime.PurgeContainerTombstones(id);
//   });  // lives as long as the store is served
#ifndef CONVERGE_API_TOMBSTONES_H_
#define CONVERGE_API_TOMBSTONES_H_

#include <functional>
#include <string>

#include "store/store.h"

namespace converge {

class TombstoneJanitor {
 public:
  explicit TombstoneJanitor(
      DesiredWriter* store,
      std::function<void(const std::string& sandbox_id)> purge_containers = nullptr);
  ~TombstoneJanitor();
  TombstoneJanitor(const TombstoneJanitor&) = delete;
  TombstoneJanitor& operator=(const TombstoneJanitor&) = delete;

  // Purges every tombstone without actual state; returns how many.
  int Sweep();

 private:
  bool PurgeIfDone(const std::string& id);

  // Whether the sandbox's desired record holds a removed container with
  // nothing actual left.
  bool HasContainerTombstones(const std::string& id) const;

  DesiredWriter* const store_;
  const std::function<void(const std::string&)> purge_containers_;
  StateReader::ListenerId listener_;
};

}  // namespace converge

#endif  // CONVERGE_API_TOMBSTONES_H_

// Purges desired-state tombstones (REMOVED records) once nothing actual is
// left of their sandbox. RemovePodSandbox purges its own tombstone when it
// sees teardown finish; this catches the ones whose call did not: a timed-out
// or interrupted Remove, a daemon restart. kubelet never asks again for a
// sandbox it no longer lists, so nobody else would.
//
// It belongs to the handler side, the only writer of `desired`; it reacts to
// actual-state deletions through the store's listener and sweeps once at start.
//
//   TombstoneJanitor janitor(store);  // lives as long as the store is served
#ifndef CONVERGE_API_TOMBSTONES_H_
#define CONVERGE_API_TOMBSTONES_H_

#include <string>

#include "store/store.h"

namespace converge {

class TombstoneJanitor {
 public:
  explicit TombstoneJanitor(DesiredWriter* store);
  ~TombstoneJanitor();
  TombstoneJanitor(const TombstoneJanitor&) = delete;
  TombstoneJanitor& operator=(const TombstoneJanitor&) = delete;

  // Purges every tombstone without actual state; returns how many.
  int Sweep();

 private:
  bool PurgeIfDone(const std::string& id);

  DesiredWriter* const store_;
  StateReader::ListenerId listener_;
};

}  // namespace converge

#endif  // CONVERGE_API_TOMBSTONES_H_

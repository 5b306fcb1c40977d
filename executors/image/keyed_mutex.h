// A mutex per key, created on demand and dropped when nobody holds or waits
// for it: one download per blob digest and one unpack per chain id, however
// many pulls want them at once.
//
//   KeyedMutex::Lock lock(downloads_, digest.hex());
//   if (!content.Has(digest)) { ...download... }
#ifndef CONVERGE_EXECUTORS_IMAGE_KEYED_MUTEX_H_
#define CONVERGE_EXECUTORS_IMAGE_KEYED_MUTEX_H_

#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"

namespace converge {

class KeyedMutex {
 private:
  struct Entry {
    absl::Mutex mu;
    int users = 0;  // guarded by KeyedMutex::mu_
  };

 public:
  class Lock {
   public:
    Lock(KeyedMutex& owner, std::string key) : owner_(owner), key_(std::move(key)) {
      Entry* entry;
      {
        absl::MutexLock lock(&owner_.mu_);
        auto& slot = owner_.entries_[key_];
        if (!slot) slot = std::make_unique<Entry>();
        ++slot->users;
        entry = slot.get();
      }
      entry->mu.Lock();
      entry_ = entry;
    }
    ~Lock() {
      entry_->mu.Unlock();
      absl::MutexLock lock(&owner_.mu_);
      if (--entry_->users == 0) owner_.entries_.erase(key_);
    }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    KeyedMutex& owner_;
    const std::string key_;
    Entry* entry_ = nullptr;
  };

 private:
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_KEYED_MUTEX_H_

// Registry credentials of pulls in flight, handed from the PullImage handler
// to the image reconciler in memory only: secrets never reach RocksDB (as in
// containerd, which keeps none either). A pull resumed after a restart runs
// without them; kubelet retries PullImage with its credentials anyway.
//
//   credentials.Put(reference, generation, request.auth());   // handler
//   std::optional<AuthConfig> auth = credentials.Take(reference, generation);  // reconciler
#ifndef CONVERGE_STORE_PULL_CREDENTIALS_H_
#define CONVERGE_STORE_PULL_CREDENTIALS_H_

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "api/cri/api.pb.h"

namespace converge {

class PullCredentials {
 public:
  // Keeps only the newest generation's credentials for a reference.
  void Put(const std::string& reference, int64_t generation, runtime::v1::AuthConfig auth) {
    absl::MutexLock lock(&mu_);
    entries_[reference] = {generation, std::move(auth)};
  }

  // The credentials given with `generation` or a newer one (the pull for an
  // older generation serves the newer request too), without removing them:
  // a pull that is retried needs them again. Forget() drops them.
  std::optional<runtime::v1::AuthConfig> Get(const std::string& reference,
                                             int64_t generation) const {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(reference);
    if (it == entries_.end() || it->second.first < generation) return std::nullopt;
    return it->second.second;
  }

  // Drops credentials of generations up to `generation` once they were used.
  void Forget(const std::string& reference, int64_t generation) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(reference);
    if (it != entries_.end() && it->second.first <= generation) entries_.erase(it);
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::pair<int64_t, runtime::v1::AuthConfig>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace converge

#endif  // CONVERGE_STORE_PULL_CREDENTIALS_H_

// A read-only view of a converge database for operators (`convergectl dump`).
// It opens RocksDB as a secondary instance, which takes no lock: it reads the
// state a running daemon has written so far, or what a dead one left behind.
//
//   CONVERGE_ASSIGN_OR_RETURN(auto view, StoreView::Open("/var/lib/converge/db"));
//   for (const SandboxRecord& record : view->ListSandboxes()) { ... }
#ifndef CONVERGE_STORE_VIEW_H_
#define CONVERGE_STORE_VIEW_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace converge {

class StoreView {
 public:
  static absl::StatusOr<std::unique_ptr<StoreView>> Open(const std::string& db_dir);
  virtual ~StoreView() = default;

  virtual absl::StatusOr<std::vector<SandboxRecord>> ListSandboxes() const = 0;
  struct Images {
    std::vector<ImageRefRecord> refs;
    std::vector<records::ImageRecord> images;
  };
  virtual absl::StatusOr<Images> ListImages() const = 0;
  virtual absl::StatusOr<std::optional<std::string>> GetMeta(
      const std::string& key) const = 0;
};

}  // namespace converge

#endif  // CONVERGE_STORE_VIEW_H_

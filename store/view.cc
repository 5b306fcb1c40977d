#include "store/view.h"

#include <stdlib.h>

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "rocksdb/db.h"
#include "store/rocksdb_util.h"

namespace converge {
namespace {

class SecondaryStoreView final : public StoreView {
 public:
  SecondaryStoreView(std::unique_ptr<rocksdb::DB> db, FamilyHandles families,
                     std::string secondary_dir)
      : db_(std::move(db)),
        families_(std::move(families)),
        secondary_dir_(std::move(secondary_dir)) {}

  ~SecondaryStoreView() override {
    for (auto& [name, handle] : families_.by_name) db_->DestroyColumnFamilyHandle(handle);
    db_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(secondary_dir_, ignored);
  }

  absl::StatusOr<std::vector<SandboxRecord>> ListSandboxes() const override {
    std::map<std::string, SandboxRecord> records;
    // An operator's view reports an unreadable record rather than hide it.
    CONVERGE_RETURN_IF_ERROR(ScanSandboxes(
        db_.get(), families_,
        [](absl::string_view, const absl::Status& error) { return error; }, &records));
    std::vector<SandboxRecord> out;
    for (auto& [id, record] : records) out.push_back(std::move(record));
    return out;
  }

  absl::StatusOr<Images> ListImages() const override {
    std::map<std::string, ImageRefRecord> refs;
    std::map<std::string, records::ImageRecord> images;
    CONVERGE_RETURN_IF_ERROR(ScanImages(
        db_.get(), families_,
        [](absl::string_view, const absl::Status& error) { return error; }, &refs, &images));
    Images out;
    for (auto& [reference, record] : refs) out.refs.push_back(std::move(record));
    for (auto& [id, image] : images) out.images.push_back(std::move(image));
    return out;
  }

  absl::StatusOr<std::optional<std::string>> GetMeta(
      const std::string& key) const override {
    return ReadMeta(db_.get(), families_, key);
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  const FamilyHandles families_;
  const std::string secondary_dir_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StoreView>> StoreView::Open(const std::string& db_dir) {
  if (!std::filesystem::exists(std::filesystem::path(db_dir) / "CURRENT")) {
    return absl::NotFoundError(
        absl::StrCat("no converge database at `", db_dir, "` (check --root)"));
  }
  char secondary_template[] = "/tmp/convergectl-view-XXXXXX";
  if (mkdtemp(secondary_template) == nullptr) {
    return ErrnoError(errno, "mkdtemp `", secondary_template, "`");
  }
  rocksdb::Options options;
  std::unique_ptr<rocksdb::DB> db;
  auto families = OpenWithFamilies(options, db_dir, secondary_template, &db);
  if (!families.ok()) {
    std::error_code ignored;
    std::filesystem::remove_all(secondary_template, ignored);
    return families.status();
  }
  return std::unique_ptr<StoreView>(new SecondaryStoreView(
      std::move(db), *std::move(families), secondary_template));
}

}  // namespace converge

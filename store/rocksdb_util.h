// RocksDB plumbing shared by the read-write store and the read-only view.
#ifndef CONVERGE_STORE_ROCKSDB_UTIL_H_
#define CONVERGE_STORE_ROCKSDB_UTIL_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rocksdb/db.h"
#include "store/store.h"

namespace converge {

struct FamilyHandles {
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  // CHECK-fails on an unknown family: the set is fixed by schema::Families().
  rocksdb::ColumnFamilyHandle* Get(const std::string& name) const;
};

absl::Status RocksDbError(const rocksdb::Status& status, absl::string_view what);

// Opens `dir` with every schema family: read-write when `secondary_dir` is
// empty, otherwise as a secondary instance (which needs no lock, so it works
// beside a running daemon or after it died) keeping its own files there.
absl::StatusOr<FamilyHandles> OpenWithFamilies(const rocksdb::Options& options,
                                               const std::string& dir,
                                               const std::string& secondary_dir,
                                               std::unique_ptr<rocksdb::DB>* db);

// Calls `visit` for every key in `family` starting with `prefix`, in order.
absl::Status ScanFamily(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, absl::string_view prefix,
    const std::function<absl::Status(absl::string_view key, absl::string_view value)>&
        visit);

// Reads every sandbox record of both families into `out`, by id. A record
// that does not decode is passed to `undecodable` with the decode error: an
// OK answer skips it, an error stops the scan with that error.
absl::Status ScanSandboxes(
    rocksdb::DB* db, const FamilyHandles& families,
    const std::function<absl::Status(absl::string_view key, const absl::Status& error)>&
        undecodable,
    std::map<std::string, SandboxRecord>* out);

// Image references (desired and images families) by reference, and image
// records by id; undecodable records as in ScanSandboxes.
absl::Status ScanImages(
    rocksdb::DB* db, const FamilyHandles& families,
    const std::function<absl::Status(absl::string_view key, const absl::Status& error)>&
        undecodable,
    std::map<std::string, ImageRefRecord>* refs,
    std::map<std::string, records::ImageRecord>* images);

// The `meta` value of `key`, if any.
absl::StatusOr<std::optional<std::string>> ReadMeta(rocksdb::DB* db, const FamilyHandles& families,
                                                    const std::string& key);

}  // namespace converge

#endif  // CONVERGE_STORE_ROCKSDB_UTIL_H_

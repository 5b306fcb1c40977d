#include "store/rocksdb_util.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "store/schema.h"

namespace converge {

rocksdb::ColumnFamilyHandle* FamilyHandles::Get(const std::string& name) const {
  auto it = by_name.find(name);
  if (it == by_name.end()) std::abort();  // Broken invariant: unknown family.
  return it->second;
}

absl::Status RocksDbError(const rocksdb::Status& status, absl::string_view what) {
  absl::StatusCode code = absl::StatusCode::kInternal;
  if (status.IsIOError()) code = absl::StatusCode::kUnavailable;
  if (status.IsCorruption()) code = absl::StatusCode::kDataLoss;
  if (status.IsInvalidArgument()) code = absl::StatusCode::kFailedPrecondition;
  return absl::Status(code, absl::StrCat("rocksdb ", what, ": ", status.ToString()));
}

absl::StatusOr<FamilyHandles> OpenWithFamilies(const rocksdb::Options& options,
                                               const std::string& dir,
                                               const std::string& secondary_dir,
                                               std::unique_ptr<rocksdb::DB>* db) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName,
                           rocksdb::ColumnFamilyOptions(options));
  for (const std::string& family : schema::Families()) {
    descriptors.emplace_back(family, rocksdb::ColumnFamilyOptions(options));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (secondary_dir.empty()) {
    s = rocksdb::DB::Open(rocksdb::DBOptions(options), dir, descriptors, &handles, &raw);
  } else {
    rocksdb::DBOptions secondary_options(options);
    secondary_options.max_open_files = -1;  // Required by secondary instances.
    s = rocksdb::DB::OpenAsSecondary(secondary_options, dir, secondary_dir,
                                     descriptors, &handles, &raw);
  }
  if (!s.ok()) return RocksDbError(s, absl::StrCat("open `", dir, "`"));
  db->reset(raw);
  FamilyHandles families;
  for (size_t i = 0; i < handles.size(); ++i) {
    if (i == 0) {
      raw->DestroyColumnFamilyHandle(handles[i]);  // The default family is unused.
      continue;
    }
    families.by_name[descriptors[i].name] = handles[i];
  }
  return families;
}

absl::Status ScanFamily(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, absl::string_view prefix,
    const std::function<absl::Status(absl::string_view key, absl::string_view value)>&
        visit) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    absl::string_view key(it->key().data(), it->key().size());
    if (!absl::StartsWith(key, prefix)) break;
    CONVERGE_RETURN_IF_ERROR(
        visit(key, absl::string_view(it->value().data(), it->value().size())));
  }
  if (!it->status().ok()) return RocksDbError(it->status(), "scan");
  return absl::OkStatus();
}

namespace {

// Decodes one family's records into the `field` side of `out`'s entries.
template <typename Record>
absl::Status ScanSide(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
    const std::function<absl::Status(absl::string_view, const absl::Status&)>& undecodable,
    std::optional<Record> SandboxRecord::*field, std::map<std::string, SandboxRecord>* out) {
  return ScanFamily(db, family, schema::kSandboxPrefix,
                    [&](absl::string_view key, absl::string_view value) -> absl::Status {
                      Record decoded;
                      absl::Status status = schema::Decode(key, value, &decoded);
                      if (!status.ok()) return undecodable(key, status);
                      SandboxRecord& record = (*out)[decoded.id()];
                      record.id = decoded.id();
                      record.*field = std::move(decoded);
                      return absl::OkStatus();
                    });
}

}  // namespace

absl::Status ScanSandboxes(
    rocksdb::DB* db, const FamilyHandles& families,
    const std::function<absl::Status(absl::string_view key, const absl::Status& error)>&
        undecodable,
    std::map<std::string, SandboxRecord>* out) {
  CONVERGE_RETURN_IF_ERROR(ScanSide<records::SandboxDesired>(
      db, families.Get(schema::kDesiredFamily), undecodable, &SandboxRecord::desired, out));
  return ScanSide<records::SandboxActual>(db, families.Get(schema::kActualFamily), undecodable,
                                          &SandboxRecord::actual, out);
}

absl::Status ScanImages(
    rocksdb::DB* db, const FamilyHandles& families,
    const std::function<absl::Status(absl::string_view key, const absl::Status& error)>&
        undecodable,
    std::map<std::string, ImageRefRecord>* refs,
    std::map<std::string, records::ImageRecord>* images) {
  CONVERGE_RETURN_IF_ERROR(ScanFamily(
      db, families.Get(schema::kDesiredFamily), schema::kImagePrefix,
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        records::ImageDesired decoded;
        absl::Status status = schema::Decode(key, value, &decoded);
        if (!status.ok()) return undecodable(key, status);
        ImageRefRecord& record = (*refs)[decoded.reference()];
        record.reference = decoded.reference();
        record.desired = std::move(decoded);
        return absl::OkStatus();
      }));
  CONVERGE_RETURN_IF_ERROR(ScanFamily(
      db, families.Get(schema::kImagesFamily), schema::kImageRefPrefix,
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        records::ImageRefActual decoded;
        absl::Status status = schema::Decode(key, value, &decoded);
        if (!status.ok()) return undecodable(key, status);
        ImageRefRecord& record = (*refs)[decoded.reference()];
        record.reference = decoded.reference();
        record.actual = std::move(decoded);
        return absl::OkStatus();
      }));
  return ScanFamily(db, families.Get(schema::kImagesFamily), schema::kImagePrefix,
                    [&](absl::string_view key, absl::string_view value) -> absl::Status {
                      records::ImageRecord decoded;
                      absl::Status status = schema::Decode(key, value, &decoded);
                      if (!status.ok()) return undecodable(key, status);
                      (*images)[decoded.id()] = std::move(decoded);
                      return absl::OkStatus();
                    });
}

absl::StatusOr<std::optional<std::string>> ReadMeta(rocksdb::DB* db, const FamilyHandles& families,
                                                    const std::string& key) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), families.Get(schema::kMetaFamily), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return RocksDbError(s, absl::StrCat("read meta `", key, "`"));
  return std::optional<std::string>(std::move(value));
}

}  // namespace converge

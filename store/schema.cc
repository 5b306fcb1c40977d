#include "store/schema.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "store/store.h"

namespace converge::schema {

std::vector<std::string> Families() {
  return {kDesiredFamily, kActualFamily, kImagesFamily, kMetaFamily};
}

std::string SandboxKey(absl::string_view id) {
  return absl::StrCat(kSandboxPrefix, id);
}

std::string SandboxNameIndexKey(absl::string_view name_key) {
  return absl::StrCat(kSandboxNamePrefix, name_key);
}

std::string ImageKey(absl::string_view reference_or_id) {
  return absl::StrCat(kImagePrefix, reference_or_id);
}

std::string ImageRefKey(absl::string_view reference) {
  return absl::StrCat(kImageRefPrefix, reference);
}

absl::Status Decode(absl::string_view key, absl::string_view bytes,
                    google::protobuf::Message* record) {
  if (!record->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("record `", key, "` does not parse as ",
                     record->GetDescriptor()->full_name()));
  }
  const auto* field = record->GetDescriptor()->FindFieldByName("schema_version");
  if (field != nullptr) {
    uint32_t version = record->GetReflection()->GetUInt32(*record, field);
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "record `", key, "` has schema version ", version,
          ", newer than this binary's ", kSchemaVersion));
    }
  }
  return absl::OkStatus();
}

}  // namespace converge::schema

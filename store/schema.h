// On-disk layout shared by the read-write store and the read-only view:
// column family names, key encoding and record decoding.
//
//   desired: "sandbox/<id>"            -> records::SandboxDesired
//            "sandbox-name/<name key>" -> <id>    (RunPodSandbox idempotency)
//            "image/<reference>"       -> records::ImageDesired
//   actual:  "sandbox/<id>"            -> records::SandboxActual
//   images:  "ref/<reference>"         -> records::ImageRefActual
//            "image/<id>"              -> records::ImageRecord
//   meta:    "<key>"                   -> bytes   ("boot_id", "schema_version")
#ifndef CONVERGE_STORE_SCHEMA_H_
#define CONVERGE_STORE_SCHEMA_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace converge::schema {

inline constexpr char kDesiredFamily[] = "desired";
inline constexpr char kActualFamily[] = "actual";
inline constexpr char kImagesFamily[] = "images";
inline constexpr char kMetaFamily[] = "meta";
inline constexpr char kSandboxPrefix[] = "sandbox/";
inline constexpr char kSandboxNamePrefix[] = "sandbox-name/";
inline constexpr char kImagePrefix[] = "image/";
inline constexpr char kImageRefPrefix[] = "ref/";

// The non-default families, in the order their handles are opened.
std::vector<std::string> Families();

std::string SandboxKey(absl::string_view id);
std::string SandboxNameIndexKey(absl::string_view name_key);
// "image/<reference>" in `desired`, "image/<id>" in `images`.
std::string ImageKey(absl::string_view reference_or_id);
std::string ImageRefKey(absl::string_view reference);

// Parses `bytes` into `record`, refusing records written by a newer schema.
absl::Status Decode(absl::string_view key, absl::string_view bytes,
                    google::protobuf::Message* record);

}  // namespace converge::schema

#endif  // CONVERGE_STORE_SCHEMA_H_

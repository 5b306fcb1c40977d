#include "api/image_lookup.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "executors/image/reference.h"

namespace converge {
namespace {

// Shortest id prefix accepted (crictl's short ids are 13 characters).
constexpr size_t kMinIdPrefix = 6;

bool IsHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::optional<records::ImageRecord>> FindImage(const StateReader& store,
                                                                const std::string& text) {
  absl::string_view id_hex = text;
  absl::ConsumePrefix(&id_hex, "sha256:");
  const bool could_be_id = id_hex.size() >= kMinIdPrefix && id_hex.size() <= 64 && IsHex(id_hex);
  if (could_be_id && id_hex.size() == 64) {
    return store.GetImage(absl::StrCat("sha256:", id_hex));
  }
  auto reference = ParseImageReference(text);
  if (reference.ok()) {
    const std::vector<ImageRefRecord> refs = store.ListImageRefs();
    const std::string key = reference->String();
    const std::string repo_digest =
        reference->digest.empty() ? "" : absl::StrCat(reference->Repository(), "@",
                                                      reference->digest.str());
    for (const ImageRefRecord& ref : refs) {
      if (!ref.actual || ref.actual->image_id().empty()) continue;
      // A digest reference also finds an image pulled by tag that resolved
      // to that digest.
      if (ref.reference == key || (!repo_digest.empty() && ref.actual->repo_digest() == repo_digest)) {
        return store.GetImage(ref.actual->image_id());
      }
    }
  }
  if (could_be_id) {
    std::optional<records::ImageRecord> match;
    for (records::ImageRecord& image : store.ListImages()) {
      if (!absl::StartsWith(image.id(), absl::StrCat("sha256:", id_hex))) continue;
      if (match) {
        return absl::InvalidArgumentError(
            absl::StrCat("image id prefix \"", text, "\" is ambiguous"));
      }
      match = std::move(image);
    }
    return match;
  }
  if (!reference.ok()) return reference.status();
  return std::nullopt;
}

}  // namespace converge

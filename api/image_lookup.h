// Finding a stored image by what a CRI client calls it: a name ("busybox",
// "docker.io/library/busybox:1.36"), a digest reference ("busybox@sha256:…",
// which also finds an image pulled by a tag that resolved to that digest), an
// id ("sha256:<hex>" or the bare hex) or a unique id prefix of at least 6 hex
// digits (crictl's short ids).
//
//   CONVERGE_ASSIGN_OR_RETURN(std::optional<records::ImageRecord> image,
//                             FindImage(*store, request.image().image()));
#ifndef CONVERGE_API_IMAGE_LOOKUP_H_
#define CONVERGE_API_IMAGE_LOOKUP_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "api/records.pb.h"
#include "store/store.h"

namespace converge {

// nullopt when no image matches; INVALID_ARGUMENT for an ambiguous id prefix
// or text that is neither a reference nor an id.
absl::StatusOr<std::optional<records::ImageRecord>> FindImage(const StateReader& store,
                                                              const std::string& text);

}  // namespace converge

#endif  // CONVERGE_API_IMAGE_LOOKUP_H_

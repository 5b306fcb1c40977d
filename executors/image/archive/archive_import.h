// Imports image archives into the content store, for nodes that cannot reach
// a registry: an OCI image layout in a tar (`skopeo copy ... oci-archive:`,
// `ctr export`, docker 25+ `docker save`) or an older `docker save` archive,
// either optionally gzip-compressed.
//
//   UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
//   CONVERGE_ASSIGN_OR_RETURN(std::vector<ImportedImage> images,
//                             ImportArchive(fd.get(), store));
//   for (const ImportedImage& image : images) {
//     for (const std::string& name : image.names) Tag(Normalize(name), image.top);
//   }
//
// The archive is read once, as a stream. Every regular member goes into the
// store as it is read, verified on the way: a member named blobs/sha256/<hex>
// must hash to <hex>, any other is stored under the digest of its content.
// index.json, manifest.json and oci-layout (at most 4 MiB each) are kept in
// memory instead and interpreted at the end:
//   - index.json (an OCI layout; preferred when manifest.json is there too):
//     one image per entry. Every blob that entry, its manifests and nested
//     indexes reference must now be in the store with the declared size.
//   - manifest.json (docker save): one image per element. Its Config and
//     Layers paths (`<id>/layer.tar`, `<hex>.json`, `blobs/sha256/<hex>`, or
//     symlinks and hard links to other members) must be members of the
//     archive. An OCI manifest is synthesised, stored and returned as `top`:
//     config media type oci::kDockerConfig, layers oci::kOciLayerTar (or
//     oci::kOciLayerGzip for a gzip-compressed member), with the members'
//     digests and sizes. Uncompressed layers must hash to the config's diff
//     ids.
//
// Hostile archives: member names are only keys into the archive, never host
// paths. Absolute names and names or link targets that climb out of the
// archive with `..` are never matched, so anything that refers to them fails
// lookup (NOT_FOUND). A symlink is followed only as a whole member name (not
// as a directory in the middle of one).
//
// Error codes:
//   INVALID_ARGUMENT  not a tar (or gzip'd tar), or a broken one; neither
//                     index.json nor manifest.json; a malformed document; a
//                     metadata file over 4 MiB; indexes nested too deep.
//   DATA_LOSS         a blobs/sha256/<hex> member does not hash to <hex> (it is
//                     not stored); a blob's size differs from its descriptor;
//                     an uncompressed docker layer differs from its diff id.
//   NOT_FOUND         a referenced blob or archive member is missing (named).
//   others            from the content store.
// Blobs stored before an error stay in the store, unreferenced; the image
// garbage collector removes them.
//
// Thread safety: a free function; concurrent imports into one store are safe
// (see content_store.h).
#ifndef CONVERGE_EXECUTORS_IMAGE_ARCHIVE_ARCHIVE_IMPORT_H_
#define CONVERGE_EXECUTORS_IMAGE_ARCHIVE_ARCHIVE_IMPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executors/image/content_store.h"
#include "executors/image/oci.h"

namespace converge {

struct ImportedImage {
  // The manifest or index, now in the content store with all it references.
  oci::Descriptor top;
  // As written in the archive, not normalised: an OCI index entry's
  // "io.containerd.image.name" annotation (a full name) or, without one, its
  // "org.opencontainers.image.ref.name" (often only a tag); docker's RepoTags
  // ("busybox:latest"). Empty when the archive names none.
  std::vector<std::string> names;
};

// The most index.json, manifest.json, oci-layout (and manifests and indexes
// read back from the store) may hold.
inline constexpr int64_t kMaxArchiveMetadataBytes = 4 << 20;

// Reads the archive from `fd` (from its current offset to EOF; not closed).
absl::StatusOr<std::vector<ImportedImage>> ImportArchive(int fd, ContentStore& store);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_ARCHIVE_ARCHIVE_IMPORT_H_

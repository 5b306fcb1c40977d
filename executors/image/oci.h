// OCI image-spec documents (and their Docker schema 2 equivalents): media
// types, descriptors, manifests, indexes (manifest lists), image configs, and
// the choice of a platform's manifest from an index. Pure parsing: no I/O.
//
//   CONVERGE_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(body));
//   CONVERGE_ASSIGN_OR_RETURN(oci::Descriptor chosen,
//                             oci::SelectPlatform(index, oci::HostPlatform()));
#ifndef CONVERGE_EXECUTORS_IMAGE_OCI_H_
#define CONVERGE_EXECUTORS_IMAGE_OCI_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/image/digest.h"

namespace converge::oci {

inline constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kOciConfig[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char kOciLayerTar[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kOciLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kOciLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr char kDockerManifestList[] =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kDockerManifest[] =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kDockerConfig[] = "application/vnd.docker.container.image.v1+json";
inline constexpr char kDockerLayerGzip[] = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// Every manifest and index media type converge reads, for Accept headers.
inline constexpr char kAcceptManifests[] =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

bool IsIndexMediaType(absl::string_view media_type);
bool IsManifestMediaType(absl::string_view media_type);

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;  // empty when the platform has none (amd64)
};

// The platform converge runs containers for: linux and the build's CPU.
Platform HostPlatform();
std::string PlatformString(const Platform& platform);  // "linux/arm64/v8"

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::optional<Platform> platform;  // index entries only
  std::map<std::string, std::string> annotations;
};

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
};

// The runtime part of an image config (the `config` object) plus the rootfs
// diff ids that layers must hash to once uncompressed.
struct ImageConfig {
  std::string os;
  std::string architecture;
  std::string user;
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string stop_signal;
  std::vector<std::string> exposed_ports;  // "8080/tcp"
  std::vector<std::string> volumes;        // "/data"
  std::map<std::string, std::string> labels;
  std::vector<Digest> diff_ids;
};

// The media type of a manifest or index document: `content_type` (from the
// registry or a descriptor) when it names one, else the document's own
// `mediaType` field, else guessed from its shape (OCI allows the field to be
// absent). INVALID_ARGUMENT for Docker schema 1 and anything else.
absl::StatusOr<std::string> DocumentMediaType(absl::string_view content_type,
                                              absl::string_view json);

// Each checks the document's structure and every digest in it; errors are
// INVALID_ARGUMENT naming the field.
absl::StatusOr<Manifest> ParseManifest(absl::string_view json);
absl::StatusOr<Index> ParseIndex(absl::string_view json);
absl::StatusOr<ImageConfig> ParseImageConfig(absl::string_view json);

// The manifest for `platform` in `index`: os and architecture must match, and
// the variant when both name one (arm64 and v8 are equivalent). NOT_FOUND
// listing the platforms the index offers when none does.
absl::StatusOr<Descriptor> SelectPlatform(const Index& index, const Platform& platform);

// Serialises a manifest as an OCI image manifest (for archives that carry no
// manifest of their own, such as `docker save`).
std::string SerializeManifest(const Manifest& manifest);

}  // namespace converge::oci

#endif  // CONVERGE_EXECUTORS_IMAGE_OCI_H_

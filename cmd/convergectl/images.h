// convergectl's image commands: CRI ImageService calls with crictl-like
// output, and import of image archives for air-gapped nodes.
#ifndef CONVERGE_CMD_CONVERGECTL_IMAGES_H_
#define CONVERGE_CMD_CONVERGECTL_IMAGES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/cri/api.grpc.pb.h"
#include "grpcpp/channel.h"

namespace converge {

struct ImageCommandContext {
  std::shared_ptr<grpc::Channel> channel;
  absl::Duration timeout;
};

// One row per image name, as `crictl images` prints them.
std::string FormatImages(const std::vector<runtime::v1::Image>& images, bool quiet);

// Splits "user:password" for PullImage's AuthConfig; INVALID_ARGUMENT
// naming `--creds` without a colon.
absl::StatusOr<runtime::v1::AuthConfig> ParseCreds(const std::string& creds);

// The references an imported image is named by: each archive name
// normalised; a bare tag ("latest", as OCI layouts often carry) joined to
// `repository`; `repository`:latest for an image the archive names not at
// all. INVALID_ARGUMENT when a name needs `repository` and none was given.
absl::StatusOr<std::vector<std::string>> ImportNames(const std::vector<std::string>& names,
                                                     const std::string& repository);

absl::Status ListImagesCommand(const ImageCommandContext& context, bool quiet);
absl::Status PullCommand(const ImageCommandContext& context, const std::string& image,
                         const std::string& creds);
absl::Status RemoveImagesCommand(const ImageCommandContext& context,
                                 const std::vector<std::string>& images);
absl::Status InspectImageCommand(const ImageCommandContext& context, const std::string& image);
absl::Status ImageFsInfoCommand(const ImageCommandContext& context);
// Stores the archive's blobs in the daemon's content store under
// `images_root`/content (verified, beside the running daemon), then names
// each image with PullImage("name:tag@digest"), which needs no registry.
absl::Status ImportCommand(const ImageCommandContext& context, const std::string& images_root,
                           const std::string& archive, const std::string& repository);

}  // namespace converge

#endif  // CONVERGE_CMD_CONVERGECTL_IMAGES_H_

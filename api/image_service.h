// The CRI ImageService, declaratively: PullImage writes the desired image
// reference and waits for the image reconciler to attempt it; RemoveImage
// gives up every name of the image and waits for the removal; List/Status
// read the image records. Handlers never call the image executor.
//
//   ImageServiceImpl images(store, &credentials, image_reconciler, options);
//   builder.RegisterService(&images);
#ifndef CONVERGE_API_IMAGE_SERVICE_H_
#define CONVERGE_API_IMAGE_SERVICE_H_

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/cri/api.grpc.pb.h"
#include "reconciler/image_usage.h"
#include "store/pull_credentials.h"
#include "store/store.h"

namespace converge {

struct ImageServiceOptions {
  // Upper bound on a RemoveImage wait when the client set no deadline
  // (kubelet: 2 min). PullImage waits as long as the pull takes.
  absl::Duration max_wait = absl::Minutes(4);
};

// An image with the names the store knows for it, as CRI shows it.
runtime::v1::Image CriImage(const records::ImageRecord& image,
                            const std::vector<ImageRefRecord>& refs);

class ImageServiceImpl final : public runtime::v1::ImageService::Service {
 public:
  ImageServiceImpl(DesiredWriter* store, PullCredentials* credentials,
                   const ImageUsageReporter* usage, ImageServiceOptions options);

  grpc::Status ListImages(grpc::ServerContext* context,
                          const runtime::v1::ListImagesRequest* request,
                          runtime::v1::ListImagesResponse* response) override;
  grpc::Status StreamImages(grpc::ServerContext* context,
                            const runtime::v1::StreamImagesRequest* request,
                            grpc::ServerWriter<runtime::v1::StreamImagesResponse>* writer) override;
  grpc::Status ImageStatus(grpc::ServerContext* context,
                           const runtime::v1::ImageStatusRequest* request,
                           runtime::v1::ImageStatusResponse* response) override;
  grpc::Status PullImage(grpc::ServerContext* context,
                         const runtime::v1::PullImageRequest* request,
                         runtime::v1::PullImageResponse* response) override;
  grpc::Status RemoveImage(grpc::ServerContext* context,
                           const runtime::v1::RemoveImageRequest* request,
                           runtime::v1::RemoveImageResponse* response) override;
  grpc::Status ImageFsInfo(grpc::ServerContext* context,
                           const runtime::v1::ImageFsInfoRequest* request,
                           runtime::v1::ImageFsInfoResponse* response) override;

 private:
  std::vector<runtime::v1::Image> Matching(const runtime::v1::ImageFilter* filter,
                                           grpc::Status* status) const;
  absl::Time Deadline(const grpc::ServerContext* context) const;
  // Serializes read-modify-write of one reference's desired record, so that
  // generations never go backwards.
  size_t StripeOf(const std::string& reference) const;
  absl::Mutex& LockFor(const std::string& reference);

  DesiredWriter* const store_;
  PullCredentials* const credentials_;
  const ImageUsageReporter* const usage_;
  const ImageServiceOptions options_;
  std::array<absl::Mutex, 16> stripes_;
};

}  // namespace converge

#endif  // CONVERGE_API_IMAGE_SERVICE_H_

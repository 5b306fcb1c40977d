#include "cmd/convergectl/images.h"

#include <sys/file.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/proto_json.h"
#include "common/status_macros.h"
#include "executors/image/archive/archive_import.h"
#include "executors/image/content_store.h"
#include "executors/image/oci_image_executor.h"
#include "executors/image/reference.h"

namespace converge {
namespace {

using runtime::v1::ImageService;

absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

std::unique_ptr<grpc::ClientContext> CallContext(const ImageCommandContext& context) {
  auto call = std::make_unique<grpc::ClientContext>();
  call->set_deadline(absl::ToChronoTime(absl::Now() + context.timeout));
  return call;
}

std::string HumanSize(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000 && unit < 4) {
    value /= 1000;
    ++unit;
  }
  return unit == 0 ? absl::StrCat(bytes, "B") : absl::StrFormat("%.3g%s", value, units[unit]);
}

// "sha256:abc..." -> the first 13 hex characters, as crictl shows ids.
std::string ShortId(const std::string& id) {
  const size_t colon = id.find(':');
  return id.substr(colon == std::string::npos ? 0 : colon + 1, 13);
}

absl::StatusOr<std::string> Pull(const ImageCommandContext& context, const std::string& image,
                                 const runtime::v1::AuthConfig& auth) {
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  *request.mutable_auth() = auth;
  runtime::v1::PullImageResponse response;
  auto call = CallContext(context);
  grpc::Status status = ImageService::NewStub(context.channel)->PullImage(call.get(), request,
                                                                          &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("pull ", image));
  return response.image_ref();
}

}  // namespace

std::string FormatImages(const std::vector<runtime::v1::Image>& images, bool quiet) {
  std::string out;
  if (quiet) {
    for (const auto& image : images) absl::StrAppend(&out, image.id(), "\n");
    return out;
  }
  absl::StrAppendFormat(&out, "%-50s  %-20s  %-13s  %s\n", "IMAGE", "TAG", "IMAGE ID", "SIZE");
  for (const auto& image : images) {
    const std::string id = ShortId(image.id());
    const std::string size = HumanSize(image.size());
    if (image.repo_tags().empty()) {
      // Named by digest only: crictl shows the repository with no tag.
      std::string repository = "<none>";
      if (!image.repo_digests().empty()) {
        const std::string& digest = image.repo_digests(0);
        repository = digest.substr(0, digest.find('@'));
      }
      absl::StrAppendFormat(&out, "%-50s  %-20s  %-13s  %s\n", repository, "<none>", id, size);
      continue;
    }
    for (const std::string& tag : image.repo_tags()) {
      const size_t colon = tag.rfind(':');
      absl::StrAppendFormat(&out, "%-50s  %-20s  %-13s  %s\n", tag.substr(0, colon),
                            tag.substr(colon + 1), id, size);
    }
  }
  return out;
}

absl::StatusOr<runtime::v1::AuthConfig> ParseCreds(const std::string& creds) {
  runtime::v1::AuthConfig auth;
  if (creds.empty()) return auth;
  const size_t colon = creds.find(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("--creds: want USERNAME:PASSWORD");
  }
  auth.set_username(creds.substr(0, colon));
  auth.set_password(creds.substr(colon + 1));
  return auth;
}

absl::StatusOr<std::vector<std::string>> ImportNames(const std::vector<std::string>& names,
                                                     const std::string& repository) {
  std::vector<std::string> out;
  auto add = [&](const std::string& text) -> absl::Status {
    auto reference = ParseImageReference(text);
    if (!reference.ok()) return reference.status();
    out.push_back(reference->String());
    return absl::OkStatus();
  };
  for (const std::string& name : names) {
    const bool bare_tag = name.find('/') == std::string::npos && name.find(':') == std::string::npos;
    if (!bare_tag) {
      CONVERGE_RETURN_IF_ERROR(add(name));
      continue;
    }
    if (repository.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the archive names an image only by the tag \"", name, "\"; give --image_name REPOSITORY"));
    }
    CONVERGE_RETURN_IF_ERROR(add(absl::StrCat(repository, ":", name)));
  }
  if (names.empty()) {
    if (repository.empty()) {
      return absl::InvalidArgumentError("the archive names an image not at all; give --image_name REPOSITORY");
    }
    CONVERGE_RETURN_IF_ERROR(add(repository));
  }
  return out;
}

absl::Status ListImagesCommand(const ImageCommandContext& context, bool quiet) {
  runtime::v1::ListImagesResponse response;
  auto call = CallContext(context);
  grpc::Status status = ImageService::NewStub(context.channel)
                            ->ListImages(call.get(), runtime::v1::ListImagesRequest(), &response);
  if (!status.ok()) return FromGrpc(status, "list images");
  std::fputs(FormatImages({response.images().begin(), response.images().end()}, quiet).c_str(),
             stdout);
  return absl::OkStatus();
}

absl::Status PullCommand(const ImageCommandContext& context, const std::string& image,
                         const std::string& creds) {
  CONVERGE_ASSIGN_OR_RETURN(runtime::v1::AuthConfig auth, ParseCreds(creds));
  CONVERGE_ASSIGN_OR_RETURN(std::string id, Pull(context, image, auth));
  std::printf("Image is up to date for %s\n", id.c_str());
  return absl::OkStatus();
}

absl::Status RemoveImagesCommand(const ImageCommandContext& context,
                                 const std::vector<std::string>& images) {
  absl::Status first;
  for (const std::string& image : images) {
    runtime::v1::RemoveImageRequest request;
    request.mutable_image()->set_image(image);
    runtime::v1::RemoveImageResponse response;
    auto call = CallContext(context);
    grpc::Status status =
        ImageService::NewStub(context.channel)->RemoveImage(call.get(), request, &response);
    if (!status.ok()) {
      absl::Status failed = FromGrpc(status, absl::StrCat("remove image ", image));
      std::fprintf(stderr, "convergectl: %s\n", failed.ToString().c_str());
      if (first.ok()) first = failed;
      continue;
    }
    std::printf("Deleted: %s\n", image.c_str());
  }
  return first;
}

absl::Status InspectImageCommand(const ImageCommandContext& context, const std::string& image) {
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  request.set_verbose(true);
  runtime::v1::ImageStatusResponse response;
  auto call = CallContext(context);
  grpc::Status status =
      ImageService::NewStub(context.channel)->ImageStatus(call.get(), request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("inspect image ", image));
  if (!response.has_image()) return absl::NotFoundError(absl::StrCat("no image ", image));
  std::printf("%s\n", ProtoToJson(response, /*pretty=*/true).c_str());
  return absl::OkStatus();
}

absl::Status ImageFsInfoCommand(const ImageCommandContext& context) {
  runtime::v1::ImageFsInfoResponse response;
  auto call = CallContext(context);
  grpc::Status status = ImageService::NewStub(context.channel)
                            ->ImageFsInfo(call.get(), runtime::v1::ImageFsInfoRequest(), &response);
  if (!status.ok()) return FromGrpc(status, "image fs info");
  std::printf("%s\n", ProtoToJson(response, /*pretty=*/true).c_str());
  return absl::OkStatus();
}

absl::Status ImportCommand(const ImageCommandContext& context, const std::string& images_root,
                           const std::string& archive, const std::string& repository) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(archive.c_str(), "rbe"),
                                                        &std::fclose);
  if (file == nullptr) return ErrnoError(errno, "open `", archive, "`");
  CONVERGE_ASSIGN_OR_RETURN(
      std::unique_ptr<ContentStore> store,
      ContentStore::Open(images_root + "/content", ContentStore::Ingest::kKeep));
  // Held until every image is named: the daemon collects no unreferenced
  // blob meanwhile, and ours are unreferenced until then.
  const std::string lock_path = ImportLockPath(images_root);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> lock(std::fopen(lock_path.c_str(), "ae"),
                                                        &std::fclose);
  if (lock == nullptr) return ErrnoError(errno, "open `", lock_path, "`");
  if (::flock(fileno(lock.get()), LOCK_SH) != 0) return ErrnoError(errno, "lock `", lock_path, "`");
  CONVERGE_ASSIGN_OR_RETURN(std::vector<ImportedImage> images, ImportArchive(fileno(file.get()), *store));
  if (images.empty()) return absl::NotFoundError(absl::StrCat("`", archive, "` holds no image"));
  for (const ImportedImage& image : images) {
    CONVERGE_ASSIGN_OR_RETURN(std::vector<std::string> names,
                              ImportNames(image.names, repository));
    for (const std::string& name : names) {
      CONVERGE_ASSIGN_OR_RETURN(
          std::string id,
          Pull(context, absl::StrCat(name, "@", image.top.digest.str()), runtime::v1::AuthConfig()));
      std::printf("imported %s (%s)\n", name.c_str(), id.c_str());
    }
  }
  return absl::OkStatus();
}

}  // namespace converge

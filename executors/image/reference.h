// Image references ("busybox", "registry.k8s.io/pause:3.9",
// "ghcr.io/org/app@sha256:…"), parsed and normalised as containerd's
// reference.ParseDockerRef does, so a name means the same image to converge
// as to kubelet and crictl. Pure: no I/O.
//
//   CONVERGE_ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference("busybox"));
//   ref.String();      // "docker.io/library/busybox:latest"
//   ref.Repository();  // "docker.io/library/busybox"
//
// Unlike ParseDockerRef, a reference with both a tag and a digest keeps both:
// the digest decides what is pulled, the tag is still recorded for
// ListImages' repo tags.
#ifndef CONVERGE_EXECUTORS_IMAGE_REFERENCE_H_
#define CONVERGE_EXECUTORS_IMAGE_REFERENCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executors/image/digest.h"

namespace converge {

inline constexpr char kDockerHubDomain[] = "docker.io";

struct ImageReference {
  std::string domain;  // "docker.io", "localhost:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // empty only when `digest` is set
  Digest digest;       // empty when pulled by tag

  std::string Repository() const;  // "docker.io/library/busybox"
  std::string String() const;      // repository[:tag][@digest]
};

// INVALID_ARGUMENT naming `text` when it is not a valid reference: empty,
// longer than 255 characters, upper case in the path, a bad tag, a digest
// other than sha256, or an image id (which must not be mistaken for a name).
absl::StatusOr<ImageReference> ParseImageReference(absl::string_view text);

// True for `sha256:<64 lowercase hex>` or a bare 64-hex id: what CRI callers pass in
// ImageSpec.image to name an image already present.
bool IsImageId(absl::string_view text);

// True when `host` is a registry host as references spell it: dot-separated
// alphanumeric/hyphen labels with an optional `:port` ("127.0.0.1:5000").
bool IsValidRegistryHost(absl::string_view host);

// `host` validated and normalised (index.docker.io -> docker.io), for
// configuration keyed by reference domains; INVALID_ARGUMENT naming it.
absl::StatusOr<std::string> ParseRegistryHost(absl::string_view host);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_REFERENCE_H_

// Content digests as OCI writes them (`sha256:<64 lowercase hex>`), and a
// streaming SHA-256 to verify blobs while they are written.
//
//   CONVERGE_ASSIGN_OR_RETURN(Digest want, Digest::Parse(descriptor.digest));
//   Sha256 hasher;
//   hasher.Update(chunk);  // repeatedly
//   if (hasher.Finish() != want) return DataLossError(...);
//
// Only sha256 is accepted: it is what every registry and image uses, and
// accepting an algorithm we cannot verify would store unverified content.
#ifndef CONVERGE_EXECUTORS_IMAGE_DIGEST_H_
#define CONVERGE_EXECUTORS_IMAGE_DIGEST_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace converge {

class Digest {
 public:
  Digest() = default;
  // Accepts exactly `sha256:` followed by 64 lowercase hex digits; anything
  // else is INVALID_ARGUMENT naming the text. Safe to use as a file name.
  static absl::StatusOr<Digest> Parse(absl::string_view text);
  static Digest FromSha256Hex(std::string hex);
  static Digest Of(absl::string_view data);

  const std::string& hex() const { return hex_; }
  std::string str() const { return hex_.empty() ? "" : "sha256:" + hex_; }
  bool empty() const { return hex_.empty(); }

  friend bool operator==(const Digest& a, const Digest& b) { return a.hex_ == b.hex_; }
  friend bool operator!=(const Digest& a, const Digest& b) { return !(a == b); }
  friend bool operator<(const Digest& a, const Digest& b) { return a.hex_ < b.hex_; }

 private:
  std::string hex_;
};

// The chain id of a layer stack (OCI image spec): the first layer's diff id,
// then sha256("<parent chain id> <diff id>") for each further layer.
Digest ChainId(const Digest& parent_chain_id, const Digest& diff_id);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // The digest of everything passed to Update; the hasher is then reset.
  Digest Finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_IMAGE_DIGEST_H_

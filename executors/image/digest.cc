#include "executors/image/digest.h"

#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace converge {
namespace {

constexpr absl::string_view kSha256Prefix = "sha256:";
constexpr size_t kSha256HexLength = 64;

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Digest> Digest::Parse(absl::string_view text) {
  if (!absl::StartsWith(text, kSha256Prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest \"", text, "\": only sha256 digests are supported"));
  }
  absl::string_view hex = text.substr(kSha256Prefix.size());
  if (hex.size() != kSha256HexLength || !IsLowerHex(hex)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "digest \"", text, "\": want sha256: and 64 lowercase hex digits"));
  }
  return FromSha256Hex(std::string(hex));
}

Digest Digest::FromSha256Hex(std::string hex) {
  Digest digest;
  digest.hex_ = std::move(hex);
  return digest;
}

Digest Digest::Of(absl::string_view data) {
  Sha256 hasher;
  hasher.Update(data);
  return hasher.Finish();
}

Digest ChainId(const Digest& parent_chain_id, const Digest& diff_id) {
  if (parent_chain_id.empty()) return diff_id;
  return Digest::Of(absl::StrCat(parent_chain_id.str(), " ", diff_id.str()));
}

struct Sha256::Context {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr);
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t size) {
  EVP_DigestUpdate(context_->md, data, size);
}

Digest Sha256::Finish() {
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->md, raw, &length);
  EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr);
  return Digest::FromSha256Hex(absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(raw), length)));
}

}  // namespace converge

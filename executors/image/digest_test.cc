#include "executors/image/digest.h"

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(DigestTest, KnownSha256) {
  EXPECT_EQ(Digest::Of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 hasher;
  hasher.Update("ab");
  hasher.Update("c");
  EXPECT_EQ(hasher.Finish().hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Finish resets.
  EXPECT_EQ(hasher.Finish(), Digest::Of(""));
}

TEST(DigestTest, ParseAcceptsOnlyCanonicalSha256) {
  const std::string hex(64, 'a');
  ASSERT_OK_AND_ASSIGN(Digest digest, Digest::Parse("sha256:" + hex));
  EXPECT_EQ(digest.hex(), hex);
  for (const std::string& bad :
       {std::string("sha512:") + hex, "sha256:" + std::string(63, 'a'),
        "sha256:" + std::string(64, 'A'), "sha256:../" + std::string(61, 'a'),
        std::string(""), hex}) {
    EXPECT_EQ(Digest::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(DigestTest, ChainIdFollowsTheImageSpec) {
  Digest a = Digest::Of("a"), b = Digest::Of("b");
  EXPECT_EQ(ChainId(Digest(), a), a);
  EXPECT_EQ(ChainId(a, b), Digest::Of(a.str() + " " + b.str()));
}

}  // namespace
}  // namespace converge

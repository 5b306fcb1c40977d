#include "cmd/convergectl/images.h"

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(ImagesTest, FormatsOneRowPerTagLikeCrictl) {
  runtime::v1::Image tagged;
  tagged.set_id("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  tagged.add_repo_tags("docker.io/library/busybox:latest");
  tagged.add_repo_tags("127.0.0.1:5000/library/busybox:1.35");
  tagged.set_size(1234567);
  runtime::v1::Image by_digest;
  by_digest.set_id("sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
  by_digest.add_repo_digests("docker.io/library/x@sha256:aaaa");
  by_digest.set_size(10);
  const std::string out = FormatImages({tagged, by_digest}, /*quiet=*/false);
  EXPECT_NE(out.find("docker.io/library/busybox"), std::string::npos) << out;
  EXPECT_NE(out.find("127.0.0.1:5000/library/busybox"), std::string::npos) << out;
  EXPECT_NE(out.find("1.35"), std::string::npos) << out;
  EXPECT_NE(out.find("0123456789abc "), std::string::npos) << out;
  EXPECT_NE(out.find("1.23MB"), std::string::npos) << out;
  EXPECT_NE(out.find("docker.io/library/x"), std::string::npos) << out;
  EXPECT_EQ(FormatImages({tagged}, /*quiet=*/true), tagged.id() + "\n");
}

TEST(ImagesTest, ParsesCreds) {
  ASSERT_OK_AND_ASSIGN(auto auth, ParseCreds("user:pa:ss"));
  EXPECT_EQ(auth.username(), "user");
  EXPECT_EQ(auth.password(), "pa:ss");
  EXPECT_FALSE(ParseCreds("nocolon").ok());
  EXPECT_TRUE(ParseCreds("")->username().empty());
}

TEST(ImagesTest, NamesImportedImages) {
  ASSERT_OK_AND_ASSIGN(auto names, ImportNames({"busybox:1.35", "latest"}, "example.com/app"));
  EXPECT_EQ(names, (std::vector<std::string>{"docker.io/library/busybox:1.35",
                                             "example.com/app:latest"}));
  ASSERT_OK_AND_ASSIGN(auto unnamed, ImportNames({}, "app"));
  EXPECT_EQ(unnamed, std::vector<std::string>{"docker.io/library/app:latest"});
  EXPECT_EQ(ImportNames({"latest"}, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ImportNames({}, "").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace converge

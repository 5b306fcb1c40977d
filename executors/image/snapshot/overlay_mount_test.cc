#include "executors/image/snapshot/overlay_mount.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::HasSubstr;

TEST(ClassicOverlayOptions, ListsLowerDirsTopFirstThenUpperAndWork) {
  absl::StatusOr<std::string> options =
      ClassicOverlayOptions({{"/l/top", "/l/base"}, "/s/upper", "/s/work"}, 4096);
  ASSERT_OK(options.status());
  EXPECT_EQ(*options, "lowerdir=/l/top:/l/base,upperdir=/s/upper,workdir=/s/work");

  options = ClassicOverlayOptions({{"/l/top", "/l/base"}}, 4096);
  ASSERT_OK(options.status());
  EXPECT_EQ(*options, "lowerdir=/l/top:/l/base");
}

TEST(ClassicOverlayOptions, RejectsPathsTheOptionParserWouldSplit) {
  for (const std::string& bad : std::vector<std::string>{"/l/a:b", "/l/a,b", "/l/a\\b"}) {
    absl::Status status = ClassicOverlayOptions({{"/l/top", bad}, "/s/u", "/s/w"}, 4096).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("`" + bad + "`"));
  }
  EXPECT_EQ(ClassicOverlayOptions({{"/l/top"}, "/s/u,x", "/s/w"}, 4096).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClassicOverlayOptions, MustFitInOnePageWithItsNul) {
  // "lowerdir=" + path = page - 1 bytes fits; one more byte does not.
  const std::string fits = "/" + std::string(100 - 1 - 9 - 1, 'p');
  ASSERT_OK(ClassicOverlayOptions({{fits}}, 100).status());
  absl::Status status = ClassicOverlayOptions({{fits + "p"}}, 100).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("100"));
}

}  // namespace
}  // namespace converge

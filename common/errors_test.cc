#include "common/errors.h"

#include <cerrno>

#include "common/status_macros.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(ErrnoError, NamesOperationPathAndErrno) {
  absl::Status status = ErrnoError(ENOENT, "mount `", "/run/x", "`");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(),
            "mount `/run/x`: No such file or directory (errno 2)");
}

TEST(Annotate, PrefixesContextAndKeepsCode) {
  absl::Status status =
      Annotate(absl::UnavailableError("busy"), "sandbox ", "abc");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "sandbox abc: busy");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "ignored").ok());
}

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return absl::InvalidArgumentError("odd");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  CONVERGE_ASSIGN_OR_RETURN(int half, Half(n));
  CONVERGE_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int n) {
  CONVERGE_RETURN_IF_ERROR(Half(n).status());
  return absl::OkStatus();
}

TEST(StatusMacros, ReturnEarlyOnError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(3).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace converge

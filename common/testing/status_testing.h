// Test helpers shared by converge's tests: status assertions and a fresh
// per-test directory.
//
//   ASSERT_OK(executor.Create(pins, "web"));
//   TempTestDir dir;  // $TEST_TMPDIR/<suite>.<test>-<pid>, removed afterwards
#ifndef CONVERGE_COMMON_TESTING_STATUS_TESTING_H_
#define CONVERGE_COMMON_TESTING_STATUS_TESTING_H_

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

#define EXPECT_OK(expr) EXPECT_TRUE((expr).ok()) << (expr)
#define ASSERT_OK(expr)                                       \
  do {                                                        \
    absl::Status assert_ok_status_ = (expr);                  \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_; \
  } while (0)

// Asserts that a StatusOr is OK and moves its value into `lhs`.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(           \
      ASSERT_OK_AND_ASSIGN_CONCAT_(assert_statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_CONCAT_INNER_(a, b) a##b
#define ASSERT_OK_AND_ASSIGN_CONCAT_(a, b) ASSERT_OK_AND_ASSIGN_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr)       \
  auto statusor = (expr);                                    \
  ASSERT_TRUE(statusor.ok()) << statusor.status();           \
  lhs = std::move(statusor).value()

namespace converge {

// An empty directory private to the running test, deleted with this object.
class TempTestDir {
 public:
  TempTestDir() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(tmp ? tmp : "/tmp") /
            (std::string(test->test_suite_name()) + "." + test->name() + "-" +
             std::to_string(getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempTestDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempTestDir(const TempTestDir&) = delete;
  TempTestDir& operator=(const TempTestDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace converge

#endif  // CONVERGE_COMMON_TESTING_STATUS_TESTING_H_

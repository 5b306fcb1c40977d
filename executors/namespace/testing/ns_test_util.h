// Helpers for root tests that look inside pinned namespaces, without going
// through the executor under test.
//
//   std::string name;
//   ASSERT_TRUE(RunInNamespace(uts_pin, CLONE_NEWUTS, [&] {
//     struct utsname u; uname(&u); name = u.nodename;
//   }).ok());
//   EXPECT_THAT(RunCommand("/usr/bin/nsenter --uts=" + uts_pin + " hostname"),
//               ...);
#ifndef CONVERGE_EXECUTORS_NAMESPACE_TESTING_NS_TEST_UTIL_H_
#define CONVERGE_EXECUTORS_NAMESPACE_TESTING_NS_TEST_UTIL_H_

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace converge {

// Runs `fn` on a dedicated thread that has joined the namespace pinned at
// `pin_path` (setns with `nstype`, e.g. CLONE_NEWNET).
absl::Status RunInNamespace(const std::string& pin_path, int nstype,
                            absl::FunctionRef<void()> fn);

// Runs `command` with /bin/sh and returns its stdout; a non-zero exit is an
// error carrying the output.
absl::StatusOr<std::string> RunCommand(const std::string& command);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NAMESPACE_TESTING_NS_TEST_UTIL_H_

// A minimal container rootfs for root tests, built from Debian's static
// busybox (package busybox-static): bin/busybox plus a hard link per applet
// (sh, sleep, cat, ls, id, ...), so that masking one applet does not mask
// busybox; etc/passwd and etc/group with root, nobody and a test user; empty
// proc, sys, dev, tmp and etc directories.
//
//   TempTestDir dir;
//   ASSERT_OK(BuildBusyboxRootfs(dir.Sub("rootfs")));
//   spec.rootfs = dir.Sub("rootfs");
//   spec.process.args = {"/bin/sh", "-c", "id"};
#ifndef CONVERGE_EXECUTORS_PROCESS_TESTING_BUSYBOX_ROOTFS_H_
#define CONVERGE_EXECUTORS_PROCESS_TESTING_BUSYBOX_ROOTFS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace converge::process::testing {

// The test user and its groups in etc/passwd and etc/group.
inline constexpr uint32_t kTestUid = 1000;
inline constexpr uint32_t kTestGid = 1000;
inline constexpr char kTestUser[] = "tester";
// Extra groups in etc/group for supplementary-group tests.
inline constexpr uint32_t kWheelGid = 10;   // "wheel"
inline constexpr uint32_t kAudioGid = 29;   // "audio"

// The applets linked into bin/ by default.
const std::vector<std::string>& DefaultBusyboxApplets();

struct BusyboxRootfsOptions {
  std::string busybox = "/bin/busybox";
  // Applet names linked into bin/ besides DefaultBusyboxApplets().
  std::vector<std::string> extra_applets;
};

// Creates `dir` (and its parents) and fills it. The busybox binary is copied
// into the rootfs, so the rootfs may live on any filesystem. NOT_FOUND when
// busybox is not installed.
absl::Status BuildBusyboxRootfs(const std::string& dir, const BusyboxRootfsOptions& options = {});

}  // namespace converge::process::testing

#endif  // CONVERGE_EXECUTORS_PROCESS_TESTING_BUSYBOX_ROOTFS_H_

// Root tests on real kernel objects. Each test works in its own scratch
// directory under /tmp; TearDown removes every pin and the pin root even when
// the test failed, then checks that no mount under the scratch dir remains.
#include "executors/namespace/linux_namespace.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "executors/namespace/mountinfo.h"
#include "executors/namespace/testing/ns_test_util.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

ino_t InodeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::vector<MountInfo> MountsUnder(const std::string& dir) {
  std::vector<MountInfo> found;
  absl::StatusOr<std::vector<MountInfo>> mounts = ReadMountInfo();
  EXPECT_TRUE(mounts.ok()) << mounts.status();
  if (!mounts.ok()) return found;
  for (const MountInfo& mount : *mounts) {
    if (mount.mount_point == dir ||
        absl::StartsWith(mount.mount_point, dir + "/")) {
      found.push_back(mount);
    }
  }
  return found;
}

int MountsAt(const std::string& path) {
  absl::StatusOr<int> count = CountMountsAt(path);
  EXPECT_TRUE(count.ok()) << count.status();
  return count.ok() ? *count : -1;
}

// The first line of a file such as /proc/sys/..., or "<unreadable>".
std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return "<unreadable>";
  return line;
}

// ReadLine(`path`) from a thread inside the namespace pinned at `pin`.
std::string ReadLineIn(const std::string& pin, int nstype,
                       const std::string& path) {
  std::string line;
  absl::Status status =
      RunInNamespace(pin, nstype, [&] { line = ReadLine(path); });
  EXPECT_TRUE(status.ok()) << status;
  return line;
}

class LinuxNamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
    char tmpl[] = "/tmp/converge-ns-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    scratch_ = tmpl;
    root_ = scratch_ + "/pins";
  }

  void TearDown() override {
    if (scratch_.empty()) return;
    for (const std::string& pin : pins_) EXPECT_OK(ns_.Remove(pin));
    EXPECT_OK(ns_.ReleasePinRoot(root_));
    for (auto it = extra_mounts_.rbegin(); it != extra_mounts_.rend(); ++it) {
      EXPECT_EQ(umount2(it->c_str(), MNT_DETACH), 0) << *it;
    }
    // The leak check; whatever it finds is forced out so the machine stays
    // clean for the next test.
    std::vector<MountInfo> left = MountsUnder(scratch_);
    for (const MountInfo& mount : left) {
      ADD_FAILURE() << "mount left behind: " << mount.mount_point << " ("
                    << mount.fs_type << ")";
    }
    for (auto it = left.rbegin(); it != left.rend(); ++it) {
      umount2(it->mount_point.c_str(), MNT_DETACH);
    }
    std::error_code ec;
    std::filesystem::remove_all(scratch_, ec);
    EXPECT_FALSE(ec) << ec.message();
  }

  // A pin path under the root, remembered for TearDown.
  std::string Pin(const std::string& name) {
    pins_.push_back(absl::StrCat(root_, "/", name));
    return pins_.back();
  }

  LinuxNamespaceExecutor ns_;
  std::string scratch_;
  std::string root_;
  std::vector<std::string> pins_;
  std::vector<std::string> extra_mounts_;  // made by a test itself
};

TEST_F(LinuxNamespaceTest, PreparePinRootTwiceDoesNotStackMounts) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::vector<MountInfo> mounts = MountsUnder(root_);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_TRUE(mounts[0].shared()) << "propagation must be shared";
  struct stat st;
  ASSERT_EQ(stat(root_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  // A second executor (a restarted daemon) must not stack either.
  LinuxNamespaceExecutor restarted;
  ASSERT_OK(restarted.PreparePinRoot(root_ + "/"));
  EXPECT_EQ(MountsAt(root_), 1);
}

TEST_F(LinuxNamespaceTest, CreatePinsFreshNamespacesWithHostname) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net"), ipc = Pin("a-ipc"), uts = Pin("a-uts");
  struct utsname host;
  ASSERT_EQ(uname(&host), 0);

  ASSERT_OK(ns_.Create({{NamespaceKind::kNet, net},
                        {NamespaceKind::kIpc, ipc},
                        {NamespaceKind::kUts, uts}},
                       NamespaceSetup{"pod-a", {}}));

  for (const auto& [kind, pin] :
       std::vector<std::pair<std::string, std::string>>{
           {"net", net}, {"ipc", ipc}, {"uts", uts}}) {
    absl::StatusOr<bool> pinned = ns_.IsPinned(pin);
    ASSERT_TRUE(pinned.ok()) << pinned.status();
    EXPECT_TRUE(*pinned) << pin;
    EXPECT_NE(InodeOf(pin), 0u);
    EXPECT_NE(InodeOf(pin), InodeOf("/proc/self/ns/" + kind)) << kind;
    std::vector<MountInfo> mounts = MountsUnder(pin);
    ASSERT_EQ(mounts.size(), 1u) << pin;
    EXPECT_EQ(mounts[0].fs_type, "nsfs");
  }

  std::string inside;
  ASSERT_OK(RunInNamespace(uts, CLONE_NEWUTS, [&] {
    struct utsname name;
    if (uname(&name) == 0) inside = name.nodename;
  }));
  EXPECT_EQ(inside, "pod-a");
  struct utsname after;
  ASSERT_EQ(uname(&after), 0);
  EXPECT_STREQ(after.nodename, host.nodename) << "host hostname changed";

  // Cross-check with a tool that shares no code with us.
  absl::StatusOr<std::string> out =
      RunCommand(absl::StrCat("/usr/bin/nsenter --uts=", uts, " hostname"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(absl::StripTrailingAsciiWhitespace(*out), "pod-a");
}

constexpr char kPortStart[] = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
constexpr char kShmRmidForced[] = "/proc/sys/kernel/shm_rmid_forced";
constexpr char kMsgMax[] = "/proc/sys/fs/mqueue/msg_max";

TEST_F(LinuxNamespaceTest, CreateWritesSysctlsInsideTheNewNamespaces) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net"), ipc = Pin("a-ipc");
  const std::string host_port_start = ReadLine(kPortStart);
  const std::string host_shm = ReadLine(kShmRmidForced);
  const std::string host_msg_max = ReadLine(kMsgMax);
  ASSERT_NE(host_port_start, "0") << "pick another value for this host";
  ASSERT_NE(host_shm, "1") << "pick another value for this host";
  ASSERT_NE(host_msg_max, "42") << "pick another value for this host";

  ASSERT_OK(
      ns_.Create({{NamespaceKind::kNet, net}, {NamespaceKind::kIpc, ipc}},
                 NamespaceSetup{"",
                                {{"net.ipv4.ip_unprivileged_port_start", "0"},
                                 {"kernel.shm_rmid_forced", "1"},
                                 {"fs/mqueue/msg_max", "42"}}}));

  EXPECT_EQ(ReadLineIn(net, CLONE_NEWNET, kPortStart), "0");
  EXPECT_EQ(ReadLineIn(ipc, CLONE_NEWIPC, kShmRmidForced), "1");
  EXPECT_EQ(ReadLineIn(ipc, CLONE_NEWIPC, kMsgMax), "42");
  EXPECT_EQ(ReadLine(kPortStart), host_port_start) << "host value changed";
  EXPECT_EQ(ReadLine(kShmRmidForced), host_shm) << "host value changed";
  EXPECT_EQ(ReadLine(kMsgMax), host_msg_max) << "host value changed";

  // Cross-check with a tool that shares no code with us.
  for (const auto& [flag, path] :
       std::vector<std::pair<std::string, std::string>>{
           {"--net=" + net, kPortStart}, {"--ipc=" + ipc, kShmRmidForced}}) {
    absl::StatusOr<std::string> out =
        RunCommand(absl::StrCat("/usr/bin/nsenter ", flag, " /bin/cat ", path));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(absl::StripTrailingAsciiWhitespace(*out),
              path == kPortStart ? "0" : "1")
        << flag;
  }
}

// Each failure happens after the ipc sysctl was written (names are applied
// in order, "kernel..." first): the host keeps its value and no pin remains.
TEST_F(LinuxNamespaceTest, FailedSysctlLeavesNothingBehind) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net"), ipc = Pin("a-ipc");
  const std::string host_shm = ReadLine(kShmRmidForced);
  const std::string host_port_start = ReadLine(kPortStart);
  struct Case {
    std::string name;
    std::string value;
    absl::StatusCode want;
    std::vector<std::string> want_in_message;
  };
  const std::vector<Case> cases = {
      {"net.ipv4.nope",
       "1",
       absl::StatusCode::kInvalidArgument,
       {"sysctl `net.ipv4.nope` does not exist", "`/proc/sys/net/ipv4/nope`",
        "errno 2"}},
      {"net.ipv4",
       "1",
       absl::StatusCode::kInvalidArgument,
       {"sysctl `net.ipv4` does not exist (it is a directory)", "errno 21"}},
      {"net.ipv4.ip_unprivileged_port_start",
       "abc",
       absl::StatusCode::kInvalidArgument,
       {"sysctl `net.ipv4.ip_unprivileged_port_start`", "write `abc`",
        kPortStart, "errno 22"}},
      {"net.ipv4.ip_unprivileged_port_start",
       "1 2",
       absl::StatusCode::kInvalidArgument,
       {"sysctl `net.ipv4.ip_unprivileged_port_start`",
        "took only 2 of 3 bytes"}},
  };
  for (const Case& c : cases) {
    absl::Status status = ns_.Create(
        {{NamespaceKind::kNet, net}, {NamespaceKind::kIpc, ipc}},
        NamespaceSetup{"",
                       {{"kernel.shm_rmid_forced", "1"}, {c.name, c.value}}});
    EXPECT_EQ(status.code(), c.want) << c.name << ": " << status;
    for (const std::string& part : c.want_in_message) {
      EXPECT_TRUE(absl::StrContains(status.message(), part))
          << c.name << ": `" << part << "` not in: " << status;
    }
    EXPECT_FALSE(Exists(net)) << c.name;
    EXPECT_FALSE(Exists(ipc)) << c.name;
    EXPECT_EQ(MountsUnder(root_).size(), 1u) << c.name;  // the root itself
    EXPECT_EQ(ReadLine(kShmRmidForced), host_shm) << c.name;
    EXPECT_EQ(ReadLine(kPortStart), host_port_start) << c.name;
  }
  // Refused before anything is made: not namespaced, or no pin for it.
  absl::Status status =
      ns_.Create({{NamespaceKind::kNet, net}},
                 NamespaceSetup{"", {{"vm.swappiness", "1"}}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  status = ns_.Create({{NamespaceKind::kNet, net}},
                      NamespaceSetup{"", {{"kernel.shm_rmid_forced", "1"}}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_FALSE(Exists(net));
}

TEST_F(LinuxNamespaceTest, EachCreateMakesNewNamespaces) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string a = Pin("a-net"), b = Pin("b-net");
  ASSERT_OK(ns_.Create({{NamespaceKind::kNet, a}}, {}));
  ASSERT_OK(ns_.Create({{NamespaceKind::kNet, b}}, {}));
  EXPECT_NE(InodeOf(a), InodeOf(b));
}

TEST_F(LinuxNamespaceTest, CreateReusesStalePlainPinFile) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net");
  std::ofstream(net) << "left by a crash";
  absl::StatusOr<bool> pinned = ns_.IsPinned(net);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_FALSE(*pinned);

  ASSERT_OK(ns_.Create({{NamespaceKind::kNet, net}}, {}));
  pinned = ns_.IsPinned(net);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_TRUE(*pinned);
}

TEST_F(LinuxNamespaceTest, CreateRefusesPinnedPath) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net");
  ASSERT_OK(ns_.Create({{NamespaceKind::kNet, net}}, {}));
  ino_t before = InodeOf(net);

  absl::Status again = ns_.Create({{NamespaceKind::kNet, net}}, {});
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_TRUE(absl::StrContains(again.message(), net)) << again;
  EXPECT_EQ(InodeOf(net), before);
  EXPECT_EQ(MountsAt(net), 1);
}

TEST_F(LinuxNamespaceTest, RemoveUnpinsUnlinksAndIsIdempotent) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net");
  ASSERT_OK(ns_.Create({{NamespaceKind::kNet, net}}, {}));
  // Stack a second mount, as a racing `ip netns attach` could.
  ASSERT_EQ(mount(net.c_str(), net.c_str(), nullptr, MS_BIND, nullptr), 0)
      << strerror(errno);
  ASSERT_EQ(MountsAt(net), 2);

  ASSERT_OK(ns_.Remove(net));
  absl::StatusOr<bool> pinned = ns_.IsPinned(net);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_FALSE(*pinned);
  EXPECT_EQ(MountsAt(net), 0);
  EXPECT_FALSE(Exists(net));
  EXPECT_OK(ns_.Remove(net));
}

TEST_F(LinuxNamespaceTest, InvalidHostnameLeavesNothingBehind) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net"), uts = Pin("a-uts");
  absl::Status status =
      ns_.Create({{NamespaceKind::kNet, net}, {NamespaceKind::kUts, uts}},
                 NamespaceSetup{std::string(kMaxHostnameLength + 1, 'h'), {}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_FALSE(Exists(net));
  EXPECT_FALSE(Exists(uts));
  EXPECT_EQ(MountsUnder(root_).size(), 1u);  // the root itself
}

TEST_F(LinuxNamespaceTest, FailedPinUndoesEarlierPins) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net");
  std::string ipc = absl::StrCat(root_, "/missing/a-ipc");
  absl::Status status =
      ns_.Create({{NamespaceKind::kNet, net}, {NamespaceKind::kIpc, ipc}}, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "`" + ipc + "`")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "errno 2")) << status;
  EXPECT_FALSE(Exists(net));

  // A directory where the pin should be: refused, the stale net file that
  // this call did not create is left as it was.
  std::string uts = Pin("a-uts");
  ASSERT_EQ(mkdir(uts.c_str(), 0755), 0);
  std::ofstream(net) << "stale";
  status = ns_.Create({{NamespaceKind::kNet, net}, {NamespaceKind::kUts, uts}},
                      NamespaceSetup{"x", {}});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(Exists(net));
  EXPECT_EQ(MountsUnder(root_).size(), 1u);
  ASSERT_EQ(rmdir(uts.c_str()), 0);
}

TEST_F(LinuxNamespaceTest, IsPinnedOnlyForMountedNsfs) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string plain = Pin("plain"), link = Pin("link");
  std::ofstream(plain) << "";
  ASSERT_EQ(symlink("/proc/self/ns/net", link.c_str()), 0);
  for (const std::string& path :
       {plain, link, root_ + "/absent", root_ + "/absent/deeper"}) {
    absl::StatusOr<bool> pinned = ns_.IsPinned(path);
    ASSERT_TRUE(pinned.ok()) << path << ": " << pinned.status();
    EXPECT_FALSE(*pinned) << path;
  }
  EXPECT_EQ(ns_.IsPinned("relative/pin").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// On a host whose / is shared (systemd), `ip netns` style self-binding keeps
// the pin root in the parent's peer group and every pin gets a second,
// hidden mount. Ours must get exactly one.
TEST_F(LinuxNamespaceTest, SharedParentDoesNotDoublePins) {
  ASSERT_EQ(
      mount(scratch_.c_str(), scratch_.c_str(), nullptr, MS_BIND, nullptr), 0)
      << strerror(errno);
  extra_mounts_.push_back(scratch_);
  ASSERT_EQ(mount(nullptr, scratch_.c_str(), nullptr, MS_SHARED, nullptr), 0);

  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net");
  ASSERT_OK(ns_.Create({{NamespaceKind::kNet, net}}, {}));
  EXPECT_EQ(MountsAt(net), 1);
  EXPECT_EQ(MountsAt(root_), 1);
}

// Pins made after a mount namespace was cloned still show up inside it, and
// their removal too: that is what the shared pin root is for.
TEST_F(LinuxNamespaceTest, PinsPropagateToLaterMountNamespaces) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net");
  absl::Notification unshared, created, checked, removed;
  bool seen_after_create = false, seen_after_remove = true;
  std::string error;
  // unshare(CLONE_NEWNS) is allowed in a thread (it also unshares CLONE_FS),
  // so the "other mount namespace" belongs to a thread of this test and
  // disappears with it.
  std::thread other([&] {
    int rc = unshare(CLONE_NEWNS);
    if (rc != 0)
      error = absl::StrCat("unshare(CLONE_NEWNS): ", strerror(errno));
    unshared.Notify();
    if (rc != 0) return;
    LinuxNamespaceExecutor inside;
    created.WaitForNotification();
    seen_after_create = inside.IsPinned(net).value_or(false);
    checked.Notify();
    removed.WaitForNotification();
    seen_after_remove = inside.IsPinned(net).value_or(true);
  });
  unshared.WaitForNotification();
  if (!error.empty()) {
    other.join();
    FAIL() << error;
  }
  absl::Status create = ns_.Create({{NamespaceKind::kNet, net}}, {});
  created.Notify();
  checked.WaitForNotification();
  absl::Status remove = ns_.Remove(net);
  removed.Notify();
  other.join();
  EXPECT_OK(create);
  EXPECT_OK(remove);
  EXPECT_TRUE(seen_after_create);
  EXPECT_FALSE(seen_after_remove);
}

TEST_F(LinuxNamespaceTest, ReleasePinRootUnmountsPinsAndIsIdempotent) {
  ASSERT_OK(ns_.PreparePinRoot(root_));
  std::string net = Pin("a-net");
  ASSERT_OK(ns_.Create({{NamespaceKind::kNet, net}}, {}));
  ASSERT_OK(ns_.ReleasePinRoot(root_));
  EXPECT_TRUE(MountsUnder(root_).empty());
  EXPECT_OK(ns_.ReleasePinRoot(root_));
  EXPECT_OK(ns_.ReleasePinRoot(scratch_ + "/never-made"));
  // The pin file remains as a stale plain file; Remove cleans it.
  EXPECT_OK(ns_.Remove(net));
  EXPECT_FALSE(Exists(net));
}

}  // namespace
}  // namespace converge

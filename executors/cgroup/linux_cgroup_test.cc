// Root tests of LinuxCgroupDriver on real kernel objects: this machine's
// cgroup hierarchies (v1 here) and a cgroup2 fs mounted on a scratch dir under
// /tmp. Each test works below its own /converge-test-<pid>-<random> cgroup;
// the fixture removes it bottom-up in every hierarchy and kills the test's
// children even when the test fails, and each suite ends with a leak check.
#include "executors/cgroup/linux_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

using ::testing::HasSubstr;

std::string Prefix() { return absl::StrCat("converge-test-", getpid(), "-"); }

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// Writes with one write(2), as cgroup files need; returns errno or 0.
int Write(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = write(fd, value.data(), value.size()) < 0 ? errno : 0;
  close(fd);
  return err;
}

// Removes `dir` and every cgroup below it, children first. A cgroup whose
// processes are still exiting refuses rmdir for a moment (EBUSY): retry.
void RemoveTree(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    std::vector<std::string> children;
    while (dirent* entry = readdir(d)) {
      const std::string name = entry->d_name;
      if (entry->d_type == DT_DIR && name != "." && name != "..") {
        children.push_back(absl::StrCat(dir, "/", name));
      }
    }
    closedir(d);
    for (const std::string& child : children) RemoveTree(child);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    if (errno != EBUSY || absl::Now() > deadline) {
      ADD_FAILURE() << "cleanup: rmdir " << dir << ": " << strerror(errno);
      return;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

// This machine's hierarchies.
struct HostCgroups {
  static constexpr int kVersion = 1;
  static std::optional<std::string> SetUp() { return "/sys/fs/cgroup"; }
  static void TearDown(const std::string&) {}
};

// A cgroup2 fs of our own on a scratch dir.
struct ScratchCgroup2 {
  static constexpr int kVersion = 2;
  static std::optional<std::string> SetUp() {
    char dir[] = "/tmp/converge-cg2-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << strerror(errno);
      return std::nullopt;
    }
    if (mount("none", dir, "cgroup2", 0, nullptr) != 0) {
      ADD_FAILURE() << "mount cgroup2 on " << dir << ": " << strerror(errno);
      rmdir(dir);
      return std::nullopt;
    }
    return std::string(dir);
  }
  static void TearDown(const std::string& dir) {
    EXPECT_EQ(umount(dir.c_str()), 0)
        << "umount " << dir << ": " << strerror(errno);
    EXPECT_EQ(rmdir(dir.c_str()), 0)
        << "rmdir " << dir << ": " << strerror(errno);
  }
};

template <typename Root>
class LinuxCgroupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() == 0) mount_root_ = Root::SetUp();
  }

  static void TearDownTestSuite() {
    if (!mount_root_) return;
    // Leak check: nothing of this process is left in any hierarchy.
    auto layout = LinuxCgroupDriver::DiscoverLayout(*mount_root_);
    EXPECT_TRUE(layout.ok()) << layout.status();
    if (layout.ok()) {
      for (const CgroupHierarchy& h : layout->hierarchies) {
        DIR* d = opendir(h.mount_point.c_str());
        EXPECT_NE(d, nullptr) << h.mount_point;
        if (d == nullptr) continue;
        while (dirent* entry = readdir(d)) {
          EXPECT_FALSE(absl::StartsWith(entry->d_name, Prefix()))
              << "leaked " << h.mount_point << "/" << entry->d_name;
        }
        closedir(d);
      }
    }
    Root::TearDown(*mount_root_);
    mount_root_.reset();
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_TRUE(mount_root_.has_value()) << "suite set-up failed";
    auto driver = LinuxCgroupDriver::CreateCgroupDriver(*mount_root_);
    ASSERT_TRUE(driver.ok()) << driver.status();
    driver_ = *std::move(driver);
    auto layout = LinuxCgroupDriver::DiscoverLayout(*mount_root_);
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *std::move(layout);
    absl::BitGen gen;
    root_ =
        absl::StrCat("/", Prefix(), absl::Hex(absl::Uniform<uint64_t>(gen)));
  }

  void TearDown() override {
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    for (const std::string& dir : Dirs(root_)) RemoveTree(dir);
    for (const std::string& controller : enabled_at_root_) {
      EXPECT_EQ(
          Write(*mount_root_ + "/cgroup.subtree_control", "-" + controller), 0)
          << "restore root subtree_control -" << controller;
    }
  }

  // `path` in every hierarchy.
  std::vector<std::string> Dirs(const std::string& path) const {
    std::vector<std::string> dirs;
    for (const CgroupHierarchy& h : layout_.hierarchies) {
      dirs.push_back(h.mount_point + path);
    }
    return dirs;
  }

  // A child that sleeps until TearDown kills it.
  pid_t ForkSleeper() {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) pause();
    }
    if (pid > 0) children_.push_back(pid);
    return pid;
  }

  // The hierarchies where this test process sits in the root cgroup. We only
  // move children out of the root: a non-root cgroup (this machine's memory
  // hierarchy) belongs to whoever runs us.
  std::vector<const CgroupHierarchy*> HierarchiesWeMayMoveInto() const {
    std::vector<const CgroupHierarchy*> out;
    for (absl::string_view line :
         absl::StrSplit(Read("/proc/self/cgroup"), '\n', absl::SkipEmpty())) {
      std::vector<std::string> f =
          absl::StrSplit(line, absl::MaxSplits(':', 2));
      if (f.size() != 3 || f[2] != "/") continue;
      std::set<std::string> controllers = absl::StrSplit(f[1], ',');
      for (const CgroupHierarchy& h : layout_.hierarchies) {
        bool match = Root::kVersion == 2
                         ? f[0] == "0"
                         : f[0] != "0" &&
                               controllers ==
                                   std::set<std::string>(h.controllers.begin(),
                                                         h.controllers.end());
        if (match) out.push_back(&h);
      }
    }
    return out;
  }

  static inline std::optional<std::string> mount_root_;
  std::unique_ptr<CgroupDriver> driver_;
  CgroupLayout layout_;
  std::string root_;  // this test's top cgroup
  std::vector<pid_t> children_;
  std::vector<std::string> enabled_at_root_;
};

using Roots = ::testing::Types<HostCgroups, ScratchCgroup2>;
TYPED_TEST_SUITE(LinuxCgroupTest, Roots);

TYPED_TEST(LinuxCgroupTest, DetectsVersionAndHierarchies) {
  EXPECT_EQ(this->driver_->Name(), "cgroupfs");
  EXPECT_EQ(this->driver_->Version(), TypeParam::kVersion);
  ASSERT_FALSE(this->layout_.hierarchies.empty());
  if (TypeParam::kVersion == 2) {
    EXPECT_EQ(this->layout_.hierarchies.size(), 1u);
    EXPECT_EQ(this->layout_.hierarchies[0].mount_point, *this->mount_root_);
    return;
  }
  // Every controller bound to a v1 hierarchy (/proc/cgroups) is in exactly
  // one of ours, and every one of ours is a v1 mount (not "unified").
  for (absl::string_view line :
       absl::StrSplit(Read("/proc/cgroups"), '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() != 4 || f[0][0] == '#' || f[1] == "0" || f[3] != "1") continue;
    int found = 0;
    for (const CgroupHierarchy& h : this->layout_.hierarchies) {
      found += h.HasController(f[0]);
    }
    EXPECT_EQ(found, 1) << f[0];
  }
  if (absl::StrContains(Read("/proc/self/cgroup"), ":name=systemd:")) {
    int found = 0;
    for (const CgroupHierarchy& h : this->layout_.hierarchies) {
      found += h.HasController("name=systemd");
    }
    EXPECT_EQ(found, 1);
  }
  for (const CgroupHierarchy& h : this->layout_.hierarchies) {
    struct statfs fs;
    ASSERT_EQ(statfs(h.mount_point.c_str(), &fs), 0) << h.mount_point;
    EXPECT_EQ(fs.f_type, CGROUP_SUPER_MAGIC) << h.mount_point;
  }
}

TYPED_TEST(LinuxCgroupTest, CreateMakesPathAndParentsInEveryHierarchy) {
  const std::string leaf = this->root_ + "/a/b";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  for (const std::string& dir : this->Dirs(leaf))
    EXPECT_TRUE(IsDir(dir)) << dir;
  EXPECT_EQ(this->driver_->Exists(leaf).value_or(false), true);
  EXPECT_EQ(this->driver_->Exists(this->root_ + "/a").value_or(false), true);
  EXPECT_TRUE(this->driver_->Create(leaf).ok()) << "not idempotent";
}

TYPED_TEST(LinuxCgroupTest, RemoveTakesTheLeafOnlyAndIsIdempotent) {
  const std::string leaf = this->root_ + "/a/b";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  ASSERT_TRUE(this->driver_->Remove(leaf).ok());
  for (const std::string& dir : this->Dirs(leaf)) EXPECT_FALSE(IsDir(dir));
  for (const std::string& dir : this->Dirs(this->root_ + "/a")) {
    EXPECT_TRUE(IsDir(dir)) << dir;
  }
  EXPECT_EQ(this->driver_->Exists(leaf).value_or(true), false);
  EXPECT_TRUE(this->driver_->Remove(leaf).ok()) << "absent must be OK";
  EXPECT_TRUE(this->driver_->Remove(this->root_ + "/never/made").ok());
}

TYPED_TEST(LinuxCgroupTest, RemoveOfParentWithChildrenFails) {
  ASSERT_TRUE(this->driver_->Create(this->root_ + "/a/b").ok());
  absl::Status status = this->driver_->Remove(this->root_ + "/a");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("`" + this->root_ + "/a`"));
  EXPECT_EQ(this->driver_->Exists(this->root_ + "/a/b").value_or(false), true);
}

TYPED_TEST(LinuxCgroupTest, RemoveOfBusyCgroupFailsUntilItsProcessesExit) {
  const std::string leaf = this->root_ + "/busy";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  const pid_t pid = this->ForkSleeper();
  ASSERT_GT(pid, 0) << strerror(errno);
  std::vector<const CgroupHierarchy*> moved = this->HierarchiesWeMayMoveInto();
  ASSERT_FALSE(moved.empty());
  for (const CgroupHierarchy* h : moved) {
    // In the v1 cpuset hierarchy this only works because Create filled in
    // cpuset.cpus and cpuset.mems.
    ASSERT_EQ(
        Write(h->mount_point + leaf + "/cgroup.procs", std::to_string(pid)), 0)
        << h->mount_point << ": " << strerror(errno);
  }

  absl::Status busy = this->driver_->Remove(leaf);
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition) << busy;
  EXPECT_THAT(std::string(busy.message()), HasSubstr("`" + leaf + "`"));
  EXPECT_THAT(std::string(busy.message()), HasSubstr("errno 16"));
  for (const CgroupHierarchy* h : moved) {
    EXPECT_TRUE(IsDir(h->mount_point + leaf)) << h->mount_point;
  }

  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  this->children_.clear();
  // The kernel may unlink a reaped task from its cgroups a moment later; the
  // caller's contract is to retry.
  absl::Status status = this->driver_->Remove(leaf);
  for (int i = 0; i < 500 && !status.ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    status = this->driver_->Remove(leaf);
  }
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(this->driver_->Exists(leaf).value_or(true), false);
}

TYPED_TEST(LinuxCgroupTest, ExistsIsFalseOnPartialPresenceAndCreateRepairs) {
  const std::string leaf = this->root_ + "/a";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  const std::string last = this->Dirs(leaf).back();
  ASSERT_EQ(rmdir(last.c_str()), 0) << last;
  EXPECT_EQ(this->driver_->Exists(leaf).value_or(true), false);
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  EXPECT_EQ(this->driver_->Exists(leaf).value_or(false), true);
}

TYPED_TEST(LinuxCgroupTest, RejectsInvalidPathsWithoutTouchingAnything) {
  const std::string escape = "/../" + Prefix() + "escape";
  const std::string kBad[] = {
      "",
      "relative",
      "/",
      this->root_ + "//a",
      this->root_ + "/./a",
      escape,
      this->root_ + "/a/../..",
      std::string("/a\0b", 4),
  };
  for (const std::string& path : kBad) {
    absl::Status create = this->driver_->Create(path);
    EXPECT_EQ(create.code(), absl::StatusCode::kInvalidArgument) << create;
    EXPECT_THAT(std::string(create.message()),
                HasSubstr("invalid cgroup path"));
    EXPECT_EQ(this->driver_->Remove(path).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(this->driver_->Exists(path).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  for (const std::string& dir : this->Dirs(escape)) EXPECT_FALSE(IsDir(dir));
  for (const std::string& dir : this->Dirs(this->root_))
    EXPECT_FALSE(IsDir(dir));
}

TYPED_TEST(LinuxCgroupTest, ControlFileIsNotACgroup) {
  const std::string file = this->root_ + "/cgroup.procs";
  absl::Status status = this->driver_->Create(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("control file"));
  status = this->driver_->Create(file + "/x");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(this->driver_->Exists(file).value_or(true), false);
  EXPECT_TRUE(this->driver_->Remove(file).ok());
}

TYPED_TEST(LinuxCgroupTest, ConcurrentCreatesSharingNewParents) {
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([this, i, &results] {
      results[i] =
          this->driver_->Create(absl::StrCat(this->root_, "/p/q/c", i));
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(results[i].ok()) << results[i];
    EXPECT_EQ(this->driver_->Exists(absl::StrCat(this->root_, "/p/q/c", i))
                  .value_or(false),
              true);
  }
}

TYPED_TEST(LinuxCgroupTest, V2DelegatesControllersOnlyToParentsItMade) {
  if (TypeParam::kVersion != 2) GTEST_SKIP() << "v2 only";
  const std::string root = *this->mount_root_;
  std::vector<std::string> available =
      absl::StrSplit(Read(root + "/cgroup.controllers"), absl::ByAnyChar(" \n"),
                     absl::SkipEmpty());
  if (available.empty()) GTEST_SKIP() << "no controllers on the cgroup2 root";
  // Hand the controllers to the root's children for this test only; TearDown
  // takes them back after our cgroups are gone.
  const std::string enabled = Read(root + "/cgroup.subtree_control");
  for (const std::string& c : available) {
    if (absl::StrContains(enabled, c)) continue;
    ASSERT_EQ(Write(root + "/cgroup.subtree_control", "+" + c), 0) << c;
    this->enabled_at_root_.push_back(c);
  }
  auto subtree = [&](const std::string& path) {
    return std::string(absl::StripAsciiWhitespace(
        Read(root + path + "/cgroup.subtree_control")));
  };
  ASSERT_TRUE(this->driver_->Create(this->root_ + "/made/leaf").ok());
  EXPECT_EQ(subtree(this->root_), absl::StrJoin(available, " "));
  EXPECT_EQ(subtree(this->root_ + "/made"), absl::StrJoin(available, " "));
  EXPECT_EQ(subtree(this->root_ + "/made/leaf"), "");

  ASSERT_EQ(mkdir((root + this->root_ + "/pre").c_str(), 0755), 0);
  ASSERT_TRUE(this->driver_->Create(this->root_ + "/pre/leaf").ok());
  EXPECT_EQ(subtree(this->root_ + "/pre"), "")
      << "touched a parent it did not make";
}

TEST(CreateCgroupDriver, RejectsWhatIsNotACgroupMount) {
  auto proc = LinuxCgroupDriver::CreateCgroupDriver("/proc");
  EXPECT_EQ(proc.status().code(), absl::StatusCode::kFailedPrecondition)
      << proc.status();
  EXPECT_THAT(std::string(proc.status().message()), HasSubstr("`/proc`"));
  auto missing = LinuxCgroupDriver::CreateCgroupDriver("/nonexistent/cg");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound)
      << missing.status();
}

}  // namespace
}  // namespace converge

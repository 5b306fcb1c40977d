// Root tests of LinuxCgroupDriver on real kernel objects: this machine's
// cgroup hierarchies (v1 here) and a cgroup2 fs mounted on a scratch dir under
// /tmp. Each test works below its own /converge-test-<pid>-<random> cgroup;
// the fixture removes it bottom-up in every hierarchy and kills the test's
// children (and anything left in its cgroups) even when the test fails, and
// each suite ends with a leak check.
//
// On v1 the test cgroups sit below this process's own memory cgroup when that
// is not the root (whoever runs us may account us there; we do not move
// processes out of it), so the same path is made below it in every
// hierarchy; the fixture removes whatever part of that chain it created.
#include "executors/cgroup/linux_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <functional>
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

// This process's cgroup in the v1 hierarchy whose controllers are exactly
// `controllers` ("" if none), from /proc/self/cgroup.
std::string OwnV1Cgroup(const std::string& controllers);

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

std::string OwnV1Cgroup(const std::string& controllers) {
  for (absl::string_view line :
       absl::StrSplit(Read("/proc/self/cgroup"), '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() == 3 && f[1] == controllers) return f[2];
  }
  return "";
}

// The cgroups directly below `dir`.
std::vector<std::string> ChildDirs(const std::string& dir) {
  std::vector<std::string> children;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* entry = readdir(d)) {
      const std::string name = entry->d_name;
      if (entry->d_type == DT_DIR && name != "." && name != "..") {
        children.push_back(absl::StrCat(dir, "/", name));
      }
    }
    closedir(d);
  }
  return children;
}

// SIGKILLs every process listed in `dir` and below, and reaps what it can.
void KillTree(const std::string& dir) {
  for (absl::string_view pid :
       absl::StrSplit(Read(dir + "/cgroup.procs"), '\n', absl::SkipEmpty())) {
    kill(std::stoi(std::string(pid)), SIGKILL);
  }
  for (const std::string& child : ChildDirs(dir)) KillTree(child);
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

// Removes `dir` and every cgroup below it, children first. A cgroup whose
// processes are still exiting refuses rmdir for a moment (EBUSY): retry.
void RemoveTree(const std::string& dir) {
  for (const std::string& child : ChildDirs(dir)) RemoveTree(child);
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
      std::string base = Root::kVersion == 1 ? OwnV1Cgroup("memory") : "/";
      for (const CgroupHierarchy& h : layout->hierarchies) {
        for (const std::string& dir :
             {h.mount_point, h.mount_point + base}) {
          DIR* d = opendir(dir.c_str());
          if (d == nullptr) continue;  // base: only where it existed before
          while (dirent* entry = readdir(d)) {
            EXPECT_FALSE(absl::StartsWith(entry->d_name, Prefix()))
                << "leaked " << dir << "/" << entry->d_name;
          }
          closedir(d);
        }
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
    if (Root::kVersion == 1) {
      base_ = OwnV1Cgroup("memory");
      if (base_ == "/") base_.clear();
    }
    root_ = absl::StrCat(base_, "/", Prefix(),
                         absl::Hex(absl::Uniform<uint64_t>(gen)));
    // The topmost part of root_ missing in each hierarchy is what TearDown
    // removes there.
    for (const CgroupHierarchy& h : layout_.hierarchies) {
      std::string dir = h.mount_point;
      for (absl::string_view c :
           absl::StrSplit(absl::string_view(root_).substr(1), '/')) {
        absl::StrAppend(&dir, "/", c);
        if (!IsDir(dir)) break;
      }
      cleanup_dirs_.push_back(dir);
    }
    root_subtree_control_ = SubtreeControl(*mount_root_);
    // Orphans of our children (forkers) are reparented to us, so TearDown
    // and the tests can reap them.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  static std::set<std::string> SubtreeControl(const std::string& dir) {
    return absl::StrSplit(Read(dir + "/cgroup.subtree_control"),
                          absl::ByAnyChar(" \n"), absl::SkipEmpty());
  }

  void TearDown() override {
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    for (const std::string& dir : Dirs(root_)) KillTree(dir);
    for (const std::string& dir : cleanup_dirs_) RemoveTree(dir);
    if (!mount_root_) return;
    // Controllers a test (or SetResources) enabled at the root go back.
    for (const std::string& controller : SubtreeControl(*mount_root_)) {
      if (root_subtree_control_.count(controller) > 0) continue;
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

  // The hierarchies where this test process sits in the root cgroup or in
  // base_ (below which root_ is). We never move children out of any other
  // cgroup: it belongs to whoever runs us.
  std::vector<const CgroupHierarchy*> HierarchiesWeMayMoveInto() const {
    std::vector<const CgroupHierarchy*> out;
    for (absl::string_view line :
         absl::StrSplit(Read("/proc/self/cgroup"), '\n', absl::SkipEmpty())) {
      std::vector<std::string> f =
          absl::StrSplit(line, absl::MaxSplits(':', 2));
      if (f.size() != 3 || (f[2] != "/" && f[2] != base_)) continue;
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

  // A child that runs `body` (its exit code is body's result) once the
  // parent has put it into `path` through ProcsFiles. -1 on failure.
  pid_t ForkInCgroup(const std::string& path, std::function<int()> body) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe: " << strerror(errno);
      return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(go[1]);
      char byte;
      if (read(go[0], &byte, 1) != 1) _exit(120);
      _exit(body());
    }
    close(go[0]);
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << strerror(errno);
      close(go[1]);
      return -1;
    }
    children_.push_back(pid);
    auto files = driver_->ProcsFiles(path);
    EXPECT_TRUE(files.ok()) << files.status();
    bool joined = files.ok();
    if (files.ok()) {
      EXPECT_EQ(files->size(), layout_.hierarchies.size());
      for (const std::string& file : *files) {
        int err = Write(file, std::to_string(pid));
        EXPECT_EQ(err, 0) << file << ": " << strerror(err);
        joined = joined && err == 0;
      }
    }
    if (!joined) {
      close(go[1]);  // the child exits 120
      return -1;
    }
    EXPECT_EQ(write(go[1], "g", 1), 1);
    close(go[1]);
    return pid;
  }

  // Whether the driver has `controller` for limits: a v1 hierarchy with it,
  // or the v2 root offering it.
  bool Has(const std::string& controller) const {
    if (Root::kVersion == 1) {
      for (const CgroupHierarchy& h : layout_.hierarchies) {
        if (h.HasController(controller)) return true;
      }
      return false;
    }
    std::set<std::string> available =
        absl::StrSplit(Read(*mount_root_ + "/cgroup.controllers"),
                       absl::ByAnyChar(" \n"), absl::SkipEmpty());
    return available.count(controller) > 0;
  }

  // `file` of `path` where `controller` keeps it.
  std::string File(const std::string& controller, const std::string& path,
                   const std::string& file) const {
    for (const CgroupHierarchy& h : layout_.hierarchies) {
      if (Root::kVersion == 2 || h.HasController(controller)) {
        return absl::StrCat(h.mount_point, path, "/", file);
      }
    }
    return "<no " + controller + " hierarchy>";
  }

  std::string Value(const std::string& controller, const std::string& path,
                    const std::string& file) const {
    return std::string(
        absl::StripAsciiWhitespace(Read(File(controller, path, file))));
  }

  // Waits until Pids(path) is empty, reaping our children and orphans.
  bool WaitUntilEmpty(const std::string& path) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      while (waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      auto pids = driver_->Pids(path);
      EXPECT_TRUE(pids.ok()) << pids.status();
      if (!pids.ok() || pids->empty()) return pids.ok();
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  static inline std::optional<std::string> mount_root_;
  std::unique_ptr<CgroupDriver> driver_;
  CgroupLayout layout_;
  std::string base_;  // v1: our own memory cgroup, if not the root
  std::string root_;  // this test's top cgroup, below base_
  std::vector<std::string> cleanup_dirs_;  // per hierarchy
  std::set<std::string> root_subtree_control_;
  std::vector<pid_t> children_;
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

// One limit per case; a controller the driver lacks must give
// FAILED_PRECONDITION instead of writing anything.
TYPED_TEST(LinuxCgroupTest, SetResourcesWritesTheRightFiles) {
  const bool v2 = TypeParam::kVersion == 2;
  struct Case {
    std::string name;
    std::string controller;
    std::function<void(CgroupResources&)> set;
    std::vector<std::pair<std::string, std::string>> want;  // file, value
  };
  const std::vector<Case> kCases = {
      {"shares", "cpu", [](CgroupResources& r) { r.cpu_shares = 512; },
       {v2 ? std::make_pair("cpu.weight", "20")
           : std::make_pair("cpu.shares", "512")}},
      {"quota and period", "cpu",
       [](CgroupResources& r) {
         r.cpu_quota = 50000;
         r.cpu_period = 100000;
       },
       v2 ? std::vector<std::pair<std::string, std::string>>{{"cpu.max",
                                                              "50000 100000"}}
          : std::vector<std::pair<std::string, std::string>>{
                {"cpu.cfs_quota_us", "50000"},
                {"cpu.cfs_period_us", "100000"}}},
      {"period only keeps the quota", "cpu",
       [](CgroupResources& r) { r.cpu_period = 200000; },
       {v2 ? std::make_pair("cpu.max", "50000 200000")
           : std::make_pair("cpu.cfs_period_us", "200000")}},
      {"unlimited quota", "cpu", [](CgroupResources& r) { r.cpu_quota = -1; },
       {v2 ? std::make_pair("cpu.max", "max 200000")
           : std::make_pair("cpu.cfs_quota_us", "-1")}},
      {"memory", "memory",
       [](CgroupResources& r) { r.memory_limit_bytes = 64 << 20; },
       {v2 ? std::make_pair("memory.max", "67108864")
           : std::make_pair("memory.limit_in_bytes", "67108864")}},
      {"unlimited memory", "memory",
       [](CgroupResources& r) { r.memory_limit_bytes = 0; },
       {v2 ? std::make_pair("memory.max", "max")
           : std::make_pair("memory.limit_in_bytes", "9223372036854771712")}},
      {"pids", "pids", [](CgroupResources& r) { r.pids_limit = 10; },
       {{"pids.max", "10"}}},
      {"unlimited pids", "pids", [](CgroupResources& r) { r.pids_limit = 0; },
       {{"pids.max", "max"}}},
      {"cpuset", "cpuset", [](CgroupResources& r) { r.cpuset_cpus = "0"; },
       {{"cpuset.cpus", "0"}}},
      {"hugetlb", "hugetlb",
       [](CgroupResources& r) { r.hugepage_limits["2MB"] = 4 << 20; },
       {v2 ? std::make_pair("hugetlb.2MB.max", "4194304")
           : std::make_pair("hugetlb.2MB.limit_in_bytes", "4194304")}},
  };
  const std::string leaf = this->root_ + "/c";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  std::vector<std::string> untested;
  for (const Case& c : kCases) {
    CgroupResources r;
    c.set(r);
    absl::Status status = this->driver_->SetResources(leaf, r);
    if (!this->Has(c.controller)) {
      EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition)
          << c.name << ": " << status;
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.controller));
      untested.push_back(c.name);
      continue;
    }
    ASSERT_TRUE(status.ok()) << c.name << ": " << status;
    for (const auto& [file, value] : c.want) {
      EXPECT_EQ(this->Value(c.controller, leaf, file), value)
          << c.name << ": " << file;
    }
  }
  if (!untested.empty()) {
    std::cout << "[ NOTE ] controller missing on this cgroup v"
              << TypeParam::kVersion
              << " fs, only FAILED_PRECONDITION checked: "
              << absl::StrJoin(untested, ", ") << "\n";
  }
}

TYPED_TEST(LinuxCgroupTest, V1MemoryAndSwapRaiseAndLowerInEitherOrder) {
  if (TypeParam::kVersion != 1) GTEST_SKIP() << "v1 memsw ordering";
  const std::string leaf = this->root_ + "/c";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  if (!IsDir(this->File("memory", leaf, ""))) GTEST_SKIP() << "no memory";
  if (Read(this->File("memory", leaf, "memory.memsw.limit_in_bytes")).empty()) {
    GTEST_SKIP() << "kernel without swap accounting (no memory.memsw.*)";
  }
  auto set = [&](int64_t memory, std::optional<int64_t> swap) {
    CgroupResources r;
    r.memory_limit_bytes = memory;
    r.memory_swap_limit_bytes = swap;
    return this->driver_->SetResources(leaf, r);
  };
  auto memory = [&] {
    return this->Value("memory", leaf, "memory.limit_in_bytes");
  };
  auto memsw = [&] {
    return this->Value("memory", leaf, "memory.memsw.limit_in_bytes");
  };
  ASSERT_TRUE(set(64 << 20, 128 << 20).ok());  // from unlimited: memory first
  EXPECT_EQ(memory(), "67108864");
  EXPECT_EQ(memsw(), "134217728");
  ASSERT_TRUE(set(256 << 20, 512 << 20).ok());  // raise: memsw first
  EXPECT_EQ(memory(), "268435456");
  EXPECT_EQ(memsw(), "536870912");
  ASSERT_TRUE(set(16 << 20, 16 << 20).ok());  // lower: memory first
  EXPECT_EQ(memory(), "16777216");
  EXPECT_EQ(memsw(), "16777216");
  ASSERT_TRUE(set(0, std::nullopt).ok());  // unlimited takes swap along
  EXPECT_EQ(memory(), "9223372036854771712");
  EXPECT_EQ(memsw(), "9223372036854771712");
  absl::Status below = set(64 << 20, 32 << 20);  // kernel: memsw < memory
  EXPECT_EQ(below.code(), absl::StatusCode::kInvalidArgument) << below;
}

TYPED_TEST(LinuxCgroupTest, RejectedValuesAndMissingCgroups) {
  const std::string leaf = this->root_ + "/c";
  CgroupResources shares;
  shares.cpu_shares = 1024;
  EXPECT_EQ(this->driver_->SetResources(leaf, shares).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->driver_->Stats(leaf).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->driver_->Pids(leaf).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->driver_->KillAll(leaf, SIGKILL).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  CgroupResources bad_size;
  bad_size.hugepage_limits["../2MB"] = 1;
  EXPECT_EQ(this->driver_->SetResources(leaf, bad_size).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->driver_->KillAll(leaf, 0).code(),
            absl::StatusCode::kInvalidArgument);
  if (!this->Has("cpu")) {
    GTEST_SKIP() << "no cpu controller for the EINVAL case";
  }
  CgroupResources tiny_quota;  // the kernel's minimum is 1ms
  tiny_quota.cpu_quota = 500;
  tiny_quota.cpu_period = 100000;
  absl::Status status = this->driver_->SetResources(leaf, tiny_quota);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(TypeParam::kVersion == 2 ? "/cpu.max`"
                                                 : "/cpu.cfs_quota_us`"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("errno 22"));
}

TYPED_TEST(LinuxCgroupTest, CpusetChildGetsItsParentsCpusAndMems) {
  if (TypeParam::kVersion != 1 || !this->Has("cpuset")) {
    GTEST_SKIP() << "v1 cpuset only (a v2 cpuset inherits by being empty)";
  }
  const std::string parent = this->root_ + "/pod";
  ASSERT_TRUE(this->driver_->Create(parent).ok());
  CgroupResources one_cpu;
  one_cpu.cpuset_cpus = "0";
  ASSERT_TRUE(this->driver_->SetResources(parent, one_cpu).ok());
  ASSERT_TRUE(this->driver_->Create(parent + "/c").ok());
  EXPECT_EQ(this->Value("cpuset", parent + "/c", "cpuset.cpus"), "0");
  EXPECT_EQ(this->Value("cpuset", parent + "/c", "cpuset.mems"),
            this->Value("cpuset", parent, "cpuset.mems"));
  EXPECT_FALSE(this->Value("cpuset", parent + "/c", "cpuset.mems").empty());
  if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
    CgroupResources outside;
    outside.cpuset_cpus = "1";
    absl::Status status = this->driver_->SetResources(parent + "/c", outside);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("cpuset.cpus`"));
  }
}

TYPED_TEST(LinuxCgroupTest, StatsOfARunningSleep) {
  const std::string leaf = this->root_ + "/c";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  const pid_t pid = this->ForkInCgroup(leaf, [] {
    execl("/bin/sleep", "sleep", "1000", nullptr);
    return 121;
  });
  ASSERT_GT(pid, 0);
  auto pids = this->driver_->Pids(leaf);
  ASSERT_TRUE(pids.ok()) << pids.status();
  EXPECT_THAT(*pids, ::testing::ElementsAre(pid));
  // Wait for the exec to have charged some memory.
  absl::StatusOr<CgroupStats> stats;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  const absl::Time before = absl::Now();
  do {
    absl::SleepFor(absl::Milliseconds(20));
    stats = this->driver_->Stats(leaf);
    ASSERT_TRUE(stats.ok()) << stats.status();
  } while (this->Has("memory") && stats->memory_usage_bytes.value_or(0) == 0 &&
           absl::Now() < deadline);
  EXPECT_GE(stats->timestamp, before);
  EXPECT_TRUE(stats->cpu_usage_ns.has_value());
  std::vector<std::string> untested;
  if (this->Has("pids")) {
    EXPECT_EQ(stats->pids_current, 1u);
  } else {
    EXPECT_FALSE(stats->pids_current.has_value());
    untested.push_back("pids");
  }
  if (this->Has("memory")) {
    EXPECT_GT(stats->memory_usage_bytes.value_or(0), 0u);
    ASSERT_TRUE(stats->memory_working_set_bytes.has_value());
    EXPECT_LE(*stats->memory_working_set_bytes, *stats->memory_usage_bytes);
    EXPECT_TRUE(stats->memory_rss_bytes.has_value());
    EXPECT_TRUE(stats->memory_page_faults.has_value());
    EXPECT_FALSE(stats->memory_limit_bytes.has_value()) << "unlimited";
    EXPECT_EQ(stats->oom_kill_count, 0u);
  } else {
    EXPECT_FALSE(stats->memory_usage_bytes.has_value());
    EXPECT_FALSE(stats->oom_kill_count.has_value());
    untested.push_back("memory");
  }
  if (!untested.empty()) {
    std::cout << "[ NOTE ] not on this cgroup v" << TypeParam::kVersion
              << " fs, checked absent: " << absl::StrJoin(untested, ", ")
              << "\n";
  }
}

TYPED_TEST(LinuxCgroupTest, KillAllGetsSigtermBlockersAndForkers) {
  const std::string leaf = this->root_ + "/c";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  ASSERT_TRUE(this->driver_->Create(leaf + "/sub").ok());
  const pid_t blocker = this->ForkInCgroup(leaf, [] {
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, nullptr);
    for (;;) pause();
    return 0;
  });
  ASSERT_GT(blocker, 0);
  // Forks a sleeping child every millisecond (bounded), in a child cgroup.
  const pid_t forker = this->ForkInCgroup(leaf + "/sub", [] {
    for (int i = 0; i < 2000; ++i) {
      if (fork() == 0) {
        for (;;) pause();
      }
      usleep(1000);
    }
    for (;;) pause();
    return 0;
  });
  ASSERT_GT(forker, 0);
  std::vector<pid_t> pids;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (pids.size() < 10 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    auto listed = this->driver_->Pids(leaf);
    ASSERT_TRUE(listed.ok()) << listed.status();
    pids = *listed;
  }
  EXPECT_GE(pids.size(), 10u);
  EXPECT_THAT(pids, ::testing::Contains(blocker));
  EXPECT_THAT(pids, ::testing::Contains(forker));

  // SIGTERM: everything but the blocker dies, forks included; not left frozen.
  absl::Status term = this->driver_->KillAll(leaf, SIGTERM);
  ASSERT_TRUE(term.ok()) << term;
  EXPECT_TRUE(TypeParam::kVersion == 2
                  ? absl::StrContains(Read(this->File("", leaf,
                                                      "cgroup.events")),
                                      "frozen 0")
                  : this->Value("freezer", leaf, "freezer.state") == "THAWED");
  std::vector<pid_t> left;
  const absl::Time term_deadline = absl::Now() + absl::Seconds(5);
  do {
    absl::SleepFor(absl::Milliseconds(10));
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    left = this->driver_->Pids(leaf).value_or(std::vector<pid_t>{});
  } while (left.size() > 1 && absl::Now() < term_deadline);
  EXPECT_THAT(left, ::testing::ElementsAre(blocker));

  absl::Status kill = this->driver_->KillAll(leaf, SIGKILL);
  ASSERT_TRUE(kill.ok()) << kill;
  EXPECT_TRUE(this->WaitUntilEmpty(leaf));
  EXPECT_TRUE(this->driver_->Remove(leaf + "/sub").ok());
}

TYPED_TEST(LinuxCgroupTest, SigkillOfAForkBombLeavesNothing) {
  const std::string leaf = this->root_ + "/c";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  // Every process forks once more and keeps going (bounded by depth).
  const pid_t bomb = this->ForkInCgroup(leaf, [] {
    for (int depth = 0; depth < 8; ++depth) {
      if (fork() < 0) break;
      usleep(20000);
    }
    for (;;) pause();
    return 0;
  });
  ASSERT_GT(bomb, 0);
  absl::SleepFor(absl::Milliseconds(50));  // mid-way through the forking
  absl::Status kill = this->driver_->KillAll(leaf, SIGKILL);
  ASSERT_TRUE(kill.ok()) << kill;
  EXPECT_TRUE(this->WaitUntilEmpty(leaf));
}

TYPED_TEST(LinuxCgroupTest, OomKillIsCountedInStats) {
  if (!this->Has("memory")) {
    GTEST_SKIP() << "no memory controller on this cgroup v"
                 << TypeParam::kVersion << " fs";
  }
  const std::string leaf = this->root_ + "/c";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  CgroupResources limits;
  limits.memory_limit_bytes = 8 << 20;
  // No escape into swap (v1: memory+swap = memory; v2: swap.max 0).
  limits.memory_swap_limit_bytes = 8 << 20;
  ASSERT_TRUE(this->driver_->SetResources(leaf, limits).ok());
  const pid_t pid = this->ForkInCgroup(leaf, [] {
    constexpr size_t kSize = 64 << 20;
    void* memory = mmap(nullptr, kSize, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return 122;
    for (size_t i = 0; i < kSize; i += 4096) {
      static_cast<volatile char*>(memory)[i] = 1;
    }
    return 0;  // survived: the limit did not work
  });
  ASSERT_GT(pid, 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  this->children_.clear();
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "wait status " << wstatus;
  auto stats = this->driver_->Stats(leaf);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GE(stats->oom_kill_count.value_or(0), 1u);
  EXPECT_EQ(stats->memory_limit_bytes, uint64_t{8 << 20});
}

TYPED_TEST(LinuxCgroupTest, DefaultDeviceRulesDenyDisksAndAllowNull) {
  const std::string leaf = this->root_ + "/c";
  ASSERT_TRUE(this->driver_->Create(leaf).ok());
  EXPECT_EQ(this->driver_->SetDevices(leaf, {{true, 'q', 1, 3, "rwm"}}).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(this->driver_->SetDevices(leaf, DefaultDeviceRules()).ok());
  if (TypeParam::kVersion == 2) return;  // documented no-op
  const std::string list = Read(this->File("devices", leaf, "devices.list"));
  EXPECT_THAT(list, HasSubstr("c 1:3 rwm"));
  EXPECT_THAT(list, HasSubstr("c 136:* rwm"));
  EXPECT_THAT(list, ::testing::Not(HasSubstr("a *:* rwm")));

  char dir[] = "/tmp/converge-dev-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr) << strerror(errno);
  const std::string disk = std::string(dir) + "/sda";
  ASSERT_EQ(mknod(disk.c_str(), S_IFBLK | 0600, makedev(8, 0)), 0)
      << strerror(errno);
  const pid_t pid = this->ForkInCgroup(leaf, [disk] {
    int fd = open(disk.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return 10;       // allowed: the rules did not apply
    if (errno != EPERM) return 11;  // denied for another reason
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) return 12;
    return 0;
  });
  int wstatus = -1;
  if (pid > 0) {
    EXPECT_EQ(waitpid(pid, &wstatus, 0), pid);
    this->children_.clear();
  }
  unlink(disk.c_str());
  rmdir(dir);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WIFEXITED(wstatus)) << wstatus;
  EXPECT_EQ(WEXITSTATUS(wstatus), 0)
      << "10: disk opened, 11: not EPERM, 12: /dev/null refused";
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

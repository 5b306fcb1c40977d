// Root test on the real kernel: mounts overlays under $TEST_TMPDIR. TearDown
// checks that a test left no mount of its own behind, then detaches whatever
// a failed test did leave.
#include "executors/image/snapshot/linux_snapshotter.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "executors/image/snapshot/overlay_mount.h"
#include "executors/namespace/mountinfo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

// "" when the file cannot be read (for example, it is whited out).
std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// Mount points at or under `dir`, deepest last (the order they were made in).
std::vector<MountInfo> MountsUnder(const std::string& dir) {
  std::vector<MountInfo> under;
  absl::StatusOr<std::vector<MountInfo>> mounts = ReadMountInfo();
  EXPECT_TRUE(mounts.ok()) << mounts.status();
  for (const MountInfo& mount : mounts.value_or(std::vector<MountInfo>())) {
    if (mount.mount_point == dir || absl::StartsWith(mount.mount_point, dir + "/")) {
      under.push_back(mount);
    }
  }
  return under;
}

class LinuxSnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::canonical(dir_.path()).string();
    root_ = base_ + "/snapshots";
    ASSERT_OK_AND_ASSIGN(snapshotter_, LinuxSnapshotter::Create(root_));
  }

  void TearDown() override {
    std::vector<MountInfo> left = MountsUnder(base_);
    std::vector<std::string> points;
    for (const MountInfo& mount : left) points.push_back(mount.mount_point);
    EXPECT_THAT(points, IsEmpty()) << "mounts left behind";
    for (auto it = left.rbegin(); it != left.rend(); ++it) {
      ::umount2(it->mount_point.c_str(), MNT_DETACH);
    }
  }

  // Base, middle and top layers, returned bottom first. The middle one
  // whites out gone.txt and makes dir/ opaque; all three have over.txt.
  std::vector<std::string> MakeThreeLayers() {
    const fs::path base = base_ + "/layers/base";
    WriteFile(base / "a.txt", "base-a");
    WriteFile(base / "gone.txt", "base-gone");
    WriteFile(base / "dir/x", "base-x");
    WriteFile(base / "dir/y", "base-y");
    WriteFile(base / "over.txt", "base");
    const fs::path middle = base_ + "/layers/middle";
    WriteFile(middle / "over.txt", "middle");
    WriteFile(middle / "dir/z", "middle-z");
    EXPECT_EQ(::mknod((middle / "gone.txt").c_str(), S_IFCHR, makedev(0, 0)), 0) << errno;
    EXPECT_EQ(::setxattr((middle / "dir").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0)
        << errno;
    const fs::path top = base_ + "/layers/top";
    WriteFile(top / "over.txt", "top");
    WriteFile(top / "new.txt", "top-new");
    return {base, middle, top};
  }

  static void ExpectMergedView(const fs::path& rootfs) {
    EXPECT_THAT(Names(rootfs), ElementsAre("a.txt", "dir", "new.txt", "over.txt"));
    EXPECT_EQ(ReadFile(rootfs / "a.txt"), "base-a");
    EXPECT_EQ(ReadFile(rootfs / "over.txt"), "top");
    EXPECT_THAT(Names(rootfs / "dir"), ElementsAre("z"));
  }

  TempTestDir dir_;
  std::string base_;  // dir_, canonical as mountinfo shows it
  std::string root_;
  std::unique_ptr<LinuxSnapshotter> snapshotter_;
};

TEST_F(LinuxSnapshotterTest, MergesLayersAndWritesGoToUpper) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK_AND_ASSIGN(Snapshot snapshot, snapshotter_->Prepare({"c1", layers}));
  EXPECT_EQ(snapshot.key, "c1");
  EXPECT_EQ(snapshot.rootfs, root_ + "/c1/rootfs");
  EXPECT_EQ(snapshot.upper_dir, root_ + "/c1/upper");
  EXPECT_EQ(snapshot.work_dir, root_ + "/c1/work");
  EXPECT_FALSE(snapshot.read_only);
  EXPECT_TRUE(snapshot.mounted);
  const fs::path rootfs = snapshot.rootfs;
  ExpectMergedView(rootfs);

  WriteFile(rootfs / "written.txt", "w");
  WriteFile(rootfs / "a.txt", "changed");
  fs::remove(rootfs / "new.txt");
  EXPECT_EQ(ReadFile(fs::path(snapshot.upper_dir) / "written.txt"), "w");
  EXPECT_EQ(ReadFile(fs::path(snapshot.upper_dir) / "a.txt"), "changed");
  EXPECT_EQ(ReadFile(fs::path(layers[0]) / "a.txt"), "base-a");
  EXPECT_EQ(ReadFile(fs::path(layers[2]) / "new.txt"), "top-new");
  EXPECT_THAT(Names(layers[0]), ElementsAre("a.txt", "dir", "gone.txt", "over.txt"));

  std::vector<MountInfo> mounts = MountsUnder(snapshot.rootfs);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].fs_type, "overlay");
  EXPECT_THAT(mounts[0].optional_fields, IsEmpty()) << "not private";
  ASSERT_OK(snapshotter_->Remove("c1"));
  EXPECT_FALSE(fs::exists(root_ + "/c1"));
  EXPECT_EQ(ReadFile(fs::path(layers[0]) / "a.txt"), "base-a");
}

TEST_F(LinuxSnapshotterTest, RootfsIsPrivateUnderASharedMount) {
  ASSERT_EQ(::mount(root_.c_str(), root_.c_str(), nullptr, MS_BIND, nullptr), 0) << errno;
  ASSERT_EQ(::mount(nullptr, root_.c_str(), nullptr, MS_SHARED, nullptr), 0) << errno;
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK_AND_ASSIGN(Snapshot snapshot, snapshotter_->Prepare({"c1", layers}));
  std::vector<MountInfo> mounts = MountsUnder(snapshot.rootfs);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_THAT(mounts[0].optional_fields, IsEmpty());
  ASSERT_OK(snapshotter_->Remove("c1"));
  ASSERT_EQ(::umount2(root_.c_str(), 0), 0) << errno;
}

TEST_F(LinuxSnapshotterTest, ReadOnlySnapshotRejectsWrites) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK_AND_ASSIGN(Snapshot snapshot, snapshotter_->Prepare({"ro", layers, true}));
  EXPECT_TRUE(snapshot.read_only);
  EXPECT_EQ(snapshot.upper_dir, "");
  ExpectMergedView(snapshot.rootfs);
  const std::string file = snapshot.rootfs + "/new-file";
  EXPECT_EQ(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  struct statvfs st;
  ASSERT_EQ(::statvfs(snapshot.rootfs.c_str(), &st), 0);
  EXPECT_TRUE(st.f_flag & ST_RDONLY);
  EXPECT_FALSE(fs::exists(root_ + "/ro/upper"));
  ASSERT_OK_AND_ASSIGN(auto usage, snapshotter_->Usage("ro"));
  EXPECT_EQ(usage, std::make_pair(uint64_t{0}, uint64_t{0}));
  ASSERT_OK(snapshotter_->Remove("ro"));
}

TEST_F(LinuxSnapshotterTest, ReadOnlyWithOneLayerAndWritableWithNone) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK_AND_ASSIGN(Snapshot ro, snapshotter_->Prepare({"ro", {layers[0]}, true}));
  EXPECT_EQ(ReadFile(ro.rootfs + "/gone.txt"), "base-gone");
  ASSERT_OK_AND_ASSIGN(Snapshot empty, snapshotter_->Prepare({"empty", {}}));
  EXPECT_THAT(Names(empty.rootfs), IsEmpty());
  WriteFile(empty.rootfs + "/f", "x");
  EXPECT_EQ(ReadFile(empty.upper_dir + "/f"), "x");
  ASSERT_OK(snapshotter_->Remove("ro"));
  ASSERT_OK(snapshotter_->Remove("empty"));
}

TEST_F(LinuxSnapshotterTest, PrepareTwiceMountsOnce) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK_AND_ASSIGN(Snapshot first, snapshotter_->Prepare({"c1", layers}));
  ASSERT_OK_AND_ASSIGN(Snapshot second, snapshotter_->Prepare({"c1", layers}));
  EXPECT_EQ(second.rootfs, first.rootfs);
  EXPECT_EQ(second.upper_dir, first.upper_dir);
  EXPECT_EQ(second.work_dir, first.work_dir);
  EXPECT_THAT(MountsUnder(root_), testing::SizeIs(1));
  ASSERT_OK(snapshotter_->Remove("c1"));
}

TEST_F(LinuxSnapshotterTest, PrepareAfterUnmountRemountsKeepingWrites) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK_AND_ASSIGN(Snapshot snapshot, snapshotter_->Prepare({"c1", layers}));
  WriteFile(snapshot.rootfs + "/kept.txt", "kept");
  ASSERT_EQ(::umount2(snapshot.rootfs.c_str(), 0), 0) << errno;  // a reboot
  ASSERT_OK_AND_ASSIGN(std::vector<Snapshot> listed, snapshotter_->List());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_FALSE(listed[0].mounted);

  ASSERT_OK_AND_ASSIGN(snapshot, snapshotter_->Prepare({"c1", layers}));
  EXPECT_THAT(Names(snapshot.rootfs),
              ElementsAre("a.txt", "dir", "kept.txt", "new.txt", "over.txt"));
  EXPECT_EQ(ReadFile(snapshot.rootfs + "/kept.txt"), "kept");
  EXPECT_EQ(ReadFile(snapshot.rootfs + "/over.txt"), "top");
  EXPECT_THAT(MountsUnder(root_), testing::SizeIs(1));
  ASSERT_OK(snapshotter_->Remove("c1"));
}

TEST_F(LinuxSnapshotterTest, RemoveIsIdempotent) {
  ASSERT_OK(snapshotter_->Remove("never-prepared"));
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK(snapshotter_->Prepare({"c1", layers}).status());
  ASSERT_OK(snapshotter_->Remove("c1"));
  ASSERT_OK(snapshotter_->Remove("c1"));
  EXPECT_THAT(Names(root_), IsEmpty());
}

TEST_F(LinuxSnapshotterTest, RemoveDetachesABusyMount) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK_AND_ASSIGN(Snapshot snapshot, snapshotter_->Prepare({"c1", layers}));
  const std::string file = snapshot.rootfs + "/a.txt";
  UniqueFd busy(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(busy.valid()) << errno;
  ASSERT_OK(snapshotter_->Remove("c1"));
  EXPECT_FALSE(fs::exists(root_ + "/c1"));
  char byte;
  EXPECT_EQ(::read(busy.get(), &byte, 1), 1);  // still readable through the detached mount
  EXPECT_EQ(ReadFile(fs::path(layers[0]) / "a.txt"), "base-a");
}

TEST_F(LinuxSnapshotterTest, RejectsBadKeysWithoutTouchingTheDisk) {
  const std::vector<std::string> layers = MakeThreeLayers();
  for (const std::string& key :
       std::vector<std::string>{"../x", "a/b", "", ".", "..", std::string(129, 'k')}) {
    SCOPED_TRACE(key);
    absl::StatusOr<Snapshot> prepared = snapshotter_->Prepare({key, layers});
    EXPECT_EQ(prepared.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(prepared.status().message()), HasSubstr("key"));
    EXPECT_EQ(snapshotter_->Remove(key).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(snapshotter_->Usage(key).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(Names(root_), IsEmpty());
  EXPECT_THAT(Names(base_), ElementsAre("layers", "snapshots"));
}

TEST_F(LinuxSnapshotterTest, BadLowerDirs) {
  const std::vector<std::string> layers = MakeThreeLayers();
  const std::string missing = base_ + "/layers/missing";
  absl::Status status = snapshotter_->Prepare({"c1", {layers[0], missing}}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(missing));

  status = snapshotter_->Prepare({"c1", {layers[0] + "/a.txt"}}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  status = snapshotter_->Prepare({"c1", {"layers/base"}}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  status = snapshotter_->Prepare({"c1", {layers[0] + "/../base"}}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(Names(root_), IsEmpty());
}

TEST_F(LinuxSnapshotterTest, ReadOnlyMismatchIsFailedPrecondition) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK(snapshotter_->Prepare({"rw", layers}).status());
  ASSERT_OK(snapshotter_->Prepare({"ro", layers, true}).status());
  EXPECT_EQ(snapshotter_->Prepare({"rw", layers, true}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(snapshotter_->Prepare({"ro", layers, false}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_OK(snapshotter_->Remove("rw"));
  ASSERT_OK(snapshotter_->Remove("ro"));
}

TEST_F(LinuxSnapshotterTest, ListReportsSnapshotsAndIgnoresOtherEntries) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK(snapshotter_->Prepare({"b-rw", layers}).status());
  ASSERT_OK_AND_ASSIGN(Snapshot ro, snapshotter_->Prepare({"a-ro", layers, true}));
  ASSERT_EQ(::umount2(ro.rootfs.c_str(), 0), 0) << errno;
  WriteFile(root_ + "/notes.txt", "not a snapshot");
  fs::create_directories(root_ + "/bad key");

  ASSERT_OK_AND_ASSIGN(std::vector<Snapshot> listed, snapshotter_->List());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].key, "a-ro");
  EXPECT_TRUE(listed[0].read_only);
  EXPECT_FALSE(listed[0].mounted);
  EXPECT_EQ(listed[0].rootfs, ro.rootfs);
  EXPECT_EQ(listed[1].key, "b-rw");
  EXPECT_FALSE(listed[1].read_only);
  EXPECT_TRUE(listed[1].mounted);
  EXPECT_EQ(listed[1].upper_dir, root_ + "/b-rw/upper");
  ASSERT_OK(snapshotter_->Remove("a-ro"));
  ASSERT_OK(snapshotter_->Remove("b-rw"));
}

TEST_F(LinuxSnapshotterTest, UsageCountsTheUpperDir) {
  const std::vector<std::string> layers = MakeThreeLayers();
  ASSERT_OK_AND_ASSIGN(Snapshot snapshot, snapshotter_->Prepare({"c1", layers}));
  ASSERT_OK_AND_ASSIGN(auto before, snapshotter_->Usage("c1"));
  EXPECT_EQ(before.second, 1u);  // the upper dir itself
  WriteFile(snapshot.rootfs + "/big", std::string(1 << 20, 'x'));
  WriteFile(snapshot.rootfs + "/sub/small", "s");
  ASSERT_EQ(::link((snapshot.rootfs + "/big").c_str(), (snapshot.rootfs + "/big2").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(auto after, snapshotter_->Usage("c1"));
  EXPECT_GE(after.first, before.first + (1u << 20));
  EXPECT_LT(after.first, before.first + (2u << 20)) << "hard link counted twice";
  EXPECT_EQ(after.second, 4u);  // upper, big (twice linked), sub, sub/small
  EXPECT_EQ(snapshotter_->Usage("absent").status().code(), absl::StatusCode::kNotFound);
  ASSERT_OK(snapshotter_->Remove("c1"));
}

// Paths long enough that 60 of them overflow mount(2)'s one page, yet short
// enough for the kernel's own bound on all lower dirs together (about 19 KiB
// here), whatever the length of the test's temporary directory.
std::vector<std::string> MakeManyLayers(const std::string& dir, int count) {
  std::vector<std::string> layers;
  for (int i = 0; i < count; ++i) {
    const std::string layer = absl::StrCat(dir, "/layer-", i, "-", std::string(20, 'p'));
    WriteFile(layer + "/which", std::to_string(i));
    WriteFile(absl::StrCat(layer, "/only-", i), "");
    layers.push_back(layer);
  }
  return layers;
}

TEST_F(LinuxSnapshotterTest, SixtyLayersMountThroughLowerdirPlus) {
  const std::vector<std::string> layers = MakeManyLayers(base_ + "/layers", 60);
  OverlayMount classic;
  classic.lower_dirs = layers;
  absl::Status too_long = ClassicOverlayOptions(classic, ::sysconf(_SC_PAGESIZE)).status();
  ASSERT_EQ(too_long.code(), absl::StatusCode::kFailedPrecondition) << too_long;

  ASSERT_OK_AND_ASSIGN(Snapshot snapshot, snapshotter_->Prepare({"many", layers}));
  EXPECT_EQ(ReadFile(snapshot.rootfs + "/which"), "59");  // the top-most layer
  EXPECT_EQ(Names(snapshot.rootfs).size(), 61u);
  ASSERT_OK(snapshotter_->Remove("many"));
}

TEST_F(LinuxSnapshotterTest, ClassicMountFallback) {
  std::vector<std::string> layers = MakeThreeLayers();
  std::reverse(layers.begin(), layers.end());  // overlay order: top first
  const std::string target = base_ + "/target";
  fs::create_directories(base_ + "/upper");
  fs::create_directories(base_ + "/work");
  fs::create_directories(target);
  ASSERT_OK(MountOverlayClassic({layers, base_ + "/upper", base_ + "/work"}, target));
  ExpectMergedView(target);
  std::vector<MountInfo> mounts = MountsUnder(target);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_THAT(mounts[0].optional_fields, IsEmpty());
  ASSERT_EQ(::umount2(target.c_str(), 0), 0) << errno;

  absl::Status status = MountOverlayClassic({layers}, target);  // read-only
  ASSERT_OK(status);
  EXPECT_EQ(::mkdir((target + "/d").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  ASSERT_EQ(::umount2(target.c_str(), 0), 0) << errno;

  const std::vector<std::string> many = MakeManyLayers(base_ + "/many", 60);
  status = MountOverlayClassic({many, base_ + "/upper", base_ + "/work"}, target);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("lowerdir+"));
}

TEST_F(LinuxSnapshotterTest, MountErrorsCarryTheKernelLog) {
  const std::string target = base_ + "/target";
  fs::create_directories(target);
  const std::vector<std::string> layers = MakeThreeLayers();
  const std::string file = layers[0] + "/a.txt";
  absl::Status status = MountOverlay({{file, layers[1]}}, target);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("[e overlay: ", file, " is not a directory]")));
  EXPECT_THAT(MountsUnder(target), IsEmpty());
}

}  // namespace
}  // namespace converge

// End to end: two unpacked layers as overlayfs lower directories, checking
// that the kernel honours the whiteouts and opaque directory we wrote.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "common/testing/status_testing.h"
#include "executors/image/unpack/layer_unpack.h"
#include "executors/image/unpack/testing/tar_builder.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

namespace fs = std::filesystem;

// Unmounts on scope exit, whether or not the test's assertions held.
class ScopedMount {
 public:
  explicit ScopedMount(std::string path) : path_(std::move(path)) {}
  ~ScopedMount() {
    if (umount2(path_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "umount " << path_ << ": " << strerror(errno);
    }
  }
  ScopedMount(const ScopedMount&) = delete;
  ScopedMount& operator=(const ScopedMount&) = delete;

 private:
  std::string path_;
};

std::set<std::string> List(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

bool Mounted(const std::string& path) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    if (line.find(" " + path + " ") != std::string::npos) return true;
  }
  return false;
}

void UnpackInto(const std::string& tar, const std::string& dir) {
  fs::create_directories(dir);
  UniqueFd blob = BlobFd(Gzip(tar));
  ASSERT_OK(UnpackLayer(blob.get(), Compression::kGzip, dir).status());
}

TEST(OverlayTest, WhiteoutsAndOpaqueDirectoriesHideLowerLayers) {
  ASSERT_EQ(geteuid(), 0u) << "needs root to mount overlayfs";
  TempTestDir tmp;
  const std::string lower = tmp.Sub("lower"), upper = tmp.Sub("upper"), merged = tmp.Sub("merged");
  ASSERT_NO_FATAL_FAILURE(
      UnpackInto(MakeTar({TarFile("keep", "kept"), TarFile("gone", "deleted"),
                          TarFile("dir/old", "old"), TarFile("dir/stays", "stays"),
                          TarFile("opq/old1", "1"), TarFile("opq/sub/old2", "2")}),
                 lower));
  ASSERT_NO_FATAL_FAILURE(UnpackInto(
      MakeTar({TarFile(".wh.gone", ""), TarFile("dir/.wh.old", ""), TarFile("dir/added", "a"),
               TarDir("opq"), TarFile("opq/.wh..wh..opq", ""), TarFile("opq/new", "n")}),
      upper));
  fs::create_directories(merged);
  {
    // Two lower directories and no upper one: a read-only image rootfs.
    const std::string options = "lowerdir=" + upper + ":" + lower;
    ASSERT_EQ(mount("overlay", merged.c_str(), "overlay", MS_RDONLY, options.c_str()), 0)
        << options << ": " << strerror(errno);
    ScopedMount unmount(merged);

    EXPECT_EQ(List(merged), (std::set<std::string>{"keep", "dir", "opq"}));
    EXPECT_EQ(Read(merged + "/keep"), "kept");
    EXPECT_FALSE(fs::exists(merged + "/gone"));
    EXPECT_EQ(List(merged + "/dir"), (std::set<std::string>{"stays", "added"}));
    EXPECT_EQ(List(merged + "/opq"), std::set<std::string>{"new"});
    EXPECT_EQ(Read(merged + "/opq/new"), "n");
  }
  EXPECT_FALSE(Mounted(merged));
}

}  // namespace
}  // namespace converge

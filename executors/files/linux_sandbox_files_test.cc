#include "executors/files/linux_sandbox_files.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(LinuxSandboxFiles, WriteReplaceExistsRemove) {
  TempTestDir tmp;
  LinuxSandboxFiles files;
  const std::string dir = tmp.Sub("sandboxes/abc");
  EXPECT_FALSE(*files.Exists(dir, {"resolv.conf"}));
  ASSERT_OK(files.Write(dir, {{"resolv.conf", "nameserver 10.0.0.10\n"}, {"hostname", "web\n"}}));
  EXPECT_EQ(Read(dir + "/resolv.conf"), "nameserver 10.0.0.10\n");
  EXPECT_TRUE(*files.Exists(dir, {"resolv.conf", "hostname"}));
  struct stat st;
  ASSERT_EQ(stat((dir + "/hostname").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  ASSERT_OK(files.Write(dir, {{"resolv.conf", "nameserver 10.0.0.11\n"}}));
  EXPECT_EQ(Read(dir + "/resolv.conf"), "nameserver 10.0.0.11\n");
  EXPECT_FALSE(std::filesystem::exists(dir + "/resolv.conf.tmp"));

  ASSERT_OK(files.Remove(dir));
  EXPECT_FALSE(std::filesystem::exists(dir));
  ASSERT_OK(files.Remove(dir));  // absent is fine
}

TEST(LinuxSandboxFiles, RefusesPathsOutOfTheDirectory) {
  TempTestDir tmp;
  LinuxSandboxFiles files;
  EXPECT_EQ(files.Write(tmp.Sub("d"), {{"../escape", "x"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(files.Write("relative", {{"a", "x"}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub("escape")));
}

TEST(LinuxSandboxFiles, HostResolvConf) {
  TempTestDir tmp;
  {
    std::ofstream(tmp.Sub("resolv.conf")) << "nameserver 192.0.2.1\nsearch example.org\n";
  }
  EXPECT_EQ(*LinuxSandboxFiles(tmp.Sub("resolv.conf")).HostResolvConf(),
            "nameserver 192.0.2.1\nsearch example.org\n");
  EXPECT_EQ(*LinuxSandboxFiles(tmp.Sub("missing")).HostResolvConf(), "");
}

}  // namespace
}  // namespace converge

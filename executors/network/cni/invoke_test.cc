// RunPlugin/ExecPlugin against tiny /bin/sh plugins written into a temp bin
// dir: environment, stdin, output capture, errors, timeouts (the plugin and
// its children are killed and reaped), VERSION caching.
#include "executors/network/cni/invoke.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// True while `pid` exists and is not a zombie.
bool Running(pid_t pid) {
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (stat.empty()) return false;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] != 'Z';
}

class InvokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = dir_.Sub("bin");
    out_ = dir_.Sub("out");
    std::filesystem::create_directories(bin_);
    std::filesystem::create_directories(out_);
    env_ = PluginEnv{"ADD",
                     "sandbox-1",
                     "/proc/self/ns/net",
                     "eth0",
                     "IgnoreUnknown=1;K8S_POD_NAME=web",
                     {bin_, dir_.Sub("other")}};
  }

  // Writes an executable /bin/sh plugin; OUT in `body` is the output dir.
  std::string Plugin(const std::string& name, const std::string& body,
                     const std::string& dir = "") {
    std::string path = absl::StrCat(dir.empty() ? bin_ : dir, "/", name);
    std::ofstream(path) << "#!/bin/sh\nOUT=" << out_ << "\n" << body;
    chmod(path.c_str(), 0755);
    return path;
  }

  TempTestDir dir_;
  std::string bin_, out_;
  PluginEnv env_;
};

TEST_F(InvokeTest, FindPlugin) {
  std::filesystem::create_directories(dir_.Sub("a"));
  std::filesystem::create_directories(dir_.Sub("b"));
  std::vector<std::string> dirs = {dir_.Sub("a"), dir_.Sub("b")};
  Plugin("bridge", "exit 0", dir_.Sub("b"));
  absl::StatusOr<std::string> found = FindPlugin("bridge", dirs);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, dir_.Sub("b") + "/bridge");

  // The first dir wins once it has it.
  Plugin("bridge", "exit 0", dir_.Sub("a"));
  EXPECT_EQ(*FindPlugin("bridge", dirs), dir_.Sub("a") + "/bridge");

  // Not executable, or a directory: skipped.
  chmod((dir_.Sub("a") + "/bridge").c_str(), 0644);
  EXPECT_EQ(*FindPlugin("bridge", dirs), dir_.Sub("b") + "/bridge");
  chmod((dir_.Sub("b") + "/bridge").c_str(), 0644);
  absl::StatusOr<std::string> missing = FindPlugin("bridge", dirs);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(missing.status().message(),
            absl::StrCat("CNI plugin \"bridge\" not found in ", dirs[0], ":",
                         dirs[1], " (", dirs[0], "/bridge is not executable)"));
  std::filesystem::create_directories(dir_.Sub("a") + "/ptp");
  missing = FindPlugin("ptp", {"/nonexistent", dir_.Sub("a")});
  EXPECT_EQ(
      missing.status().message(),
      absl::StrCat("CNI plugin \"ptp\" not found in /nonexistent:", dirs[0]));

  EXPECT_EQ(FindPlugin("../sh", {"/bin"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FindPlugin("..", {"/bin"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(InvokeTest, CleanEnvironmentStdinAndSignals) {
  // What a daemon thread looks like: SIGTERM blocked, SIGPIPE ignored, an
  // fd without O_CLOEXEC, a variable in the environment.
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  struct sigaction ignore = {}, old_pipe = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  int leaky = open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaky, 3);
  setenv("CONVERGE_LEAK_CHECK", "1", 1);

  std::string path = Plugin(
      "fake",
      absl::StrCat("env > $OUT/env\n"
                   "cat > $OUT/stdin\n"
                   // Builtins only: dash blocks all signals around fork(),
                   // so a forked grep could see them blocked.
                   "while read -r key value; do case $key in SigBlk:|SigIgn:)"
                   " echo \"$key $value\";; esac; done < /proc/$$/status"
                   " > $OUT/sig\n"
                   "if [ -e /proc/$$/fd/",
                   leaky,
                   " ]; then echo leaked > $OUT/fd; else echo closed > "
                   "$OUT/fd; fi\n"
                   "echo '{\"cniVersion\": \"1.0.0\"}'\n"));
  absl::StatusOr<std::string> out =
      ExecPlugin(path, env_, "{\"config\": true}", absl::Seconds(10));

  unsetenv("CONVERGE_LEAK_CHECK");
  close(leaky);
  sigaction(SIGPIPE, &old_pipe, nullptr);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "{\"cniVersion\": \"1.0.0\"}\n");
  EXPECT_EQ(ReadFile(out_ + "/stdin"), "{\"config\": true}");
  std::vector<std::string> env;
  for (absl::string_view line :
       absl::StrSplit(ReadFile(out_ + "/env"), '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "PWD=")) env.emplace_back(line);  // dash's
  }
  std::sort(env.begin(), env.end());
  EXPECT_EQ(env, (std::vector<std::string>{
                     "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web",
                     "CNI_COMMAND=ADD",
                     "CNI_CONTAINERID=sandbox-1",
                     "CNI_IFNAME=eth0",
                     "CNI_NETNS=/proc/self/ns/net",
                     absl::StrCat("CNI_PATH=", bin_, ":", dir_.Sub("other")),
                     "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                 }));
  // Nothing blocked; no standard signal (1-31) ignored. (glibc's internal
  // signals 32 and 33 cannot be reset by posix_spawn and may be ignored when
  // the test runner ignores them.)
  std::vector<std::string> sig =
      absl::StrSplit(ReadFile(out_ + "/sig"), '\n', absl::SkipEmpty());
  ASSERT_EQ(sig.size(), 2u);
  EXPECT_EQ(sig[0], "SigBlk: 0000000000000000");
  ASSERT_TRUE(absl::StartsWith(sig[1], "SigIgn: ")) << sig[1];
  EXPECT_EQ(std::stoull(sig[1].substr(8), nullptr, 16) & 0x7fffffffULL, 0u)
      << sig[1];
  EXPECT_EQ(ReadFile(out_ + "/fd"), "closed\n");
}

TEST_F(InvokeTest, ResultGetsConfigVersionWhenMissing) {
  std::string path = Plugin(
      "fake",
      "cat >/dev/null\necho '{\"ips\": [{\"address\": \"10.0.0.2/24\"}]}'\n");
  absl::StatusOr<Json> result =
      ExecPluginWithResult(path, env_, "{}", absl::Seconds(10), "0.4.0");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->dump(),
            R"({"ips":[{"address":"10.0.0.2/24"}],"cniVersion":"0.4.0"})");

  Plugin("fake", "echo 'not json'\n");
  result = ExecPluginWithResult(path, env_, "{}", absl::Seconds(10), "1.0.0");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(absl::StrContains(result.status().message(),
                                "CNI plugin fake ADD: result: invalid JSON"))
      << result.status();

  Plugin("fake", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":1}]}'");
  result = ExecPluginWithResult(path, env_, "{}", absl::Seconds(10), "1.0.0");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(absl::StrContains(result.status().message(),
                                "\"ips[0].address\": must be a string"))
      << result.status();
}

TEST_F(InvokeTest, PluginErrorCarriesMessageAndStderr) {
  std::string path =
      Plugin("bridge",
             "echo 'failed to set bridge addr: permission denied' >&2\n"
             "printf '{\\n  \"code\": 7,\\n  \"msg\": \"bad config\",\\n"
             "  \"details\": \"subnet too small\"\\n}'\n"
             "exit 1\n");
  absl::StatusOr<std::string> out =
      ExecPlugin(path, env_, "{}", absl::Seconds(10));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(out.status().message(),
            "CNI plugin bridge ADD failed (exit status 1): bad config; subnet "
            "too small (CNI error code 7); stderr: failed to set bridge addr: "
            "permission denied");

  Plugin("bridge", "echo '{\"code\": 11, \"msg\": \"busy\"}'; exit 3\n");
  out = ExecPlugin(path, env_, "{}", absl::Seconds(10));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(out.status().message(),
            "CNI plugin bridge ADD failed (exit status 3): busy (CNI error "
            "code 11)");

  Plugin("bridge", "echo 'panic: oops'; exit 2\n");
  out = ExecPlugin(path, env_, "{}", absl::Seconds(10));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(
      out.status().message(),
      "CNI plugin bridge ADD failed (exit status 2): output: panic: oops");

  Plugin("bridge", "kill -9 $$\n");
  out = ExecPlugin(path, env_, "{}", absl::Seconds(10));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(out.status().message(), "CNI plugin bridge ADD killed by signal 9");

  // Long stderr keeps its end.
  Plugin("bridge",
         "head -c 5000 /dev/zero | tr '\\0' x >&2; echo ' the end' >&2; "
         "exit 1\n");
  out = ExecPlugin(path, env_, "{}", absl::Seconds(10));
  EXPECT_TRUE(absl::EndsWith(out.status().message(), "xxx the end"))
      << out.status();
  EXPECT_LT(out.status().message().size(), 1200u);
}

TEST_F(InvokeTest, TimeoutKillsAndReapsPluginAndChildren) {
  std::string path = Plugin("slow",
                            "echo $$ > $OUT/pid\n"
                            "echo started >&2\n"
                            "sleep 1000 &\n"
                            "echo $! > $OUT/child\n"
                            "wait\n");
  absl::Time start = absl::Now();
  absl::StatusOr<std::string> out =
      ExecPlugin(path, env_, "{}", absl::Milliseconds(500));
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(out.status().message(),
            "CNI plugin slow ADD timed out after 500ms and was killed; "
            "stderr: started");
  EXPECT_LT(took, absl::Seconds(3));
  pid_t pid = std::stoi(ReadFile(out_ + "/pid"));
  pid_t child = std::stoi(ReadFile(out_ + "/child"));
  // Reaped: not even a zombie is left.
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  // The grandchild got the group's SIGKILL (its reaping is init's job).
  absl::Time wait_until = absl::Now() + absl::Seconds(2);
  while (Running(child) && absl::Now() < wait_until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_FALSE(Running(child)) << "sleep child " << child << " survived";
}

TEST_F(InvokeTest, ExitedPluginIsNotHeldByAChildKeepingItsStdout) {
  std::string path = Plugin("quick",
                            "sleep 3 &\n"
                            "echo '{\"cniVersion\": \"1.0.0\"}'\n");
  absl::Time start = absl::Now();
  absl::StatusOr<std::string> out =
      ExecPlugin(path, env_, "{}", absl::Seconds(20));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "{\"cniVersion\": \"1.0.0\"}\n");
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(InvokeTest, LargeStdinAndCappedOutput) {
  std::string big(3 << 20, 'c');
  std::string path = Plugin("loud",
                            "cat > $OUT/stdin\n"
                            "head -c 3000000 /dev/zero | tr '\\0' a\n"
                            "head -c 2000000 /dev/zero | tr '\\0' b >&2\n");
  absl::StatusOr<PluginOutput> run =
      RunPlugin(path, env_, big, absl::Seconds(20));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_EQ(run->stdout_data.size(), kMaxPluginOutputBytes);
  EXPECT_TRUE(run->stdout_truncated);
  EXPECT_EQ(run->stderr_data.size(), kMaxPluginOutputBytes);
  EXPECT_TRUE(run->stderr_truncated);
  EXPECT_EQ(std::filesystem::file_size(out_ + "/stdin"), big.size());

  absl::StatusOr<std::string> out =
      ExecPlugin(path, env_, "{}", absl::Seconds(20));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(out.status().message(),
            "CNI plugin loud ADD: output exceeds 1048576 bytes");
}

TEST_F(InvokeTest, PluginIgnoringStdin) {
  std::string path = Plugin("mute", "exit 0\n");
  absl::StatusOr<std::string> out =
      ExecPlugin(path, env_, std::string(1 << 20, 'x'), absl::Seconds(10));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "");
}

TEST_F(InvokeTest, NotExecutable) {
  std::string path = bin_ + "/text";
  std::ofstream(path) << "hello";
  chmod(path.c_str(), 0755);  // executable bit, but no #! and not ELF
  absl::StatusOr<std::string> out =
      ExecPlugin(path, env_, "{}", absl::Seconds(10));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition)
      << out.status();
  out = ExecPlugin(bin_ + "/absent", env_, "{}", absl::Seconds(10));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition)
      << out.status();
}

TEST_F(InvokeTest, ConcurrentRuns) {
  std::string path = Plugin("echo", "cat\n");
  std::vector<std::thread> threads;
  std::vector<std::string> failures(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        std::string in = absl::StrCat("{\"t\":", t, ",\"i\":", i, "}");
        absl::StatusOr<std::string> out =
            ExecPlugin(path, env_, in, absl::Seconds(10));
        if (!out.ok() || *out != in) {
          failures[t] = out.ok() ? *out : out.status().ToString();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& failure : failures) EXPECT_EQ(failure, "");
}

TEST_F(InvokeTest, VersionIsAskedOncePerBinary) {
  std::string path =
      Plugin("vers",
             "echo run >> $OUT/runs\n"
             "[ \"$CNI_COMMAND\" = VERSION ] || exit 9\n"
             "cat > $OUT/version_stdin\n"
             "echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
             "[\"0.3.1\",\"0.4.0\",\"1.0.0\"]}'\n");
  PluginVersionCache cache;
  absl::StatusOr<std::vector<std::string>> versions =
      cache.SupportedVersions(path, absl::Seconds(10));
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(*versions, (std::vector<std::string>{"0.3.1", "0.4.0", "1.0.0"}));
  EXPECT_EQ(ReadFile(out_ + "/version_stdin"), "{\"cniVersion\":\"1.1.0\"}");
  EXPECT_OK(cache.CheckSupports(path, "0.4.0", absl::Seconds(10)));
  absl::Status unsupported =
      cache.CheckSupports(path, "1.1.0", absl::Seconds(10));
  EXPECT_EQ(unsupported.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(unsupported.message(),
            absl::StrCat("CNI plugin \"vers\" (", path,
                         ") does not support config version \"1.1.0\" "
                         "(supports 0.3.1, 0.4.0, 1.0.0)"));
  EXPECT_EQ(ReadFile(out_ + "/runs"), "run\n");

  // A replaced binary is asked again.
  Plugin("vers",
         "echo run >> $OUT/runs\n"
         "echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
         "[\"1.0.0\",\"1.1.0\"]}'\n");
  EXPECT_OK(cache.CheckSupports(path, "1.1.0", absl::Seconds(10)));
  EXPECT_EQ(ReadFile(out_ + "/runs"), "run\nrun\n");
}

TEST_F(InvokeTest, VersionOfPluginsOlderThanVersionCommand) {
  std::string path =
      Plugin("old",
             "echo '{\"code\": 4, \"msg\": \"unknown CNI_COMMAND: VERSION\"}'\n"
             "exit 1\n");
  PluginVersionCache cache;
  absl::StatusOr<std::vector<std::string>> versions =
      cache.SupportedVersions(path, absl::Seconds(10));
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(*versions, std::vector<std::string>{"0.1.0"});

  Plugin("broken", "exit 5\n");
  versions = cache.SupportedVersions(bin_ + "/broken", absl::Seconds(10));
  EXPECT_EQ(versions.status().code(), absl::StatusCode::kUnknown);
}

TEST(PluginEnvironmentTest, Order) {
  EXPECT_EQ(PluginEnvironment({"DEL", "c", "", "eth0", "", {"/a", "/b"}}),
            (std::vector<std::string>{"CNI_COMMAND=DEL", "CNI_CONTAINERID=c",
                                      "CNI_NETNS=", "CNI_IFNAME=eth0",
                                      "CNI_ARGS=", "CNI_PATH=/a:/b",
                                      "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}));
}

}  // namespace
}  // namespace converge

// Root tests of the container init on the real kernel: each test builds a
// busybox rootfs, clones a container init from the test process and checks
// what the process inside sees.
//
// The test process itself plays the single-threaded monitor: gtest runs the
// tests on the main thread and starts no other, which SetUp asserts (the init
// is cloned with a raw clone(2) and SpawnExec moves the caller's
// pid_for_children, both of which want one thread).
#include "executors/process/init/container_init.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/testing/status_testing.h"
#include "executors/process/spec/defaults.h"
#include "executors/process/testing/busybox_rootfs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge::process {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kStartTimeout = absl::Seconds(10);
constexpr int kOutputTimeoutMs = 20000;

uint64_t Cap(int cap) { return uint64_t{1} << cap; }

// Docker's default capability set.
constexpr int kDefaultCaps[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,
                                CAP_FOWNER,  CAP_MKNOD,        CAP_NET_RAW,
                                CAP_SETGID,  CAP_SETUID,       CAP_SETFCAP,
                                CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
                                CAP_KILL,    CAP_AUDIT_WRITE};

int ThreadCount() {
  int count = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Reads `fd` until EOF (or the timeout) and closes it.
std::string ReadAll(int fd) {
  std::string out;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(kOutputTimeoutMs);
  for (;;) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

struct Pipe {
  int read = -1;
  int write = -1;
};

Pipe MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  return {fds[0], fds[1]};
}

class ContainerInitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(getuid(), 0u) << "needs root";
    ASSERT_EQ(ThreadCount(), 1) << "the test process must be single-threaded";
    ASSERT_OK(testing::BuildBusyboxRootfs(rootfs()));
  }

  void TearDown() override {
    for (pid_t pid : pids_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    for (const std::string& cgroup : cgroups_) {
      EXPECT_EQ(rmdir(cgroup.c_str()), 0) << cgroup << ": " << strerror(errno);
    }
    // Nothing the inits mounted may show up in the test's mount namespace.
    std::string mountinfo = ReadFileOrEmpty("/proc/self/mountinfo");
    EXPECT_THAT(mountinfo, Not(HasSubstr(dir_.path().string())));
  }

  std::string rootfs() const { return dir_.Sub("rootfs"); }

  ContainerSpec BaseSpec(std::vector<std::string> args) {
    ContainerSpec spec;
    spec.id = "test";
    spec.rootfs = rootfs();
    spec.exec_fifo = dir_.Sub("exec.fifo");
    spec.namespaces = {{"pid", ""}, {"ipc", ""}, {"uts", ""}, {"net", ""}, {"mnt", ""}};
    spec.mounts = DefaultMounts();
    for (auto [name, minor] : std::vector<std::pair<const char*, int>>{
             {"null", 3}, {"zero", 5}, {"full", 7}, {"random", 8}, {"urandom", 9}}) {
      ContainerSpec::Device device;
      device.path = absl::StrCat("/dev/", name);
      device.major = 1;
      device.minor = minor;
      spec.devices.push_back(device);
    }
    spec.masked_paths = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/acpi",
                         "/proc/scsi", "/sys/firmware", "/proc/does-not-exist"};
    spec.readonly_paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                           "/proc/sysrq-trigger"};
    spec.hostname = "converge-test";
    spec.process.args = std::move(args);
    spec.process.env = {"PATH=/usr/bin:/bin", "HOME=/root"};
    uint64_t caps = 0;
    for (int cap : kDefaultCaps) caps |= Cap(cap);
    spec.process.capabilities = {caps, caps, caps, caps, 0};
    return spec;
  }

  // Spawns the init and waits for its setup report.
  absl::StatusOr<pid_t> Create(const ContainerSpec& spec, int out_fd) {
    absl::StatusOr<SpawnedProcess> spawned = SpawnContainerInit(spec, out_fd, out_fd);
    if (!spawned.ok()) return spawned.status();
    pids_.push_back(spawned->pid);
    absl::Status setup = AwaitSetup(spawned->sync_fd);
    if (!setup.ok()) return setup;
    return spawned->pid;
  }

  // Waits for `pid` (a child of this test) and forgets it; its exit code, or
  // 128 + signal.
  int Wait(pid_t pid) {
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    pids_.erase(std::remove(pids_.begin(), pids_.end(), pid), pids_.end());
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
  }

  struct Result {
    std::string output;  // stdout and stderr
    int exit_code = -1;
  };

  // Create, start, collect the output, wait.
  absl::StatusOr<Result> Run(const ContainerSpec& spec) {
    Pipe out = MakePipe();
    absl::StatusOr<pid_t> pid = Create(spec, out.write);
    close(out.write);
    if (!pid.ok()) {
      close(out.read);
      return pid.status();
    }
    absl::Status started = StartCreatedInit(spec.exec_fifo, *pid, kStartTimeout);
    if (!started.ok()) {
      close(out.read);
      return started;
    }
    Result result;
    result.output = ReadAll(out.read);
    result.exit_code = Wait(*pid);
    return result;
  }

  absl::StatusOr<Result> Exec(const ContainerSpec& spec, pid_t init,
                              const std::vector<std::string>& args) {
    Pipe out = MakePipe();
    absl::StatusOr<SpawnedProcess> spawned = SpawnExec(spec, init, args, out.write, out.write);
    close(out.write);
    if (!spawned.ok()) {
      close(out.read);
      return spawned.status();
    }
    pids_.push_back(spawned->pid);
    absl::Status setup = AwaitSetup(spawned->sync_fd);
    Result result;
    result.output = ReadAll(out.read);
    result.exit_code = Wait(spawned->pid);
    if (!setup.ok()) return setup;
    return result;
  }

  std::string MakeCgroup() {
    std::random_device random;
    const std::string path =
        absl::StrCat("/sys/fs/cgroup/pids/converge-test-", random() % 1000000000);
    if (mkdir(path.c_str(), 0755) != 0) {
      ADD_FAILURE() << "mkdir " << path << ": " << strerror(errno);
      return path;
    }
    cgroups_.push_back(path);
    return path;
  }

  TempTestDir dir_;
  std::vector<pid_t> pids_;
  std::vector<std::string> cgroups_;
};

TEST_F(ContainerInitTest, FifoGatesTheProcessWhichRunsAsPid1) {
  ContainerSpec spec = BaseSpec({"sh", "-c", "echo pid=$$ host=$(hostname) user=$(id -u)"});
  Pipe out = MakePipe();
  ASSERT_OK_AND_ASSIGN(pid_t pid, Create(spec, out.write));
  close(out.write);
  // Set up, but nothing runs before the start.
  struct pollfd p = {out.read, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 300), 0) << "output before start";
  ASSERT_OK(StartCreatedInit(spec.exec_fifo, pid, kStartTimeout));
  EXPECT_EQ(ReadAll(out.read), "pid=1 host=converge-test user=0\n");
  EXPECT_EQ(Wait(pid), 0);
  // The FIFO is gone: a second start is NOT_FOUND.
  EXPECT_EQ(StartCreatedInit(spec.exec_fifo, pid, kStartTimeout).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ContainerInitTest, ExitCodeAndDevicesAndDevSymlinks) {
  ContainerSpec spec = BaseSpec(
      {"sh", "-c", "stat -c '%t,%T %a' /dev/null; readlink /dev/fd; readlink /dev/ptmx; exit 7"});
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  EXPECT_EQ(result.output, "1,3 666\n/proc/self/fd\npts/ptmx\n");
  EXPECT_EQ(result.exit_code, 7);
}

TEST_F(ContainerInitTest, MissingBindSourceIsASetupErrorNamingIt) {
  ContainerSpec spec = BaseSpec({"true"});
  MountSpec bind;
  bind.destination = "/data";
  bind.type = "bind";
  bind.source = dir_.Sub("no-such-source");
  spec.mounts.push_back(bind);
  absl::StatusOr<Result> result = Run(spec);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("`" + bind.source + "`"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("No such file or directory"));
}

TEST_F(ContainerInitTest, MountDestinationThroughSymlinkStaysInsideRootfs) {
  struct stat st;
  ASSERT_NE(stat("/host", &st), 0) << "/host exists on this machine; the test would be blind";
  // etc -> /../../host: on the host that is /host; inside the rootfs, /host.
  ASSERT_EQ(rename((rootfs() + "/etc").c_str(), (rootfs() + "/etc.real").c_str()), 0);
  ASSERT_EQ(symlink("/../../host", (rootfs() + "/etc").c_str()), 0);
  const std::string source = dir_.Sub("secret");
  std::ofstream(source) << "inside\n";
  ContainerSpec spec = BaseSpec({"sh", "-c", "cat /host/evil"});
  MountSpec bind;
  bind.destination = "/etc/evil";
  bind.type = "bind";
  bind.source = source;
  bind.flags = MS_RDONLY;
  spec.mounts.push_back(bind);
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  EXPECT_EQ(result.output, "inside\n");
  EXPECT_NE(stat("/host", &st), 0) << "created outside the rootfs";
  EXPECT_EQ(stat((rootfs() + "/host/evil").c_str(), &st), 0);
}

TEST_F(ContainerInitTest, InitJoinsTheCgroupBeforeRunning) {
  const std::string cgroup = MakeCgroup();
  ContainerSpec spec = BaseSpec({"true"});
  spec.cgroup_procs_files = {cgroup + "/cgroup.procs"};
  Pipe out = MakePipe();
  ASSERT_OK_AND_ASSIGN(pid_t pid, Create(spec, out.write));
  close(out.write);
  close(out.read);
  EXPECT_EQ(ReadFileOrEmpty(cgroup + "/cgroup.procs"), absl::StrCat(pid, "\n"));
  kill(pid, SIGKILL);
  Wait(pid);
}

TEST_F(ContainerInitTest, MaskedAndReadonlyPaths) {
  // Some kernels (this one) have no /proc/kcore: masking skips it then.
  ContainerSpec spec = BaseSpec(
      {"sh", "-c",
       "[ -e /proc/kcore ] && wc -c < /proc/kcore; "
       "wc -c < /proc/timer_list; stat -c %t,%T /proc/timer_list; ls /sys/firmware | wc -l; "
       "echo x > /proc/sys/kernel/domainname; echo rc=$?"});
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  struct stat st;
  const std::string kcore = stat("/proc/kcore", &st) == 0 ? "0\n" : "";
  EXPECT_THAT(result.output, ::testing::StartsWith(kcore + "0\n1,3\n0\n"));
  EXPECT_THAT(result.output, HasSubstr("Read-only file system"));
  EXPECT_THAT(result.output, HasSubstr("rc=1"));
}

TEST_F(ContainerInitTest, ReadonlyRootfs) {
  ContainerSpec spec = BaseSpec({"sh", "-c", "touch /x; echo rc=$?; touch /dev/shm/ok && echo ok"});
  spec.readonly_rootfs = true;
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  EXPECT_THAT(result.output, HasSubstr("Read-only file system"));
  EXPECT_THAT(result.output, HasSubstr("rc=1\nok\n"));
}

// Parses "CapEff:\t00000000a80425fb" style lines.
uint64_t CapLine(const std::string& status, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::StartsWith(line, name + ":")) continue;
    uint64_t value = 0;
    absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line.substr(name.size() + 1)), &value);
    return value;
  }
  return ~uint64_t{0};
}

TEST_F(ContainerInitTest, CapabilitiesAndNoNewPrivs) {
  ContainerSpec spec = BaseSpec({"cat", "/proc/self/status"});
  spec.process.capabilities.bounding &= ~Cap(CAP_NET_RAW);
  spec.process.capabilities.effective &= ~Cap(CAP_NET_RAW);
  spec.process.capabilities.permitted &= ~Cap(CAP_NET_RAW);
  spec.process.capabilities.inheritable &= ~Cap(CAP_NET_RAW);
  spec.process.no_new_privileges = true;
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  const uint64_t eff = CapLine(result.output, "CapEff");
  EXPECT_EQ(eff & Cap(CAP_NET_RAW), 0u) << result.output;
  EXPECT_NE(eff & Cap(CAP_CHOWN), 0u) << result.output;
  EXPECT_EQ(eff & Cap(CAP_SYS_ADMIN), 0u) << result.output;
  EXPECT_EQ(CapLine(result.output, "CapBnd"), spec.process.capabilities.bounding);
  EXPECT_THAT(result.output, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(result.output, HasSubstr("Seccomp:\t2"));
}

TEST_F(ContainerInitTest, WithoutNoNewPrivsSeccompIsLoadedBeforeDroppingCaps) {
  ContainerSpec spec = BaseSpec({"cat", "/proc/self/status"});
  spec.process.no_new_privileges = false;
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  EXPECT_THAT(result.output, HasSubstr("NoNewPrivs:\t0"));
  EXPECT_THAT(result.output, HasSubstr("Seccomp:\t2"));
  EXPECT_NE(CapLine(result.output, "CapEff") & Cap(CAP_NET_RAW), 0u);
}

TEST_F(ContainerInitTest, RuntimeDefaultSeccompBlocksUnshare) {
  // unshare(CLONE_NEWUSER) needs no capability, so only seccomp stops it.
  const std::vector<std::string> args = {"sh", "-c", "unshare -U true; echo rc=$?"};
  ContainerSpec confined = BaseSpec(args);
  ASSERT_OK_AND_ASSIGN(Result blocked, Run(confined));
  EXPECT_THAT(blocked.output, HasSubstr("Operation not permitted"));
  EXPECT_THAT(blocked.output, Not(HasSubstr("rc=0")));

  ContainerSpec unconfined = BaseSpec(args);
  unconfined.process.seccomp.mode = SeccompSpec::Mode::kUnconfined;
  ASSERT_OK_AND_ASSIGN(Result allowed, Run(unconfined));
  EXPECT_EQ(allowed.output, "rc=0\n");
}

TEST_F(ContainerInitTest, LocalhostProfileDenyingMkdir) {
  ContainerSpec spec = BaseSpec({"sh", "-c", "mkdir /tmp/d; echo rc=$?; touch /tmp/f && echo ok"});
  spec.process.seccomp.mode = SeccompSpec::Mode::kProfile;
  spec.process.seccomp.profile_json = R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]})";
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  EXPECT_THAT(result.output, HasSubstr("Operation not permitted"));
  EXPECT_THAT(result.output, HasSubstr("rc=1\nok\n"));
}

TEST_F(ContainerInitTest, UserGroupsAndCwd) {
  ContainerSpec spec = BaseSpec({"sh", "-c", "id; pwd"});
  spec.process.uid = testing::kTestUid;
  spec.process.gid = testing::kTestGid;
  spec.process.additional_gids = {testing::kWheelGid, testing::kAudioGid};
  spec.process.cwd = "/home/tester";
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  EXPECT_EQ(result.output,
            "uid=1000(tester) gid=1000(tester) groups=10(wheel),29(audio)\n/home/tester\n");
}

TEST_F(ContainerInitTest, RlimitsAndOomScoreAdj) {
  ContainerSpec spec =
      BaseSpec({"sh", "-c", "ulimit -n; cat /proc/self/oom_score_adj"});
  spec.process.rlimits = {{RLIMIT_NOFILE, 321, 654}};
  spec.process.oom_score_adj = 500;
  spec.process.set_oom_score_adj = true;
  ASSERT_OK_AND_ASSIGN(Result result, Run(spec));
  EXPECT_EQ(result.output, "321\n500\n");

  // Lowering it needs CAP_SYS_RESOURCE, which this node's root may lack:
  // either applied or clamped, never a failure.
  spec.process.oom_score_adj = -500;
  ASSERT_OK_AND_ASSIGN(Result negative, Run(spec));
  EXPECT_THAT(negative.output, HasSubstr("321\n"));
  EXPECT_EQ(negative.exit_code, 0);
}

TEST_F(ContainerInitTest, MissingExecutableIsASetupError) {
  ContainerSpec spec = BaseSpec({"/bin/no-such-binary"});
  absl::StatusOr<Result> result = Run(spec);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("/bin/no-such-binary"));

  spec.process.args = {"no-such-binary"};
  result = Run(spec);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("not found in $PATH"));
}

TEST_F(ContainerInitTest, ExecRunsInTheContainer) {
  const std::string hostname_file = dir_.Sub("hostname");
  std::ofstream(hostname_file) << "from-the-bind\n";
  ContainerSpec spec = BaseSpec({"sleep", "1000"});
  MountSpec bind;
  bind.destination = "/etc/hostname";
  bind.type = "bind";
  bind.source = hostname_file;
  bind.flags = MS_RDONLY;
  spec.mounts.push_back(bind);
  const std::string cgroup = MakeCgroup();
  spec.cgroup_procs_files = {cgroup + "/cgroup.procs"};
  Pipe out = MakePipe();
  ASSERT_OK_AND_ASSIGN(pid_t init, Create(spec, out.write));
  close(out.write);
  ASSERT_OK(StartCreatedInit(spec.exec_fifo, init, kStartTimeout));

  ASSERT_OK_AND_ASSIGN(Result cat, Exec(spec, init, {"cat", "/etc/hostname"}));
  EXPECT_EQ(cat.output, "from-the-bind\n");
  EXPECT_EQ(cat.exit_code, 0);
  ASSERT_OK_AND_ASSIGN(Result ps, Exec(spec, init, {"sh", "-c", "hostname; ps -o pid,comm"}));
  EXPECT_THAT(ps.output, HasSubstr("converge-test\n"));
  EXPECT_THAT(ps.output, HasSubstr("    1 sleep"));
  ASSERT_OK_AND_ASSIGN(Result status, Exec(spec, init, {"cat", "/proc/self/status"}));
  EXPECT_EQ(CapLine(status.output, "CapBnd"), spec.process.capabilities.bounding);
  ASSERT_OK_AND_ASSIGN(Result exit, Exec(spec, init, {"sh", "-c", "exit 3"}));
  EXPECT_EQ(exit.exit_code, 3);

  absl::StatusOr<Result> missing = Exec(spec, init, {"no-such-binary"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no-such-binary"));

  // The exec processes were in the cgroup too (they are gone; the init stays).
  EXPECT_EQ(ReadFileOrEmpty(cgroup + "/cgroup.procs"), absl::StrCat(init, "\n"));
  // And the caller's own pid namespace for children is back.
  EXPECT_EQ(ReadFileOrEmpty("/proc/self/ns/pid"), ReadFileOrEmpty("/proc/self/ns/pid"));
  char own[64] = {}, children[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/pid", own, sizeof(own) - 1), 0);
  ASSERT_GT(readlink("/proc/self/ns/pid_for_children", children, sizeof(children) - 1), 0);
  EXPECT_STREQ(own, children);

  kill(init, SIGKILL);
  Wait(init);
  close(out.read);
}

TEST_F(ContainerInitTest, StartOfADeadInitIsFailedPrecondition) {
  ContainerSpec spec = BaseSpec({"true"});
  Pipe out = MakePipe();
  ASSERT_OK_AND_ASSIGN(pid_t pid, Create(spec, out.write));
  close(out.write);
  close(out.read);
  kill(pid, SIGKILL);
  // Not reaped yet: a zombie, which kill(pid, 0) would call alive.
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), 0);
  EXPECT_EQ(StartCreatedInit(spec.exec_fifo, pid, kStartTimeout).code(),
            absl::StatusCode::kFailedPrecondition);
  Wait(pid);
}

TEST_F(ContainerInitTest, StartTimesOutWhenNobodyTakesTheFifo) {
  const std::string fifo = dir_.Sub("lonely.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  pid_t sleeper = fork();
  if (sleeper == 0) {
    pause();
    _exit(0);
  }
  pids_.push_back(sleeper);
  const absl::Time start = absl::Now();
  EXPECT_EQ(StartCreatedInit(fifo, sleeper, absl::Milliseconds(300)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(StartCreatedInit(dir_.Sub("missing.fifo"), sleeper, absl::Seconds(1)).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ContainerInitTest, ContainerWithoutProcFailsAtCreate) {
  ContainerSpec spec = BaseSpec({"true"});
  spec.mounts.erase(spec.mounts.begin());  // /proc
  absl::StatusOr<Result> result = Run(spec);
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("is /proc mounted"));
}

TEST_F(ContainerInitTest, EveryRootfsPropagationPivots) {
  for (Propagation propagation :
       {Propagation::kPrivate, Propagation::kSlave, Propagation::kShared}) {
    ContainerSpec spec = BaseSpec({"sh", "-c", "echo ok"});
    spec.rootfs_propagation = propagation;
    absl::StatusOr<Result> result = Run(spec);
    ASSERT_TRUE(result.ok()) << static_cast<int>(propagation) << ": " << result.status();
    EXPECT_EQ(result->output, "ok\n");
  }
}

TEST_F(ContainerInitTest, BadNamespaceSpecsAreRejectedBeforeCloning) {
  ContainerSpec spec = BaseSpec({"true"});
  spec.namespaces.push_back({"mnt", "/proc/1/ns/mnt"});
  EXPECT_EQ(SpawnContainerInit(spec, 1, 2).status().code(), absl::StatusCode::kInvalidArgument);
  spec = BaseSpec({"true"});
  spec.namespaces.push_back({"time", ""});
  EXPECT_EQ(SpawnContainerInit(spec, 1, 2).status().code(), absl::StatusCode::kInvalidArgument);
  spec = BaseSpec({"true"});
  spec.namespaces.push_back({"user", ""});
  EXPECT_EQ(SpawnContainerInit(spec, 1, 2).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace converge::process

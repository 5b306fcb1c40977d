// Root tests of converge-monitor on the real kernel: the test process plays
// the daemon (SpawnMonitor, MonitorClient, StartCreatedInit) against the real
// monitor binary, with busybox containers in fresh namespaces and v1 cgroups.
// Every test kills what it started (monitor, processes in its cgroups) and
// removes its cgroups and directories, also on failure (TearDown).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/testing/status_testing.h"
#include "executors/process/init/container_init.h"
#include "executors/process/log/cri_log.h"
#include "executors/process/monitor/monitor_client.h"
#include "executors/process/monitor/unix_socket.h"
#include "executors/process/spec/container_spec_json.h"
#include "executors/process/spec/defaults.h"
#include "executors/process/testing/busybox_rootfs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge::process {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kCreateTimeout = absl::Seconds(20);
constexpr absl::Duration kWaitTimeout = absl::Seconds(20);

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string MonitorBinary() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "converge",
                      "/executors/process/monitor/converge-monitor");
}

pid_t ParentOf(pid_t pid) {
  std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
  int ppid = -1;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &ppid)) return -1;
  return ppid;
}

// Children of `pid` (its only thread), from /proc.
std::set<pid_t> ChildrenOf(pid_t pid) {
  std::set<pid_t> children;
  for (absl::string_view token : absl::StrSplit(
           ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/task/", pid, "/children")), ' ',
           absl::SkipEmpty())) {
    int child = 0;
    if (absl::SimpleAtoi(token, &child)) children.insert(child);
  }
  return children;
}

std::set<pid_t> CgroupPids(const std::string& cgroup) {
  std::set<pid_t> pids;
  for (absl::string_view line :
       absl::StrSplit(ReadFileOrEmpty(cgroup + "/cgroup.procs"), '\n', absl::SkipEmpty())) {
    int pid = 0;
    if (absl::SimpleAtoi(line, &pid)) pids.insert(pid);
  }
  return pids;
}

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout = kWaitTimeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

struct Log {
  std::vector<LogRecord> records;
  std::string Joined(LogStream stream) const {  // contents, lines joined by "\n"
    std::string out;
    for (const LogRecord& r : records) {
      if (r.stream != stream) continue;
      out += r.content;
      if (!r.partial) out += "\n";
    }
    return out;
  }
};

Log ParseLog(const std::string& path) {
  Log log;
  for (absl::string_view line :
       absl::StrSplit(ReadFileOrEmpty(path), '\n', absl::SkipEmpty())) {
    absl::StatusOr<LogRecord> record = ParseLogRecord(line);
    EXPECT_TRUE(record.ok()) << record.status() << " in `" << line << "`";
    if (record.ok()) log.records.push_back(*std::move(record));
  }
  return log;
}

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(getuid(), 0u) << "needs root";
    char base[] = "/tmp/cvm.XXXXXX";  // short: the socket path fits directly
    ASSERT_NE(mkdtemp(base), nullptr);
    base_ = base;
    pod_dir_ = base_ + "/pod";
    ASSERT_EQ(mkdir(pod_dir_.c_str(), 0700), 0);
    ASSERT_OK(testing::BuildBusyboxRootfs(base_ + "/rootfs"));
    std::random_device random;
    cgroup_name_ = absl::StrCat("converge-monitor-test-", random() % 1000000000);
    for (const char* controller : {"pids", "memory"}) {
      const std::string pod = absl::StrCat("/sys/fs/cgroup/", controller, "/", cgroup_name_);
      ASSERT_EQ(mkdir(pod.c_str(), 0755), 0) << pod << ": " << strerror(errno);
      cgroups_.push_back(pod);
    }
  }

  void TearDown() override {
    // The monitor first (it would reap and log), then whatever it left.
    for (const ProcessIdentity& monitor : monitors_) {
      if (IsSameProcess(monitor)) kill(monitor.pid, SIGKILL);
      EXPECT_TRUE(WaitUntil([&] { return !IsSameProcess(monitor); })) << "monitor survives";
    }
    // Children before parents.
    for (auto it = cgroups_.rbegin(); it != cgroups_.rend(); ++it) {
      WaitUntil([&] {
        std::set<pid_t> pids = CgroupPids(*it);
        for (pid_t pid : pids) kill(pid, SIGKILL);
        return pids.empty();
      });
      EXPECT_EQ(rmdir(it->c_str()), 0) << *it << ": " << strerror(errno);
    }
    std::string mountinfo = ReadFileOrEmpty("/proc/self/mountinfo");
    EXPECT_THAT(mountinfo, ::testing::Not(HasSubstr(base_)));
    std::error_code ignored;
    std::filesystem::remove_all(base_, ignored);
  }

  ProcessIdentity StartMonitor(bool pid_namespace = false, const std::string& pod_dir = "") {
    MonitorLaunch launch;
    launch.binary = MonitorBinary();
    launch.pod_dir = pod_dir.empty() ? pod_dir_ : pod_dir;
    launch.sandbox_id = "sandbox";
    launch.pod_pid_namespace = pid_namespace;
    for (size_t i = 0; i < 2; ++i) launch.cgroup_procs_files.push_back(cgroups_[i] + "/cgroup.procs");
    absl::StatusOr<ProcessIdentity> monitor = SpawnMonitor(launch);
    EXPECT_TRUE(monitor.ok()) << monitor.status() << "\n"
                              << ReadFileOrEmpty(launch.pod_dir + "/monitor.log");
    if (!monitor.ok()) return {};
    monitors_.push_back(*monitor);
    return *monitor;
  }

  // A container directory with spec.json, its own pids+memory cgroups, the
  // log at <dir>/ctr.log.
  ContainerSpec WriteSpec(const std::string& id, std::vector<std::string> args,
                          const std::string& pid_ns_path = "") {
    ContainerSpec spec;
    spec.id = id;
    spec.sandbox_id = "sandbox";
    spec.rootfs = base_ + "/rootfs";
    const std::string dir = ContainerDir(id);
    std::filesystem::create_directories(dir);
    spec.exec_fifo = dir + "/exec.fifo";
    spec.log_path = dir + "/ctr.log";
    spec.namespaces = {{"pid", pid_ns_path}, {"ipc", ""}, {"uts", ""}, {"net", ""}, {"mnt", ""}};
    spec.mounts = DefaultMounts();
    spec.devices = DefaultDevices();
    spec.hostname = id;
    spec.process.args = std::move(args);
    spec.process.env = {"PATH=/bin", "HOME=/root"};
    spec.process.capabilities = {~0ull >> 23, ~0ull >> 23, ~0ull >> 23, 0, 0};
    spec.process.seccomp.mode = SeccompSpec::Mode::kUnconfined;
    for (const char* controller : {"pids", "memory"}) {
      const std::string cgroup =
          absl::StrCat("/sys/fs/cgroup/", controller, "/", cgroup_name_, "/", id);
      if (mkdir(cgroup.c_str(), 0755) == 0) cgroups_.push_back(cgroup);
      spec.cgroup_procs_files.push_back(cgroup + "/cgroup.procs");
    }
    std::ofstream(dir + "/spec.json") << SerializeContainerSpec(spec);
    return spec;
  }

  std::string ContainerDir(const std::string& id) const { return base_ + "/containers/" + id; }
  std::string CgroupOf(const std::string& id, const char* controller = "pids") const {
    return absl::StrCat("/sys/fs/cgroup/", controller, "/", cgroup_name_, "/", id);
  }

  // Create + start.
  absl::StatusOr<ProcessIdentity> Run(const ContainerSpec& spec) {
    MonitorClient client(pod_dir_);
    absl::StatusOr<ProcessIdentity> init =
        client.CreateContainer(spec.id, ContainerDir(spec.id), kCreateTimeout);
    if (!init.ok()) return init.status();
    absl::Status started = StartCreatedInit(spec.exec_fifo, init->pid, absl::Seconds(10));
    if (!started.ok()) return started;
    return init;
  }

  std::optional<ExitRecord> WaitExit(const std::string& id) {
    std::optional<ExitRecord> record;
    WaitUntil([&] {
      absl::StatusOr<std::optional<ExitRecord>> read = ReadExitRecord(ContainerDir(id));
      if (read.ok()) record = *read;
      return record.has_value();
    });
    return record;
  }

  std::string base_;
  std::string pod_dir_;
  std::string cgroup_name_;
  std::vector<std::string> cgroups_;
  std::vector<ProcessIdentity> monitors_;
};

TEST_F(MonitorTest, CreateStartExitRecordAndCriLog) {
  ProcessIdentity monitor = StartMonitor();
  ASSERT_GT(monitor.pid, 0);
  // Detached: not our child, in the pod cgroup, its own session.
  EXPECT_NE(ParentOf(monitor.pid), getpid());
  // In a session of its own (the launcher's, which exited: the monitor is no
  // session leader and never gets a controlling terminal).
  EXPECT_NE(getsid(monitor.pid), getsid(0));
  EXPECT_NE(getsid(monitor.pid), monitor.pid);
  EXPECT_EQ(CgroupPids(cgroups_[0]).count(monitor.pid), 1u);
  EXPECT_EQ(CgroupPids(cgroups_[1]).count(monitor.pid), 1u);

  ContainerSpec spec = WriteSpec(
      "c1", {"sh", "-c", "echo out; echo err >&2; printf '%20000s\\n' x; printf partial; exit 3"});
  const absl::Time before = absl::Now();
  MonitorClient client(pod_dir_);
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init,
                       client.CreateContainer("c1", ContainerDir("c1"), kCreateTimeout));
  EXPECT_TRUE(IsSameProcess(init));
  EXPECT_EQ(ParentOf(init.pid), monitor.pid);
  ASSERT_OK_AND_ASSIGN(monitor_protocol::Reply status, client.Status());
  ASSERT_EQ(status.containers.size(), 1u);
  EXPECT_EQ(status.containers[0].pid, init.pid);
  EXPECT_EQ(status.containers[0].state, "created");
  ASSERT_OK(StartCreatedInit(spec.exec_fifo, init.pid, absl::Seconds(10)));

  std::optional<ExitRecord> exit = WaitExit("c1");
  ASSERT_TRUE(exit.has_value()) << ReadFileOrEmpty(pod_dir_ + "/monitor.log");
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_EQ(exit->signal, 0);
  EXPECT_FALSE(exit->oom_killed);
  EXPECT_EQ(exit->reason, "Error");
  EXPECT_GE(exit->finished_at_unix_nanos, absl::ToUnixNanos(before));
  EXPECT_LE(exit->finished_at_unix_nanos, absl::ToUnixNanos(absl::Now()));
  EXPECT_FALSE(IsSameProcess(init));
  // Reaped: not a zombie child of the monitor.
  EXPECT_EQ(ChildrenOf(monitor.pid).count(init.pid), 0u);

  Log log = ParseLog(spec.log_path);
  EXPECT_EQ(log.Joined(LogStream::kStderr), "err\n");
  const std::string long_line = std::string(19999, ' ') + "x";
  EXPECT_EQ(log.Joined(LogStream::kStdout), "out\n" + long_line + "\npartial");
  std::vector<std::pair<bool, size_t>> stdout_records;  // partial, size
  for (const LogRecord& r : log.records) {
    if (r.stream == LogStream::kStdout) stdout_records.push_back({r.partial, r.content.size()});
  }
  EXPECT_THAT(stdout_records, ElementsAre(std::pair<bool, size_t>{false, 3},
                                          std::pair<bool, size_t>{true, 16384},
                                          std::pair<bool, size_t>{false, 20000 - 16384},
                                          std::pair<bool, size_t>{true, 7}));
  // The monitor forgot the container; the exit record is the truth now.
  EXPECT_EQ(client.ReopenLog("c1").code(), absl::StatusCode::kNotFound);
}

TEST_F(MonitorTest, CreateErrorsArePassedThrough) {
  StartMonitor();
  MonitorClient client(pod_dir_);
  // No spec.json.
  std::filesystem::create_directories(ContainerDir("nospec"));
  EXPECT_EQ(client.CreateContainer("nospec", ContainerDir("nospec"), kCreateTimeout).status().code(),
            absl::StatusCode::kNotFound);
  // The init's setup fails: the executable does not exist.
  WriteSpec("missing", {"/bin/does-not-exist"});
  absl::StatusOr<ProcessIdentity> missing =
      client.CreateContainer("missing", ContainerDir("missing"), kCreateTimeout);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("does-not-exist"));
  ASSERT_OK_AND_ASSIGN(monitor_protocol::Reply status, client.Status());
  EXPECT_TRUE(status.containers.empty());
  // The same id works once fixed; a second create of it is refused.
  WriteSpec("missing", {"sleep", "100"});
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init,
                       client.CreateContainer("missing", ContainerDir("missing"), kCreateTimeout));
  EXPECT_EQ(client.CreateContainer("missing", ContainerDir("missing"), kCreateTimeout).status().code(),
            absl::StatusCode::kAlreadyExists);
  // Unknown container.
  EXPECT_EQ(client.Exec("nope", {"true"}, absl::Seconds(5)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client.ReopenLog("nope").code(), absl::StatusCode::kNotFound);
  kill(init.pid, SIGKILL);
}

TEST_F(MonitorTest, ReopenLogAfterRename) {
  StartMonitor();
  ContainerSpec spec = WriteSpec(
      "c1", {"sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); usleep 20000; done"});
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init, Run(spec));
  ASSERT_TRUE(WaitUntil([&] { return ParseLog(spec.log_path).records.size() >= 3; }));
  const std::string rotated = spec.log_path + ".1";
  ASSERT_EQ(rename(spec.log_path.c_str(), rotated.c_str()), 0);
  MonitorClient client(pod_dir_);
  ASSERT_OK(client.ReopenLog("c1"));
  ASSERT_TRUE(WaitUntil([&] { return ParseLog(spec.log_path).records.size() >= 3; }));
  ASSERT_EQ(kill(init.pid, SIGKILL), 0);
  std::optional<ExitRecord> exit = WaitExit("c1");
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGKILL);
  EXPECT_EQ(exit->exit_code, 128 + SIGKILL);
  // Nothing lost, nothing twice: the old file ends where the new one starts.
  std::vector<std::string> lines;
  for (const std::string& file : {rotated, spec.log_path}) {
    for (const LogRecord& r : ParseLog(file).records) lines.push_back(r.content);
  }
  ASSERT_GE(lines.size(), 6u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i], absl::StrCat("line", i));
  EXPECT_GE(ParseLog(rotated).records.size(), 3u);
}

TEST_F(MonitorTest, ExecOutputExitCodeAndTimeout) {
  ProcessIdentity monitor = StartMonitor();
  ContainerSpec spec = WriteSpec("c1", {"sleep", "1000"});
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init, Run(spec));
  MonitorClient client(pod_dir_);

  ASSERT_OK_AND_ASSIGN(MonitorClient::ExecResult hi,
                       client.Exec("c1", {"echo", "hi"}, absl::Seconds(10)));
  EXPECT_EQ(hi.exit_code, 0);
  EXPECT_EQ(hi.stdout_data, "hi\n");
  EXPECT_EQ(hi.stderr_data, "");

  ASSERT_OK_AND_ASSIGN(
      MonitorClient::ExecResult split,
      client.Exec("c1", {"sh", "-c", "echo o; echo e >&2; hostname; exit 7"}, absl::ZeroDuration()));
  EXPECT_EQ(split.exit_code, 7);
  EXPECT_EQ(split.stdout_data, "o\nc1\n");  // in the container's uts namespace
  EXPECT_EQ(split.stderr_data, "e\n");

  // More than 16 MiB: capped, and the process still finishes.
  ASSERT_OK_AND_ASSIGN(
      MonitorClient::ExecResult big,
      client.Exec("c1", {"sh", "-c", "head -c 20000000 /dev/zero; echo done >&2"},
                  absl::Seconds(30)));
  EXPECT_EQ(big.exit_code, 0);
  EXPECT_EQ(big.stdout_data.size(), 16u << 20);
  EXPECT_TRUE(big.stdout_truncated);
  EXPECT_EQ(big.stderr_data, "done\n");
  EXPECT_FALSE(big.stderr_truncated);

  // A missing command is an error, not an exit code.
  EXPECT_FALSE(client.Exec("c1", {"/bin/nope"}, absl::Seconds(10)).ok());

  const absl::Time start = absl::Now();
  absl::StatusOr<MonitorClient::ExecResult> slow =
      client.Exec("c1", {"sh", "-c", "sleep 100 & sleep 100"}, absl::Seconds(1));
  EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded) << slow.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The whole process group is gone and reaped: the container cgroup holds
  // the init alone, the monitor has the init as its only child.
  EXPECT_TRUE(WaitUntil([&] { return CgroupPids(CgroupOf("c1")) == std::set<pid_t>{init.pid}; },
                        absl::Seconds(5)))
      << CgroupPids(CgroupOf("c1")).size();
  EXPECT_EQ(ChildrenOf(monitor.pid), std::set<pid_t>{init.pid});
  ASSERT_OK_AND_ASSIGN(monitor_protocol::Reply status, client.Status());
  ASSERT_EQ(status.containers.size(), 1u);
  EXPECT_EQ(status.containers[0].execs, 0);
  kill(init.pid, SIGKILL);
  EXPECT_TRUE(WaitExit("c1").has_value());
}

TEST_F(MonitorTest, ExecKilledWhenTheClientGoesAway) {
  ProcessIdentity monitor = StartMonitor();
  ContainerSpec spec = WriteSpec("c1", {"sleep", "1000"});
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init, Run(spec));
  {
    ASSERT_OK_AND_ASSIGN(UnixAddress address, UnixAddress::For(pod_dir_, kMonitorSocket));
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(connect(fd.get(), address.sockaddr(), address.length()), 0);
    monitor_protocol::Request request;
    request.op = monitor_protocol::Op::kExec;
    request.container_id = "c1";
    request.args = {"sleep", "100"};
    const std::string frame = monitor_protocol::EncodeRequest(request);
    ASSERT_EQ(write(fd.get(), frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
    ASSERT_TRUE(WaitUntil([&] { return CgroupPids(CgroupOf("c1")).size() == 2; }));
  }  // closed before any reply
  EXPECT_TRUE(WaitUntil([&] { return ChildrenOf(monitor.pid) == std::set<pid_t>{init.pid}; }));
  EXPECT_EQ(CgroupPids(CgroupOf("c1")), std::set<pid_t>{init.pid});
}

TEST_F(MonitorTest, TwoContainersInOneMonitor) {
  ProcessIdentity monitor = StartMonitor();
  ContainerSpec a = WriteSpec("a", {"sh", "-c", "echo from-a; exit 0"});
  ContainerSpec b = WriteSpec("b", {"sh", "-c", "read line; echo from-b; exit 4"});
  MonitorClient client(pod_dir_);
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init_a,
                       client.CreateContainer("a", ContainerDir("a"), kCreateTimeout));
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init_b,
                       client.CreateContainer("b", ContainerDir("b"), kCreateTimeout));
  EXPECT_EQ(ChildrenOf(monitor.pid), (std::set<pid_t>{init_a.pid, init_b.pid}));
  ASSERT_OK_AND_ASSIGN(monitor_protocol::Reply status, client.Status());
  EXPECT_EQ(status.containers.size(), 2u);
  ASSERT_OK(StartCreatedInit(a.exec_fifo, init_a.pid, absl::Seconds(10)));
  ASSERT_OK(StartCreatedInit(b.exec_fifo, init_b.pid, absl::Seconds(10)));
  std::optional<ExitRecord> exit_a = WaitExit("a");
  ASSERT_TRUE(exit_a.has_value());
  EXPECT_EQ(exit_a->exit_code, 0);
  EXPECT_EQ(exit_a->reason, "Completed");
  // stdin is /dev/null: b's `read` fails at once. Separate records and logs.
  std::optional<ExitRecord> exit_b = WaitExit("b");
  ASSERT_TRUE(exit_b.has_value());
  EXPECT_EQ(exit_b->exit_code, 4);
  EXPECT_EQ(ParseLog(a.log_path).Joined(LogStream::kStdout), "from-a\n");
  EXPECT_EQ(ParseLog(b.log_path).Joined(LogStream::kStdout), "from-b\n");
  EXPECT_TRUE(ChildrenOf(monitor.pid).empty());
}

TEST_F(MonitorTest, SpawnIsIdempotentAndShutdownWithNothingExits) {
  ProcessIdentity first = StartMonitor();
  ProcessIdentity second = StartMonitor();
  EXPECT_EQ(first.pid, second.pid);
  EXPECT_EQ(first.start_time, second.start_time);
  MonitorClient client(pod_dir_);
  ASSERT_OK(client.Shutdown());
  EXPECT_TRUE(WaitUntil([&] { return !IsSameProcess(first); }, absl::Seconds(5)));
  EXPECT_FALSE(std::filesystem::exists(pod_dir_ + "/monitor.sock"));
  EXPECT_EQ(client.Status().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client.Shutdown().code(), absl::StatusCode::kUnavailable);
}

TEST_F(MonitorTest, ShutdownWaitsForContainers) {
  ProcessIdentity monitor = StartMonitor();
  ContainerSpec spec = WriteSpec("c1", {"sleep", "1000"});
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init, Run(spec));
  MonitorClient client(pod_dir_);
  ASSERT_OK(client.Shutdown());
  WriteSpec("c2", {"sleep", "1000"});
  EXPECT_EQ(client.CreateContainer("c2", ContainerDir("c2"), kCreateTimeout).status().code(),
            absl::StatusCode::kUnavailable);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_TRUE(IsSameProcess(monitor));
  // Exec still works while it drains.
  ASSERT_OK_AND_ASSIGN(MonitorClient::ExecResult result,
                       client.Exec("c1", {"true"}, absl::Seconds(10)));
  EXPECT_EQ(result.exit_code, 0);
  ASSERT_EQ(kill(init.pid, SIGTERM), 0);  // pid 1 of its namespace ignores it
  ASSERT_EQ(kill(init.pid, SIGKILL), 0);
  EXPECT_TRUE(WaitExit("c1").has_value());
  EXPECT_TRUE(WaitUntil([&] { return !IsSameProcess(monitor); }, absl::Seconds(5)));
}

TEST_F(MonitorTest, PodPidNamespaceIsShared) {
  ProcessIdentity monitor = StartMonitor(/*pid_namespace=*/true);
  MonitorClient client(pod_dir_);
  ASSERT_OK_AND_ASSIGN(pid_t holder, client.PodPidNamespaceHolder());
  EXPECT_EQ(ParentOf(holder), monitor.pid);
  EXPECT_EQ(ReadFileOrEmpty(pod_dir_ + "/pidns"), absl::StrCat(holder, "\n"));
  const std::string ns = absl::StrCat("/proc/", holder, "/ns/pid");
  ContainerSpec a = WriteSpec("a", {"sleep", "1000"}, ns);
  ContainerSpec b = WriteSpec(
      "b", {"sh", "-c", "cat /proc/1/comm; for p in /proc/[0-9]*; do cat $p/comm; done"}, ns);
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init_a, Run(a));
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init_b, Run(b));
  std::optional<ExitRecord> exit_b = WaitExit("b");
  ASSERT_TRUE(exit_b.has_value());
  EXPECT_EQ(exit_b->exit_code, 0);
  const std::string out = ParseLog(b.log_path).Joined(LogStream::kStdout);
  EXPECT_TRUE(absl::StartsWith(out, "converge-pidns\n")) << out;  // pid 1: the holder
  EXPECT_THAT(out, HasSubstr("\nsleep\n"));                        // container a
  // A process of b's is not pid 1: b is not in a namespace of its own.
  ASSERT_OK_AND_ASSIGN(MonitorClient::ExecResult a_sees,
                       client.Exec("a", {"sh", "-c", "cat /proc/1/comm"}, absl::Seconds(10)));
  EXPECT_EQ(a_sees.stdout_data, "converge-pidns\n");
  (void)init_b;
  // The holder goes with the monitor.
  kill(init_a.pid, SIGKILL);
  ASSERT_TRUE(WaitExit("a").has_value());
  ASSERT_OK(client.Shutdown());
  EXPECT_TRUE(WaitUntil([&] { return !IsSameProcess(monitor); }, absl::Seconds(5)));
  EXPECT_TRUE(WaitUntil([&] { return kill(holder, 0) != 0; }, absl::Seconds(5)));
}

TEST_F(MonitorTest, OomKillIsRecorded) {
  StartMonitor();
  // `tail` keeps the unterminated "line" it reads in memory: unbounded.
  ContainerSpec spec = WriteSpec("c1", {"sh", "-c", "tail /dev/zero; exit 0"});
  std::ofstream(CgroupOf("c1", "memory") + "/memory.limit_in_bytes") << (32 << 20);
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init, Run(spec));
  std::optional<ExitRecord> exit = WaitExit("c1");
  ASSERT_TRUE(exit.has_value());
  // The shell survives its OOM-killed child and exits 0: still OOMKilled,
  // as containerd reports any OOM kill in the container.
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_TRUE(exit->oom_killed);
  EXPECT_EQ(exit->reason, "OOMKilled");
  (void)init;
}

TEST_F(MonitorTest, LongPodDirPath) {
  std::string long_dir = base_ + "/" + std::string(60, 'd') + "/" + std::string(60, 'e');
  ASSERT_GT(long_dir.size() + strlen("/monitor.sock"), 107u);
  std::filesystem::create_directories(long_dir);
  ProcessIdentity monitor = StartMonitor(false, long_dir);
  ASSERT_GT(monitor.pid, 0);
  MonitorClient client(long_dir);
  ASSERT_OK_AND_ASSIGN(monitor_protocol::Reply status, client.Status());
  EXPECT_EQ(status.pid, monitor.pid);
  ASSERT_OK(client.Shutdown());
  EXPECT_TRUE(WaitUntil([&] { return !IsSameProcess(monitor); }, absl::Seconds(5)));
}

TEST_F(MonitorTest, MonitorDeathBreaksThePipesNotTheContainers) {
  ProcessIdentity monitor = StartMonitor();
  ContainerSpec spec = WriteSpec("c1", {"sh", "-c", "trap '' PIPE; while echo x; do usleep 10000; done; "
                                                    "sleep 1000; true"});
  ASSERT_OK_AND_ASSIGN(ProcessIdentity init, Run(spec));
  ASSERT_TRUE(WaitUntil([&] { return ParseLog(spec.log_path).records.size() >= 2; }));
  ASSERT_EQ(kill(monitor.pid, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return !IsSameProcess(monitor); }));
  // The container's writes fail with EPIPE (its loop ends) instead of
  // blocking on a pipe nobody reads; it keeps running.
  ASSERT_TRUE(WaitUntil([&] {
    std::string comm = ReadFileOrEmpty(absl::StrCat("/proc/", init.pid, "/task/", init.pid, "/children"));
    return !comm.empty();  // the `sleep 1000` after the loop
  }));
  EXPECT_TRUE(IsSameProcess(init));
  MonitorClient client(pod_dir_);
  EXPECT_EQ(client.Status().status().code(), absl::StatusCode::kUnavailable);
  // A new monitor can take over the pod dir (stale socket, released lock).
  ProcessIdentity again = StartMonitor();
  EXPECT_NE(again.pid, monitor.pid);
  ASSERT_OK_AND_ASSIGN(monitor_protocol::Reply status, client.Status());
  EXPECT_EQ(status.pid, again.pid);
  EXPECT_TRUE(status.containers.empty());
}

}  // namespace
}  // namespace converge::process

namespace converge::process {
namespace {

struct Footprint {
  int64_t rss_kib = -1;
  int64_t pss_kib = -1;
  int64_t private_kib = 0;  // Private_Clean + Private_Dirty
};

Footprint ReadFootprint(pid_t pid) {
  Footprint footprint;
  for (absl::string_view line :
       absl::StrSplit(ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/smaps_rollup")), '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = 0;
    if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &kib)) continue;
    if (fields[0] == "Rss:") footprint.rss_kib = kib;
    if (fields[0] == "Pss:") footprint.pss_kib = kib;
    if (fields[0] == "Private_Clean:" || fields[0] == "Private_Dirty:") footprint.private_kib += kib;
  }
  return footprint;
}

// Not a benchmark: records the monitor's memory idle, with 1 and with 50
// containers (each with an exec done, so the exec path's allocations are in),
// and fails if it grows out of proportion.
TEST_F(MonitorTest, Footprint) {
  ProcessIdentity monitor = StartMonitor();
  MonitorClient client(pod_dir_);
  auto report = [&](const char* label) {
    Footprint f = ReadFootprint(monitor.pid);
    std::cout << "monitor footprint " << label << ": Rss=" << f.rss_kib << " KiB Pss=" << f.pss_kib
              << " KiB Private=" << f.private_kib << " KiB" << std::endl;
    RecordProperty(absl::StrCat("rss_kib_", label), static_cast<int>(f.rss_kib));
    RecordProperty(absl::StrCat("pss_kib_", label), static_cast<int>(f.pss_kib));
    return f;
  };
  Footprint idle = report("idle");
  std::vector<pid_t> inits;
  for (int i = 0; i < 50; ++i) {
    const std::string id = absl::StrCat("c", i);
    ContainerSpec spec = WriteSpec(id, {"sh", "-c", "echo started; sleep 1000; true"});
    ASSERT_OK_AND_ASSIGN(ProcessIdentity init, Run(spec));
    inits.push_back(init.pid);
    ASSERT_OK_AND_ASSIGN(MonitorClient::ExecResult result,
                         client.Exec(id, {"echo", "hi"}, absl::Seconds(10)));
    EXPECT_EQ(result.stdout_data, "hi\n");
    if (i == 0) report("1_container");
  }
  Footprint fifty = report("50_containers");
  for (pid_t pid : inits) kill(pid, SIGKILL);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(WaitExit(absl::StrCat("c", i)).has_value());
  report("after_exits");
  EXPECT_LT(idle.pss_kib, 8 * 1024);
  EXPECT_LT(fifty.private_kib - idle.private_kib, 50 * 64);  // < 64 KiB per container
}

}  // namespace
}  // namespace converge::process

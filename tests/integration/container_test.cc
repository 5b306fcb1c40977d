// Containers through the real socket: images pulled from Debian's
// docker-registry on loopback (testdata/images), pods with the bridge
// network, containers run by the pod's converge-monitor, checked on the
// kernel objects themselves (namespaces, cgroup files, /proc of the
// processes) and through CRI. Every test ends with the leak check, which
// also finds stray monitors and container processes.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/testing/status_testing.h"
#include "nlohmann/json.hpp"
#include "tests/integration/harness.h"
#include "tests/registry/local_registry.h"

namespace converge::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using runtime::v1::ContainerConfig;

#define ASSERT_OK_STATUS(expr)                        \
  do {                                                \
    const absl::Status status_ = (expr);              \
    ASSERT_TRUE(status_.ok()) << status_ << daemon_->log(); \
  } while (0)

ino_t InodeOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

// One record of a CRI log file.
struct LogRecord {
  std::string stream;
  std::string tag;
  std::string content;
};

std::vector<LogRecord> ReadLog(const std::string& path) {
  std::vector<LogRecord> records;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
    if (parts.size() < 3) continue;
    records.push_back({parts[1], parts[2], parts.size() == 4 ? parts[3] : ""});
  }
  return records;
}

class ContainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto registry = LocalRegistry::Start();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    absl::Status pushed = registry_->PushTestImages();
    ASSERT_TRUE(pushed.ok()) << pushed;
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }

  void SetUp() override {
    daemon_ = &env_.StartDaemon({"--insecure_registries=127.0.0.1"});
    absl::StatusOr<std::string> pulled = daemon_->PullImage(Image("library/busybox:latest"));
    ASSERT_TRUE(pulled.ok()) << pulled.status() << daemon_->log();
  }

  void TearDown() override {
    // Whatever a test left running is removed through CRI, then checked.
    for (const std::string& pod : pods_) {
      (void)daemon_->StopPod(pod);
      (void)daemon_->RemovePod(pod);
    }
    daemon_->Stop();
    // The test's own host mounts (volumes), deepest first.
    for (auto it = host_mounts_.rbegin(); it != host_mounts_.rend(); ++it) {
      umount2(it->c_str(), MNT_DETACH);
    }
    EXPECT_THAT(env_.Leaks(), IsEmpty());
  }

  std::string Image(const std::string& path) const {
    return registry_->host_port() + "/" + path;
  }

  std::string RunPod(const std::string& name, bool privileged = false) {
    runtime::v1::PodSandboxConfig config = PodConfigFor(name);
    config.mutable_linux()->mutable_security_context()->set_privileged(privileged);
    absl::StatusOr<std::string> id = daemon_->RunPod(config);
    EXPECT_TRUE(id.ok()) << id.status() << daemon_->log();
    if (!id.ok()) return "";
    pods_.push_back(*id);
    pod_configs_[*id] = config;
    return *id;
  }

  runtime::v1::PodSandboxConfig PodConfigFor(const std::string& name) const {
    runtime::v1::PodSandboxConfig config = env_.PodConfig(name);
    config.set_log_directory(LogDir(name));
    return config;
  }
  std::string LogDir(const std::string& pod_name) const {
    return env_.base_dir() + "/logs/" + pod_name;
  }

  ContainerConfig Config(const std::string& name, std::vector<std::string> command,
                         const std::string& image = "library/busybox:latest") const {
    ContainerConfig config;
    config.mutable_metadata()->set_name(name);
    config.mutable_image()->set_image(Image(image));
    for (const std::string& arg : command) config.add_command(arg);
    config.set_log_path(name + "/0.log");
    // As kubelet sends it for a pod without shareProcessNamespace.
    config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
        runtime::v1::CONTAINER);
    return config;
  }

  absl::StatusOr<std::string> Create(const std::string& pod, const ContainerConfig& config) {
    return daemon_->CreateContainer(pod, config, pod_configs_[pod]);
  }

  // Creates and starts; returns the id ("" after a failed assertion).
  std::string Run(const std::string& pod, const ContainerConfig& config) {
    absl::StatusOr<std::string> id = Create(pod, config);
    EXPECT_TRUE(id.ok()) << id.status() << daemon_->log();
    if (!id.ok()) return "";
    absl::Status started = daemon_->StartContainer(*id);
    EXPECT_TRUE(started.ok()) << started << daemon_->log();
    return *id;
  }

  int PidOf(const std::string& id) {
    absl::StatusOr<runtime::v1::ContainerStatusResponse> status =
        daemon_->ContainerStatus(id, /*verbose=*/true);
    if (!status.ok() || status->info().count("info") == 0) return 0;
    return nlohmann::json::parse(status->info().at("info"))["pid"].get<int>();
  }

  // The container's cgroup directory in one v1 hierarchy (e.g. "memory").
  std::string CgroupDir(const std::string& hierarchy, const std::string& pod_name,
                        const std::string& id) const {
    return absl::StrCat("/sys/fs/cgroup/", hierarchy, env_.cgroup_parent(), "/pod-", pod_name,
                        "/converge-", id);
  }

  std::string Exec(const std::string& id, const std::vector<std::string>& cmd,
                   int* exit_code = nullptr) {
    absl::StatusOr<runtime::v1::ExecSyncResponse> response = daemon_->ExecSync(id, cmd);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return "";
    if (exit_code != nullptr) *exit_code = response->exit_code();
    return response->stdout() + response->stderr();
  }

  static LocalRegistry* registry_;
  TestEnv env_;
  TestDaemon* daemon_ = nullptr;
  std::vector<std::string> pods_;
  std::vector<std::string> host_mounts_;
  std::map<std::string, runtime::v1::PodSandboxConfig> pod_configs_;
};

LocalRegistry* ContainerTest::registry_ = nullptr;

TEST_F(ContainerTest, RunsInThePodsNamespacesAndCgroupWithItsLimits) {
  const std::string pod = RunPod("web");
  ContainerConfig config = Config("sleeper", {"sleep", "3600"});
  config.mutable_linux()->mutable_resources()->set_cpu_shares(512);
  config.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(64 << 20);
  const std::string id = Run(pod, config);
  ASSERT_FALSE(id.empty());

  ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatus status,
                              daemon_->AwaitContainerState(id, runtime::v1::CONTAINER_RUNNING));
  EXPECT_GT(status.started_at(), 0);
  const int pid = PidOf(id);
  ASSERT_GT(pid, 0);
  // The pod's pinned net and uts namespaces; its own mount and pid namespaces.
  EXPECT_EQ(InodeOf(absl::StrCat("/proc/", pid, "/ns/net")), InodeOf(daemon_->NetPin(pod)));
  EXPECT_NE(InodeOf(absl::StrCat("/proc/", pid, "/ns/mnt")), InodeOf("/proc/self/ns/mnt"));
  EXPECT_NE(InodeOf(absl::StrCat("/proc/", pid, "/ns/pid")), InodeOf("/proc/self/ns/pid"));
  EXPECT_EQ(Exec(id, {"cat", "/proc/1/comm"}), "sleep\n") << "pid 1 of its own pid namespace";
  EXPECT_EQ(Exec(id, {"hostname"}), "web\n");
  // Its cgroup, with the limits asked for.
  const std::string memory = CgroupDir("memory", "web", id);
  EXPECT_THAT(ReadFile(absl::StrCat("/proc/", pid, "/cgroup")), HasSubstr("/converge-" + id));
  EXPECT_EQ(ReadFile(memory + "/memory.limit_in_bytes"), absl::StrCat(64 << 20, "\n"));
  EXPECT_EQ(ReadFile(CgroupDir("cpu", "web", id) + "/cpu.shares"), "512\n");
  EXPECT_THAT(ReadFile(memory + "/cgroup.procs"), HasSubstr(std::to_string(pid)));

  // sleep is pid 1 and has no SIGTERM handler: the grace period runs out.
  const absl::Time before = absl::Now();
  ASSERT_OK_STATUS(daemon_->StopContainer(id, 2));
  EXPECT_GE(absl::Now() - before, absl::Seconds(2));
  ASSERT_OK_AND_ASSIGN(status, daemon_->AwaitContainerState(id, runtime::v1::CONTAINER_EXITED));
  EXPECT_EQ(status.exit_code(), 137);
  EXPECT_EQ(status.reason(), "Error");
  ASSERT_OK_STATUS(daemon_->RemoveContainer(id));
  EXPECT_TRUE(absl::IsNotFound(daemon_->ContainerStatus(id).status()));
  EXPECT_FALSE(fs::exists(memory));
}

TEST_F(ContainerTest, ExitCodesAndCriLogsWithLongLinesAndRotation) {
  const std::string pod = RunPod("logs");
  const std::string ok = Run(pod, Config("ok", {"sh", "-c", "echo out; echo err >&2"}));
  const std::string fails = Run(
      pod, Config("fails", {"sh", "-c", "head -c 20000 /dev/zero | tr '\\0' y; echo; exit 1"}));
  ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatus status,
                              daemon_->AwaitContainerState(ok, runtime::v1::CONTAINER_EXITED));
  EXPECT_EQ(status.exit_code(), 0);
  EXPECT_EQ(status.reason(), "Completed");
  EXPECT_EQ(status.log_path(), LogDir("logs") + "/ok/0.log");
  std::vector<LogRecord> records = ReadLog(status.log_path());
  ASSERT_EQ(records.size(), 2u) << ReadFile(status.log_path());
  std::sort(records.begin(), records.end(),
            [](const LogRecord& a, const LogRecord& b) { return a.stream > b.stream; });
  EXPECT_EQ(records[0].stream, "stdout");
  EXPECT_EQ(records[0].tag, "F");
  EXPECT_EQ(records[0].content, "out");
  EXPECT_EQ(records[1].stream, "stderr");
  EXPECT_EQ(records[1].content, "err");

  ASSERT_OK_AND_ASSIGN(status, daemon_->AwaitContainerState(fails, runtime::v1::CONTAINER_EXITED));
  EXPECT_EQ(status.exit_code(), 1);
  EXPECT_EQ(status.reason(), "Error");
  records = ReadLog(status.log_path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].tag, "P");
  EXPECT_EQ(records[0].content, std::string(16384, 'y'));
  EXPECT_EQ(records[1].tag, "F");
  EXPECT_EQ(records[1].content, std::string(20000 - 16384, 'y'));

  // Rotation: kubelet renames the file and asks for a reopen.
  const std::string ticker =
      Run(pod, Config("ticker", {"sh", "-c", "while true; do echo tick; sleep 0.1; done"}));
  const std::string log = LogDir("logs") + "/ticker/0.log";
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  grpc::ClientContext context;
  runtime::v1::ReopenContainerLogRequest reopen;
  reopen.set_container_id(ticker);
  runtime::v1::ReopenContainerLogResponse reopened;
  grpc::Status grpc_status = daemon_->cri().ReopenContainerLog(&context, reopen, &reopened);
  ASSERT_TRUE(grpc_status.ok()) << grpc_status.error_message();
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_THAT(ReadFile(log), HasSubstr("stdout F tick"));
  EXPECT_THAT(ReadFile(log + ".1"), HasSubstr("stdout F tick"));
  ASSERT_OK_STATUS(daemon_->StopContainer(ticker, 0));
  ASSERT_OK_AND_ASSIGN(status, daemon_->AwaitContainerState(ticker, runtime::v1::CONTAINER_EXITED));
  EXPECT_EQ(status.exit_code(), 137);
}

TEST_F(ContainerTest, ExecSyncOutputExitCodeTimeoutAndNoZombies) {
  const std::string pod = RunPod("exec");
  const std::string id = Run(pod, Config("app", {"sleep", "3600"}));
  ASSERT_FALSE(id.empty());
  absl::StatusOr<runtime::v1::ExecSyncResponse> response =
      daemon_->ExecSync(id, {"sh", "-c", "echo hi; echo oops >&2; exit 3"});
  ASSERT_TRUE(response.ok()) << response.status() << daemon_->log();
  EXPECT_EQ(response->stdout(), "hi\n");
  EXPECT_EQ(response->stderr(), "oops\n");
  EXPECT_EQ(response->exit_code(), 3);

  const absl::Time before = absl::Now();
  response = daemon_->ExecSync(id, {"sh", "-c", "sleep 100 & sleep 100"}, /*timeout_seconds=*/1);
  EXPECT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(response.status())) << response.status();
  EXPECT_LT(absl::Now() - before, absl::Seconds(10));
  // Neither the exec nor what it started is left, and nothing is a zombie.
  absl::SleepFor(absl::Milliseconds(200));
  const std::string procs = ReadFile(CgroupDir("pids", "exec", id) + "/cgroup.procs");
  EXPECT_EQ(procs, absl::StrCat(PidOf(id), "\n")) << "only the init remains";
  for (const std::string& process : env_.ProcessesOfOurs()) {
    const std::string pid = process.substr(0, process.find(' '));
    const std::string stat = ReadFile("/proc/" + pid + "/stat");
    const size_t close = stat.rfind(')');
    ASSERT_NE(close, std::string::npos);
    EXPECT_NE(stat[close + 2], 'Z') << "zombie: " << process;
  }
  response = daemon_->ExecSync(id, {"nonexistent-binary"});
  EXPECT_TRUE(absl::IsNotFound(response.status())) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr("nonexistent-binary"));
}

TEST_F(ContainerTest, StopRunsTheSignalHandlerOrKillsAfterTheGracePeriod) {
  const std::string pod = RunPod("stop");
  const std::string polite = Run(
      pod, Config("polite", {"sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"}));
  const std::string stubborn = Run(
      pod, Config("stubborn", {"sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"}));
  ASSERT_OK_STATUS(daemon_->StopContainer(polite, 30));
  ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatus status,
                              daemon_->AwaitContainerState(polite, runtime::v1::CONTAINER_EXITED));
  EXPECT_EQ(status.exit_code(), 7);
  const absl::Time before = absl::Now();
  ASSERT_OK_STATUS(daemon_->StopContainer(stubborn, 1));
  ASSERT_OK_AND_ASSIGN(status, daemon_->AwaitContainerState(stubborn, runtime::v1::CONTAINER_EXITED));
  EXPECT_EQ(status.exit_code(), 137);
  EXPECT_GE(absl::Now() - before, absl::Seconds(1));
  EXPECT_TRUE(daemon_->StopContainer(stubborn, 1).ok()) << "stop is idempotent";
}

TEST_F(ContainerTest, SecurityDefaultsAreEnforced) {
  const std::string pod = RunPod("secure");
  ContainerConfig config = Config("app", {"sleep", "3600"});
  auto* security = config.mutable_linux()->mutable_security_context();
  security->set_no_new_privs(true);
  security->mutable_capabilities()->add_drop_capabilities("NET_RAW");
  security->mutable_seccomp()->set_profile_type(runtime::v1::SecurityProfile::RuntimeDefault);
  security->add_masked_paths("/proc/timer_list");
  security->add_readonly_paths("/proc/sys");
  const std::string id = Run(pod, config);
  ASSERT_FALSE(id.empty());
  const std::string status = Exec(id, {"cat", "/proc/self/status"});
  EXPECT_THAT(status, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(status, HasSubstr("Seccomp:\t2"));
  // containerd's default set without NET_RAW (bit 13).
  EXPECT_THAT(status, HasSubstr("CapEff:\t00000000a80405fb"));
  int code = 0;
  EXPECT_EQ(Exec(id, {"cat", "/proc/timer_list"}, &code), "");
  std::string out = Exec(id, {"sh", "-c", "echo 1 > /proc/sys/kernel/domainname"}, &code);
  EXPECT_NE(code, 0);
  EXPECT_THAT(out, HasSubstr("Read-only file system"));
  out = Exec(id, {"unshare", "-r", "true"}, &code);
  EXPECT_NE(code, 0) << "seccomp and dropped caps forbid new user namespaces: " << out;
  out = Exec(id, {"ping", "-c", "1", "127.0.0.1"}, &code);
  EXPECT_NE(code, 0) << "no raw sockets without NET_RAW: " << out;
  out = Exec(id, {"sh", "-c", "touch /newfile && echo written"}, &code);
  EXPECT_EQ(code, 0) << out;
}

TEST_F(ContainerTest, ReadOnlyRootfsAndUserByNameAndUid) {
  ASSERT_TRUE(daemon_->PullImage(Image("library/busybox-user:latest")).ok());
  const std::string pod = RunPod("users");
  // The image says User "app"; its entrypoint is sh -c.
  const std::string by_name =
      Run(pod, Config("by-name", {"sleep", "3600"}, "library/busybox-user:latest"));
  EXPECT_EQ(Exec(by_name, {"id"}), "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n");
  ContainerConfig by_uid = Config("by-uid", {"sleep", "3600"});
  by_uid.mutable_linux()->mutable_security_context()->mutable_run_as_user()->set_value(33);
  by_uid.mutable_linux()->mutable_security_context()->set_readonly_rootfs(true);
  const std::string uid = Run(pod, by_uid);
  EXPECT_EQ(Exec(uid, {"id", "-u"}), "33\n");
  int code = 0;
  std::string out = Exec(uid, {"sh", "-c", "touch /tmp/x"}, &code);
  EXPECT_NE(code, 0);
  EXPECT_THAT(out, HasSubstr("Read-only file system"));
}

TEST_F(ContainerTest, MountsWithEachPropagationMode) {
  const std::string pod = RunPod("mounts", /*privileged=*/true);
  const std::string host = env_.base_dir() + "/volumes";
  for (const char* dir : {"rw", "ro", "private", "slave", "shared"}) {
    fs::create_directories(host + "/" + dir);
  }
  std::ofstream(host + "/ro/file") << "data";
  // Propagation needs a shared source, as kubelet's directories are on a
  // systemd host (this one's / is private).
  ASSERT_EQ(mount(host.c_str(), host.c_str(), nullptr, MS_BIND, nullptr), 0);
  host_mounts_.push_back(host);
  ASSERT_EQ(mount(nullptr, host.c_str(), nullptr, MS_SHARED, nullptr), 0);
  ContainerConfig config = Config("app", {"sleep", "3600"});
  config.mutable_linux()->mutable_security_context()->set_privileged(true);
  auto add = [&](const std::string& dir, bool readonly, runtime::v1::MountPropagation propagation) {
    auto* m = config.add_mounts();
    m->set_container_path("/mnt/" + dir);
    m->set_host_path(host + "/" + dir);
    m->set_readonly(readonly);
    m->set_propagation(propagation);
  };
  add("rw", false, runtime::v1::PROPAGATION_PRIVATE);
  add("ro", true, runtime::v1::PROPAGATION_PRIVATE);
  add("private", false, runtime::v1::PROPAGATION_PRIVATE);
  add("slave", false, runtime::v1::PROPAGATION_HOST_TO_CONTAINER);
  add("shared", false, runtime::v1::PROPAGATION_BIDIRECTIONAL);
  const std::string id = Run(pod, config);
  ASSERT_FALSE(id.empty());
  int code = 0;
  Exec(id, {"sh", "-c", "echo hi > /mnt/rw/out"}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(ReadFile(host + "/rw/out"), "hi\n");
  EXPECT_EQ(Exec(id, {"cat", "/mnt/ro/file"}), "data");
  std::string out = Exec(id, {"sh", "-c", "echo x > /mnt/ro/file"}, &code);
  EXPECT_NE(code, 0);
  EXPECT_THAT(out, HasSubstr("Read-only file system"));
  // Host -> container: only the slave (and shared) mounts see new host mounts.
  for (const char* dir : {"private", "slave"}) {
    const std::string target = host + "/" + dir + "/sub";
    fs::create_directories(target);
    ASSERT_EQ(mount("tmpfs", target.c_str(), "tmpfs", 0, "size=1m"), 0) << dir;
    host_mounts_.push_back(target);
    std::ofstream(target + "/marker") << dir;
  }
  EXPECT_EQ(Exec(id, {"cat", "/mnt/slave/sub/marker"}), "slave");
  Exec(id, {"cat", "/mnt/private/sub/marker"}, &code);
  EXPECT_NE(code, 0) << "a private mount does not see the host's new mounts";
  // Container -> host through the bidirectional mount.
  Exec(id, {"sh", "-c", "mkdir -p /mnt/shared/sub && mount -t tmpfs tmpfs /mnt/shared/sub && "
                        "echo back > /mnt/shared/sub/marker"}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(ReadFile(host + "/shared/sub/marker"), "back\n")
      << "container mounts:\n" << Exec(id, {"cat", "/proc/self/mountinfo"})
      << "host mounts:\n" << ReadFile("/proc/self/mountinfo");
  host_mounts_.push_back(host + "/shared/sub");
  ASSERT_OK_STATUS(daemon_->StopContainer(id, 0));
  ASSERT_OK_STATUS(daemon_->RemoveContainer(id));
}

TEST_F(ContainerTest, OomKillIsReported) {
  const std::string pod = RunPod("oom");
  // The shell itself holds 128 MiB in a variable, under a 16 MiB limit.
  ContainerConfig config =
      Config("hog", {"sh", "-c", "x=$(head -c 134217728 /dev/zero | tr '\\0' a); echo survived"});
  config.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(16 << 20);
  const std::string id = Run(pod, config);
  ASSERT_FALSE(id.empty());
  ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatus status,
                              daemon_->AwaitContainerState(id, runtime::v1::CONTAINER_EXITED,
                                                           absl::Seconds(60)));
  EXPECT_EQ(status.reason(), "OOMKilled");
  EXPECT_EQ(status.exit_code(), 137);
}

TEST_F(ContainerTest, PodPidNamespaceIsSharedBetweenItsContainers) {
  runtime::v1::PodSandboxConfig config = PodConfigFor("shared-pid");
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
      runtime::v1::POD);
  absl::StatusOr<std::string> pod = daemon_->RunPod(config);
  ASSERT_TRUE(pod.ok()) << pod.status();
  pods_.push_back(*pod);
  pod_configs_[*pod] = config;
  ContainerConfig first = Config("first", {"sleep", "3601"});
  ContainerConfig second = Config("second", {"sleep", "3602"});
  for (ContainerConfig* c : {&first, &second}) {
    c->mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
        runtime::v1::POD);
  }
  const std::string a = Run(*pod, first);
  const std::string b = Run(*pod, second);
  ASSERT_FALSE(a.empty() || b.empty());
  EXPECT_THAT(Exec(a, {"ps", "-o", "args"}), HasSubstr("sleep 3602"));
  EXPECT_THAT(Exec(b, {"ps", "-o", "args"}), HasSubstr("sleep 3601"));
  EXPECT_EQ(InodeOf(absl::StrCat("/proc/", PidOf(a), "/ns/pid")),
            InodeOf(absl::StrCat("/proc/", PidOf(b), "/ns/pid")));
}

TEST_F(ContainerTest, StatsAndLiveResourceUpdates) {
  const std::string pod = RunPod("stats");
  const std::string id = Run(pod, Config("app", {"sleep", "3600"}));
  ASSERT_FALSE(id.empty());
  grpc::ClientContext context;
  runtime::v1::ContainerStatsRequest request;
  request.set_container_id(id);
  runtime::v1::ContainerStatsResponse response;
  grpc::Status status = daemon_->cri().ContainerStats(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.stats().attributes().id(), id);
  EXPECT_GT(response.stats().memory().working_set_bytes().value(), 0u);
  EXPECT_GT(response.stats().cpu().usage_core_nano_seconds().value(), 0u);

  grpc::ClientContext update_context;
  runtime::v1::UpdateContainerResourcesRequest update;
  update.set_container_id(id);
  update.mutable_linux()->set_memory_limit_in_bytes(32 << 20);
  update.mutable_linux()->set_cpu_shares(256);
  runtime::v1::UpdateContainerResourcesResponse updated;
  status = daemon_->cri().UpdateContainerResources(&update_context, update, &updated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(ReadFile(CgroupDir("memory", "stats", id) + "/memory.limit_in_bytes"),
            absl::StrCat(32 << 20, "\n"));
  EXPECT_EQ(ReadFile(CgroupDir("cpu", "stats", id) + "/cpu.shares"), "256\n");
  ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatusResponse after, daemon_->ContainerStatus(id));
  EXPECT_EQ(after.status().resources().linux().memory_limit_in_bytes(), 32 << 20);

  grpc::ClientContext pod_context;
  runtime::v1::PodSandboxStatsRequest pod_request;
  pod_request.set_pod_sandbox_id(pod);
  runtime::v1::PodSandboxStatsResponse pod_response;
  status = daemon_->cri().PodSandboxStats(&pod_context, pod_request, &pod_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(pod_response.stats().linux().containers_size(), 1);
  EXPECT_GE(pod_response.stats().linux().memory().working_set_bytes().value(),
            response.stats().memory().working_set_bytes().value());
}

// The operator's tools on a live daemon: convergectl ps, exec, logs,
// inspect, stop, rm, and the container rows of dump.
TEST_F(ContainerTest, ConvergectlDrivesContainers) {
  const std::string pod = RunPod("ctl");
  const std::string id = Run(pod, Config("talker", {"sh", "-c", "echo hello; sleep 3600"}));
  ASSERT_FALSE(id.empty());
  const std::string ctl = absl::StrCat(RunfilePath("cmd/convergectl/convergectl"), " --socket ",
                                       daemon_->socket(), " --root ", daemon_->root());
  auto ps = Shell(ctl + " ps");
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_THAT(*ps, HasSubstr(id.substr(0, 13)));
  EXPECT_THAT(*ps, HasSubstr("Running"));
  EXPECT_THAT(*ps, HasSubstr("talker"));
  auto exec = Shell(absl::StrCat(ctl, " exec ", id.substr(0, 13), " cat /etc/hostname"));
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ(*exec, "ctl\n");
  absl::SleepFor(absl::Milliseconds(200));
  auto logs = Shell(absl::StrCat(ctl, " logs ", id));
  ASSERT_TRUE(logs.ok()) << logs.status();
  EXPECT_EQ(*logs, "hello\n");
  auto inspect = Shell(absl::StrCat(ctl, " inspect ", id));
  ASSERT_TRUE(inspect.ok()) << inspect.status();
  EXPECT_THAT(*inspect, HasSubstr("CONTAINER_RUNNING"));
  auto dump = Shell(ctl + " dump");
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_THAT(*dump, HasSubstr(id));
  ASSERT_TRUE(Shell(absl::StrCat(ctl, " stop ", id)).ok());
  ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatus status,
                       daemon_->AwaitContainerState(id, runtime::v1::CONTAINER_EXITED));
  EXPECT_EQ(status.exit_code(), 137);
  ASSERT_TRUE(Shell(absl::StrCat(ctl, " rm ", id)).ok());
  ps = Shell(ctl + " ps -a --quiet");
  ASSERT_TRUE(ps.ok());
  EXPECT_EQ(*ps, "");
}

// A monitor killed from outside: its container is reported exited with
// reason MonitorExited and code 255 (never as a clean exit), and killed.
TEST_F(ContainerTest, ADeadMonitorIsReportedLoudly) {
  const std::string pod = RunPod("orphaned");
  const std::string id = Run(pod, Config("app", {"sleep", "3600"}));
  ASSERT_FALSE(id.empty());
  ASSERT_GT(PidOf(id), 0);
  ASSERT_OK_AND_ASSIGN(runtime::v1::PodSandboxStatusResponse status,
                       daemon_->PodStatus(pod, /*verbose=*/true));
  const int monitor =
      nlohmann::json::parse(status.info().at("info"))["actual"]["monitor"].value("pid", 0);
  ASSERT_GT(monitor, 0);
  ASSERT_EQ(kill(monitor, SIGKILL), 0);
  ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatus exited,
                       daemon_->AwaitContainerState(id, runtime::v1::CONTAINER_EXITED));
  EXPECT_EQ(exited.exit_code(), 255);
  EXPECT_EQ(exited.reason(), "MonitorExited");
  EXPECT_THAT(exited.message(), HasSubstr("converge-monitor exited"));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(ReadFile(CgroupDir("pids", "orphaned", id) + "/cgroup.procs"), "")
      << "the container's processes were killed";
  // The pod takes new containers: a new monitor starts for them.
  const std::string next = Run(pod, Config("next", {"sleep", "3600"}));
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(Exec(next, {"echo", "alive"}), "alive\n");
}

TEST_F(ContainerTest, BadInputIsRefusedAndLeavesNothing) {
  const std::string pod = RunPod("bad");
  auto code_of = [&](const ContainerConfig& config, const std::string& sandbox) {
    absl::StatusOr<std::string> id = daemon_->CreateContainer(sandbox, config, pod_configs_[pod]);
    return id.ok() ? absl::StatusCode::kOk : id.status().code();
  };
  EXPECT_EQ(code_of(Config("a", {"true"}), "no-such-sandbox"), absl::StatusCode::kNotFound);
  EXPECT_EQ(code_of(Config("a", {"true"}, "library/never-pulled:latest"), pod),
            absl::StatusCode::kNotFound);
  ContainerConfig relative = Config("a", {"true"});
  relative.add_mounts()->set_container_path("relative/path");
  relative.mutable_mounts(0)->set_host_path("/tmp");
  EXPECT_EQ(code_of(relative, pod), absl::StatusCode::kInvalidArgument);
  ContainerConfig missing = Config("a", {"true"});
  missing.add_mounts()->set_container_path("/data");
  missing.mutable_mounts(0)->set_host_path(env_.base_dir() + "/does-not-exist");
  EXPECT_EQ(code_of(missing, pod), absl::StatusCode::kInvalidArgument);
  ContainerConfig capability = Config("a", {"true"});
  capability.mutable_linux()->mutable_security_context()->mutable_capabilities()->add_add_capabilities(
      "NOT_A_CAP");
  EXPECT_EQ(code_of(capability, pod), absl::StatusCode::kInvalidArgument);
  const std::string profile = env_.base_dir() + "/bad-profile.json";
  std::ofstream(profile) << "{\"defaultAction\": \"SCMP_ACT_NOPE\"}";
  ContainerConfig seccomp = Config("a", {"true"});
  auto* sp = seccomp.mutable_linux()->mutable_security_context()->mutable_seccomp();
  sp->set_profile_type(runtime::v1::SecurityProfile::Localhost);
  sp->set_localhost_ref(profile);
  EXPECT_EQ(code_of(seccomp, pod), absl::StatusCode::kInvalidArgument);
  ContainerConfig shares = Config("a", {"true"});
  shares.mutable_linux()->mutable_resources()->set_cpu_shares(1);
  EXPECT_EQ(code_of(shares, pod), absl::StatusCode::kInvalidArgument);

  grpc::ClientContext context;
  runtime::v1::ListContainersResponse listed;
  ASSERT_TRUE(daemon_->cri().ListContainers(&context, {}, &listed).ok());
  EXPECT_EQ(listed.containers_size(), 0);
  // Only the pod's own cgroup: no container cgroup was made.
  for (const std::string& cgroup : env_.CgroupsUnder("/pod-bad")) {
    EXPECT_TRUE(absl::EndsWith(cgroup, "/pod-bad") ||
                absl::EndsWith(cgroup, "/pod-bad/converge-" + pod))
        << cgroup << daemon_->log();
  }
}

// converged dies with SIGKILL at each named point of container creation,
// start and removal; kubelet's retries after the restart find the same
// container, and nothing is left behind.
TEST_F(ContainerTest, CrashPointsInContainerStepsConvergeAfterRestart) {
  const std::vector<std::string> points = {
      "persisted:start-monitor", "after:start-monitor",  "persisted:create-container",
      "after:create",            "before:start",         "after:start",
      "before:kill",             "before:cleanup",       "after:cleanup",
      "before:forget"};
  int round = 0;
  for (const std::string& point : points) {
    SCOPED_TRACE(point);
    daemon_->Stop();
    daemon_->Start({"--insecure_registries=127.0.0.1", "--crash_at=" + point});
    const std::string pod = RunPod(absl::StrCat("crash", round++));
    const ContainerConfig config = Config("app", {"sleep", "3600"});
    // Drives the container to removal from wherever it is, as kubelet does
    // from what it lists; false when the daemon died on the way.
    auto lifecycle = [&]() {
      grpc::ClientContext context;
      runtime::v1::ListContainersRequest request;
      request.mutable_filter()->set_pod_sandbox_id(pod);
      runtime::v1::ListContainersResponse listed;
      if (!daemon_->cri().ListContainers(&context, request, &listed).ok()) return false;
      std::string id;
      if (listed.containers_size() > 0) {
        id = listed.containers(0).id();
      } else {
        absl::StatusOr<std::string> created = Create(pod, config);
        if (!created.ok()) return false;
        id = *created;
      }
      for (int step = 0; step < 4; ++step) {
        absl::StatusOr<runtime::v1::ContainerStatusResponse> status = daemon_->ContainerStatus(id);
        if (!status.ok()) return false;
        switch (status->status().state()) {
          case runtime::v1::CONTAINER_CREATED:
            if (!daemon_->StartContainer(id).ok()) return false;
            break;
          case runtime::v1::CONTAINER_RUNNING:
            if (!daemon_->StopContainer(id, 0).ok()) return false;
            break;
          default:
            return daemon_->RemoveContainer(id).ok();
        }
      }
      return false;
    };
    if (!lifecycle()) {
      daemon_->WaitExit(absl::Seconds(20));
      daemon_->Start({"--insecure_registries=127.0.0.1"});
      ASSERT_TRUE(lifecycle()) << daemon_->log();
    } else {
      ADD_FAILURE() << "the daemon did not die at " << point;
    }
    grpc::ClientContext context;
    runtime::v1::ListContainersResponse listed;
    ASSERT_TRUE(daemon_->cri().ListContainers(&context, {}, &listed).ok());
    EXPECT_EQ(listed.containers_size(), 0);
    ASSERT_TRUE(daemon_->StopPod(pod).ok());
    ASSERT_TRUE(daemon_->RemovePod(pod).ok());
    EXPECT_THAT(env_.Leaks(), IsEmpty());
  }
}

TEST_F(ContainerTest, KillNineWhileTwentyContainersRunLosesNoExit) {
  std::vector<std::string> pods = {RunPod("k0"), RunPod("k1"), RunPod("k2"), RunPod("k3")};
  struct Expect {
    std::string id;
    int pid;
    int exit_code;  // -1: still running
  };
  std::vector<Expect> expected;
  for (int i = 0; i < 20; ++i) {
    const std::string& pod = pods[i % pods.size()];
    ContainerConfig config;
    int exit_code = -1;
    if (i % 2 == 0) {
      // Exits while the daemon is down, with its own code.
      exit_code = i;
      config = Config(absl::StrCat("c", i), {"sh", "-c", absl::StrCat("sleep 2; exit ", i)});
    } else {
      config = Config(absl::StrCat("c", i), {"sleep", "3600"});
    }
    const std::string id = Run(pod, config);
    ASSERT_FALSE(id.empty());
    expected.push_back({id, PidOf(id), exit_code});
  }
  daemon_->Kill9();
  absl::SleepFor(absl::Seconds(3));
  daemon_->Start();
  for (const Expect& e : expected) {
    if (e.exit_code >= 0) {
      ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatus status,
                                  daemon_->AwaitContainerState(e.id, runtime::v1::CONTAINER_EXITED));
      EXPECT_EQ(status.exit_code(), e.exit_code) << e.id;
    } else {
      ASSERT_OK_AND_ASSIGN(runtime::v1::ContainerStatus status,
                                  daemon_->AwaitContainerState(e.id, runtime::v1::CONTAINER_RUNNING));
      EXPECT_EQ(PidOf(e.id), e.pid) << "not restarted: " << e.id;
    }
  }
}

}  // namespace
}  // namespace converge::testing

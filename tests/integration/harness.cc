#include "tests/integration/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "executors/cgroup/linux_cgroup.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

extern char** environ;

namespace converge::testing {
namespace {

namespace fs = std::filesystem;

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::vector<std::string> CgroupMounts() {
  std::vector<std::string> mounts;
  auto layout = LinuxCgroupDriver::DiscoverLayout();
  if (!layout.ok()) return mounts;
  for (const auto& hierarchy : layout->hierarchies) mounts.push_back(hierarchy.mount_point);
  return mounts;
}

// Mount points listed in /proc/self/mountinfo, unescaped enough for our paths.
std::vector<std::string> AllMountPoints() {
  std::vector<std::string> points;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() > 4) points.push_back(fields[4]);
  }
  return points;
}

bool SocketAccepts(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::string RunfilePath(const std::string& workspace_relative) {
  // `bazel test` sets TEST_SRCDIR; a `bazel run` binary finds its runfiles
  // beside itself.
  std::string root;
  if (const char* srcdir = getenv("TEST_SRCDIR")) {
    root = srcdir;
  } else if (const char* runfiles = getenv("RUNFILES_DIR")) {
    root = runfiles;
  } else {
    std::error_code error;
    root = fs::read_symlink("/proc/self/exe", error).string() + ".runfiles";
  }
  return absl::StrCat(root, "/converge/", workspace_relative);
}

BackgroundProcess::BackgroundProcess(const std::string& command, const std::string& log_path) {
  std::string shell = "/bin/sh", dash_c = "-c", script = command;
  char* argv[] = {shell.data(), dash_c.data(), script.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  int rc = posix_spawn(&pid_, argv[0], &actions, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    ADD_FAILURE() << "posix_spawn sh -c " << command << ": " << strerror(rc);
  }
}

void BackgroundProcess::Kill() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool BackgroundProcess::WaitExit(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (pid_ > 0) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::string> Shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed");
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  int status = pclose(pipe);
  if (status != 0) {
    return absl::InternalError(absl::StrCat("`", command, "` exited ", status, ": ", out));
  }
  return out;
}

TestDaemon::TestDaemon(std::string name, std::string base_dir, std::string cgroup_parent,
                       std::string cni_conf_dir, std::string cni_bin_dirs)
    : name_(std::move(name)),
      cni_conf_dir_(std::move(cni_conf_dir)),
      cni_bin_dirs_(std::move(cni_bin_dirs)),
      socket_(absl::StrCat(base_dir, "/", name_, ".sock")),
      root_(absl::StrCat(base_dir, "/", name_, "-root")),
      state_(absl::StrCat(base_dir, "/", name_, "-state")),
      log_path_(absl::StrCat(base_dir, "/", name_, ".log")),
      cgroup_parent_(std::move(cgroup_parent)) {}

TestDaemon::~TestDaemon() {
  if (pid_ > 0) Kill9();
}

void TestDaemon::Start(const std::vector<std::string>& extra_flags, bool wait) {
  std::vector<std::string> args = {
      // A test process that dies without its destructors must not leave a
      // daemon behind: setpriv execs converged with a parent-death signal.
      "/usr/bin/setpriv",
      "--pdeathsig=KILL",
      "--",
      RunfilePath("cmd/converged/converged"),
      "--socket=" + socket_,
      "--root=" + root_,
      "--state=" + state_,
      "--default_cgroup_parent=" + cgroup_parent_,
      "--cni_conf_dir=" + cni_conf_dir_,
      "--cni_bin_dirs=" + cni_bin_dirs_,
      "--resync_period=1s",
      "--metrics_address=127.0.0.1:0",  // daemons run side by side
      "--log_level=debug",
  };
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    ADD_FAILURE_AT(__FILE__, __LINE__) << "posix_spawn " << argv[0] << ": " << strerror(rc);
    return;
  }
  // The channel is made once the socket accepts: a channel that failed to
  // connect first waits out gRPC's reconnect backoff before trying again.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (wait && !SocketAccepts(socket_)) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE_AT(__FILE__, __LINE__) << "converged exited during start-up:\n" << log();
      return;
    }
    if (absl::Now() > deadline) {
      ADD_FAILURE_AT(__FILE__, __LINE__) << "converged did not listen within 30s:\n" << log();
      return;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  channel_ = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  stub_ = runtime::v1::RuntimeService::NewStub(channel_);
}

void TestDaemon::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void TestDaemon::Stop() {
  if (pid_ <= 0) return;
  // An idle client connection would hold the server's graceful shutdown
  // until its deadline.
  stub_.reset();
  channel_.reset();
  kill(pid_, SIGTERM);
  int status = WaitExit(absl::Seconds(30));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "converged did not exit cleanly, status " << status << "\n" << log();
}

int TestDaemon::WaitExit(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (pid_ > 0) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    if (absl::Now() > deadline) {
      ADD_FAILURE_AT(__FILE__, __LINE__) << "converged did not exit\n" << log();
      Kill9();
      return -1;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return status;
}

std::string TestDaemon::log() const {
  std::ifstream in(log_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<std::string> TestDaemon::RunPod(const runtime::v1::PodSandboxConfig& config,
                                               absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  runtime::v1::RunPodSandboxResponse response;
  absl::Status status = FromGrpc(stub_->RunPodSandbox(&context, request, &response));
  if (!status.ok()) return status;
  See(response.pod_sandbox_id());
  return response.pod_sandbox_id();
}

absl::StatusOr<std::string> TestDaemon::CreateContainer(
    const std::string& pod_id, const runtime::v1::ContainerConfig& config,
    const runtime::v1::PodSandboxConfig& pod_config, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(pod_id);
  *request.mutable_config() = config;
  *request.mutable_sandbox_config() = pod_config;
  runtime::v1::CreateContainerResponse response;
  absl::Status status = FromGrpc(stub_->CreateContainer(&context, request, &response));
  if (!status.ok()) return status;
  return response.container_id();
}

absl::Status TestDaemon::StartContainer(const std::string& id, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::StartContainerRequest request;
  request.set_container_id(id);
  runtime::v1::StartContainerResponse response;
  return FromGrpc(stub_->StartContainer(&context, request, &response));
}

absl::Status TestDaemon::StopContainer(const std::string& id, int64_t grace_seconds,
                                       absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::StopContainerRequest request;
  request.set_container_id(id);
  request.set_timeout(grace_seconds);
  runtime::v1::StopContainerResponse response;
  return FromGrpc(stub_->StopContainer(&context, request, &response));
}

absl::Status TestDaemon::RemoveContainer(const std::string& id, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::RemoveContainerRequest request;
  request.set_container_id(id);
  runtime::v1::RemoveContainerResponse response;
  return FromGrpc(stub_->RemoveContainer(&context, request, &response));
}

absl::StatusOr<runtime::v1::ContainerStatusResponse> TestDaemon::ContainerStatus(
    const std::string& id, bool verbose) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  runtime::v1::ContainerStatusRequest request;
  request.set_container_id(id);
  request.set_verbose(verbose);
  runtime::v1::ContainerStatusResponse response;
  absl::Status status = FromGrpc(stub_->ContainerStatus(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<runtime::v1::ExecSyncResponse> TestDaemon::ExecSync(
    const std::string& id, const std::vector<std::string>& cmd, int64_t timeout_seconds) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(timeout_seconds + 30)));
  runtime::v1::ExecSyncRequest request;
  request.set_container_id(id);
  for (const std::string& arg : cmd) request.add_cmd(arg);
  request.set_timeout(timeout_seconds);
  runtime::v1::ExecSyncResponse response;
  absl::Status status = FromGrpc(stub_->ExecSync(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<runtime::v1::ContainerStatus> TestDaemon::AwaitContainerState(
    const std::string& id, runtime::v1::ContainerState state, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<runtime::v1::ContainerStatusResponse> status = ContainerStatus(id);
    if (status.ok() && status->status().state() == state) return status->status();
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "container ", id, " not in state ", runtime::v1::ContainerState_Name(state), ": ",
          status.ok() ? runtime::v1::ContainerState_Name(status->status().state())
                      : status.status().ToString()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::StatusOr<std::string> TestDaemon::PullImage(const std::string& image,
                                                  absl::Duration timeout) {
  auto images = runtime::v1::ImageService::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  runtime::v1::PullImageResponse response;
  absl::Status status = FromGrpc(images->PullImage(&context, request, &response));
  if (!status.ok()) return status;
  return response.image_ref();
}

absl::Status TestDaemon::StopPod(const std::string& id, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::StopPodSandboxRequest request;
  request.set_pod_sandbox_id(id);
  runtime::v1::StopPodSandboxResponse response;
  return FromGrpc(stub_->StopPodSandbox(&context, request, &response));
}

absl::Status TestDaemon::RemovePod(const std::string& id, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::RemovePodSandboxRequest request;
  request.set_pod_sandbox_id(id);
  runtime::v1::RemovePodSandboxResponse response;
  return FromGrpc(stub_->RemovePodSandbox(&context, request, &response));
}

absl::StatusOr<runtime::v1::PodSandboxStatusResponse> TestDaemon::PodStatus(
    const std::string& id, bool verbose) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  runtime::v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(id);
  request.set_verbose(verbose);
  runtime::v1::PodSandboxStatusResponse response;
  absl::Status status = FromGrpc(stub_->PodSandboxStatus(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::vector<runtime::v1::PodSandbox>> TestDaemon::ListPods(
    const runtime::v1::PodSandboxFilter& filter) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  runtime::v1::ListPodSandboxRequest request;
  *request.mutable_filter() = filter;
  runtime::v1::ListPodSandboxResponse response;
  absl::Status status = FromGrpc(stub_->ListPodSandbox(&context, request, &response));
  if (!status.ok()) return status;
  for (const auto& item : response.items()) See(item.id());
  return std::vector<runtime::v1::PodSandbox>(response.items().begin(), response.items().end());
}

absl::StatusOr<runtime::v1::RuntimeCondition> TestDaemon::NetworkCondition() {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  runtime::v1::StatusResponse response;
  absl::Status status =
      FromGrpc(stub_->Status(&context, runtime::v1::StatusRequest(), &response));
  if (!status.ok()) return status;
  for (const auto& condition : response.status().conditions()) {
    if (condition.type() == "NetworkReady") return condition;
  }
  return absl::NotFoundError("no NetworkReady condition");
}

std::string TestDaemon::NetPin(const std::string& id) const {
  return absl::StrCat(state_, "/ns/", id, "-net");
}

void TestDaemon::See(const std::string& id) {
  absl::MutexLock lock(&ids_mu_);
  seen_ids_.insert(id);
}

std::set<std::string> TestDaemon::SeenIds() const {
  absl::MutexLock lock(&ids_mu_);
  return seen_ids_;
}

TestEnv::TestEnv() {
  static std::atomic<int> counter{0};
  index_ = counter++;
  tag_ = absl::StrCat(getpid(), "-", index_);
  base_dir_ = absl::StrCat("/tmp/cvit-", tag_);
  cgroup_parent_ = absl::StrCat("/converge-itest-", tag_);
  fs::remove_all(base_dir_);
  fs::create_directories(cni_conf_dir());
  fs::create_directories(cni_bin_dir());
  SetUpNetwork();
}

TestEnv::~TestEnv() {
  // Ids first: the daemons are what remembers them.
  const std::set<std::string> ids = OurIds();
  daemons_.clear();  // kill -9 whatever still runs
  // Monitors and containers outlive daemons by design; a test's end is theirs.
  for (int round = 0; round < 50; ++round) {
    std::vector<std::string> processes = ProcessesOfOurs();
    if (processes.empty()) break;
    for (const std::string& process : processes) kill(std::stoi(process), SIGKILL);
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::vector<std::string> mounts = MountsUnder(base_dir_);
  // Deepest first, so pins go before the pin root they sit on.
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& mount : mounts) umount2(mount.c_str(), MNT_DETACH);
  CleanNetwork(ids);
  for (const std::string& hierarchy : CgroupMounts()) {
    std::vector<std::string> dirs;
    std::error_code error;
    fs::path top = fs::path(hierarchy) / cgroup_parent_.substr(1);
    if (!fs::exists(top, error)) continue;
    dirs.push_back(top.string());
    for (auto it = fs::recursive_directory_iterator(top, error);
         it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (it->is_directory(error)) dirs.push_back(it->path().string());
    }
    std::sort(dirs.begin(), dirs.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const std::string& dir : dirs) rmdir(dir.c_str());
  }
  std::error_code error;
  fs::remove_all(base_dir_, error);
}

TestDaemon& TestEnv::NewDaemon(const std::string& name) {
  daemons_.push_back(std::make_unique<TestDaemon>(name, base_dir_, cgroup_parent_,
                                                  cni_conf_dir(),
                                                  cni_bin_dir() + ":/usr/lib/cni"));
  return *daemons_.back();
}

TestDaemon& TestEnv::StartDaemon(const std::vector<std::string>& extra_flags) {
  TestDaemon& daemon = NewDaemon(absl::StrCat("d", daemons_.size()));
  daemon.Start(extra_flags);
  return daemon;
}

runtime::v1::PodSandboxConfig TestEnv::PodConfig(const std::string& name, uint32_t attempt) const {
  runtime::v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_metadata()->set_namespace_("itest");
  config.mutable_metadata()->set_uid("uid-" + name);
  config.mutable_metadata()->set_attempt(attempt);
  config.set_hostname(name);
  config.set_log_directory(absl::StrCat(base_dir_, "/logs/itest_", name));
  (*config.mutable_labels())["app"] = name;
  config.mutable_linux()->set_cgroup_parent(absl::StrCat(cgroup_parent_, "/pod-", name));
  // kubelet's usual choice: pod network and IPC, a PID namespace per container.
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
      runtime::v1::CONTAINER);
  return config;
}

std::vector<std::string> TestEnv::MountsUnder(const std::string& dir) const {
  std::vector<std::string> out;
  for (const std::string& point : AllMountPoints()) {
    if (absl::StartsWith(point, dir + "/")) out.push_back(point);
  }
  return out;
}

std::vector<std::string> TestEnv::CgroupsUnder(const std::string& suffix) const {
  std::vector<std::string> out;
  for (const std::string& hierarchy : CgroupMounts()) {
    fs::path top = fs::path(hierarchy) / (cgroup_parent_.substr(1) + suffix);
    std::error_code error;
    if (!fs::exists(top, error)) continue;
    for (auto it = fs::recursive_directory_iterator(top, error);
         it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (it->is_directory(error)) out.push_back(it->path().string());
    }
  }
  return out;
}

std::vector<std::string> TestEnv::Leaks() const {
  std::vector<std::string> leaks;
  for (const std::string& mount : MountsUnder(base_dir_)) {
    // The pin root itself stays mounted by design, like /run/netns.
    if (absl::EndsWith(mount, "-state/ns")) continue;
    leaks.push_back("mount " + mount);
  }
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(base_dir_, error);
       it != fs::recursive_directory_iterator(); it.increment(error)) {
    const std::string parent = it->path().parent_path().filename().string();
    if (parent == "ns") leaks.push_back("pin file " + it->path().string());
    if (parent == "sandboxes") leaks.push_back("sandbox files " + it->path().string());
  }
  for (const std::string& cgroup : CgroupsUnder()) {
    if (absl::StrContains(fs::path(cgroup).filename().string(), "converge-")) {
      leaks.push_back("cgroup " + cgroup);
    }
  }
  for (const auto& [ip, id] : IpAllocations()) {
    leaks.push_back(absl::StrCat("IP ", ip, " held by ", id, " in ", ipam_dir()));
  }
  for (const std::string& veth : VethsOnBridge()) {
    leaks.push_back(absl::StrCat("veth ", veth, " on ", bridge_));
  }
  for (const std::string& rule : NatRulesOfOurs()) leaks.push_back("nat " + rule);
  for (const std::string& process : ProcessesOfOurs()) leaks.push_back("process " + process);
  for (const char* kind : {"containers", "pods"}) {
    std::error_code ignored;
    for (const auto& daemon : daemons_) {
      for (const auto& entry : fs::directory_iterator(daemon->state() + "/" + kind, ignored)) {
        leaks.push_back(absl::StrCat(kind, " state ", entry.path().string()));
      }
    }
  }
  return leaks;
}

std::vector<std::string> TestEnv::ProcessesOfOurs() const {
  std::vector<std::string> out;
  std::error_code error;
  std::set<std::string> daemon_pids;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string pid = entry.path().filename().string();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    std::string cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    const std::string cgroups = ReadFile(absl::StrCat("/proc/", pid, "/cgroup"));
    // The daemons themselves are not leaks while they run.
    if (absl::StrContains(cmdline, "converged ")) continue;
    if (absl::StrContains(cmdline, base_dir_) || absl::StrContains(cgroups, cgroup_parent_ + "/")) {
      out.push_back(absl::StrCat(pid, " ", cmdline));
    }
  }
  return out;
}

}  // namespace converge::testing

namespace converge::testing {
namespace {

// After the whole suite: nothing any TestEnv of this process made is left
// (the network side is checked in harness_network.cc).
class SuiteLeakCheck : public ::testing::Environment {
 public:
  void TearDown() override {
    const std::string base_prefix = absl::StrCat("/tmp/cvit-", getpid(), "-");
    for (const std::string& point : AllMountPoints()) {
      EXPECT_FALSE(absl::StartsWith(point, base_prefix)) << "mount left: " << point;
    }
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/tmp", error)) {
      EXPECT_FALSE(absl::StartsWith(entry.path().string(), base_prefix))
          << "directory left: " << entry.path();
    }
    const std::string cgroup_prefix = absl::StrCat("converge-itest-", getpid(), "-");
    for (const std::string& hierarchy : CgroupMounts()) {
      for (const auto& entry : fs::directory_iterator(hierarchy, error)) {
        EXPECT_FALSE(absl::StartsWith(entry.path().filename().string(), cgroup_prefix))
            << "cgroup left: " << entry.path();
      }
    }
  }
};

[[maybe_unused]] ::testing::Environment* const suite_leak_check =
    ::testing::AddGlobalTestEnvironment(new SuiteLeakCheck);

}  // namespace
}  // namespace converge::testing

#include "tests/registry/local_registry.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace converge::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kRegistryBinary[] = "/usr/bin/docker-registry";
constexpr int kLaunchAttempts = 3;

std::string ErrnoText(int error) { return std::strerror(error); }

// A file of the test's runfiles: `bazel test` sets TEST_SRCDIR, a `bazel run`
// binary finds its runfiles beside itself.
std::string RunfilePath(absl::string_view workspace_relative) {
  std::string root;
  if (const char* srcdir = std::getenv("TEST_SRCDIR")) {
    root = srcdir;
  } else if (const char* runfiles = std::getenv("RUNFILES_DIR")) {
    root = runfiles;
  } else {
    std::error_code error;
    root = fs::read_symlink("/proc/self/exe", error).string() + ".runfiles";
  }
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(root, "/", workspace ? workspace : "converge", "/", workspace_relative);
}

absl::StatusOr<std::string> Script(absl::string_view name) {
  std::string path = RunfilePath(absl::StrCat("testdata/images/", name));
  if (!fs::exists(path)) {
    return absl::NotFoundError(absl::StrCat(
        "`", path, "` not found: add data = [\"//testdata/images:scripts\"] to the test"));
  }
  return path;
}

std::string TempRoot() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return tmp ? tmp : "/tmp";
}

absl::StatusOr<std::string> MakeTempDir(absl::string_view prefix) {
  std::string pattern = absl::StrCat(TempRoot(), "/", prefix, "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp `", pattern, "`: ", ErrnoText(errno)));
  }
  return pattern;
}

absl::Status WriteFile(const std::string& path, absl::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("write `", path, "` failed"));
  return absl::OkStatus();
}

// A port that was free a moment ago; the caller retries if it is taken by
// the time the registry binds it.
absl::StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    int error = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", ErrnoText(error)));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// The directory TestImagesDir() built, removed when the process exits.
class BuiltImages {
 public:
  ~BuiltImages() {
    absl::MutexLock lock(&mu_);
    std::error_code ignored;
    if (dir_) fs::remove_all(*dir_, ignored);
  }

  absl::StatusOr<std::string> Get() {
    absl::MutexLock lock(&mu_);
    if (dir_) return *dir_;
    CONVERGE_ASSIGN_OR_RETURN(std::string script, Script("build-images.sh"));
    CONVERGE_ASSIGN_OR_RETURN(std::string dir, MakeTempDir("cvimages"));
    absl::StatusOr<std::string> built = RunCommand({"/bin/bash", script, dir});
    if (!built.ok()) {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
      return built.status();
    }
    dir_ = dir;
    return dir;
  }

 private:
  absl::Mutex mu_;
  std::optional<std::string> dir_ ABSL_GUARDED_BY(mu_);
};

BuiltImages& Images() {
  static BuiltImages images;  // destroyed at exit, removing the directory
  return images;
}

}  // namespace

absl::StatusOr<std::string> TestImagesDir() { return Images().Get(); }

absl::StatusOr<std::string> TestImageDigest(absl::string_view layout, absl::string_view tag) {
  CONVERGE_ASSIGN_OR_RETURN(std::string dir, TestImagesDir());
  std::string path = absl::StrCat(dir, "/", layout, "/index.json");
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no layout `", path, "`"));
  nlohmann::json index = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index["manifests"].is_array()) {
    return absl::InternalError(absl::StrCat("`", path, "` is not an OCI index"));
  }
  for (const nlohmann::json& descriptor : index["manifests"]) {
    if (descriptor.value("/annotations/org.opencontainers.image.ref.name"_json_pointer, "") ==
        tag) {
      return descriptor.value("digest", "");
    }
  }
  return absl::NotFoundError(absl::StrCat("`", path, "` has no tag `", tag, "`"));
}

absl::StatusOr<std::unique_ptr<LocalRegistry>> LocalRegistry::Start(LocalRegistryOptions options) {
  CONVERGE_ASSIGN_OR_RETURN(std::string dir, MakeTempDir("cvregistry"));
  std::unique_ptr<LocalRegistry> registry(new LocalRegistry(std::move(options), std::move(dir)));
  absl::Status status;
  for (int attempt = 0; attempt < kLaunchAttempts; ++attempt) {
    bool port_taken = false;
    status = registry->Launch(&port_taken);
    if (!port_taken) break;
  }
  if (!status.ok()) return status;  // ~LocalRegistry cleans up
  return registry;
}

absl::Status LocalRegistry::Launch(bool* port_taken) {
  CONVERGE_ASSIGN_OR_RETURN(port_, FreeLoopbackPort());
  host_port_ = absl::StrCat("127.0.0.1:", port_);
  std::string config = absl::StrFormat(R"(version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
)",
                                       dir_, host_port_, RandomHex(16));
  if (options_.tls) {
    CONVERGE_RETURN_IF_ERROR(MakeCertificates());
    absl::StrAppend(&config, "  tls:\n    certificate: ", dir_, "/server.crt\n    key: ", dir_,
                    "/server.key\n");
  }
  if (!options_.user.empty()) {
    CONVERGE_RETURN_IF_ERROR(RunCommand({"/usr/bin/htpasswd", "-cBb", dir_ + "/htpasswd",
                                         options_.user, options_.password})
                                 .status());
    absl::StrAppend(&config, "auth:\n  htpasswd:\n    realm: converge-test\n    path: ", dir_,
                    "/htpasswd\n");
  }
  std::string config_path = dir_ + "/config.yml";
  std::string log_path = dir_ + "/registry.log";
  CONVERGE_RETURN_IF_ERROR(WriteFile(config_path, config));

  // The registry also reads REGISTRY_* variables; it gets none of ours.
  std::vector<std::string> args = {
      "/usr/bin/setpriv", "--pdeathsig=KILL", "--", kRegistryBinary, "serve", config_path};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string path_env = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {path_env.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return absl::InternalError(
        absl::StrCat("posix_spawn setpriv ", kRegistryBinary, ": ", ErrnoText(rc)));
  }
  absl::Status ready = WaitReady();
  if (!ready.ok()) {
    KillProcess();
    std::string log = LogTail();
    *port_taken = absl::StrContains(log, "address already in use");
    return absl::Status(ready.code(), absl::StrCat(ready.message(), "\nregistry log:\n", log));
  }
  return absl::OkStatus();
}

absl::Status LocalRegistry::MakeCertificates() const {
  const std::string ca = dir_ + "/ca", server = dir_ + "/server";
  CONVERGE_RETURN_IF_ERROR(RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
                                       "-nodes", "-days", "2", "-subj", "/CN=converge test CA",
                                       "-keyout", ca + ".key", "-out", ca + ".crt"})
                               .status());
  CONVERGE_RETURN_IF_ERROR(RunCommand({"/usr/bin/openssl", "req", "-newkey", "rsa:2048", "-nodes",
                                       "-subj", "/CN=127.0.0.1", "-keyout", server + ".key",
                                       "-out", server + ".csr"})
                               .status());
  CONVERGE_RETURN_IF_ERROR(WriteFile(dir_ + "/san.ext", "subjectAltName=IP:127.0.0.1\n"));
  return RunCommand({"/usr/bin/openssl", "x509", "-req", "-days", "2", "-in", server + ".csr",
                     "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial", "-extfile",
                     dir_ + "/san.ext", "-out", server + ".crt"})
      .status();
}

httplib::Client LocalRegistry::Client() const {
  httplib::Client client(absl::StrCat(options_.tls ? "https://" : "http://", host_port_));
  if (options_.tls) client.set_ca_cert_path(ca_cert_path());
  return client;
}

absl::Status LocalRegistry::WaitReady() {
  httplib::Client client = Client();
  client.set_connection_timeout(1, 0);
  // The log line tells our registry from another server that took the port.
  std::string listening = absl::StrCat("listening on ", host_port_);
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (absl::Now() < deadline) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("docker-registry on ", host_port_,
                                                 " exited during start-up, status ", status));
    }
    if (!absl::StrContains(LogTail(), listening)) {
      absl::SleepFor(absl::Milliseconds(20));
      continue;
    }
    if (httplib::Result result = client.Get("/v2/")) {
      if (result->status == 200 || result->status == 401) return absl::OkStatus();
      return absl::InternalError(
          absl::StrCat("GET http://", host_port_, "/v2/ answered ", result->status));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("docker-registry did not answer on ", host_port_, " within 15s"));
}

LocalRegistry::~LocalRegistry() {
  absl::Status status = Stop();
  if (!status.ok()) std::cerr << "~LocalRegistry: " << status << "\n";
}

void LocalRegistry::KillProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  int status;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  pid_ = -1;
}

absl::Status LocalRegistry::Stop() {
  KillProcess();
  if (!dir_removed_) {
    std::error_code error;
    fs::remove_all(dir_, error);
    if (error) {
      return absl::InternalError(absl::StrCat("remove `", dir_, "`: ", error.message()));
    }
    dir_removed_ = true;
  }
  return absl::OkStatus();
}

std::string LocalRegistry::LogTail(size_t bytes) const {
  std::ifstream in(dir_ + "/registry.log", std::ios::binary);
  if (!in) return "(no log)";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  in.seekg(size > static_cast<std::streamoff>(bytes) ? size - bytes : 0);
  std::stringstream tail;
  tail << in.rdbuf();
  return tail.str();
}

absl::Status LocalRegistry::PushTestImages() {
  CONVERGE_ASSIGN_OR_RETURN(std::string images, TestImagesDir());
  CONVERGE_ASSIGN_OR_RETURN(std::string script, Script("push-images.sh"));
  std::vector<std::string> argv = {"/bin/bash", script, host_port_, images};
  if (!options_.user.empty()) {
    argv.push_back("--creds");
    argv.push_back(absl::StrCat(options_.user, ":", options_.password));
  }
  absl::StatusOr<std::string> pushed = RunCommand(argv);
  if (!pushed.ok()) {
    return absl::Status(pushed.status().code(),
                        absl::StrCat(pushed.status().message(), "\nregistry log:\n", LogTail()));
  }
  return absl::OkStatus();
}

absl::Status LocalRegistry::CorruptBlob(absl::string_view digest) const {
  if (!absl::StartsWith(digest, "sha256:") || digest.size() != 7 + 64) {
    return absl::InvalidArgumentError(absl::StrCat("not a sha256 digest: `", digest, "`"));
  }
  absl::string_view hex = digest.substr(7);
  std::string path = absl::StrCat(storage_dir(), "/docker/registry/v2/blobs/sha256/",
                                  hex.substr(0, 2), "/", hex, "/data");
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("no blob `", path, "`"));
  file.seekg(0, std::ios::end);
  std::streamoff size = file.tellg();
  if (size == 0) return absl::FailedPreconditionError(absl::StrCat("`", path, "` is empty"));
  // Up to 16 bytes from the middle, inverted: the size stays right, so only
  // a digest check notices.
  std::streamoff offset = size / 2;
  std::string bytes(std::min<std::streamoff>(16, size - offset), '\0');
  file.seekg(offset);
  file.read(bytes.data(), bytes.size());
  for (char& byte : bytes) byte = static_cast<char>(~byte);
  file.seekp(offset);
  file.write(bytes.data(), bytes.size());
  file.close();
  if (!file) return absl::InternalError(absl::StrCat("rewrite `", path, "` failed"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> LocalRegistry::ManifestDigest(absl::string_view repo,
                                                          absl::string_view reference) const {
  httplib::Client client = Client();
  if (!options_.user.empty()) client.set_basic_auth(options_.user, options_.password);
  std::string path = absl::StrCat("/v2/", repo, "/manifests/", reference);
  httplib::Result result = client.Head(path, {{"Accept", kManifestAccept}});
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("HEAD http://", host_port_, path, ": ", httplib::to_string(result.error())));
  }
  if (result->status == 404) {
    return absl::NotFoundError(absl::StrCat("HEAD http://", host_port_, path, ": 404"));
  }
  std::string digest = result->get_header_value("Docker-Content-Digest");
  if (result->status != 200 || digest.empty()) {
    return absl::InternalError(absl::StrCat("HEAD http://", host_port_, path, ": ", result->status,
                                            " with Docker-Content-Digest `", digest, "`"));
  }
  return digest;
}

std::string RandomHex(int bytes) {
  absl::BitGen gen;
  std::string hex;
  for (int i = 0; i < bytes; ++i) {
    absl::StrAppendFormat(&hex, "%02x", absl::Uniform<int>(gen, 0, 256));
  }
  return hex;
}

absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", ErrnoText(errno)));
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc != 0) {
    close(pipe_fds[0]);
    return absl::InternalError(absl::StrCat("posix_spawn `", argv[0], "`: ", ErrnoText(rc)));
  }
  std::string output;
  char buffer[8192];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) != 0) {
    if (n > 0) {
      output.append(buffer, n);
    } else if (errno != EINTR) {
      break;
    }
  }
  close(pipe_fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("`", absl::StrJoin(argv, " "), "` ended with status ", status, ":\n", output));
  }
  return output;
}

}  // namespace converge::testing

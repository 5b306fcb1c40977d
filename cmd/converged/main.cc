// converged: the converge node runtime daemon. See docs/operating.md.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "cmd/converged/config.h"
#include "cmd/converged/daemon.h"
#include "common/crash_points.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, config, "", "Optional config file (protobuf text format, DaemonConfig)");
ABSL_FLAG(std::string, socket, "/run/converge/converge.sock", "CRI unix socket path");
ABSL_FLAG(std::string, root, "/var/lib/converge", "Persistent state directory");
ABSL_FLAG(std::string, state, "/run/converge", "Volatile state directory (namespace pins)");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9338", "Prometheus endpoint host:port");
ABSL_FLAG(std::string, resync_period, "10s", "How often every sandbox is re-observed");
ABSL_FLAG(int32_t, workers, 4, "Reconciler worker threads");
ABSL_FLAG(std::string, default_cgroup_parent, "/converge",
          "Cgroup parent for sandboxes whose config names none");
ABSL_FLAG(std::string, cgroup_root, "/sys/fs/cgroup", "Where the cgroup filesystems are mounted");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn or error");
ABSL_FLAG(std::string, cni_conf_dir, "/etc/cni/net.d", "CNI network configuration directory");
ABSL_FLAG(std::string, cni_bin_dirs, "/usr/lib/cni:/opt/cni/bin", "CNI plugin directories");
ABSL_FLAG(std::string, cni_plugin_timeout, "60s", "Limit for one CNI plugin call");
ABSL_FLAG(std::string, registry_mirrors, "",
          "HOST=ENDPOINT[,...]: pull images of HOST from ENDPOINT first, keeping their names");
ABSL_FLAG(std::string, insecure_registries, "",
          "HOST[:PORT][,...]: registries that may be reached over plain HTTP");
ABSL_FLAG(std::string, registry_certs_dir, "/etc/converge/certs.d",
          "DIR/HOST[:PORT]/ca.crt is trusted beside the system CAs for that registry");
ABSL_FLAG(std::string, monitor_binary, "",
          "The converge-monitor binary; empty means the one beside converged");
ABSL_FLAG(std::vector<std::string>, crash_at, {},
          "Testing only: crash points at which the daemon kills itself with SIGKILL");

namespace {

// Flags typed on the command line, by name: they override the config file.
std::map<std::string, std::string> ExplicitFlags(int argc, char** argv) {
  const std::map<std::string, std::string> values = {
      {"socket", absl::GetFlag(FLAGS_socket)},
      {"root", absl::GetFlag(FLAGS_root)},
      {"state", absl::GetFlag(FLAGS_state)},
      {"metrics_address", absl::GetFlag(FLAGS_metrics_address)},
      {"resync_period", absl::GetFlag(FLAGS_resync_period)},
      {"workers", std::to_string(absl::GetFlag(FLAGS_workers))},
      {"default_cgroup_parent", absl::GetFlag(FLAGS_default_cgroup_parent)},
      {"cgroup_root", absl::GetFlag(FLAGS_cgroup_root)},
      {"log_level", absl::GetFlag(FLAGS_log_level)},
      {"cni_conf_dir", absl::GetFlag(FLAGS_cni_conf_dir)},
      {"cni_bin_dirs", absl::GetFlag(FLAGS_cni_bin_dirs)},
      {"cni_plugin_timeout", absl::GetFlag(FLAGS_cni_plugin_timeout)},
      {"registry_mirrors", absl::GetFlag(FLAGS_registry_mirrors)},
      {"insecure_registries", absl::GetFlag(FLAGS_insecure_registries)},
      {"registry_certs_dir", absl::GetFlag(FLAGS_registry_certs_dir)},
      {"monitor_binary", absl::GetFlag(FLAGS_monitor_binary)},
  };
  std::map<std::string, std::string> explicit_flags;
  for (int i = 1; i < argc; ++i) {
    for (const auto& [name, value] : values) {
      for (const char* dashes : {"--", "-"}) {
        std::string flag = std::string(dashes) + name;
        if (argv[i] == flag || absl::StartsWith(argv[i], flag + "=")) {
          explicit_flags[name] = value;
        }
      }
    }
  }
  return explicit_flags;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("converge node runtime daemon (CRI runtime.v1)");
  absl::ParseCommandLine(argc, argv);

  std::string file_text;
  if (std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    std::ifstream in(path);
    if (!in) {
      std::fprintf(stderr, "converged: --config: cannot read `%s`\n", path.c_str());
      return 2;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    file_text = buffer.str();
  }
  auto config = converge::ResolveDaemonConfig(file_text, ExplicitFlags(argc, argv));
  if (!config.ok()) {
    std::fprintf(stderr, "converged: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  converge::ArmCrashPoints(absl::GetFlag(FLAGS_crash_at));
  spdlog::set_level(spdlog::level::from_str(config->log_level()));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%f%z %^%l%$ [%n] %v");

  // Signals are taken synchronously by the main thread; block them before
  // any other thread starts so none of those receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::Status status = converge::RunDaemon(*config, [&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    spdlog::info("received signal {}", signal_number);
  });
  if (!status.ok()) {
    spdlog::critical("converged failed: {}", status.ToString());
    return 1;
  }
  return 0;
}

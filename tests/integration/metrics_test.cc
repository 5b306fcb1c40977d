// Metrics through a real scrape: converged's /metrics passes promtool, its
// values follow what was done through CRI, and a real Prometheus server (from
// Debian's package, on loopback) scrapes it and answers queries about it.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

extern char** environ;

namespace converge::testing {
namespace {

using ::testing::HasSubstr;

// The port converged logged for its metrics endpoint (started with port 0).
int MetricsPort(const TestDaemon& daemon) {
  std::smatch match;
  const std::string log = daemon.log();
  if (!std::regex_search(log, match, std::regex(R"(metrics=http://127\.0\.0\.1:(\d+)/metrics)"))) {
    return -1;
  }
  return std::stoi(match[1]);
}

// The value of the first sample whose line starts with `series`, or -1.
double Sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      double value = -1;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
    }
  }
  return -1;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A Prometheus server on loopback scraping `target` every second; killed and
// reaped by the destructor.
class PrometheusServer {
 public:
  PrometheusServer(const std::string& dir, const std::string& target) : port_(FreeLoopbackPort()) {
    std::ofstream(dir + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: converge\n"
        << "    static_configs:\n      - targets: ['" << target << "']\n";
    std::vector<std::string> args = {"/usr/bin/prometheus",
                                     "--config.file=" + dir + "/prometheus.yml",
                                     "--storage.tsdb.path=" + dir + "/tsdb",
                                     absl::StrCat("--web.listen-address=127.0.0.1:", port_),
                                     "--log.level=warn"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, (dir + "/prometheus.log").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~PrometheusServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }

  // The instant query's JSON answer, or the curl error.
  absl::StatusOr<std::string> Query(const std::string& promql) const {
    return Shell(absl::StrCat("curl -s --max-time 5 -G http://127.0.0.1:", port_,
                              "/api/v1/query --data-urlencode 'query=", promql, "'"));
  }

 private:
  const int port_;
  pid_t pid_ = -1;
};

TEST(Metrics, ScrapePassesPromtoolAndFollowsCriCalls) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  const int port = MetricsPort(daemon);
  ASSERT_GT(port, 0) << daemon.log();
  const std::string scrape = absl::StrCat("curl -s --max-time 5 http://127.0.0.1:", port, "/metrics");

  auto a = daemon.RunPod(env.PodConfig("metrics-a"));
  auto b = daemon.RunPod(env.PodConfig("metrics-b"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(daemon.StopPod(*b).ok());
  EXPECT_EQ(daemon.PodStatus("nope").status().code(), absl::StatusCode::kNotFound);

  auto text = Shell(scrape);
  ASSERT_TRUE(text.ok()) << text.status();
  auto checked = Shell(scrape + " | promtool check metrics");
  EXPECT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked.value_or("?"), "") << "promtool has no complaints";

  EXPECT_EQ(Sample(*text, R"(converge_cri_requests_total{service="RuntimeService",method="RunPodSandbox",code="OK"})"), 2);
  EXPECT_EQ(Sample(*text, R"(converge_cri_requests_total{service="RuntimeService",method="PodSandboxStatus",code="NotFound"})"), 1);
  EXPECT_EQ(Sample(*text, R"(converge_objects{kind="sandbox",state="ready"})"), 1);
  EXPECT_EQ(Sample(*text, R"(converge_objects{kind="sandbox",state="notready"})"), 1);
  EXPECT_EQ(Sample(*text, R"(converge_unconverged_objects{kind="sandbox"})"), 0);
  EXPECT_GE(Sample(*text, R"(converge_executor_operation_duration_seconds_count{executor="network",operation="setup"})"), 2);
  EXPECT_GE(Sample(*text, R"(converge_cni_plugin_duration_seconds_count{plugin="bridge",command="ADD"})"), 2);
  EXPECT_GE(Sample(*text, R"(converge_cni_plugin_duration_seconds_count{plugin="bridge",command="DEL"})"), 1);
  EXPECT_GT(Sample(*text, "process_resident_memory_bytes"), 0);
  const double runs =
      Sample(*text, R"(converge_cri_request_duration_seconds_count{service="RuntimeService",method="RunPodSandbox"})");
  EXPECT_EQ(runs, 2) << "histogram count agrees with the counter";

  // Counters never go backwards across scrapes.
  auto later = Shell(scrape);
  ASSERT_TRUE(later.ok());
  EXPECT_GE(Sample(*later, "converge_reconcile_actions_total{action=\"mark-ready\",result=\"success\"}"),
            Sample(*text, "converge_reconcile_actions_total{action=\"mark-ready\",result=\"success\"}"));

  ASSERT_TRUE(daemon.RemovePod(*a).ok());
  ASSERT_TRUE(daemon.RemovePod(*b).ok());
}

TEST(Metrics, PrometheusScrapesConverge) {
  TestEnv env;
  TestDaemon& daemon = env.StartDaemon();
  const int port = MetricsPort(daemon);
  ASSERT_GT(port, 0) << daemon.log();
  auto id = daemon.RunPod(env.PodConfig("scraped"));
  ASSERT_TRUE(id.ok()) << id.status();

  PrometheusServer prometheus(env.base_dir(), absl::StrCat("127.0.0.1:", port));
  ASSERT_TRUE(prometheus.started());
  std::string answer;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (absl::Now() < deadline) {
    answer = prometheus.Query("converge_objects{state=\"ready\"}").value_or("");
    if (answer.find("\"value\":[") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_THAT(answer, HasSubstr("\"job\":\"converge\""));
  EXPECT_THAT(answer, HasSubstr("\"1\"]")) << "one ready sandbox, as Prometheus sees it";
  auto up = prometheus.Query("up{job=\"converge\"}");
  EXPECT_THAT(up.value_or(""), HasSubstr("\"1\"]"));
  ASSERT_TRUE(daemon.RemovePod(*id).ok());
}

}  // namespace
}  // namespace converge::testing

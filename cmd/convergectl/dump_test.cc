#include "cmd/convergectl/dump.h"

#include <functional>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace converge {
namespace {

SandboxRecord Ready(const std::string& id) {
  SandboxRecord record;
  record.id = id;
  record.desired.emplace();
  record.desired->set_id(id);
  record.desired->set_stage(records::SANDBOX_STAGE_READY);
  record.desired->set_generation(1);
  record.desired->mutable_config()->mutable_metadata()->set_name("web");
  record.desired->mutable_config()->mutable_metadata()->set_namespace_("default");
  record.actual.emplace();
  record.actual->set_id(id);
  record.actual->set_phase(records::SANDBOX_PHASE_READY);
  record.actual->set_observed_generation(1);
  record.actual->set_attempted_generation(1);
  record.actual->set_cgroup_path("/converge/converge-" + id);
  return record;
}

TEST(IsConverged, FollowsGenerationsAndErrors) {
  SandboxRecord record = Ready("a");
  EXPECT_TRUE(IsConverged(record));
  record.desired->set_generation(2);
  EXPECT_FALSE(IsConverged(record));
  record.actual->set_observed_generation(2);
  record.actual->set_last_error("boom");
  EXPECT_FALSE(IsConverged(record));
  record.desired->set_stage(records::SANDBOX_STAGE_REMOVED);
  EXPECT_FALSE(IsConverged(record)) << "a tombstone converges when actual is gone";
  record.actual.reset();
  EXPECT_TRUE(IsConverged(record));
}

TEST(FormatDump, DiffShowsOnlyUnconvergedWithError) {
  SandboxRecord ok = Ready("a");
  SandboxRecord failing = Ready("b");
  failing.desired->set_generation(2);
  failing.actual->set_last_error("step 1/3 create-cgroup: mkdir `/x`: Permission denied");
  failing.actual->set_retries(3);
  DumpOptions options;
  options.diff_only = true;
  options.now = absl::FromUnixSeconds(0);
  std::string text = FormatDump({ok, failing}, options);
  EXPECT_NE(text.find("2 sandboxes, 1 not converged"), std::string::npos) << text;
  EXPECT_EQ(text.find("sandbox a"), std::string::npos) << text;
  EXPECT_NE(text.find("sandbox b  [NOT CONVERGED]"), std::string::npos) << text;
  EXPECT_NE(text.find("last error: step 1/3 create-cgroup"), std::string::npos) << text;
  EXPECT_NE(text.find("retries:    3"), std::string::npos) << text;
}

TEST(FormatDump, NetworkShowsIpsAndTheCachedSource) {
  SandboxRecord record = Ready("a");
  record.actual->set_network_attached(true);
  record.actual->set_network_ready(true);
  record.actual->add_ips("10.200.3.7");
  record.actual->set_network_result(
      R"({"networkName":"podnet","configSource":"/etc/cni/net.d/10-podnet.conflist"})");
  DumpOptions options;
  std::string text = FormatDump({record}, options);
  EXPECT_NE(text.find("network:    ready ips=[10.200.3.7] network=podnet "
                      "config=/etc/cni/net.d/10-podnet.conflist"),
            std::string::npos)
      << text;
  record.actual->set_network_ready(false);
  record.actual->set_network_result("not json");
  text = FormatDump({record}, options);
  EXPECT_NE(text.find("network:    set-up started, teardown owed ips=[10.200.3.7]\n"),
            std::string::npos)
      << text;
}

TEST(Selected, FiltersByIdPrefixNameAndNamespace) {
  SandboxRecord record = Ready("abc123");
  DumpOptions options;
  EXPECT_TRUE(Selected(record, options));
  options.id = "abc";
  EXPECT_TRUE(Selected(record, options));
  options.id = "abd";
  EXPECT_FALSE(Selected(record, options));
  options.id.clear();
  options.name = "web";
  options.pod_namespace = "default";
  EXPECT_TRUE(Selected(record, options));
  options.pod_namespace = "kube-system";
  EXPECT_FALSE(Selected(record, options));
  record.desired.reset();
  options.pod_namespace.clear();
  EXPECT_FALSE(Selected(record, options)) << "an orphan has no pod name";
}

TEST(FormatDump, LiveObservationsMarkDisagreements) {
  auto live = ParseLiveObservations(R"({"observed_at":"x","sandboxes":[
      {"id":"a","same_boot":true,"mounted_pins":["ipc","uts"],"cgroup_exists":true,
       "files_present":true,"disagreements":["net pin `/run/converge/ns/a-net` is recorded but not mounted"],
       "error":""}]})");
  ASSERT_TRUE(live.ok()) << live.status();
  DumpOptions options;
  options.diff_only = true;
  options.live = *live;
  std::string text = FormatDump({Ready("a"), Ready("b")}, options);
  EXPECT_NE(text.find("sandbox a  [converged]"), std::string::npos)
      << "converged but disagreeing: shown by --diff\n" << text;
  EXPECT_EQ(text.find("sandbox b"), std::string::npos) << text;
  EXPECT_NE(text.find("  live:       pins mounted [ipc,uts], cgroup present, files present\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("  DISAGREES:  net pin `/run/converge/ns/a-net` is recorded but not mounted\n"),
            std::string::npos) << text;
  EXPECT_EQ(ParseLiveObservations("[]").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseLiveObservations(R"({"sandboxes":[{"id":"a","mounted_pins":7}]})").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(FormatDump, JsonCarriesBothRecords) {
  DumpOptions options;
  options.json = true;
  std::string json = FormatDump({Ready("a")}, options);
  EXPECT_NE(json.find("{\"id\":\"a\",\"converged\":true,\"desired\":{"), std::string::npos) << json;
  EXPECT_NE(json.find("\"cgroup_path\":\"/converge/converge-a\""), std::string::npos) << json;
  EXPECT_EQ(FormatDump({}, options), "[]\n");
}

// A pod "web" (Ready("p")) with one running container "app" whose desired and
// actual agree; cases mutate it.
SandboxRecord WithContainer() {
  SandboxRecord record = Ready("p");
  record.actual->set_monitor_dir("/run/converge/monitors/p");
  record.actual->mutable_monitor()->set_pid(4100);
  record.actual->mutable_monitor()->set_start_time(998877);
  records::ContainerDesired* desired = record.desired->add_containers();
  desired->set_id("c1");
  desired->mutable_config()->mutable_metadata()->set_name("app");
  desired->set_stage(records::CONTAINER_STAGE_RUNNING);
  desired->set_generation(2);
  desired->set_image_ref("docker.io/library/busybox:1.36");
  records::ContainerActual* actual = record.actual->add_containers();
  actual->set_id("c1");
  actual->set_phase(records::CONTAINER_PHASE_RUNNING);
  actual->set_observed_generation(2);
  actual->set_attempted_generation(2);
  actual->set_state_dir("/run/converge/containers/c1");
  actual->set_snapshot_key("c1");
  actual->set_rootfs("/var/lib/converge/snapshots/c1/merged");
  actual->set_cgroup_path("/converge/converge-p/c1");
  actual->mutable_init()->set_pid(4242);
  actual->mutable_init()->set_start_time(123456);
  actual->set_log_path("/var/log/pods/default_web_u1/app/0.log");
  return record;
}

TEST(FormatDump, ContainerRowsTable) {
  struct Case {
    std::string name;
    std::function<void(SandboxRecord*)> mutate;
    bool diff_only;
    std::vector<std::string> want;      // Substrings of the text.
    std::vector<std::string> not_want;  // Must not appear.
  };
  auto desired = [](SandboxRecord* r) { return r->desired->mutable_containers(0); };
  auto actual = [](SandboxRecord* r) { return r->actual->mutable_containers(0); };
  const Case cases[] = {
      {"running and converged: every handle",
       [](SandboxRecord*) {},
       false,
       {"1 sandboxes, 0 not converged; 1 containers, 0 not converged",
        "sandbox p  [converged]",
        "  monitor:    pid 4100 (start time 998877) dir=/run/converge/monitors/p\n",
        "  container c1  app attempt=0  [converged]\n"
        "    desired:    RUNNING generation=2 image=docker.io/library/busybox:1.36\n"
        "    actual:     RUNNING observed_generation=2 attempted_generation=2\n"
        "    state dir:  /run/converge/containers/c1\n"
        "    rootfs:     /var/lib/converge/snapshots/c1/merged (snapshot c1)\n"
        "    cgroup:     /converge/converge-p/c1\n"
        "    init:       pid 4242 (start time 123456)\n"
        "    log:        /var/log/pods/default_web_u1/app/0.log\n"},
       {"last error", "exited:"}},
      {"converged container hidden by --diff, pod too",
       [](SandboxRecord*) {},
       true,
       {"1 sandboxes, 0 not converged"},
       {"sandbox p", "container c1"}},
      {"stop not observed yet, with an error: shown by --diff",
       [&](SandboxRecord* r) {
         desired(r)->set_stage(records::CONTAINER_STAGE_STOPPED);
         desired(r)->set_generation(3);
         actual(r)->set_attempted_generation(3);
         actual(r)->set_last_error("step 2/3 kill: kill pid 4242: Operation not permitted");
         actual(r)->set_retries(4);
       },
       true,
       {"1 sandboxes, 1 not converged; 1 containers, 1 not converged",
        "sandbox p  [NOT CONVERGED]",
        "  container c1  app attempt=0  [NOT CONVERGED]\n"
        "    desired:    STOPPED generation=3",
        "    actual:     RUNNING observed_generation=2 attempted_generation=3\n"
        "    last error: step 2/3 kill: kill pid 4242: Operation not permitted\n"
        "    retries:    4\n"},
       {}},
      {"exited: code and reason",
       [&](SandboxRecord* r) {
         actual(r)->set_phase(records::CONTAINER_PHASE_EXITED);
         actual(r)->set_exit_code(137);
         actual(r)->set_reason("OOMKilled");
         actual(r)->set_finished_at_unix_nanos(absl::ToUnixNanos(absl::FromUnixSeconds(60)));
       },
       false,
       {"    actual:     EXITED observed_generation=2",
        "    exited:     code=137 reason=OOMKilled at 1970-01-01T00:01:00+00:00\n"},
       {}},
      {"created, nothing actual yet",
       [](SandboxRecord* r) { r->actual->clear_containers(); },
       true,
       {"  container c1  app attempt=0  [NOT CONVERGED]\n",
        "    actual:     (nothing yet)\n"},
       {"    state dir:"}},
      {"removed with nothing left: not shown",
       [&](SandboxRecord* r) {
         desired(r)->set_stage(records::CONTAINER_STAGE_REMOVED);
         desired(r)->set_generation(5);
         r->actual->clear_containers();
       },
       false,
       {"1 sandboxes, 0 not converged; 0 containers, 0 not converged", "sandbox p  [converged]"},
       {"container c1"}},
      {"orphan actual: not converged",
       [](SandboxRecord* r) { r->desired->clear_containers(); },
       true,
       {"  container c1  [NOT CONVERGED]\n    desired:    (none: orphan)\n"},
       {}},
  };
  for (const Case& c : cases) {
    SandboxRecord record = WithContainer();
    c.mutate(&record);
    DumpOptions options;
    options.diff_only = c.diff_only;
    options.now = absl::FromUnixSeconds(0);
    const std::string text = FormatDump({record}, options);
    for (const std::string& want : c.want) {
      EXPECT_NE(text.find(want), std::string::npos) << c.name << ": want\n" << want << "\nin\n" << text;
    }
    for (const std::string& not_want : c.not_want) {
      EXPECT_EQ(text.find(not_want), std::string::npos) << c.name << ": unwanted " << not_want << "\n" << text;
    }
  }
}

TEST(FormatDump, FiltersApplyToPodsWithContainers) {
  SandboxRecord failing = WithContainer();
  failing.actual->mutable_containers(0)->set_last_error("boom");
  SandboxRecord other = Ready("q");
  DumpOptions options;
  options.diff_only = true;
  options.name = "web";
  std::string text = FormatDump({failing, other}, options);
  EXPECT_NE(text.find("container c1"), std::string::npos) << text;
  options.pod_namespace = "kube-system";
  text = FormatDump({failing, other}, options);
  EXPECT_EQ(text.find("sandbox p"), std::string::npos) << text;
  EXPECT_EQ(text.find("container c1"), std::string::npos) << text;
}

TEST(FormatDump, JsonCarriesContainersAndMonitor) {
  SandboxRecord record = WithContainer();
  record.actual->mutable_containers(0)->set_phase(records::CONTAINER_PHASE_EXITED);
  record.actual->mutable_containers(0)->set_exit_code(1);
  record.actual->mutable_containers(0)->set_reason("Error");
  DumpOptions options;
  options.json = true;
  nlohmann::json json = nlohmann::json::parse(FormatDump({record}, options));
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["converged"], true);
  EXPECT_EQ(json[0]["monitor"]["pid"], 4100);
  EXPECT_EQ(json[0]["monitor"]["dir"], "/run/converge/monitors/p");
  ASSERT_EQ(json[0]["containers"].size(), 1u);
  const nlohmann::json& container = json[0]["containers"][0];
  EXPECT_EQ(container["id"], "c1");
  EXPECT_EQ(container["name"], "app");
  EXPECT_EQ(container["converged"], true);
  EXPECT_EQ(container["desired_stage"], "RUNNING");
  EXPECT_EQ(container["phase"], "EXITED");
  EXPECT_EQ(container["generation"], 2);
  EXPECT_EQ(container["observed_generation"], 2);
  EXPECT_EQ(container["init"]["pid"], 4242);
  EXPECT_EQ(container["log_path"], "/var/log/pods/default_web_u1/app/0.log");
  EXPECT_EQ(container["exit_code"], 1);
  EXPECT_EQ(container["reason"], "Error");
  // --diff keeps only what has not converged, pods and containers alike.
  options.diff_only = true;
  EXPECT_EQ(FormatDump({record}, options), "[]\n");
  record.desired->mutable_containers(0)->set_generation(3);
  json = nlohmann::json::parse(FormatDump({record}, options));
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["converged"], false);
  EXPECT_EQ(json[0]["containers"][0]["converged"], false);
}

TEST(FormatImageDump, ShowsFailedPullsAndDiffHidesConvergedOnes) {
  ImageRefRecord ok{"docker.io/library/busybox:latest", records::ImageDesired(),
                    records::ImageRefActual()};
  ok.desired->set_present(true);
  ok.desired->set_generation(2);
  ok.actual->set_image_id("sha256:abc");
  ok.actual->set_repo_digest("docker.io/library/busybox@sha256:def");
  ok.actual->set_observed_generation(2);
  ok.actual->set_attempted_generation(2);
  ImageRefRecord failed{"registry.example/app:v1", records::ImageDesired(),
                        records::ImageRefActual()};
  failed.desired->set_present(true);
  failed.desired->set_generation(1);
  failed.actual->set_attempted_generation(1);
  failed.actual->set_last_error("registry.example/app:v1: HTTP 401");
  failed.actual->set_last_error_code(static_cast<int>(absl::StatusCode::kUnauthenticated));
  DumpOptions options;
  std::string text = FormatImageDump({ok, failed}, {records::ImageRecord()}, options);
  EXPECT_NE(text.find("2 image references, 1 not converged, 1 images"), std::string::npos) << text;
  EXPECT_NE(text.find("docker.io/library/busybox:latest  converged"), std::string::npos) << text;
  EXPECT_NE(text.find("  resolved docker.io/library/busybox@sha256:def"), std::string::npos) << text;
  EXPECT_NE(text.find("  last error (UNAUTHENTICATED): registry.example/app:v1: HTTP 401"),
            std::string::npos)
      << text;
  options.diff_only = true;
  text = FormatImageDump({ok, failed}, {}, options);
  EXPECT_EQ(text.find("busybox:latest  converged"), std::string::npos) << text;
  EXPECT_NE(text.find("registry.example/app:v1  NOT CONVERGED"), std::string::npos) << text;
}

}  // namespace
}  // namespace converge

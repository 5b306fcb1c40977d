#include "cmd/convergectl/dump.h"

#include "gtest/gtest.h"

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

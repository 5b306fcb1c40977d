// CniNetwork against fake /bin/sh plugins that log every call and its stdin,
// using the test's own network namespace (/proc/self/ns/net) as the pod's:
// the libcni semantics (ADD order and chaining, DEL in reverse with the
// cached config/result/capability args, cache-less DEL, CHECK), the undo of
// a failed ADD, Ready, and request validation. No root needed.
#include "executors/network/cni/cni_network.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

constexpr char kNetns[] = "/proc/self/ns/net";
constexpr char kArgs[] =
    "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
    "K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=uid-1";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Every plugin is this script; it knows its type from its file name.
constexpr char kFakePlugin[] = R"(
T=${0##*/}
if [ "$CNI_COMMAND" = VERSION ]; then
  cat "$OUT/versions.$T" 2>/dev/null ||
    echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}'
  exit 0
fi
N=$(cat "$OUT/n" 2>/dev/null || echo 0); N=$((N + 1)); echo $N > "$OUT/n"
cat > "$OUT/$N.json"
echo "$T $CNI_COMMAND netns=$CNI_NETNS if=$CNI_IFNAME id=$CNI_CONTAINERID args=$CNI_ARGS path=$CNI_PATH" >> "$OUT/log"
if [ -e "$OUT/fail.$T.$CNI_COMMAND" ]; then
  echo '{"code": 7, "msg": "injected failure"}'
  exit 1
fi
if [ "$CNI_COMMAND" = ADD ]; then cat "$OUT/result.$T"; fi
exit 0
)";

class CniNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conf_ = dir_.Sub("net.d");
    bin_ = dir_.Sub("bin");
    out_ = dir_.Sub("out");
    for (const std::string& d : {conf_, bin_, out_}) {
      std::filesystem::create_directories(d);
    }
    for (const char* type : {"iface", "chain", "ipam"}) Plugin(type);
    WriteConfig("10-fake.conflist", DefaultConfig());
    // The interface plugin's result, and the chained plugin's (which adds a
    // host interface, so the final result is visibly the last plugin's).
    iface_result_ = Json::parse(absl::StrCat(R"({
      "cniVersion": "1.0.0",
      "interfaces": [{"name": "veth1", "mac": "aa:00:00:00:00:01"},
                     {"name": "eth0", "mac": "aa:00:00:00:00:02",
                      "sandbox": ")",
                                             kNetns, R"("}],
      "ips": [{"address": "fd00::5/64", "interface": 1},
              {"address": "10.9.0.5/24", "gateway": "10.9.0.1",
               "interface": 1}]})"));
    chain_result_ = iface_result_;
    chain_result_["interfaces"].push_back({{"name", "extra"}});
    WriteResult("iface", iface_result_);
    WriteResult("chain", chain_result_);

    CniNetworkOptions options;
    options.conf_dir = conf_;
    options.bin_dirs = {dir_.Sub("empty-bin"), bin_};
    options.plugin_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<CniNetwork>> created =
        CniNetwork::Create(options);
    ASSERT_TRUE(created.ok()) << created.status();
    cni_ = *std::move(created);

    request_.sandbox_id = "sb1";
    request_.pod_name = "web";
    request_.pod_namespace = "default";
    request_.pod_uid = "uid-1";
    request_.netns_path = kNetns;
    request_.runtime_config.port_mappings = {{8080, 80, "TCP", ""}};
    request_.runtime_config.dns = DnsConfig{{"10.96.0.10"}, {}, {}};
  }

  static Json DefaultConfig() {
    return Json::parse(R"({"cniVersion": "1.0.0", "name": "fakenet",
      "plugins": [
        {"type": "iface", "ipam": {"type": "ipam"}},
        {"type": "chain", "capabilities": {"portMappings": true,
                                           "dns": false}}]})");
  }
  void WriteConfig(const std::string& name, const Json& doc) {
    std::ofstream(conf_ + "/" + name) << doc.dump();
  }
  void WriteResult(const std::string& type, const Json& doc) {
    std::ofstream(out_ + "/result." + type) << doc.dump();
  }
  void Plugin(const std::string& type) {
    std::string path = bin_ + "/" + type;
    std::ofstream(path) << "#!/bin/sh\nOUT=" << out_ << "\n" << kFakePlugin;
    chmod(path.c_str(), 0755);
  }
  void Fail(const std::string& type, const std::string& command) {
    std::ofstream(out_ + "/fail." + type + "." + command) << "";
  }

  // The calls made since the last Calls(), as "<type> <COMMAND>", and the
  // stdin of each.
  std::vector<std::string> Calls() {
    std::vector<std::string> calls;
    stdins_.clear();
    raw_log_.clear();
    int n = 0;
    for (absl::string_view line :
         absl::StrSplit(ReadFile(out_ + "/log"), '\n', absl::SkipEmpty())) {
      ++n;
      raw_log_.emplace_back(line);
      std::vector<std::string> words = absl::StrSplit(line, ' ');
      calls.push_back(words[0] + " " + words[1]);
      stdins_.push_back(
          Json::parse(ReadFile(absl::StrCat(out_, "/", n + seen_, ".json"))));
    }
    seen_ += n;
    std::filesystem::remove(out_ + "/log");
    return calls;
  }

  absl::StatusOr<NetworkResult> SetupOk() {
    absl::StatusOr<NetworkResult> result = cni_->Setup(request_);
    Calls();
    return result;
  }

  TempTestDir dir_;
  std::string conf_, bin_, out_;
  Json iface_result_, chain_result_;
  std::unique_ptr<CniNetwork> cni_;
  NetworkRequest request_;
  std::vector<Json> stdins_;
  std::vector<std::string> raw_log_;
  int seen_ = 0;
};

TEST_F(CniNetworkTest, SetupRunsAddInOrderChainingPrevResult) {
  absl::StatusOr<NetworkResult> result = cni_->Setup(request_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ips, (std::vector<std::string>{"10.9.0.5", "fd00::5"}));
  ASSERT_EQ(Calls(), (std::vector<std::string>{"iface ADD", "chain ADD"}));
  EXPECT_EQ(raw_log_[0],
            absl::StrCat("iface ADD netns=", kNetns, " if=eth0 id=sb1 args=",
                         kArgs, " path=", dir_.Sub("empty-bin"), ":", bin_));

  Json want_iface = DefaultConfig()["plugins"][0];
  want_iface["name"] = "fakenet";
  want_iface["cniVersion"] = "1.0.0";
  EXPECT_EQ(stdins_[0], want_iface) << stdins_[0].dump();

  Json want_chain = DefaultConfig()["plugins"][1];
  want_chain["name"] = "fakenet";
  want_chain["cniVersion"] = "1.0.0";
  want_chain["prevResult"] = iface_result_;
  want_chain["runtimeConfig"] = Json::parse(
      R"({"portMappings": [{"hostPort": 8080, "containerPort": 80,
                            "protocol": "tcp"}]})");
  EXPECT_EQ(stdins_[1], want_chain) << stdins_[1].dump();

  // result_json: everything DEL needs.
  Json cached = Json::parse(result->result_json);
  EXPECT_EQ(cached["kind"], "converge.cni.attachment/v1");
  EXPECT_EQ(cached["containerId"], "sb1");
  EXPECT_EQ(cached["ifName"], "eth0");
  EXPECT_EQ(cached["netns"], kNetns);
  EXPECT_EQ(cached["cniArgs"], kArgs);
  EXPECT_EQ(cached["networkName"], "fakenet");
  EXPECT_EQ(cached["configSource"], conf_ + "/10-fake.conflist");
  EXPECT_EQ(cached["config"], DefaultConfig());
  EXPECT_EQ(cached["capabilityArgs"],
            Json::parse(R"({"portMappings": [{"hostPort": 8080,
              "containerPort": 80, "protocol": "tcp"}],
              "dns": {"servers": ["10.96.0.10"], "searches": [],
                      "options": []}})"));
  EXPECT_EQ(cached["result"], chain_result_);
}

TEST_F(CniNetworkTest, TeardownUsesCachedConfigResultAndCapabilityArgs) {
  absl::StatusOr<NetworkResult> attached = SetupOk();
  ASSERT_TRUE(attached.ok()) << attached.status();
  // The config dir changes under the pod; DEL must not care.
  std::filesystem::remove(conf_ + "/10-fake.conflist");
  WriteConfig("00-other.conflist",
              Json::parse(R"({"cniVersion": "1.0.0", "name": "other",
                              "plugins": [{"type": "ipam"}]})"));

  // With a cache, the request's runtime config is not used.
  NetworkRequest unconfigured = request_;
  unconfigured.runtime_config = RuntimeConfig{};
  ASSERT_OK(cni_->Teardown(unconfigured, *attached));
  ASSERT_EQ(Calls(), (std::vector<std::string>{"chain DEL", "iface DEL"}));
  EXPECT_EQ(raw_log_[0],
            absl::StrCat("chain DEL netns=", kNetns, " if=eth0 id=sb1 args=",
                         kArgs, " path=", dir_.Sub("empty-bin"), ":", bin_));
  for (const Json& in : stdins_) {
    EXPECT_EQ(in["name"], "fakenet");
    EXPECT_EQ(in["prevResult"], chain_result_);
  }
  EXPECT_EQ(stdins_[0]["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
  EXPECT_FALSE(stdins_[1].contains("runtimeConfig"));

  // Again: DEL is idempotent, so is Teardown.
  ASSERT_OK(cni_->Teardown(unconfigured, *attached));
  EXPECT_EQ(Calls(), (std::vector<std::string>{"chain DEL", "iface DEL"}));
}

TEST_F(CniNetworkTest, TeardownWithoutCacheDeletesWithCurrentConfig) {
  NetworkRequest gone = request_;
  gone.netns_path = dir_.Sub("no-such-netns");
  ASSERT_OK(cni_->Teardown(gone, NetworkResult{}));
  ASSERT_EQ(Calls(), (std::vector<std::string>{"chain DEL", "iface DEL"}));
  // A vanished netns is still passed; plugins skip what lived in it.
  EXPECT_TRUE(absl::StrContains(raw_log_[0], "netns=" + gone.netns_path))
      << raw_log_[0];
  for (const Json& in : stdins_) EXPECT_FALSE(in.contains("prevResult"));
  EXPECT_EQ(stdins_[0]["runtimeConfig"]["portMappings"][0]["protocol"], "tcp");

  // Same without capability arguments: none are passed.
  NetworkRequest unconfigured = request_;
  unconfigured.runtime_config = RuntimeConfig{};
  ASSERT_OK(cni_->Teardown(unconfigured, NetworkResult{}));
  ASSERT_EQ(Calls(), (std::vector<std::string>{"chain DEL", "iface DEL"}));
  EXPECT_FALSE(stdins_[0].contains("runtimeConfig"));
}

TEST_F(CniNetworkTest, TeardownPassesNoNetnsForAStalePin) {
  std::string stale = dir_.Sub("stale-pin");
  std::ofstream(stale) << "";
  NetworkRequest request = request_;
  request.netns_path = stale;
  ASSERT_OK(cni_->Teardown(request, NetworkResult{}));
  ASSERT_EQ(Calls().size(), 2u);
  EXPECT_TRUE(absl::StrContains(raw_log_[0], "netns= ")) << raw_log_[0];

  request.netns_path = "";
  ASSERT_OK(cni_->Teardown(request, NetworkResult{}));
  ASSERT_EQ(Calls().size(), 2u);
  EXPECT_TRUE(absl::StrContains(raw_log_[1], "netns= ")) << raw_log_[1];
}

TEST_F(CniNetworkTest, TeardownWithoutCacheOrConfigIsANoOp) {
  std::filesystem::remove(conf_ + "/10-fake.conflist");
  EXPECT_OK(cni_->Teardown(request_, NetworkResult{}));
  EXPECT_TRUE(Calls().empty());
}

TEST_F(CniNetworkTest, MissingPluginOnDel) {
  absl::StatusOr<NetworkResult> attached = SetupOk();
  ASSERT_TRUE(attached.ok()) << attached.status();
  std::filesystem::remove(bin_ + "/chain");
  // Nothing cached: a plugin that is not there is skipped.
  EXPECT_OK(cni_->Teardown(request_, NetworkResult{}));
  EXPECT_EQ(Calls(), std::vector<std::string>{"iface DEL"});
  // Cached: it ran at ADD, so its absence is an error (SPEC).
  absl::Status status = cni_->Teardown(request_, *attached);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(status.message(),
                                "sandbox sb1: CNI network \"fakenet\" (cached "
                                "config): CNI plugin \"chain\" not found in"))
      << status;
  EXPECT_TRUE(Calls().empty());
}

TEST_F(CniNetworkTest, DelFailureStopsAndIsReturned) {
  absl::StatusOr<NetworkResult> attached = SetupOk();
  ASSERT_TRUE(attached.ok()) << attached.status();
  Fail("chain", "DEL");
  absl::Status status = cni_->Teardown(request_, *attached);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(absl::StrContains(status.message(),
                                "CNI plugin chain DEL failed (exit status 1): "
                                "injected failure (CNI error code 7)"))
      << status;
  EXPECT_EQ(Calls(), std::vector<std::string>{"chain DEL"});
}

TEST_F(CniNetworkTest, FailedAddIsUndoneAndReported) {
  Fail("chain", "ADD");
  absl::StatusOr<NetworkResult> result = cni_->Setup(request_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(result.status().message(),
            absl::StrCat("sandbox sb1: CNI network \"fakenet\" (", conf_,
                         "/10-fake.conflist): CNI plugin chain ADD failed "
                         "(exit status 1): injected failure (CNI error code "
                         "7)"));
  ASSERT_EQ(Calls(), (std::vector<std::string>{"iface ADD", "chain ADD",
                                               "chain DEL", "iface DEL"}));
  // The undo has the ADD's capability arguments, no prevResult.
  EXPECT_FALSE(stdins_[2].contains("prevResult"));
  EXPECT_EQ(stdins_[2]["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
}

TEST_F(CniNetworkTest, ResultWithoutPodIpIsAnError) {
  // Every IP names an interface, and none of them is eth0.
  Json no_sandbox = chain_result_;
  no_sandbox["interfaces"][1]["name"] = "net1";
  WriteResult("chain", no_sandbox);
  absl::StatusOr<NetworkResult> result = cni_->Setup(request_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(result.status().message(),
                                "the result gives no IP to interface eth0 in "
                                "the sandbox"))
      << result.status();
  ASSERT_EQ(Calls(), (std::vector<std::string>{"iface ADD", "chain ADD",
                                               "chain DEL", "iface DEL"}));
  EXPECT_EQ(stdins_[2]["prevResult"], no_sandbox);
}

TEST_F(CniNetworkTest, IntentIsRecordedBeforeAddAndUndoesAnInterruptedSetup) {
  std::string intent;
  std::vector<std::string> calls_at_intent;
  NetworkRequest request = request_;
  request.record_intent = [&](const std::string& recorded) {
    intent = recorded;
    calls_at_intent = Calls();
    return absl::OkStatus();
  };
  Fail("chain", "ADD");
  EXPECT_FALSE(cni_->Setup(request).ok());
  ASSERT_FALSE(intent.empty());
  EXPECT_TRUE(calls_at_intent.empty()) << "recorded before the first ADD";

  // The node's network config goes away before the (restarted) daemon tears
  // the sandbox down: DEL still runs, with the recorded config.
  std::filesystem::remove(conf_ + "/10-fake.conflist");
  Calls();  // forget the failed ADD and its immediate undo
  ASSERT_OK(cni_->Teardown(request_, NetworkResult{{}, intent}));
  EXPECT_EQ(Calls(), (std::vector<std::string>{"chain DEL", "iface DEL"}));
  EXPECT_FALSE(stdins_[0].contains("prevResult")) << "no result was recorded";

  // A failing intent aborts Setup before any plugin runs.
  Calls();
  request.record_intent = [](const std::string&) { return absl::UnavailableError("disk full"); };
  WriteConfig("10-fake.conflist", DefaultConfig());
  EXPECT_EQ(cni_->Setup(request).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Calls().empty());
}

TEST_F(CniNetworkTest, ConfigChangesArePickedUpWithoutRestart) {
  std::filesystem::remove(conf_ + "/10-fake.conflist");
  absl::StatusOr<NetworkResult> result = cni_->Setup(request_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(result.status().message(),
            "sandbox sb1: no CNI network config in " + conf_);
  absl::Status ready = cni_->Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ready.message(), "no CNI network config in " + conf_);

  // A single-plugin .conf appears.
  std::ofstream(conf_ + "/20-single.conf")
      << R"({"cniVersion": "0.4.0", "name": "single", "type": "iface"})";
  EXPECT_OK(cni_->Ready());
  result = cni_->Setup(request_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Calls(), std::vector<std::string>{"iface ADD"});
  EXPECT_EQ(stdins_[0]["cniVersion"], "0.4.0");
}

TEST_F(CniNetworkTest, Ready) {
  EXPECT_OK(cni_->Ready());
  EXPECT_TRUE(Calls().empty()) << "Ready runs only VERSION";

  std::filesystem::remove(bin_ + "/ipam");
  absl::Status ready = cni_->Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ready.message(),
            absl::StrCat("CNI network \"fakenet\" (", conf_,
                         "/10-fake.conflist): CNI plugin \"ipam\" not found "
                         "in ",
                         dir_.Sub("empty-bin"), ":", bin_));
  Plugin("ipam");

  std::filesystem::remove(bin_ + "/chain");
  ready = cni_->Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(ready.message(), "CNI plugin \"chain\" not found in"))
      << ready;

  // A new binary that does not speak 1.0.0: VERSION is asked again.
  std::ofstream(out_ + "/versions.chain")
      << R"({"cniVersion":"0.4.0","supportedVersions":["0.3.1","0.4.0"]})";
  Plugin("chain");
  ready = cni_->Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(ready.message(),
                                "does not support config version \"1.0.0\""))
      << ready;
  // Setup refuses before running anything.
  absl::StatusOr<NetworkResult> result = cni_->Setup(request_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Calls().empty());
}

TEST_F(CniNetworkTest, Check) {
  absl::StatusOr<NetworkResult> attached = SetupOk();
  ASSERT_TRUE(attached.ok()) << attached.status();
  ASSERT_OK(cni_->Check(request_, *attached));
  ASSERT_EQ(Calls(), (std::vector<std::string>{"iface CHECK", "chain CHECK"}));
  for (const Json& in : stdins_) EXPECT_EQ(in["prevResult"], chain_result_);

  Fail("iface", "CHECK");
  absl::Status status = cni_->Check(request_, *attached);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(Calls(), std::vector<std::string>{"iface CHECK"});

  status = cni_->Check(request_, NetworkResult{});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);

  // disableCheck in the cached config: nothing runs.
  Json config = DefaultConfig();
  config["disableCheck"] = true;
  WriteConfig("10-fake.conflist", config);
  attached = SetupOk();
  ASSERT_TRUE(attached.ok()) << attached.status();
  EXPECT_OK(cni_->Check(request_, *attached));
  EXPECT_TRUE(Calls().empty());

  // CHECK came with spec 0.4.0.
  config = DefaultConfig();
  config["cniVersion"] = "0.3.1";
  WriteConfig("10-fake.conflist", config);
  attached = SetupOk();
  ASSERT_TRUE(attached.ok()) << attached.status();
  EXPECT_EQ(cni_->Check(request_, *attached).code(),
            absl::StatusCode::kUnimplemented);
}

TEST_F(CniNetworkTest, OldVersionsGetNoPrevResultOnDel) {
  Json config = DefaultConfig();
  config["cniVersion"] = "0.3.1";
  WriteConfig("10-fake.conflist", config);
  absl::StatusOr<NetworkResult> attached = SetupOk();
  ASSERT_TRUE(attached.ok()) << attached.status();
  ASSERT_OK(cni_->Teardown(request_, *attached));
  ASSERT_EQ(Calls().size(), 2u);
  for (const Json& in : stdins_) {
    EXPECT_FALSE(in.contains("prevResult"));
    EXPECT_EQ(in["cniVersion"], "0.3.1");
  }
}

TEST_F(CniNetworkTest, RequestValidation) {
  NetworkRequest bad = request_;
  bad.sandbox_id = "a/b";
  EXPECT_EQ(cni_->Setup(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cni_->Teardown(bad, NetworkResult{}).code(),
            absl::StatusCode::kInvalidArgument);
  bad = request_;
  bad.pod_name = "x;K8S_POD_UID=forged";
  EXPECT_EQ(cni_->Setup(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = request_;
  bad.netns_path = dir_.Sub("absent");
  EXPECT_EQ(cni_->Setup(bad).status().code(), absl::StatusCode::kNotFound);
  bad.netns_path = conf_ + "/10-fake.conflist";  // a file, not a netns
  absl::StatusOr<NetworkResult> result = cni_->Setup(bad);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  bad.netns_path = "relative";
  EXPECT_EQ(cni_->Setup(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Calls().empty());

  // A cached result belongs to one sandbox.
  absl::StatusOr<NetworkResult> attached = SetupOk();
  ASSERT_TRUE(attached.ok()) << attached.status();
  NetworkRequest other = request_;
  other.sandbox_id = "sb2";
  EXPECT_EQ(cni_->Teardown(other, *attached).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Calls().empty());
}

TEST_F(CniNetworkTest, UnreadableCacheFallsBackToCurrentConfig) {
  ASSERT_OK(cni_->Teardown(request_, NetworkResult{{}, "{not json"}));
  EXPECT_EQ(Calls(), (std::vector<std::string>{"chain DEL", "iface DEL"}));
}

TEST(KubernetesCniArgsTest, Format) {
  NetworkRequest request;
  request.sandbox_id = "abc";
  request.pod_name = "web-0";
  request.pod_namespace = "prod";
  request.pod_uid = "1234-5678";
  absl::StatusOr<std::string> args = KubernetesCniArgs(request);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(*args,
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;"
            "K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=1234-5678");
  request.pod_uid = "a=b";
  EXPECT_EQ(KubernetesCniArgs(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CniNetworkCreateTest, ValidatesOptions) {
  auto code = [](std::function<void(CniNetworkOptions&)> mutate) {
    CniNetworkOptions options;
    mutate(options);
    return CniNetwork::Create(options).status().code();
  };
  EXPECT_EQ(code([](CniNetworkOptions&) {}), absl::StatusCode::kOk);
  EXPECT_EQ(code([](CniNetworkOptions& o) { o.conf_dir = "net.d"; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](CniNetworkOptions& o) { o.bin_dirs.clear(); }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](CniNetworkOptions& o) { o.bin_dirs = {"/a:/b"}; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](CniNetworkOptions& o) { o.ifname = "a-very-long-ifname"; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](CniNetworkOptions& o) { o.ifname = "eth 0"; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](CniNetworkOptions& o) {
              o.plugin_timeout = absl::ZeroDuration();
            }),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace converge

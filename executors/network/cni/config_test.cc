#include "executors/network/cni/config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "absl/strings/match.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

// A valid list; table cases mutate it.
Json BaseList() {
  return Json::parse(R"({
    "cniVersion": "1.0.0",
    "name": "podnet",
    "plugins": [
      {"type": "bridge", "bridge": "cni0",
       "ipam": {"type": "host-local", "subnet": "10.88.0.0/16"}},
      {"type": "portmap", "capabilities": {"portMappings": true}}
    ]
  })");
}

struct ListCase {
  std::string name;
  std::function<void(Json&)> mutate;
  // Empty: must parse. Else: INVALID_ARGUMENT containing this.
  std::string error;
};

TEST(ParseNetworkConfigListTest, Table) {
  const std::vector<ListCase> cases = {
      {"valid", [](Json&) {}, ""},
      {"missing name", [](Json& j) { j.erase("name"); }, "\"name\": missing"},
      {"name not a string", [](Json& j) { j["name"] = 3; },
       "\"name\": must be a string"},
      {"name with slash", [](Json& j) { j["name"] = "a/b"; },
       "\"name\": network name \"a/b\" must match"},
      {"name starting with dash", [](Json& j) { j["name"] = "-a"; },
       "must match"},
      {"missing cniVersion", [](Json& j) { j.erase("cniVersion"); },
       "\"cniVersion\": missing"},
      {"cniVersion 0.2.0", [](Json& j) { j["cniVersion"] = "0.2.0"; },
       "none of 0.2.0 is supported"},
      {"cniVersion garbage", [](Json& j) { j["cniVersion"] = "one"; },
       "\"one\" is not a version"},
      {"cniVersion number", [](Json& j) { j["cniVersion"] = 1.0; },
       "\"cniVersion\": must be a string"},
      {"no plugins", [](Json& j) { j.erase("plugins"); },
       "\"plugins\": missing"},
      {"plugins empty", [](Json& j) { j["plugins"] = Json::array(); },
       "\"plugins\": empty"},
      {"plugins object", [](Json& j) { j["plugins"] = Json::object(); },
       "\"plugins\": must be an array"},
      {"plugin not object", [](Json& j) { j["plugins"][1] = "portmap"; },
       "\"plugins[1]\": must be an object"},
      {"plugin without type", [](Json& j) { j["plugins"][1].erase("type"); },
       "\"plugins[1].type\": missing"},
      {"type not string", [](Json& j) { j["plugins"][0]["type"] = 7; },
       "\"plugins[0].type\": must be a string"},
      {"type with dotdot path",
       [](Json& j) { j["plugins"][0]["type"] = "../x"; },
       "\"plugins[0].type\": plugin type \"../x\" must be a bare file name"},
      {"type absolute", [](Json& j) { j["plugins"][1]["type"] = "/bin/sh"; },
       "\"plugins[1].type\": plugin type \"/bin/sh\" must be a bare"},
      {"type dot", [](Json& j) { j["plugins"][0]["type"] = "."; },
       "must be a bare file name"},
      {"type dotdot", [](Json& j) { j["plugins"][0]["type"] = ".."; },
       "must be a bare file name"},
      {"type empty", [](Json& j) { j["plugins"][0]["type"] = ""; },
       "\"plugins[0].type\": empty plugin type"},
      {"ipam type path",
       [](Json& j) { j["plugins"][0]["ipam"]["type"] = "a/host-local"; },
       "\"plugins[0].ipam.type\": plugin type \"a/host-local\""},
      {"capability not bool",
       [](Json& j) { j["plugins"][1]["capabilities"]["portMappings"] = "yes"; },
       "\"plugins[1].capabilities.portMappings\": must be a boolean"},
      {"capabilities array",
       [](Json& j) { j["plugins"][1]["capabilities"] = Json::array(); },
       "\"plugins[1].capabilities\": must be an object"},
      {"disableCheck yes", [](Json& j) { j["disableCheck"] = "yes"; },
       "\"disableCheck\": must be true or false"},
      {"disableCheck string true", [](Json& j) { j["disableCheck"] = "True"; },
       ""},
  };
  for (const ListCase& c : cases) {
    SCOPED_TRACE(c.name);
    Json doc = BaseList();
    c.mutate(doc);
    absl::StatusOr<NetworkConfigList> list =
        ParseNetworkConfigList(doc.dump(), "/etc/cni/net.d/10-x.conflist");
    if (c.error.empty()) {
      EXPECT_TRUE(list.ok()) << list.status();
      continue;
    }
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(list.status().message(),
                                 "/etc/cni/net.d/10-x.conflist: "))
        << list.status();
    EXPECT_TRUE(absl::StrContains(list.status().message(), c.error))
        << list.status();
  }
}

TEST(ParseNetworkConfigListTest, KeepsPluginsAndCapabilities) {
  Json doc = BaseList();
  doc["disableCheck"] = true;
  doc["plugins"][1]["capabilities"]["bandwidth"] = false;
  absl::StatusOr<NetworkConfigList> list =
      ParseNetworkConfigList(doc.dump(), "src");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "podnet");
  EXPECT_EQ(list->cni_version, "1.0.0");
  EXPECT_TRUE(list->disable_check);
  EXPECT_EQ(list->source_path, "src");
  EXPECT_EQ(list->bytes, doc.dump());
  ASSERT_EQ(list->plugins.size(), 2u);
  EXPECT_EQ(list->plugins[0].type, "bridge");
  EXPECT_EQ(list->plugins[0].raw, doc["plugins"][0]);
  EXPECT_TRUE(list->plugins[0].capabilities.empty());
  EXPECT_EQ(list->plugins[1].type, "portmap");
  EXPECT_EQ(list->plugins[1].capabilities,
            (std::map<std::string, bool>{{"bandwidth", false},
                                         {"portMappings", true}}));
}

TEST(ParseNetworkConfigListTest, SelectsHighestSupportedOfCniVersions) {
  Json doc = BaseList();
  doc["cniVersion"] = "0.3.1";
  doc["cniVersions"] = {"0.4.0", "1.0.0", "9.0.0", "0.2.0"};
  absl::StatusOr<NetworkConfigList> list =
      ParseNetworkConfigList(doc.dump(), "src");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->cni_version, "1.0.0");

  doc.erase("cniVersion");
  doc["cniVersions"] = {"0.3.0"};
  list = ParseNetworkConfigList(doc.dump(), "src");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->cni_version, "0.3.0");
}

TEST(ParseNetworkConfigListTest, RejectsNonObjects) {
  for (const char* text : {"", "[]", "\"x\"", "{", "{\"name\":"}) {
    absl::StatusOr<NetworkConfigList> list = ParseNetworkConfigList(text, "f");
    EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ParseSingleNetworkConfigTest, WrapsIntoList) {
  const std::string text = R"({"cniVersion": "0.4.0", "name": "single",
      "type": "bridge", "bridge": "cni1", "ipMasq": true})";
  absl::StatusOr<NetworkConfigList> list =
      ParseSingleNetworkConfig(text, "/d/10.conf");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "single");
  EXPECT_EQ(list->cni_version, "0.4.0");
  ASSERT_EQ(list->plugins.size(), 1u);
  EXPECT_EQ(list->plugins[0].type, "bridge");
  EXPECT_EQ(list->plugins[0].raw, Json::parse(text));
}

TEST(ParseSingleNetworkConfigTest, ConflistInConfFileGetsAHint) {
  absl::StatusOr<NetworkConfigList> list =
      ParseSingleNetworkConfig(BaseList().dump(), "/d/10.conf");
  EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(list.status().message(),
                                "/d/10.conf: \"type\": missing; perhaps this "
                                "is a .conflist?"))
      << list.status();

  list = ParseSingleNetworkConfig(
      R"({"cniVersion": "1.0.0", "name": "n", "type": "x/y"})", "/d/1.conf");
  EXPECT_TRUE(absl::StrContains(list.status().message(),
                                "/d/1.conf: \"type\": plugin type \"x/y\""))
      << list.status();
}

TEST(NetworkConfigListJsonTest, RoundTrips) {
  Json doc = BaseList();
  doc["cniVersions"] = {"0.4.0", "1.0.0"};
  doc["disableCheck"] = true;
  // Key order inside a plugin is kept ("z" before "a").
  doc["plugins"][0]["z"] = 1;
  doc["plugins"][0]["a"] = {{"nested", {1, 2.5, "x"}}};
  absl::StatusOr<NetworkConfigList> list =
      ParseNetworkConfigList(doc.dump(), "/d/a.conflist");
  ASSERT_TRUE(list.ok()) << list.status();
  std::string cached = NetworkConfigListToJson(*list);
  absl::StatusOr<NetworkConfigList> back =
      NetworkConfigListFromJson(cached, "cache");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->name, list->name);
  EXPECT_EQ(back->cni_version, "1.0.0");
  EXPECT_TRUE(back->disable_check);
  ASSERT_EQ(back->plugins.size(), 2u);
  EXPECT_EQ(back->plugins[0].raw.dump(), doc["plugins"][0].dump());
  EXPECT_EQ(back->plugins[1].raw.dump(), doc["plugins"][1].dump());
  EXPECT_EQ(back->plugins[1].capabilities, list->plugins[1].capabilities);
  EXPECT_EQ(NetworkConfigListToJson(*back), cached);
}

TEST(CniVersionTest, Compare) {
  EXPECT_EQ(*CompareCniVersions("0.4.0", "0.4.0"), 0);
  EXPECT_LT(*CompareCniVersions("0.3.1", "0.4.0"), 0);
  EXPECT_GT(*CompareCniVersions("1.0.0", "0.10.0"), 0);
  EXPECT_GT(*CompareCniVersions("0.10.0", "0.9.9"), 0);
  EXPECT_EQ(CompareCniVersions("1.0", "1.0.0").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompareCniVersions("1.0.x", "1.0.0").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsSupportedCniVersion("0.3.0"));
  EXPECT_FALSE(IsSupportedCniVersion("0.2.0"));
}

class LoadNetworkConfigListTest : public ::testing::Test {
 protected:
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.Sub(name)) << text;
  }
  std::string Conflist(const std::string& name) {
    Json doc = BaseList();
    doc["name"] = name;
    return doc.dump();
  }
  std::string conf_dir() const { return dir_.path().string(); }

  TempTestDir dir_;
};

TEST_F(LoadNetworkConfigListTest, MissingOrEmptyDir) {
  absl::StatusOr<NetworkConfigList> list =
      LoadNetworkConfigList(dir_.Sub("absent"));
  EXPECT_EQ(list.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(list.status().message(),
            "no CNI network config in " + dir_.Sub("absent"));

  Write("README", "not a config");
  Write("x.conflist.bak", Conflist("bak"));
  std::filesystem::create_directory(dir_.Sub("dir.conf"));
  list = LoadNetworkConfigList(conf_dir());
  EXPECT_EQ(list.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(list.status().message(), "no CNI network config in " + conf_dir());
}

TEST_F(LoadNetworkConfigListTest, FirstInLexicalOrderWins) {
  Write("20-b.conflist", Conflist("b"));
  Write("10-a.conflist", Conflist("a"));
  Write("30-c.conf", R"({"cniVersion":"1.0.0","name":"c","type":"bridge"})");
  absl::StatusOr<NetworkConfigList> list = LoadNetworkConfigList(conf_dir());
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "a");
  EXPECT_EQ(list->source_path, dir_.Sub("10-a.conflist"));
  EXPECT_EQ(list->bytes, Conflist("a"));
  EXPECT_TRUE(list->skipped.empty());

  // A .conf sorting first is used, wrapped; a .json counts as a .conf.
  Write("05-single.json",
        R"({"cniVersion":"0.3.1","name":"single","type":"ptp"})");
  list = LoadNetworkConfigList(conf_dir());
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "single");
  ASSERT_EQ(list->plugins.size(), 1u);
  EXPECT_EQ(list->plugins[0].type, "ptp");
}

TEST_F(LoadNetworkConfigListTest, InvalidFilesAreSkippedAndReported) {
  Write("00-broken.conflist", "{ not json");
  Write("01-badtype.conflist",
        R"({"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../sh"}]})");
  Write("02-list-in-conf.conf", Conflist("wrong"));
  Write("10-good.conflist", Conflist("good"));
  absl::StatusOr<NetworkConfigList> list = LoadNetworkConfigList(conf_dir());
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "good");
  ASSERT_EQ(list->skipped.size(), 3u);
  EXPECT_TRUE(absl::StartsWith(
      list->skipped[0], dir_.Sub("00-broken.conflist") + ": invalid JSON"))
      << list->skipped[0];
  EXPECT_TRUE(absl::StrContains(list->skipped[1], "\"plugins[0].type\""))
      << list->skipped[1];
  EXPECT_TRUE(absl::StrContains(list->skipped[2], "perhaps this is a"))
      << list->skipped[2];
}

TEST_F(LoadNetworkConfigListTest, NoneValidNamesEveryFile) {
  Write("00-broken.conflist", "{");
  Write("10-noname.conflist",
        R"({"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]})");
  absl::StatusOr<NetworkConfigList> list = LoadNetworkConfigList(conf_dir());
  EXPECT_EQ(list.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(list.status().message(),
                               "no valid CNI network config in " + conf_dir()))
      << list.status();
  EXPECT_TRUE(absl::StrContains(list.status().message(),
                                dir_.Sub("00-broken.conflist")));
  EXPECT_TRUE(
      absl::StrContains(list.status().message(),
                        dir_.Sub("10-noname.conflist") + ": \"name\": missing"))
      << list.status();
}

TEST_F(LoadNetworkConfigListTest, FollowsSymlinksToFiles) {
  Write("real.txt", Conflist("linked"));
  std::filesystem::create_symlink(dir_.Sub("real.txt"),
                                  dir_.Sub("10-link.conflist"));
  std::filesystem::create_symlink(dir_.Sub("nowhere"),
                                  dir_.Sub("05-dangling.conflist"));
  absl::StatusOr<NetworkConfigList> list = LoadNetworkConfigList(conf_dir());
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "linked");
  EXPECT_TRUE(list->skipped.empty());
}

}  // namespace
}  // namespace converge

#include "executors/image/reference.h"

#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

const std::string kHex = std::string(64, 'a');
const std::string kDigest = "sha256:" + kHex;

TEST(ReferenceTest, NormalisesLikeParseDockerRef) {
  struct Case {
    std::string text;
    std::string domain, path, tag, digest;
    std::string string;
  } cases[] = {
      {"busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest"},
      {"busybox:1.36", "docker.io", "library/busybox", "1.36", "",
       "docker.io/library/busybox:1.36"},
      {"user/app", "docker.io", "user/app", "latest", "", "docker.io/user/app:latest"},
      {"docker.io/busybox", "docker.io", "library/busybox", "latest", "",
       "docker.io/library/busybox:latest"},
      {"index.docker.io/user/app:v1", "docker.io", "user/app", "v1", "", "docker.io/user/app:v1"},
      {"localhost/x", "localhost", "x", "latest", "", "localhost/x:latest"},
      {"localhost:5000/x", "localhost:5000", "x", "latest", "", "localhost:5000/x:latest"},
      {"127.0.0.1:5000/a/b:1.0", "127.0.0.1:5000", "a/b", "1.0", "", "127.0.0.1:5000/a/b:1.0"},
      {"registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", "",
       "registry.k8s.io/pause:3.9"},
      {"Registry.Example/app", "Registry.Example", "app", "latest", "",
       "Registry.Example/app:latest"},
      {"a.b-c/e.f--g__h_i:_T.a-g", "a.b-c", "e.f--g__h_i", "_T.a-g", "", ""},
      {"ghcr.io/org/team/app@" + kDigest, "ghcr.io", "org/team/app", "", kDigest,
       "ghcr.io/org/team/app@" + kDigest},
      {"busybox@" + kDigest, "docker.io", "library/busybox", "", kDigest,
       "docker.io/library/busybox@" + kDigest},
      {"busybox:1.36@" + kDigest, "docker.io", "library/busybox", "1.36", kDigest,
       "docker.io/library/busybox:1.36@" + kDigest},
      {"localhost:5000", "docker.io", "library/localhost", "5000", "",
       "docker.io/library/localhost:5000"},
      {std::string(255, 'a'), "docker.io", "library/" + std::string(255, 'a'), "latest", "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    ASSERT_OK_AND_ASSIGN(ImageReference ref, ParseImageReference(c.text));
    EXPECT_EQ(ref.domain, c.domain);
    EXPECT_EQ(ref.path, c.path);
    EXPECT_EQ(ref.tag, c.tag);
    EXPECT_EQ(ref.digest.str(), c.digest);
    EXPECT_EQ(ref.Repository(), c.domain + "/" + c.path);
    if (!c.string.empty()) {
      EXPECT_EQ(ref.String(), c.string);
    }
  }
}

TEST(ReferenceTest, RejectsInvalidReferencesNamingThem) {
  const std::string cases[] = {
      "",
      "Busybox",
      "docker.io/User/app",
      "busybox:",
      "busybox:-tag",
      "busybox:a+b",
      "busybox:" + std::string(129, 't'),
      "busybox@sha256:short",
      "busybox@sha512:" + std::string(128, 'a'),
      "busybox@",
      "a//b",
      "a/b/",
      "-a/b",
      "app_/x",
      "reg-.io/app",
      "reg.io:port/app",
      std::string(256, 'a'),
      ":tag",
      kHex,
      kDigest,
  };
  for (const std::string& text : cases) {
    auto parsed = ParseImageReference(text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(parsed.status().message().find(absl::StrCat("\"", text, "\"")),
              absl::string_view::npos)
        << parsed.status();
  }
  EXPECT_NE(ParseImageReference("Busybox").status().message().find("lowercase"),
            absl::string_view::npos);
}

TEST(ReferenceTest, ImageIds) {
  EXPECT_TRUE(IsImageId(kHex));
  EXPECT_TRUE(IsImageId(kDigest));
  EXPECT_FALSE(IsImageId(kHex.substr(1)));
  EXPECT_FALSE(IsImageId("sha256:" + std::string(64, 'g')));
  EXPECT_FALSE(IsImageId(std::string(64, 'A')));
  EXPECT_FALSE(IsImageId("busybox"));
}

TEST(ReferenceTest, RegistryHosts) {
  for (const char* good : {"docker.io", "localhost", "127.0.0.1:5000", "my-reg.example:443"}) {
    EXPECT_TRUE(IsValidRegistryHost(good)) << good;
  }
  for (const char* bad : {"", "a..b", "-a.io", "a.io:", "a.io:12345678", "a.io/x", "h:p"}) {
    EXPECT_FALSE(IsValidRegistryHost(bad)) << bad;
  }
  ASSERT_OK_AND_ASSIGN(std::string host, ParseRegistryHost("index.docker.io"));
  EXPECT_EQ(host, "docker.io");
  EXPECT_EQ(ParseRegistryHost("a b").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace converge

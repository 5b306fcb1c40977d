#include "executors/image/registry/challenge.h"

#include "gtest/gtest.h"

namespace converge::registry {
namespace {

using Params = std::map<std::string, std::string>;

TEST(ChallengeTest, ParsesRegistryChallenges) {
  struct Case {
    std::string header;
    std::vector<Challenge> want;
  } cases[] = {
      {R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
       R"(scope="repository:library/busybox:pull")",
       {{"bearer", Params{{"realm", "https://auth.docker.io/token"},
                          {"service", "registry.docker.io"},
                          {"scope", "repository:library/busybox:pull"}}}}},
      // Commas inside quotes, several scopes, spaces around '=' and ','.
      {R"(Bearer realm = "https://r/t" , scope="repository:a:pull,push repository:b:pull")",
       {{"bearer",
         Params{{"realm", "https://r/t"}, {"scope", "repository:a:pull,push repository:b:pull"}}}}},
      {R"(Basic realm="Registry Realm")", {{"basic", Params{{"realm", "Registry Realm"}}}}},
      // Scheme and parameter names are case-insensitive; values keep case.
      {R"(BEARER Realm="https://R/T",Service=Svc)",
       {{"bearer", Params{{"realm", "https://R/T"}, {"service", "Svc"}}}}},
      // Two challenges in one header.
      {R"(Basic realm="a", Bearer realm="https://b",service="c")",
       {{"basic", Params{{"realm", "a"}}},
        {"bearer", Params{{"realm", "https://b"}, {"service", "c"}}}}},
      // Backslash escapes in a quoted value.
      {R"(Bearer realm="https://r/t",error="say \"no\"")",
       {{"bearer", Params{{"realm", "https://r/t"}, {"error", R"(say "no")"}}}}},
      {"Bearer", {{"bearer", {}}}},
      {"", {}},
      // Malformed input: what could be read, without looping.
      {R"(Bearer realm="https://unterminated)",
       {{"bearer", Params{{"realm", "https://unterminated"}}}}},
      {"=, Negotiate abc==", {{"negotiate", Params{{"abc", ""}}}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    std::vector<Challenge> got = ParseChallenges(c.header);
    ASSERT_EQ(got.size(), c.want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].scheme, c.want[i].scheme);
      EXPECT_EQ(got[i].params, c.want[i].params);
    }
  }
}

TEST(ChallengeTest, ParamIsEmptyWhenAbsent) {
  Challenge challenge = ParseChallenges(R"(Bearer realm="x")").at(0);
  EXPECT_EQ(challenge.Param("realm"), "x");
  EXPECT_EQ(challenge.Param("service"), "");
}

}  // namespace
}  // namespace converge::registry

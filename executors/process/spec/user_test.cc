#include "executors/process/spec/user.h"

#include <functional>

#include "absl/status/status.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge::process {
namespace {

using Gids = std::vector<uint32_t>;
using Security = runtime::v1::LinuxContainerSecurityContext;

// The busybox test images' files (testdata/images/build-images.sh): www's
// primary group 33 has no /etc/group entry.
constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "www:x:33:33:www:/var/www:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
constexpr char kGroup[] =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "staff:x:50:app\n"
    "app:x:1000:\n"
    "nogroup:x:65534:\n";

struct Want {
  uint32_t uid;
  uint32_t gid;
  Gids additional_gids;
  std::string home;
};

struct Case {
  std::string name;
  std::string image_user;
  std::function<void(Security&)> security;  // may be unset
  Want want;
  std::string passwd = kPasswd;
  std::string group = kGroup;
};

void Check(const Case& c) {
  SCOPED_TRACE(c.name);
  Security security;
  if (c.security) c.security(security);
  ASSERT_OK_AND_ASSIGN(ProcessUser user, ResolveUser(security, c.image_user, c.passwd, c.group));
  EXPECT_EQ(user.uid, c.want.uid);
  EXPECT_EQ(user.gid, c.want.gid);
  EXPECT_EQ(user.additional_gids, c.want.additional_gids);
  EXPECT_EQ(user.home, c.want.home);
}

TEST(ResolveUserTest, ImageUserForms) {
  const Case cases[] = {
      {"no user is root 0:0", "", {}, {0, 0, {0}, "/root"}},
      {"name", "app", {}, {1000, 1000, {50, 1000}, "/home/app"}},
      {"uid", "1000", {}, {1000, 1000, {50, 1000}, "/home/app"}},
      {"name:group", "app:staff", {}, {1000, 50, {50}, "/home/app"}},
      {"uid:gid", "1000:50", {}, {1000, 50, {50}, "/home/app"}},
      {"uid:groupname", "1000:nogroup", {}, {1000, 65534, {50, 65534}, "/home/app"}},
      {"name:gid", "app:7", {}, {1000, 7, {7, 50}, "/home/app"}},
      {"root by name", "root", {}, {0, 0, {0}, "/root"}},
      {"daemon", "daemon", {}, {1, 1, {1}, "/usr/sbin"}},
      {"nobody", "nobody", {}, {65534, 65534, {65534}, "/nonexistent"}},
      {"www's gid needs no group entry", "www", {}, {33, 33, {33}, "/var/www"}},
      {"uid not in passwd: gid 0, HOME /", "4242", {}, {4242, 0, {0}, "/"}},
      {"uid:gid not in either file", "4242:4243", {}, {4242, 4243, {4243}, "/"}},
      {"uid:gid not looked up for gid", "1000:1", {}, {1000, 1, {1, 50}, "/home/app"}},
      {"leading zeros and sign are numeric", "+0001000", {}, {1000, 1000, {50, 1000}, "/home/app"}},
      {"largest id", "4294967294:4294967294", {}, {4294967294u, 4294967294u, {4294967294u}, "/"}},
      // containerd splits on ':' and takes an empty part as id 0.
      {"\":\" is 0:0", ":", {}, {0, 0, {0}, "/root"}},
      {"\"app:\" keeps gid 0", "app:", {}, {1000, 0, {0, 50}, "/home/app"}},
      {"\":staff\" is uid 0", ":staff", {}, {0, 50, {50}, "/root"}},
      {"\"1000:\" is gid 0", "1000:", {}, {1000, 0, {0, 50}, "/home/app"}},
  };
  for (const Case& c : cases) Check(c);
}

TEST(ResolveUserTest, SecurityContextWins) {
  const Case cases[] = {
      {"run_as_user over image user", "app",
       [](Security& s) { s.mutable_run_as_user()->set_value(1); },
       {1, 1, {1}, "/usr/sbin"}},
      {"run_as_user 0 is set", "app",
       [](Security& s) { s.mutable_run_as_user()->set_value(0); },
       {0, 0, {0}, "/root"}},
      {"image group ignored with run_as_user", "app:staff",
       [](Security& s) { s.mutable_run_as_user()->set_value(1000); },
       {1000, 1000, {50, 1000}, "/home/app"}},
      {"run_as_username", "",
       [](Security& s) { s.set_run_as_username("www"); },
       {33, 33, {33}, "/var/www"}},
      {"run_as_username over run_as_user", "",
       [](Security& s) {
         s.set_run_as_username("app");
         s.mutable_run_as_user()->set_value(33);
       },
       {1000, 1000, {50, 1000}, "/home/app"}},
      {"numeric run_as_username is a uid", "",
       [](Security& s) { s.set_run_as_username("1000"); },
       {1000, 1000, {50, 1000}, "/home/app"}},
      {"run_as_group with run_as_user", "",
       [](Security& s) {
         s.mutable_run_as_user()->set_value(1000);
         s.mutable_run_as_group()->set_value(3000);
       },
       {1000, 3000, {50, 3000}, "/home/app"}},
      {"run_as_group with run_as_username", "root",
       [](Security& s) {
         s.set_run_as_username("app");
         s.mutable_run_as_group()->set_value(0);
       },
       {1000, 0, {0, 50}, "/home/app"}},
      {"run_as_user not in passwd", "",
       [](Security& s) { s.mutable_run_as_user()->set_value(2000); },
       {2000, 0, {0}, "/"}},
  };
  for (const Case& c : cases) Check(c);
}

TEST(ResolveUserTest, AdditionalGids) {
  const Case cases[] = {
      {"supplemental groups merged, sorted, unique", "app",
       [](Security& s) {
         for (int64_t g : {2000, 50, 1000, 2000, 10}) s.add_supplemental_groups(g);
       },
       {1000, 1000, {10, 50, 1000, 2000}, "/home/app"}},
      {"Strict drops /etc/group membership", "app",
       [](Security& s) {
         s.set_supplemental_groups_policy(runtime::v1::Strict);
         s.add_supplemental_groups(2000);
       },
       {1000, 1000, {1000, 2000}, "/home/app"}},
      {"Strict keeps the primary gid", "app:staff",
       [](Security& s) { s.set_supplemental_groups_policy(runtime::v1::Strict); },
       {1000, 50, {50}, "/home/app"}},
      {"membership of a uid goes through its passwd name", "",
       [](Security& s) { s.mutable_run_as_user()->set_value(1000); },
       {1000, 1000, {10, 50, 1000}, "/home/app"},
       kPasswd,
       "staff:x:50:app\nwheel:x:10:root,app\n"},
      {"no user means root's memberships", "", {},
       {0, 0, {0, 10}, "/root"},
       kPasswd,
       "wheel:x:10:root,app\n"},
      {"a group named like the user is not a membership", "app", {},
       {1000, 2000, {2000}, "/home/app"},
       "app:x:1000:2000::/home/app:/bin/sh\n",
       "app:x:3000:app\n"},
      {"members are matched whole", "app", {},
       {1000, 1000, {1000}, "/home/app"},
       kPasswd,
       "x:x:5:apps,ap,\napp\n"},
      {"uid without a passwd name has no memberships", "4242", {},
       {4242, 0, {0}, "/"},
       kPasswd,
       "g:x:5:4242\n"},
  };
  for (const Case& c : cases) Check(c);
}

TEST(ResolveUserTest, FileParsing) {
  const Case cases[] = {
      {"missing files: numeric user", "1000:1000", {}, {1000, 1000, {1000}, "/"}, "", ""},
      {"comments, blanks, CRLF and padding skipped", "app", {},
       {1000, 1000, {50, 1000}, "/home/app"},
       "# users\n\n  \r\n  app:x:1000:1000::/home/app:/bin/sh  \r\n",
       "#staff:x:49:app\n\nstaff:x:50:app\r\n"},
      {"short lines skipped", "app", {},
       {1001, 1001, {1001}, "/"},
       "app:x:1000:1000\napp:x:1001:1001:::\n",
       "staff:x:50\n"},
      {"non-numeric ids are not root", "app", {},
       {1002, 1002, {1002}, "/h"},
       "app:x:abc:0::/root:/bin/sh\napp:x:0:-1:::\napp:x::0:::\napp:x:1002:1002::/h:\n",
       ""},
      {"ids over 2^32-2 skipped", "app", {},
       {7, 7, {7}, "/"},
       "app:x:4294967295:0:::\napp:x:99999999999:0:::\napp:x:7:7:::\n",
       "big:x:4294967295:app\n"},
      {"empty name skipped", "1000", {},
       {1000, 1000, {1000}, "/home/app"},
       ":x:1000:0:::\napp:x:1000:1000::/home/app:\n",
       ":x:9:app\n"},
      {"first entry wins", "app", {},
       {1000, 1000, {1000}, "/first"},
       "app:x:1000:1000::/first:\napp:x:2000:2000::/second:\n",
       ""},
      {"empty home is /", "app", {}, {1000, 1000, {1000}, "/"}, "app:x:1000:1000:::\n", ""},
      {"home follows the final uid", "app", [](Security& s) { s.set_run_as_username("app"); },
       {1000, 1000, {1000}, "/uid-first"},
       "other:x:1000:5::/uid-first:\napp:x:1000:1000::/home/app:\n",
       ""},
      {"extra passwd fields tolerated", "app", {},
       {1000, 1000, {1000}, "/home/app"},
       "app:x:1000:1000::/home/app:/bin/sh:extra\n",
       ""},
  };
  for (const Case& c : cases) Check(c);
}

TEST(ResolveUserTest, Errors) {
  struct ErrorCase {
    std::string name;
    std::string image_user;
    std::function<void(Security&)> security;
    absl::StatusCode code;
    std::string message;
    std::string passwd = kPasswd;
  } cases[] = {
      {"unknown image user", "bob", {}, absl::StatusCode::kNotFound,
       "image config User: user \"bob\" not found in /etc/passwd"},
      {"name needs /etc/passwd", "app", {}, absl::StatusCode::kNotFound,
       "image config User: user \"app\" not found in /etc/passwd", ""},
      {"unknown image group", "app:wheel", {}, absl::StatusCode::kNotFound,
       "image config User: group \"wheel\" not found in /etc/group"},
      {"unknown name with gid", "bob:0", {}, absl::StatusCode::kNotFound,
       "image config User: user \"bob\" not found in /etc/passwd"},
      {"unknown run_as_username", "app", [](Security& s) { s.set_run_as_username("bob"); },
       absl::StatusCode::kNotFound,
       "linux.security_context.run_as_username: user \"bob\" not found in /etc/passwd"},
      {"run_as_username with ':'", "", [](Security& s) { s.set_run_as_username("app:staff"); },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.run_as_username \"app:staff\" contains ':'"},
      {"run_as_group alone", "app", [](Security& s) { s.mutable_run_as_group()->set_value(50); },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.run_as_group is set without run_as_user or run_as_username"},
      {"three parts", "a:b:c", {}, absl::StatusCode::kInvalidArgument,
       "image config User \"a:b:c\" is not user[:group]"},
      {"uid 2^32-1", "4294967295", {}, absl::StatusCode::kInvalidArgument,
       "image config User \"4294967295\": id 4294967295 is out of range 0..4294967294"},
      {"huge uid", "99999999999999999999999", {}, absl::StatusCode::kInvalidArgument,
       "image config User \"99999999999999999999999\": id 99999999999999999999999 is out of "
       "range 0..4294967294"},
      {"negative uid", "-1", {}, absl::StatusCode::kInvalidArgument,
       "image config User \"-1\": id -1 is out of range 0..4294967294"},
      {"huge gid", "app:4294967296", {}, absl::StatusCode::kInvalidArgument,
       "image config User \"app:4294967296\": id 4294967296 is out of range 0..4294967294"},
      {"negative run_as_user", "", [](Security& s) { s.mutable_run_as_user()->set_value(-1); },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.run_as_user: id -1 is out of range 0..4294967294"},
      {"huge run_as_user", "",
       [](Security& s) { s.mutable_run_as_user()->set_value(int64_t{1} << 32); },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.run_as_user: id 4294967296 is out of range 0..4294967294"},
      {"huge run_as_group", "",
       [](Security& s) {
         s.mutable_run_as_user()->set_value(0);
         s.mutable_run_as_group()->set_value(4294967295);
       },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.run_as_group: id 4294967295 is out of range 0..4294967294"},
      {"negative supplemental group", "", [](Security& s) { s.add_supplemental_groups(-5); },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.supplemental_groups: id -5 is out of range 0..4294967294"},
      {"unknown policy", "",
       [](Security& s) {
         s.set_supplemental_groups_policy(static_cast<runtime::v1::SupplementalGroupsPolicy>(7));
       },
       absl::StatusCode::kInvalidArgument,
       "linux.security_context.supplemental_groups_policy 7 is unknown"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    Security security;
    if (c.security) c.security(security);
    absl::StatusOr<ProcessUser> user = ResolveUser(security, c.image_user, c.passwd, kGroup);
    EXPECT_EQ(user.status().code(), c.code);
    EXPECT_EQ(user.status().message(), c.message);
  }
}

}  // namespace
}  // namespace converge::process

#include "executors/process/spec/command.h"

#include <functional>

#include "absl/status/status.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge::process {
namespace {

using Strings = std::vector<std::string>;

// The busybox-user test image (testdata/images/build-images.sh).
records::ImageRuntimeConfig BusyboxUser() {
  records::ImageRuntimeConfig image;
  image.add_entrypoint("/bin/sh");
  image.add_entrypoint("-c");
  image.add_cmd("id");
  image.add_env("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  image.add_env("FOO=bar");
  image.set_working_dir("/home/app");
  return image;
}

// Per-case changes to an empty ContainerConfig and the test image; either may be unset.
struct Mutation {
  std::function<void(runtime::v1::ContainerConfig&)> config;
  std::function<void(records::ImageRuntimeConfig&)> image;
};

std::pair<runtime::v1::ContainerConfig, records::ImageRuntimeConfig> Apply(const Mutation& m) {
  runtime::v1::ContainerConfig config;
  records::ImageRuntimeConfig image = BusyboxUser();
  if (m.config) m.config(config);
  if (m.image) m.image(image);
  return {config, image};
}

TEST(ProcessArgsTest, FollowsContainerd) {
  struct Case {
    std::string name;
    Mutation mutate;
    Strings want;
  } cases[] = {
      {"image entrypoint and cmd", {}, {"/bin/sh", "-c", "id"}},
      {"args replace cmd", {[](auto& c) { c.add_args("date"); }}, {"/bin/sh", "-c", "date"}},
      {"command ignores entrypoint and cmd",
       {[](auto& c) { c.add_command("/bin/echo"); }},
       {"/bin/echo"}},
      {"command with args",
       {[](auto& c) {
         c.add_command("/bin/echo");
         c.add_args("a");
         c.add_args("b");
       }},
       {"/bin/echo", "a", "b"}},
      {"cmd only image", {{}, [](auto& i) { i.clear_entrypoint(); }}, {"id"}},
      {"entrypoint only image", {{}, [](auto& i) { i.clear_cmd(); }}, {"/bin/sh", "-c"}},
      {"args without entrypoint",
       {[](auto& c) { c.add_args("/bin/true"); }, [](auto& i) { i.clear_entrypoint(); }},
       {"/bin/true"}},
      {"entrypoint [\"\"] is no entrypoint",
       {{},
        [](auto& i) {
          i.clear_entrypoint();
          i.add_entrypoint("");
        }},
       {"id"}},
      {"entrypoint [\"\", \"x\"] is kept",
       {{},
        [](auto& i) {
          i.clear_entrypoint();
          i.add_entrypoint("");
          i.add_entrypoint("x");
        }},
       {"", "x", "id"}},
      {"no $(VAR) expansion",
       {[](auto& c) {
         c.add_command("echo");
         c.add_args("$(HOME)");
       }},
       {"echo", "$(HOME)"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto [config, image] = Apply(c.mutate);
    ASSERT_OK_AND_ASSIGN(Strings argv, ProcessArgs(config, image));
    EXPECT_EQ(argv, c.want);
  }
}

TEST(ProcessArgsTest, Errors) {
  struct Case {
    std::string name;
    Mutation mutate;
    std::string message;
  } cases[] = {
      {"nothing at all",
       {{},
        [](auto& i) {
          i.clear_entrypoint();
          i.clear_cmd();
        }},
       "no command specified"},
      {"reset entrypoint and no cmd",
       {{},
        [](auto& i) {
          i.clear_entrypoint();
          i.add_entrypoint("");
          i.clear_cmd();
        }},
       "no command specified"},
      {"NUL in args",
       {[](auto& c) { c.add_args(std::string("a\0b", 3)); }},
       "args[0] contains a NUL byte"},
      {"NUL in image cmd",
       {{}, [](auto& i) { i.add_cmd(std::string("\0", 1)); }},
       "image config Cmd[1] contains a NUL byte"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto [config, image] = Apply(c.mutate);
    absl::StatusOr<Strings> argv = ProcessArgs(config, image);
    EXPECT_EQ(argv.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(argv.status().message(), c.message);
  }
}

void AddEnv(runtime::v1::ContainerConfig& config, std::string key, std::string value) {
  runtime::v1::KeyValue* kv = config.add_envs();
  kv->set_key(std::move(key));
  kv->set_value(std::move(value));
}

TEST(ProcessEnvTest, MergesLikeContainerdAndRunc) {
  const std::string kPath = kDefaultPathEnv;
  const std::string kImagePath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  struct Case {
    std::string name;
    Mutation mutate;
    Strings want;
  } cases[] = {
      {"defaults only",
       {{}, [](auto& i) { i.clear_env(); }},
       {kPath, "HOSTNAME=web", "HOME=/home/app"}},
      {"image env after defaults, its PATH in place",
       {},
       {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=web", "FOO=bar", "HOME=/home/app"}},
      {"CRI overrides image by key, in place",
       {[](auto& c) {
         AddEnv(c, "NEW", "1");
         AddEnv(c, "FOO", "baz");
       }},
       {kImagePath, "HOSTNAME=web", "FOO=baz", "NEW=1", "HOME=/home/app"}},
      {"later CRI entry wins",
       {[](auto& c) {
         AddEnv(c, "A", "1");
         AddEnv(c, "A", "2");
       }},
       {kImagePath, "HOSTNAME=web", "FOO=bar", "A=2", "HOME=/home/app"}},
      {"image may override HOSTNAME and PATH",
       {{},
        [](auto& i) {
          i.clear_env();
          i.add_env("HOSTNAME=img");
          i.add_env("PATH=/bin");
        }},
       {"PATH=/bin", "HOSTNAME=img", "HOME=/home/app"}},
      {"tty adds TERM before HOSTNAME",
       {[](auto& c) { c.set_tty(true); }, [](auto& i) { i.clear_env(); }},
       {kPath, "TERM=xterm", "HOSTNAME=web", "HOME=/home/app"}},
      {"CRI TERM overrides tty's",
       {[](auto& c) {
          c.set_tty(true);
          AddEnv(c, "TERM", "vt100");
        },
        [](auto& i) { i.clear_env(); }},
       {kPath, "TERM=vt100", "HOSTNAME=web", "HOME=/home/app"}},
      {"bare image entry unsets a default and is dropped",
       {{},
        [](auto& i) {
          i.clear_env();
          i.add_env("PATH");
          i.add_env("X=1");
        }},
       {"HOSTNAME=web", "X=1", "HOME=/home/app"}},
      {"bare image entry cannot unset another image entry",
       {{},
        [](auto& i) {
          i.clear_env();
          i.add_env("X=1");
          i.add_env("X");
          i.add_env("UNKNOWN");
        }},
       {kPath, "HOSTNAME=web", "X=1", "HOME=/home/app"}},
      {"unset default is set again in its place",
       {[](auto& c) { AddEnv(c, "PATH", "/sbin"); },
        [](auto& i) {
          i.clear_env();
          i.add_env("PATH");
        }},
       {"PATH=/sbin", "HOSTNAME=web", "HOME=/home/app"}},
      {"HOME from the pod is kept",
       {[](auto& c) { AddEnv(c, "HOME", "/data"); }},
       {kImagePath, "HOSTNAME=web", "FOO=bar", "HOME=/data"}},
      {"empty HOME from the image counts as set",
       {{},
        [](auto& i) {
          i.clear_env();
          i.add_env("HOME=");
        }},
       {kPath, "HOSTNAME=web", "HOME="}},
      {"values keep '=' and are not expanded",
       {[](auto& c) { AddEnv(c, "Q", "a=b $(FOO)"); }},
       {kImagePath, "HOSTNAME=web", "FOO=bar", "Q=a=b $(FOO)", "HOME=/home/app"}},
      {"empty value",
       {[](auto& c) { AddEnv(c, "E", ""); }},
       {kImagePath, "HOSTNAME=web", "FOO=bar", "E=", "HOME=/home/app"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto [config, image] = Apply(c.mutate);
    ASSERT_OK_AND_ASSIGN(Strings env, ProcessEnv(config, image, "web", "/home/app"));
    EXPECT_EQ(env, c.want);
  }
}

TEST(ProcessEnvTest, Errors) {
  struct Case {
    std::string name;
    Mutation mutate;
    std::string message;
  } cases[] = {
      {"empty CRI key",
       {[](auto& c) { AddEnv(c, "", "x"); }},
       "envs[0].key \"\" is not a valid variable name"},
      {"'=' in CRI key",
       {[](auto& c) {
         AddEnv(c, "OK", "1");
         AddEnv(c, "A=B", "x");
       }},
       "envs[1].key \"A=B\" is not a valid variable name"},
      {"NUL in CRI value",
       {[](auto& c) { AddEnv(c, "A", std::string("x\0y", 3)); }},
       "envs[0].value contains a NUL byte"},
      {"empty image name",
       {{}, [](auto& i) { i.add_env("=x"); }},
       "image config Env[2] has an empty name"},
      {"NUL in image env",
       {{}, [](auto& i) { i.add_env(std::string("A=\0", 3)); }},
       "image config Env[2] contains a NUL byte"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto [config, image] = Apply(c.mutate);
    absl::StatusOr<Strings> env = ProcessEnv(config, image, "web", "/");
    EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(env.status().message(), c.message);
  }
}

TEST(WorkingDirTest, ConfigThenImageThenRoot) {
  struct Case {
    std::string name;
    Mutation mutate;
    std::string want;
  } cases[] = {
      {"image", {}, "/home/app"},
      {"config wins", {[](auto& c) { c.set_working_dir("/data"); }}, "/data"},
      {"root by default", {{}, [](auto& i) { i.clear_working_dir(); }}, "/"},
      {"used as given", {[](auto& c) { c.set_working_dir("/a/../b/"); }}, "/a/../b/"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto [config, image] = Apply(c.mutate);
    ASSERT_OK_AND_ASSIGN(std::string dir, WorkingDir(config, image));
    EXPECT_EQ(dir, c.want);
  }
}

TEST(WorkingDirTest, MustBeAbsolute) {
  struct Case {
    std::string name;
    Mutation mutate;
    std::string message;
  } cases[] = {
      {"relative config",
       {[](auto& c) { c.set_working_dir("data"); }},
       "working_dir \"data\" is not an absolute path"},
      {"relative image",
       {{}, [](auto& i) { i.set_working_dir("app"); }},
       "image config WorkingDir \"app\" is not an absolute path"},
      {"NUL in config",
       {[](auto& c) { c.set_working_dir(std::string("/a\0", 3)); }},
       "working_dir contains a NUL byte"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto [config, image] = Apply(c.mutate);
    absl::StatusOr<std::string> dir = WorkingDir(config, image);
    EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(dir.status().message(), c.message);
  }
}

}  // namespace
}  // namespace converge::process

#include "executors/namespace/namespace.h"

#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(NamespaceKindName, MatchesProcNames) {
  EXPECT_EQ(NamespaceKindName(NamespaceKind::kNet), "net");
  EXPECT_EQ(NamespaceKindName(NamespaceKind::kIpc), "ipc");
  EXPECT_EQ(NamespaceKindName(NamespaceKind::kUts), "uts");
}

struct Args {
  std::vector<PinSpec> pins;
  std::string hostname;
};

// A valid pod request; each case mutates it.
Args BaseArgs() {
  return {{{NamespaceKind::kNet, "/run/p/a-net"},
           {NamespaceKind::kIpc, "/run/p/a-ipc"},
           {NamespaceKind::kUts, "/run/p/a-uts"}},
          "pod-a"};
}

TEST(ValidateCreateArgs, Table) {
  struct Case {
    std::string name;
    std::function<void(Args&)> mutate;
    absl::StatusCode want;
  };
  const std::vector<Case> cases = {
      {"valid", [](Args&) {}, absl::StatusCode::kOk},
      {"no pins",
       [](Args& a) {
         a.pins.clear();
         a.hostname.clear();
       },
       absl::StatusCode::kInvalidArgument},
      {"relative path", [](Args& a) { a.pins[0].pin_path = "p/a-net"; },
       absl::StatusCode::kInvalidArgument},
      {"empty path", [](Args& a) { a.pins[1].pin_path.clear(); },
       absl::StatusCode::kInvalidArgument},
      {"kind twice", [](Args& a) { a.pins[1].kind = NamespaceKind::kNet; },
       absl::StatusCode::kInvalidArgument},
      {"path twice", [](Args& a) { a.pins[1].pin_path = "/run/p/a-net"; },
       absl::StatusCode::kInvalidArgument},
      {"hostname 64 bytes",
       [](Args& a) { a.hostname = std::string(kMaxHostnameLength, 'h'); },
       absl::StatusCode::kOk},
      {"hostname 65 bytes",
       [](Args& a) { a.hostname = std::string(kMaxHostnameLength + 1, 'h'); },
       absl::StatusCode::kInvalidArgument},
      {"hostname with NUL",
       [](Args& a) { a.hostname = std::string("a\0b", 3); },
       absl::StatusCode::kInvalidArgument},
      {"hostname without uts", [](Args& a) { a.pins.pop_back(); },
       absl::StatusCode::kInvalidArgument},
      {"no hostname with uts", [](Args& a) { a.hostname.clear(); },
       absl::StatusCode::kOk},
      {"net only",
       [](Args& a) {
         a.pins.resize(1);
         a.hostname.clear();
       },
       absl::StatusCode::kOk},
  };
  for (const Case& c : cases) {
    Args args = BaseArgs();
    c.mutate(args);
    absl::Status status = ValidateCreateArgs(args.pins, args.hostname);
    EXPECT_EQ(status.code(), c.want) << c.name << ": " << status;
  }
}

}  // namespace
}  // namespace converge

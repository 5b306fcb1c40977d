// FakeNamespaceExecutor is an in-memory NamespaceExecutor for reconciler and
// API tests: no kernel objects, a call log, one-shot error injection, and a
// pin table tests can read and tamper with to simulate drift or leaks.
//
//   FakeNamespaceExecutor ns;
//   ns.InjectError(FakeNamespaceExecutor::Op::kCreate,
//                  absl::UnavailableError("unshare: EAGAIN"));
//   EXPECT_FALSE(ns.Create({{NamespaceKind::kNet, "/pins/a-net"}}, {}).ok());
//   EXPECT_TRUE(ns.Create({{NamespaceKind::kNet, "/pins/a-net"}},
//                         NamespaceSetup{"", {{"net.ipv4.ip_forward", "1"}}})
//                   .ok());
//   EXPECT_EQ(ns.GetPin("/pins/a-net")->sysctls["net.ipv4.ip_forward"], "1");
//   ns.DropPin("/pins/a-net");  // someone ran `umount /pins/a-net`
//
// Semantics follow namespace.h: the same argument validation
// (ValidateCreateArgs), ALREADY_EXISTS for a pinned path, all-or-nothing
// Create, idempotent Remove. An injected error is returned before any state
// changes. Every call is logged, including failed ones.
//
// Thread-safe.
#ifndef CONVERGE_EXECUTORS_NAMESPACE_TESTING_FAKE_NAMESPACE_H_
#define CONVERGE_EXECUTORS_NAMESPACE_TESTING_FAKE_NAMESPACE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "executors/namespace/namespace.h"

namespace converge {

class FakeNamespaceExecutor : public NamespaceExecutor {
 public:
  enum class Op {
    kPreparePinRoot,
    kReleasePinRoot,
    kCreate,
    kIsPinned,
    kRemove
  };

  // A pinned namespace. Pins made by one Create call share `group` (they
  // were unshared together); `hostname` is set on UTS pins; `sysctls` holds
  // the sysctls written in this namespace, by normalised name (dot form, see
  // ParseSysctlName): net.* on the net pin, the IPC ones on the ipc pin.
  struct Pin {
    NamespaceKind kind;
    uint64_t group = 0;
    std::string hostname;
    std::map<std::string, std::string> sysctls;
  };

  FakeNamespaceExecutor() = default;

  absl::Status PreparePinRoot(const std::string& dir) override;
  absl::Status ReleasePinRoot(const std::string& dir) override;
  absl::Status Create(const std::vector<PinSpec>& pins,
                      const NamespaceSetup& setup) override;
  absl::StatusOr<bool> IsPinned(const std::string& pin_path) override;
  absl::Status Remove(const std::string& pin_path) override;

  // The next call of `op` returns `status`; several injections for one op are
  // consumed in order.
  void InjectError(Op op, absl::Status status);

  // Calls so far, e.g. "Create(net=/p/a-net,uts=/p/a-uts;hostname=web)",
  // "IsPinned(/p/a-net)", "Remove(/p/a-net)". A Create with sysctls logs them
  // as given, after the hostname:
  // "Create(net=/p/a-net;hostname=;sysctls=net.ipv4.ip_forward=1)".
  std::vector<std::string> CallLog() const;
  void ClearCallLog();

  // Simulates drift: the pin is no longer mounted. Returns false if it was
  // not pinned.
  bool DropPin(const std::string& pin_path);
  // Simulates a pin left behind by an earlier run (for garbage collection).
  void AddPin(const std::string& pin_path, Pin pin);

  absl::optional<Pin> GetPin(const std::string& pin_path) const;
  std::map<std::string, Pin> Pins() const;
  std::set<std::string> PinRoots() const;

 private:
  // Pops the next injected error for `op`, or OK.
  absl::Status TakeError(Op op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<Op, std::deque<absl::Status>> errors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Pin> pins_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> pin_roots_ ABSL_GUARDED_BY(mu_);
  uint64_t next_group_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NAMESPACE_TESTING_FAKE_NAMESPACE_H_

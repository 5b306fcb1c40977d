#include "executors/namespace/testing/fake_namespace.h"

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace converge {
namespace {

// Same rule as the real executor, so tests see the same INVALID_ARGUMENT.
absl::Status CheckAbsolute(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("path `", path, "` is not absolute"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FakeNamespaceExecutor::TakeError(Op op) {
  auto it = errors_.find(op);
  if (it == errors_.end() || it->second.empty()) return absl::OkStatus();
  absl::Status status = std::move(it->second.front());
  it->second.pop_front();
  return status;
}

absl::Status FakeNamespaceExecutor::PreparePinRoot(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(absl::StrCat("PreparePinRoot(", dir, ")"));
  CONVERGE_RETURN_IF_ERROR(TakeError(Op::kPreparePinRoot));
  CONVERGE_RETURN_IF_ERROR(CheckAbsolute(dir));
  pin_roots_.insert(dir);
  return absl::OkStatus();
}

absl::Status FakeNamespaceExecutor::ReleasePinRoot(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(absl::StrCat("ReleasePinRoot(", dir, ")"));
  CONVERGE_RETURN_IF_ERROR(TakeError(Op::kReleasePinRoot));
  CONVERGE_RETURN_IF_ERROR(CheckAbsolute(dir));
  pin_roots_.erase(dir);
  // Like the kernel: unmounting the root takes the pins below with it.
  std::string prefix = absl::StrCat(dir, "/");
  for (auto it = pins_.begin(); it != pins_.end();) {
    it = it->first.compare(0, prefix.size(), prefix) == 0 ? pins_.erase(it)
                                                          : std::next(it);
  }
  return absl::OkStatus();
}

absl::Status FakeNamespaceExecutor::Create(const std::vector<PinSpec>& pins,
                                           const NamespaceSetup& setup) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> specs;
  for (const PinSpec& pin : pins) {
    specs.push_back(
        absl::StrCat(NamespaceKindName(pin.kind), "=", pin.pin_path));
  }
  std::string call = absl::StrCat("Create(", absl::StrJoin(specs, ","),
                                  ";hostname=", setup.hostname);
  if (!setup.sysctls.empty()) {
    absl::StrAppend(
        &call, ";sysctls=",
        absl::StrJoin(setup.sysctls, ",", absl::PairFormatter("=")));
  }
  calls_.push_back(absl::StrCat(call, ")"));
  CONVERGE_RETURN_IF_ERROR(TakeError(Op::kCreate));
  CONVERGE_RETURN_IF_ERROR(ValidateCreateArgs(pins, setup));
  for (const PinSpec& pin : pins) {
    if (pins_.count(pin.pin_path) != 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "pin `", pin.pin_path, "` for ", NamespaceKindName(pin.kind),
          " already holds a namespace"));
    }
  }
  std::map<NamespaceKind, std::map<std::string, std::string>> sysctls;
  for (const auto& [name, value] : setup.sysctls) {
    // Cannot fail: ValidateCreateArgs parsed every name.
    CONVERGE_ASSIGN_OR_RETURN(SysctlName sysctl, ParseSysctlName(name));
    sysctls[sysctl.kind][sysctl.name] = value;
  }
  uint64_t group = next_group_++;
  for (const PinSpec& pin : pins) {
    Pin& made = pins_[pin.pin_path];
    made.kind = pin.kind;
    made.group = group;
    if (pin.kind == NamespaceKind::kUts) made.hostname = setup.hostname;
    made.sysctls = std::move(sysctls[pin.kind]);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> FakeNamespaceExecutor::IsPinned(
    const std::string& pin_path) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(absl::StrCat("IsPinned(", pin_path, ")"));
  CONVERGE_RETURN_IF_ERROR(TakeError(Op::kIsPinned));
  CONVERGE_RETURN_IF_ERROR(CheckAbsolute(pin_path));
  return pins_.count(pin_path) != 0;
}

absl::Status FakeNamespaceExecutor::Remove(const std::string& pin_path) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(absl::StrCat("Remove(", pin_path, ")"));
  CONVERGE_RETURN_IF_ERROR(TakeError(Op::kRemove));
  CONVERGE_RETURN_IF_ERROR(CheckAbsolute(pin_path));
  pins_.erase(pin_path);
  return absl::OkStatus();
}

void FakeNamespaceExecutor::InjectError(Op op, absl::Status status) {
  absl::MutexLock lock(&mu_);
  errors_[op].push_back(std::move(status));
}

std::vector<std::string> FakeNamespaceExecutor::CallLog() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

void FakeNamespaceExecutor::ClearCallLog() {
  absl::MutexLock lock(&mu_);
  calls_.clear();
}

bool FakeNamespaceExecutor::DropPin(const std::string& pin_path) {
  absl::MutexLock lock(&mu_);
  return pins_.erase(pin_path) != 0;
}

void FakeNamespaceExecutor::AddPin(const std::string& pin_path, Pin pin) {
  absl::MutexLock lock(&mu_);
  pins_[pin_path] = std::move(pin);
}

absl::optional<FakeNamespaceExecutor::Pin> FakeNamespaceExecutor::GetPin(
    const std::string& pin_path) const {
  absl::MutexLock lock(&mu_);
  auto it = pins_.find(pin_path);
  if (it == pins_.end()) return absl::nullopt;
  return it->second;
}

std::map<std::string, FakeNamespaceExecutor::Pin> FakeNamespaceExecutor::Pins()
    const {
  absl::MutexLock lock(&mu_);
  return pins_;
}

std::set<std::string> FakeNamespaceExecutor::PinRoots() const {
  absl::MutexLock lock(&mu_);
  return pin_roots_;
}

}  // namespace converge

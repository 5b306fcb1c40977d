#include "executors/process/spec/defaults.h"

#include <sys/mount.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace converge::process {
namespace {

MountSpec Fs(std::string destination, std::string type, std::string source, uint64_t flags,
             std::string data) {
  MountSpec mount;
  mount.destination = std::move(destination);
  mount.type = std::move(type);
  mount.source = std::move(source);
  mount.flags = flags;
  mount.data = std::move(data);
  return mount;
}

ContainerSpec::Device CharDevice(std::string path, uint32_t major, uint32_t minor) {
  ContainerSpec::Device device;
  device.path = std::move(path);
  device.type = 'c';
  device.major = major;
  device.minor = minor;
  device.mode = 0666;
  return device;
}

// Absolute, no empty, "." or ".." component, no NUL.
bool IsCleanAbsolute(absl::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  if (path.find('\0') != absl::string_view::npos) return false;
  if (path == "/") return true;
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

constexpr char kProfileNamePrefix[] = "localhost/";

}  // namespace

std::vector<MountSpec> DefaultMounts() {
  // containerd pkg/oci/mounts.go defaultMounts, without /run.
  constexpr uint64_t kNoSuidExecDev = MS_NOSUID | MS_NOEXEC | MS_NODEV;
  return {
      Fs("/proc", "proc", "proc", kNoSuidExecDev, ""),
      Fs("/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
      Fs("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
         "newinstance,ptmxmode=0666,mode=0620,gid=5"),
      Fs("/dev/shm", "tmpfs", "shm", kNoSuidExecDev, "mode=1777,size=65536k"),
      Fs("/dev/mqueue", "mqueue", "mqueue", kNoSuidExecDev, ""),
      Fs("/sys", "sysfs", "sysfs", kNoSuidExecDev | MS_RDONLY, ""),
  };
}

std::vector<std::string> DefaultMaskedPaths() {
  return {"/proc/acpi",        "/proc/asound",     "/proc/kcore",
          "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/sys/devices/virtual/powercap", "/proc/scsi"};
}

std::vector<std::string> DefaultReadonlyPaths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

std::vector<ContainerSpec::Device> DefaultDevices() {
  return {CharDevice("/dev/null", 1, 3),   CharDevice("/dev/zero", 1, 5),
          CharDevice("/dev/full", 1, 7),   CharDevice("/dev/random", 1, 8),
          CharDevice("/dev/urandom", 1, 9), CharDevice("/dev/tty", 5, 0)};
}

absl::StatusOr<SeccompChoice> ChooseSeccompProfile(
    const runtime::v1::LinuxContainerSecurityContext& security) {
  using runtime::v1::SecurityProfile;
  SeccompChoice choice;
  std::string field;
  std::string path;
  if (security.has_seccomp()) {
    const SecurityProfile& profile = security.seccomp();
    field = "linux.security_context.seccomp";
    if (profile.profile_type() != SecurityProfile::Localhost && !profile.localhost_ref().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".localhost_ref: must only be set if profile_type is Localhost"));
    }
    switch (profile.profile_type()) {
      case SecurityProfile::RuntimeDefault:
        choice.type = SeccompChoice::Type::kRuntimeDefault;
        return choice;
      case SecurityProfile::Unconfined:
        choice.type = SeccompChoice::Type::kUnconfined;
        return choice;
      case SecurityProfile::Localhost:
        field = absl::StrCat(field, ".localhost_ref");
        path = profile.localhost_ref();
        // containerd trims the prefix "just in case"; so do we.
        if (absl::StartsWith(path, kProfileNamePrefix)) {
          path = path.substr(sizeof(kProfileNamePrefix) - 1);
        }
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".profile_type: unknown type ", static_cast<int>(profile.profile_type())));
    }
  } else {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // read for old clients
    const std::string& legacy = security.seccomp_profile_path();
#pragma GCC diagnostic pop
    field = "linux.security_context.seccomp_profile_path";
    if (legacy.empty() || legacy == "unconfined") {
      // Empty: containerd's unset_seccomp_profile default "" -> unconfined.
      choice.type = SeccompChoice::Type::kUnconfined;
      return choice;
    }
    if (legacy == "runtime/default" || legacy == "docker/default") {
      choice.type = SeccompChoice::Type::kRuntimeDefault;
      return choice;
    }
    if (!absl::StartsWith(legacy, kProfileNamePrefix)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": invalid profile \"", legacy,
                                                     "\""));
    }
    path = legacy.substr(sizeof(kProfileNamePrefix) - 1);
  }
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": a Localhost profile needs a path"));
  }
  if (!IsCleanAbsolute(path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": \"", path, "\" is not a clean absolute path to the profile on the host"));
  }
  choice.type = SeccompChoice::Type::kLocalhost;
  choice.localhost_path = std::move(path);
  return choice;
}

}  // namespace converge::process

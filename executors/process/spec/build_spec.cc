#include "executors/process/spec/build_spec.h"

#include <sys/mount.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "executors/process/seccomp/seccomp_profile.h"
#include "executors/process/spec/capabilities.h"
#include "executors/process/spec/command.h"
#include "executors/process/spec/defaults.h"
#include "executors/process/spec/user.h"

namespace converge::process {
namespace {

using runtime::v1::ContainerConfig;
using runtime::v1::NamespaceMode;

constexpr char kNamespacesField[] = "linux.security_context.namespace_options";

// Linux's generic signal numbers (x86-64, arm64), as moby/sys/signal's
// SignalMap for linux; RTMIN/RTMAX forms are handled separately.
constexpr std::pair<const char*, int> kSignals[] = {
    {"ABRT", 6},    {"ALRM", 14},  {"BUS", 7},     {"CHLD", 17},  {"CLD", 17},  {"CONT", 18},
    {"FPE", 8},     {"HUP", 1},    {"ILL", 4},     {"INT", 2},    {"IO", 29},   {"IOT", 6},
    {"KILL", 9},    {"PIPE", 13},  {"POLL", 29},   {"PROF", 27},  {"PWR", 30},  {"QUIT", 3},
    {"SEGV", 11},   {"STKFLT", 16}, {"STOP", 19},  {"SYS", 31},   {"TERM", 15}, {"TRAP", 5},
    {"TSTP", 20},   {"TTIN", 21},  {"TTOU", 22},   {"URG", 23},   {"USR1", 10}, {"USR2", 12},
    {"VTALRM", 26}, {"WINCH", 28}, {"XCPU", 24},   {"XFSZ", 25},
};
constexpr int kSigRtMin = 34;
constexpr int kSigRtMax = 64;

// Lexically cleaned absolute path (Go's filepath.Clean for absolute paths).
std::string CleanPath(absl::string_view path) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

size_t Depth(absl::string_view clean_path) {
  return clean_path == "/" ? 0 : std::count(clean_path.begin(), clean_path.end(), '/');
}

bool HasDotDot(absl::string_view path) {
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return true;
  }
  return false;
}

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status Unimplemented(absl::string_view field, absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(field, ": ", what, " is not supported by converge yet"));
}

// A namespace shared with the pod: the pin for POD, host (none) for NODE.
absl::Status PodNamespace(const ContainerSpecInputs& in, absl::string_view kind,
                          absl::string_view field, NamespaceMode mode,
                          std::vector<NamespaceSpec>& out) {
  switch (mode) {
    case runtime::v1::NODE:
      return absl::OkStatus();
    case runtime::v1::POD: {
      auto it = in.pod_namespaces.find(std::string(kind));
      if (it == in.pod_namespaces.end() || it->second.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            field, ": the container asks for the pod's ", kind, " namespace but sandbox ",
            in.sandbox_id, " has none pinned"));
      }
      out.push_back({std::string(kind), it->second});
      return absl::OkStatus();
    }
    default:
      return Invalid(field, absl::StrCat("namespace mode ", runtime::v1::NamespaceMode_Name(mode),
                                         " is not supported for ", kind));
  }
}

absl::Status BuildNamespaces(const ContainerSpecInputs& in, ContainerSpec& spec) {
  const auto& options = in.config.linux().security_context().namespace_options();
  if (options.has_userns_options() && options.userns_options().mode() != runtime::v1::NODE) {
    return Unimplemented(absl::StrCat(kNamespacesField, ".userns_options"),
                         "a user namespace");
  }
  CONVERGE_RETURN_IF_ERROR(PodNamespace(in, "net", absl::StrCat(kNamespacesField, ".network"),
                                        options.network(), spec.namespaces));
  CONVERGE_RETURN_IF_ERROR(PodNamespace(in, "ipc", absl::StrCat(kNamespacesField, ".ipc"),
                                        options.ipc(), spec.namespaces));
  // CRI has no uts mode: containers join the sandbox's uts namespace
  // (containerd WithPodNamespaces), which is the host's for hostNetwork pods.
  // A pod network without a uts pin gets a fresh one rather than the host's.
  auto uts = in.pod_namespaces.find("uts");
  if (uts != in.pod_namespaces.end() && !uts->second.empty()) {
    spec.namespaces.push_back({"uts", uts->second});
  } else if (options.network() != runtime::v1::NODE) {
    spec.namespaces.push_back({"uts", ""});
    spec.hostname = in.sandbox_config.hostname().empty() ? in.node_hostname
                                                         : in.sandbox_config.hostname();
  }
  const std::string pid_field = absl::StrCat(kNamespacesField, ".pid");
  switch (options.pid()) {
    case runtime::v1::CONTAINER:
      spec.namespaces.push_back({"pid", ""});
      break;
    case runtime::v1::POD:
      if (in.pid_namespace_holder.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat(pid_field, ": the container asks for the pod's pid namespace but sandbox ",
                         in.sandbox_id, " has no pid namespace holder"));
      }
      spec.namespaces.push_back({"pid", in.pid_namespace_holder});
      break;
    case runtime::v1::NODE:
      break;
    case runtime::v1::TARGET:
      return Unimplemented(pid_field, "pid namespace mode TARGET");
    default:
      return Invalid(pid_field, absl::StrCat("unknown namespace mode ",
                                             static_cast<int>(options.pid())));
  }
  spec.namespaces.push_back({"mnt", ""});
  // containerd: a cgroup namespace on cgroup v2 unless privileged.
  if (in.cgroup_v2 && !in.config.linux().security_context().privileged()) {
    spec.namespaces.push_back({"cgroup", ""});
  }
  return absl::OkStatus();
}

// A bind mount requested by CRI or added by converge (hostname, resolv.conf,
// shm), before ordering.
struct BindRequest {
  std::string destination;  // as given
  std::string clean_destination;
  std::string source;
  bool readonly = false;
  Propagation propagation = Propagation::kPrivate;
};

absl::Status CriBinds(const ContainerConfig& config, std::vector<BindRequest>& binds,
                      Propagation& rootfs_propagation) {
  for (int i = 0; i < config.mounts_size(); ++i) {
    const runtime::v1::Mount& mount = config.mounts(i);
    const std::string field = absl::StrCat("mounts[", i, "]");
    if (mount.has_image() && !mount.image().image().empty()) {
      return Unimplemented(absl::StrCat(field, ".image"), "an image volume");
    }
    if (mount.uidmappings_size() > 0) {
      return Unimplemented(absl::StrCat(field, ".uidMappings"), "an id-mapped mount");
    }
    if (mount.gidmappings_size() > 0) {
      return Unimplemented(absl::StrCat(field, ".gidMappings"), "an id-mapped mount");
    }
    if (mount.recursive_read_only()) {
      return Unimplemented(absl::StrCat(field, ".recursive_read_only"),
                           "a recursive read-only mount");
    }
    const std::string& destination = mount.container_path();
    if (destination.empty() || destination[0] != '/' || HasDotDot(destination) ||
        destination.find('\0') != std::string::npos) {
      return Invalid(absl::StrCat(field, ".container_path"),
                     absl::StrCat("\"", destination, "\" is not an absolute path without \"..\""));
    }
    const std::string& source = mount.host_path();
    if (source.empty() || source[0] != '/' || source.find('\0') != std::string::npos) {
      return Invalid(absl::StrCat(field, ".host_path"),
                     absl::StrCat("\"", source, "\" is not an absolute path"));
    }
    BindRequest bind;
    bind.destination = destination;
    bind.clean_destination = CleanPath(destination);
    bind.source = source;
    bind.readonly = mount.readonly();
    // selinux_relabel is ignored: converge does not run with SELinux labels.
    // Propagation as containerd's withMounts; it also checks that the source
    // is on a shared (or slave) host mount, which needs I/O: the init's mount
    // fails visibly otherwise.
    switch (mount.propagation()) {
      case runtime::v1::PROPAGATION_HOST_TO_CONTAINER:
        bind.propagation = Propagation::kSlave;
        break;
      case runtime::v1::PROPAGATION_BIDIRECTIONAL:
        bind.propagation = Propagation::kShared;
        rootfs_propagation = Propagation::kShared;
        break;
      default:  // PRIVATE, and unknown values as containerd (with a warning)
        bind.propagation = Propagation::kPrivate;
        break;
    }
    binds.push_back(std::move(bind));
  }
  return absl::OkStatus();
}

// containerd linuxContainerMounts: /etc/hostname, /etc/resolv.conf (read-only
// with a read-only rootfs) and /dev/shm, unless a CRI mount targets them.
void ExtraBinds(const ContainerSpecInputs& in, std::vector<BindRequest>& binds) {
  std::set<std::string> targeted;
  for (const BindRequest& bind : binds) targeted.insert(bind.clean_destination);
  const auto& security = in.config.linux().security_context();
  auto add = [&](std::string destination, std::string source, bool readonly) {
    if (targeted.count(destination) > 0) return;
    BindRequest bind;
    bind.clean_destination = destination;
    bind.destination = std::move(destination);
    bind.source = std::move(source);
    bind.readonly = readonly;
    binds.push_back(std::move(bind));
  };
  if (!in.pod_files_dir.empty()) {
    add("/etc/hostname", absl::StrCat(in.pod_files_dir, "/hostname"), security.readonly_rootfs());
    add("/etc/resolv.conf", absl::StrCat(in.pod_files_dir, "/resolv.conf"),
        security.readonly_rootfs());
  }
  if (security.namespace_options().ipc() == runtime::v1::NODE) {
    add("/dev/shm", "/dev/shm", false);
  } else if (!in.pod_shm_path.empty()) {
    add("/dev/shm", in.pod_shm_path, false);
  }
}

void BuildMounts(const ContainerSpecInputs& in, std::vector<BindRequest> binds,
                 ContainerSpec& spec) {
  // Shallow destinations first so that they do not shadow deeper ones
  // (containerd orderedMounts; stable, so equal depths keep request order).
  std::stable_sort(binds.begin(), binds.end(), [](const BindRequest& a, const BindRequest& b) {
    return Depth(a.clean_destination) < Depth(b.clean_destination);
  });
  std::set<std::string> targeted;
  for (const BindRequest& bind : binds) targeted.insert(bind.clean_destination);
  const bool dev_replaced = targeted.count("/dev") > 0;
  const bool privileged = in.config.linux().security_context().privileged();
  for (MountSpec& mount : DefaultMounts()) {
    // A supplied mount replaces the default at its destination; a supplied
    // /dev replaces everything below it too (containerd withMounts).
    if (targeted.count(mount.destination) > 0) continue;
    if (dev_replaced && absl::StartsWith(mount.destination, "/dev/")) continue;
    if (privileged && mount.type == "sysfs") mount.flags &= ~uint64_t{MS_RDONLY};
    spec.mounts.push_back(std::move(mount));
  }
  for (BindRequest& bind : binds) {
    MountSpec mount;
    mount.destination = std::move(bind.destination);
    mount.type = "bind";
    mount.source = std::move(bind.source);
    // containerd does not make binds read-only because the rootfs is.
    mount.flags = bind.readonly ? MS_RDONLY : 0;
    mount.propagation = bind.propagation;
    spec.mounts.push_back(std::move(mount));
  }
}

absl::StatusOr<SeccompSpec> BuildSeccomp(const ContainerSpecInputs& in) {
  const auto& security = in.config.linux().security_context();
  CONVERGE_ASSIGN_OR_RETURN(SeccompChoice choice, ChooseSeccompProfile(security));
  SeccompSpec seccomp;
  switch (choice.type) {
    case SeccompChoice::Type::kUnconfined:
      seccomp.mode = SeccompSpec::Mode::kUnconfined;
      return seccomp;
    case SeccompChoice::Type::kRuntimeDefault:
      // containerd: privileged containers run unconfined.
      seccomp.mode = security.privileged() ? SeccompSpec::Mode::kUnconfined
                                           : SeccompSpec::Mode::kRuntimeDefault;
      return seccomp;
    case SeccompChoice::Type::kLocalhost:
      break;
  }
  const std::string field = security.has_seccomp() ? "linux.security_context.seccomp.localhost_ref"
                                                   : "linux.security_context.seccomp_profile_path";
  if (!in.seccomp_localhost_profile.has_value()) {
    return absl::InternalError(absl::StrCat(field, ": the content of Localhost profile \"",
                                            choice.localhost_path, "\" was not read"));
  }
  absl::Status valid = ValidateSeccompProfile(*in.seccomp_localhost_profile);
  if (!valid.ok()) {
    return absl::Status(valid.code(), absl::StrCat(field, ": profile \"", choice.localhost_path,
                                                   "\": ", valid.message()));
  }
  seccomp.mode = SeccompSpec::Mode::kProfile;
  seccomp.profile_json = *in.seccomp_localhost_profile;
  return seccomp;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> LocalhostSeccompProfilePath(
    const ContainerConfig& config) {
  CONVERGE_ASSIGN_OR_RETURN(SeccompChoice choice,
                            ChooseSeccompProfile(config.linux().security_context()));
  if (choice.type != SeccompChoice::Type::kLocalhost) return std::nullopt;
  return choice.localhost_path;
}

std::string ContainerLogPath(const runtime::v1::PodSandboxConfig& sandbox,
                             const ContainerConfig& config) {
  if (sandbox.log_directory().empty() || config.log_path().empty()) return "";
  return absl::StrCat(sandbox.log_directory(), "/", config.log_path());
}

absl::StatusOr<int> ParseSignal(absl::string_view signal) {
  int number = 0;
  if (absl::SimpleAtoi(signal, &number)) {
    if (number < 1 || number > kSigRtMax) {
      return absl::InvalidArgumentError(
          absl::StrCat("signal ", signal, " is outside 1..", kSigRtMax));
    }
    return number;
  }
  std::string name = absl::AsciiStrToUpper(signal);
  if (absl::StartsWith(name, "SIG")) name = name.substr(3);
  for (const auto& [known, value] : kSignals) {
    if (name == known) return value;
  }
  if (name == "RTMIN") return kSigRtMin;
  if (name == "RTMAX") return kSigRtMax;
  int offset = 0;
  if (absl::StartsWith(name, "RTMIN+") && absl::SimpleAtoi(name.substr(6), &offset) &&
      offset >= 1 && offset <= 15) {
    return kSigRtMin + offset;
  }
  if (absl::StartsWith(name, "RTMAX-") && absl::SimpleAtoi(name.substr(6), &offset) &&
      offset >= 1 && offset <= 14) {
    return kSigRtMax - offset;
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", signal, "\" is not a signal"));
}

absl::StatusOr<int> ResolveStopSignal(const ContainerConfig& config,
                                      const records::ImageRuntimeConfig& image) {
  if (config.stop_signal() != runtime::v1::SIGNAL_RUNTIME_DEFAULT) {
    if (!runtime::v1::Signal_IsValid(config.stop_signal())) {
      return Invalid("stop_signal",
                     absl::StrCat("unknown signal ", static_cast<int>(config.stop_signal())));
    }
    // "SIGNAL_SIGRTMINPLUS3" -> "SIGRTMIN+3", as containerd's convertFromCRISignal.
    std::string name = absl::StrReplaceAll(
        runtime::v1::Signal_Name(config.stop_signal()).substr(7), {{"PLUS", "+"}, {"MINUS", "-"}});
    absl::StatusOr<int> number = ParseSignal(name);
    if (!number.ok()) return Invalid("stop_signal", number.status().message());
    return *number;
  }
  if (image.stop_signal().empty()) return 15;
  absl::StatusOr<int> number = ParseSignal(image.stop_signal());
  if (!number.ok()) return Invalid("image config StopSignal", number.status().message());
  return *number;
}

absl::StatusOr<ContainerSpec> BuildContainerSpec(const ContainerSpecInputs& in) {
  const ContainerConfig& config = in.config;
  const auto& security = config.linux().security_context();
  if (config.devices_size() > 0) return Unimplemented("devices[0]", "a host device");
  if (config.cdi_devices_size() > 0) return Unimplemented("CDI_devices[0]", "a CDI device");
  if (security.privileged() && !in.sandbox_config.linux().security_context().privileged()) {
    // containerd: "no privileged container allowed in sandbox".
    return Invalid("linux.security_context.privileged",
                   "a privileged container needs a privileged pod sandbox");
  }

  ContainerSpec spec;
  spec.id = in.container_id;
  spec.sandbox_id = in.sandbox_id;
  spec.rootfs = in.rootfs;
  spec.readonly_rootfs = security.readonly_rootfs();
  spec.cgroup_procs_files = in.cgroup_procs_files;
  spec.log_path = ContainerLogPath(in.sandbox_config, config);
  CONVERGE_ASSIGN_OR_RETURN(spec.stop_signal, ResolveStopSignal(config, in.image));

  CONVERGE_RETURN_IF_ERROR(BuildNamespaces(in, spec));

  std::vector<BindRequest> binds;
  Propagation rootfs_propagation = Propagation::kSlave;
  CONVERGE_RETURN_IF_ERROR(CriBinds(config, binds, rootfs_propagation));
  ExtraBinds(in, binds);
  BuildMounts(in, std::move(binds), spec);
  spec.rootfs_propagation = rootfs_propagation;

  if (!security.privileged()) {
    // Differs from containerd, which uses empty lists when kubelet sends none.
    spec.masked_paths = security.masked_paths_size() > 0
                            ? std::vector<std::string>(security.masked_paths().begin(),
                                                       security.masked_paths().end())
                            : DefaultMaskedPaths();
    spec.readonly_paths = security.readonly_paths_size() > 0
                              ? std::vector<std::string>(security.readonly_paths().begin(),
                                                         security.readonly_paths().end())
                              : DefaultReadonlyPaths();
  }
  // Privileged containers too: the host's devices are out of scope for now.
  spec.devices = DefaultDevices();

  ProcessSpec& process = spec.process;
  CONVERGE_ASSIGN_OR_RETURN(ProcessUser user,
                            ResolveUser(security, in.image.user(), in.passwd, in.group));
  const std::string& hostname = in.sandbox_config.hostname().empty()
                                    ? in.node_hostname
                                    : in.sandbox_config.hostname();
  CONVERGE_ASSIGN_OR_RETURN(process.args, ProcessArgs(config, in.image));
  CONVERGE_ASSIGN_OR_RETURN(process.env, ProcessEnv(config, in.image, hostname, user.home));
  CONVERGE_ASSIGN_OR_RETURN(process.cwd, WorkingDir(config, in.image));
  process.uid = user.uid;
  process.gid = user.gid;
  process.additional_gids = user.additional_gids;
  CONVERGE_ASSIGN_OR_RETURN(process.capabilities, ResolveCapabilities(security, user.uid));
  process.no_new_privileges = security.no_new_privs();
  CONVERGE_ASSIGN_OR_RETURN(process.seccomp, BuildSeccomp(in));
  // containerd always sets it from resources (0 when absent); the init
  // clamps values the node refuses.
  process.oom_score_adj = static_cast<int>(config.linux().resources().oom_score_adj());
  process.set_oom_score_adj = true;
  // process.rlimits stays empty: inherited, as containerd (see defaults.h).
  return spec;
}

}  // namespace converge::process

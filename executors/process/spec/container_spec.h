// ContainerSpec: everything the per-pod monitor needs to create one container,
// fully resolved by the daemon (image config merged, user looked up, mounts
// validated, capabilities and seccomp decided). It is the only input of the
// container init (executors/process/init), so that all policy lives in the
// daemon and the monitor stays small and mechanical — the OCI runtime spec's
// role, without the parts converge never uses.
//
// The daemon writes it as JSON (container_spec_json.h) into the container's
// state directory; the monitor reads it there when asked to create the
// container, and again for every ExecSync (which runs with the same process
// attributes and other args).
//
//   ContainerSpec spec;
//   spec.id = "4f1c...";
//   spec.rootfs = "/run/converge/containers/4f1c.../rootfs";  // mounted overlay
//   spec.namespaces = {{"net", "/run/converge/ns/<pod>/net"}, {"mnt", ""}, ...};
//   spec.process.args = {"/bin/sleep", "3600"};
//   std::string json = SerializeContainerSpec(spec);
#ifndef CONVERGE_EXECUTORS_PROCESS_SPEC_CONTAINER_SPEC_H_
#define CONVERGE_EXECUTORS_PROCESS_SPEC_CONTAINER_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

namespace converge::process {

// A namespace the container joins (path set: an nsfs file such as a pod pin or
// /proc/<pid>/ns/pid) or gets fresh (path empty). Kinds: "net", "ipc", "uts",
// "pid", "mnt" (always fresh), "cgroup"; "user" is reserved for later. A kind
// that is absent is the host's (e.g. no "net" for hostNetwork pods).
struct NamespaceSpec {
  std::string kind;
  std::string path;
};

enum class Propagation { kPrivate, kSlave, kShared };

// One mount made inside the container's mount namespace, in order, after the
// rootfs is bound and before pivot_root. `destination` is absolute inside the
// container and is resolved inside the rootfs without following symlinks out
// of it; missing directories (or, for a bind of a file, the file) are created.
struct MountSpec {
  std::string destination;
  // "bind" (source is a host path, bound recursively), or a filesystem type
  // ("proc", "sysfs", "tmpfs", "devpts", "mqueue", ...) with source as the
  // device name shown in /proc/mounts.
  std::string type;
  std::string source;
  // MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, ... (for binds applied by a
  // remount after the bind, since bind ignores them).
  uint64_t flags = 0;
  // Filesystem data, e.g. "mode=755,size=65536k".
  std::string data;
  // For binds: the propagation of the new mount (rprivate, rslave, rshared).
  Propagation propagation = Propagation::kPrivate;
};

struct Rlimit {
  int resource = 0;  // RLIMIT_*
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// Capability sets as bit masks (bit N = capability N, linux/capability.h).
struct CapabilitySets {
  uint64_t bounding = 0;
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
  uint64_t ambient = 0;
};

// How the process is confined by seccomp. kProfile carries a profile in the
// OCI/Docker JSON format (defaultAction, architectures, syscalls[]) that the
// daemon already parsed once (so it is known to compile); RuntimeDefault is
// compiled from converge's built-in profile.
struct SeccompSpec {
  enum class Mode { kUnconfined, kRuntimeDefault, kProfile };
  Mode mode = Mode::kRuntimeDefault;
  std::string profile_json;
};

// The attributes of the container's init process, also used for every exec.
struct ProcessSpec {
  std::vector<std::string> args;  // argv; args[0] is looked up in PATH of env when relative
  std::vector<std::string> env;   // "KEY=value"
  std::string cwd = "/";          // absolute, inside the container
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;  // setgroups(2)
  CapabilitySets capabilities;
  bool no_new_privileges = false;
  SeccompSpec seccomp;
  std::vector<Rlimit> rlimits;
  // oom_score_adj to write for the process; values the node refuses (no
  // CAP_SYS_RESOURCE for negative ones) are clamped to the current value.
  int oom_score_adj = 0;
  bool set_oom_score_adj = false;
};

struct ContainerSpec {
  std::string id;
  std::string sandbox_id;
  // The mounted rootfs (an overlay from the snapshotter) on the host.
  std::string rootfs;
  bool readonly_rootfs = false;
  // Propagation of the container's "/" mount tree: kSlave unless a mount
  // asks for kShared (then the rootfs must be shared for it to propagate).
  Propagation rootfs_propagation = Propagation::kSlave;
  std::vector<NamespaceSpec> namespaces;
  // Done in order, relative to the rootfs: /proc, /dev, /dev/pts, /dev/shm,
  // /dev/mqueue, /sys, then the CRI mounts, /etc/hostname, /etc/resolv.conf.
  std::vector<MountSpec> mounts;
  // Paths inside the container: masked ones get /dev/null (files) or an empty
  // read-only tmpfs (directories); read-only ones are bound read-only onto
  // themselves. Missing ones are skipped.
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  // Device nodes created in /dev (a tmpfs), as mknod would: null, zero, full,
  // random, urandom, tty (and the host's devices for privileged containers).
  struct Device {
    std::string path;  // e.g. "/dev/null"
    char type = 'c';   // 'c' or 'b'
    uint32_t major = 0;
    uint32_t minor = 0;
    uint32_t mode = 0666;
    uint32_t uid = 0;
    uint32_t gid = 0;
  };
  std::vector<Device> devices;
  // Hostname to set when the spec gives the container a fresh uts namespace.
  std::string hostname;
  // The cgroup.procs files (one per v1 hierarchy, one on v2) the init and
  // every exec process are written into before anything else runs.
  std::vector<std::string> cgroup_procs_files;
  // The exec FIFO (on the host, in the container's state dir): after all
  // setup the init opens it for writing, which blocks until StartContainer
  // opens it for reading; then it writes one byte and execs the process.
  std::string exec_fifo;
  ProcessSpec process;
  // CRI log file on the host (log_directory + log_path); empty: no log.
  std::string log_path;
  // Go's SIGTERM unless the image's StopSignal names another.
  int stop_signal = 15;
};

}  // namespace converge::process

#endif  // CONVERGE_EXECUTORS_PROCESS_SPEC_CONTAINER_SPEC_H_

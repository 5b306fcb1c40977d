// converge's RuntimeDefault seccomp profile: an allowlist in the spirit of
// Docker's and containerd's default profiles. Everything not listed fails
// with EPERM; namespace creation, mounting, module loading, clock setting,
// reboot, kexec, keyrings, userfaultfd and the like are refused unless the
// process holds the capability that would make them meaningful.
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>

#include <string>
#include <vector>

#include "executors/process/seccomp/seccomp_rules.h"

namespace converge::process {
namespace {

constexpr uint64_t Cap(int cap) { return uint64_t{1} << cap; }

// Syscalls any container may make.
const char* const kAllowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
    "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
    "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
    "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit",
    "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32",
    "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
    "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
    "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
    "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
    "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid",
    "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname",
    "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32",
    "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
    "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc",
    "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
    "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget",
    "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at",
    "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
    "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
    "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
    "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
    "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
    "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
    "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt",
    "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
    "socket", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "sync_file_range2", "syncfs",
    "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask",
    "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes",
    "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
    // x86 specific, harmless.
    "arch_prctl", "modify_ldt",
};

// The clone(2) flags that create namespaces: refused without CAP_SYS_ADMIN.
constexpr uint64_t kNamespaceCloneFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWCGROUP;

SeccompRule Allow(std::vector<std::string> names, uint64_t includes_caps = 0) {
  SeccompRule rule;
  rule.names = std::move(names);
  rule.action = SCMP_ACT_ALLOW;
  rule.includes_caps = includes_caps;
  return rule;
}

SeccompProfile BuildRuntimeDefault() {
  SeccompProfile profile;
  profile.default_action = SCMP_ACT_ERRNO(EPERM);
  profile.arches = {SCMP_ARCH_X86, SCMP_ARCH_X32};

  profile.rules.push_back(Allow({std::begin(kAllowed), std::end(kAllowed)}));

  // personality(2): only the harmless personas (Linux, UNAME26, 32-bit
  // address space, their combination, and the query 0xffffffff).
  for (uint64_t persona : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL}) {
    SeccompRule rule = Allow({"personality"});
    rule.args.push_back({0, SCMP_CMP_EQ, persona, 0});
    profile.rules.push_back(std::move(rule));
  }

  // clone(2) without namespace flags for everyone; with them only for
  // CAP_SYS_ADMIN (the group below). clone3(2) passes its flags in memory the
  // filter cannot read, so it fails with ENOSYS and libc falls back to clone.
  SeccompRule clone = Allow({"clone"});
  clone.args.push_back({0, SCMP_CMP_MASKED_EQ, kNamespaceCloneFlags, 0});
  clone.excludes_caps = Cap(CAP_SYS_ADMIN);
  profile.rules.push_back(std::move(clone));
  SeccompRule clone3;
  clone3.names = {"clone3"};
  clone3.action = SCMP_ACT_ERRNO(ENOSYS);
  clone3.excludes_caps = Cap(CAP_SYS_ADMIN);
  profile.rules.push_back(std::move(clone3));

  // Groups that only make sense with a capability.
  profile.rules.push_back(Allow({"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount",
                                 "fsopen", "fspick", "lookup_dcookie", "mount", "mount_setattr",
                                 "move_mount", "name_to_handle_at", "open_tree",
                                 "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
                                 "sethostname", "setns", "syslog", "umount", "umount2", "unshare"},
                                Cap(CAP_SYS_ADMIN)));
  profile.rules.push_back(Allow({"reboot"}, Cap(CAP_SYS_BOOT)));
  profile.rules.push_back(Allow({"chroot"}, Cap(CAP_SYS_CHROOT)));
  profile.rules.push_back(
      Allow({"delete_module", "init_module", "finit_module"}, Cap(CAP_SYS_MODULE)));
  profile.rules.push_back(Allow({"acct"}, Cap(CAP_SYS_PACCT)));
  profile.rules.push_back(Allow({"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                                 "process_vm_writev", "ptrace"},
                                Cap(CAP_SYS_PTRACE)));
  profile.rules.push_back(Allow({"iopl", "ioperm"}, Cap(CAP_SYS_RAWIO)));
  profile.rules.push_back(
      Allow({"settimeofday", "stime", "clock_settime", "clock_settime64"}, Cap(CAP_SYS_TIME)));
  profile.rules.push_back(Allow({"vhangup"}, Cap(CAP_SYS_TTY_CONFIG)));
  profile.rules.push_back(Allow(
      {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}, Cap(CAP_SYS_NICE)));
  profile.rules.push_back(Allow({"syslog"}, Cap(CAP_SYSLOG)));
  profile.rules.push_back(Allow({"bpf"}, Cap(CAP_BPF)));
  profile.rules.push_back(Allow({"perf_event_open"}, Cap(CAP_PERFMON)));
  profile.rules.push_back(Allow({"open_by_handle_at"}, Cap(CAP_DAC_READ_SEARCH)));
  return profile;
}

}  // namespace

const SeccompProfile& RuntimeDefaultSeccompProfile() {
  static const SeccompProfile* const kProfile = new SeccompProfile(BuildRuntimeDefault());
  return *kProfile;
}

}  // namespace converge::process

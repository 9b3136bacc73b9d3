// What a workspace container may do to the host through the files it leaves: nothing past the host
// user's own rights. Container root is host root here (the engine remaps no user namespace), and the
// worktree is bind-mounted, so a setuid-root binary or a device node made inside would work on the
// host. The container therefore runs with:
//   - a seccomp profile that refuses setting the setuid/setgid bits (chmod family, and open/creat/mknod
//     creating a file with them) — for every user inside, root included, so a root host user (whose
//     workspace user is uid 0) cannot get a root-owned setuid file into a worktree either;
//   - CAP_MKNOD and CAP_SETFCAP dropped (no device nodes, no file capabilities);
//   - no-new-privileges unless the project asks for sudo (`sudo: true`): setuid programs, sudo
//     included, then gain nothing, so a non-root host user's workspace holds no root process at all;
//   - a pids limit, so a fork bomb stays inside the workspace's cgroup.
//
// Docker's `seccomp=<json>` replaces the engine's default profile instead of adding to it, so this
// profile is a whole one written here: an allow-list of the Linux system calls (x86-64, i386, x32 and
// the generic table of arm64 and others; names a kernel or libseccomp does not know are skipped by the
// runtime) less those the engine's default profile keeps from containers without privileges (module
// loading, mount and namespaces, keyrings, kexec, bpf, perf, userfaultfd, io_uring, clock setting,
// ...). A call outside the list fails with ENOSYS, so C libraries fall back as they do on older kernels.

/** S_ISUID | S_ISGID. */
const SET_ID_BITS = 0o6000;
const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** Capabilities a workspace does without (Docker's defaults otherwise). */
export const DROPPED_CAPABILITIES = ["MKNOD", "SETFCAP"] as const;
/** Processes a workspace may hold, by resources preset; {cpu, memory} resources get the default. */
export const PIDS_LIMITS: Readonly<Record<string, number>> = { small: 1024, medium: 2048, large: 4096, xlarge: 8192 };
export const DEFAULT_PIDS_LIMIT = 4096;

export function pidsLimit(resources: { preset?: string }): number {
  return (resources.preset !== undefined ? PIDS_LIMITS[resources.preset] : undefined) ?? DEFAULT_PIDS_LIMIT;
}

// The system calls a workspace may make unconditionally (see above for what is left out and why).
const ALLOWED = [
  "_llseek", "_newselect", "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk",
  "cachestat", "capget", "capset", "chdir", "chown", "chown32", "chroot", "clock_getres",
  "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
  "close", "close_range", "connect", "copy_file_range", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
  "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2", "execve", "execveat",
  "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
  "fchdir", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "file_getattr",
  "file_setattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64",
  "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
  "futex_wait", "futex_waitv", "futex_wake", "futimesat", "get_robust_list", "get_thread_area", "getcpu",
  "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
  "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
  "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
  "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
  "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
  "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "ioctl",
  "ioprio_get", "ioprio_set", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
  "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listmount",
  "listxattr", "listxattrat", "llistxattr", "llseek", "lremovexattr", "lseek", "lsetxattr",
  "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "lstat", "lstat64", "madvise",
  "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "migrate_pages", "mincore", "mkdir",
  "mkdirat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "modify_ldt", "mprotect", "mq_getsetattr",
  "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
  "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
  "munmap", "nanosleep", "newfstatat", "nice", "oldfstat", "oldlstat", "oldolduname", "oldstat", "olduname",
  "openat2", "pause", "pidfd_getfd", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc",
  "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
  "prlimit64", "process_madvise", "process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6",
  "pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readdir", "readlink",
  "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
  "removexattr", "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
  "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
  "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_get_priority_max",
  "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
  "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
  "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
  "semtimedop", "semtimedop_time64", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
  "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
  "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
  "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
  "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "setxattrat", "sgetmask", "shmat", "shmctl",
  "shmdt", "shmget", "shutdown", "sigaction", "sigaltstack", "signal", "signalfd", "signalfd4", "sigpending",
  "sigprocmask", "sigreturn", "sigsuspend", "socket", "socketcall", "socketpair", "splice", "ssetmask", "stat",
  "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
  "sync_file_range2", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
  "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
  "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
  "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64",
  "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev"
];

/** Calls with a mode argument: at which index, so the setuid/setgid bits can be refused there. */
const MODE_ARGUMENT: Record<string, number> = { chmod: 1, fchmod: 1, fchmodat: 2, fchmodat2: 2, creat: 1, open: 2, openat: 3, mknod: 1, mknodat: 2 };

interface SeccompRule {
  names: string[];
  action: "SCMP_ACT_ALLOW" | "SCMP_ACT_ERRNO";
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo: number; op: "SCMP_CMP_MASKED_EQ" | "SCMP_CMP_EQ" }>;
}

/** The workspace's seccomp profile, in the engine's JSON format. */
export function seccompProfile(): object {
  const rules: SeccompRule[] = [{ names: [...ALLOWED], action: "SCMP_ACT_ALLOW" }];
  for (const [name, index] of Object.entries(MODE_ARGUMENT)) {
    // Allowed with neither bit; refused (EPERM, as a missing permission reads) with either or both.
    rules.push({ names: [name], action: "SCMP_ACT_ALLOW", args: [{ index, value: SET_ID_BITS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] });
    for (const bits of [0o4000, 0o2000, 0o6000]) {
      rules.push({ names: [name], action: "SCMP_ACT_ERRNO", errnoRet: EPERM, args: [{ index, value: SET_ID_BITS, valueTwo: bits, op: "SCMP_CMP_MASKED_EQ" }] });
    }
  }
  // Threads and processes, never new namespaces (clone3's flags sit in memory seccomp cannot read:
  // ENOSYS makes the C library use clone).
  rules.push({ names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] });
  rules.push({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS });
  // The personalities programs use (and the query), not ones that change how memory is mapped.
  for (const p of [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]) rules.push({ names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: p, valueTwo: 0, op: "SCMP_CMP_EQ" }] });
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: ENOSYS,
    archMap: [
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    ],
    syscalls: rules,
  };
}

let profileText: string | undefined;

/** HostConfig settings of a workspace container (and of its one-off hook containers). */
export function hardening(opts: { sudo: boolean; pidsLimit: number }): { SecurityOpt: string[]; CapDrop: string[]; PidsLimit: number } {
  profileText ??= JSON.stringify(seccompProfile());
  return {
    SecurityOpt: [`seccomp=${profileText}`, ...(opts.sudo ? [] : ["no-new-privileges:true"])],
    CapDrop: [...DROPPED_CAPABILITIES],
    PidsLimit: opts.pidsLimit,
  };
}

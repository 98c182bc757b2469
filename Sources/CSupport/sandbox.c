/* The worker's sandbox: see sandbox.h and docs/sandbox.md.
 *
 * The seccomp filter is an allow list: what the worker loop, the loaders
 * (C, the Swift runtime, CPython) and the apps of the integration tests
 * (Flask, Django with SQLite, the todo API, the protocol apps) were seen to
 * call under strace (scripts/sandbox-syscalls.sh), plus what a common app
 * calls that those did not (fsync, flock, inotify, sysv/posix IPC...). The
 * rest answers EPERM (SECCOMP_RET_ERRNO), never a kill: the app gets an
 * error it can report. Among the rest, by design: ptrace,
 * process_vm_readv/writev, mount/umount2/pivot_root/chroot and the new
 * mount API, init/finit/delete_module, kexec_*, reboot, swapon/swapoff,
 * the setuid family and setgroups, capset, bpf, perf_event_open,
 * keyctl/add_key/request_key, unshare/setns, io_uring (its operations
 * bypass seccomp), userfaultfd, open_by_handle_at, personality, acct,
 * the clocks' setters, pidfd_getfd. With arguments: socket only for
 * AF_UNIX, AF_INET and AF_INET6 streams, datagrams and seqpackets (no
 * AF_PACKET, AF_NETLINK, SOCK_RAW); clone without CLONE_NEW* (no
 * namespaces); clone3 answers ENOSYS (its flags are behind a pointer:
 * glibc then uses clone); ioctl but not TIOCSTI.
 *
 * Cost: the kernel caches, per system call number, an allow that does not
 * depend on the arguments (the seccomp action cache, Linux 5.11): the
 * worker's own calls (epoll_wait, accept4, read, writev...) run no BPF. */
#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define GW_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define GW_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int gw_sandbox_no_new_privs(void)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* --- the allow list --- */

#define S(name) { #name, __NR_##name }
typedef struct { const char *name; long nr; } gw_syscall;

/* Allowed with any argument. Names missing on an architecture (aarch64 has
 * no open, stat, poll...) are left out by the #ifdefs. */
static const gw_syscall allowed[] = {
    /* files and descriptors */
    S(read), S(write), S(readv), S(writev), S(pread64), S(pwrite64), S(preadv), S(pwritev),
    S(preadv2), S(pwritev2), S(openat), S(close), S(close_range), S(lseek),
    S(fstat), S(newfstatat), S(statx), S(statfs), S(fstatfs), S(faccessat), S(faccessat2),
    S(readlinkat), S(getdents64), S(fcntl), S(flock), S(fsync), S(fdatasync),
    S(sync_file_range), S(ftruncate), S(truncate), S(fallocate), S(fadvise64), S(readahead),
    S(renameat), S(renameat2), S(unlinkat), S(mkdirat), S(linkat), S(symlinkat),
    S(fchmod), S(fchmodat), S(fchown), S(fchownat), S(utimensat), S(umask), S(getcwd),
    S(chdir), S(fchdir), S(dup), S(dup3), S(pipe2), S(sendfile), S(splice), S(tee),
    S(copy_file_range), S(memfd_create), S(eventfd2), S(timerfd_create), S(timerfd_settime),
    S(timerfd_gettime), S(signalfd4), S(inotify_init1), S(inotify_add_watch),
    S(inotify_rm_watch), S(getxattr), S(lgetxattr), S(fgetxattr), S(listxattr),
    S(llistxattr), S(flistxattr), S(openat2),
#ifdef __NR_open
    S(open), S(creat), S(stat), S(lstat), S(access), S(readlink), S(getdents), S(rename),
    S(unlink), S(mkdir), S(rmdir), S(link), S(symlink), S(chmod), S(chown), S(lchown),
    S(utime), S(utimes), S(futimesat), S(dup2), S(pipe), S(eventfd), S(signalfd),
    S(inotify_init), S(poll), S(select), S(epoll_create), S(epoll_wait), S(fork), S(vfork),
    S(alarm), S(pause), S(time), S(getpgrp), S(arch_prctl),
#endif
    /* memory */
    S(brk), S(mmap), S(munmap), S(mremap), S(mprotect), S(madvise), S(mincore), S(msync),
    S(mlock), S(mlock2), S(munlock), S(mlockall), S(munlockall), S(membarrier),
    S(get_mempolicy), S(pkey_alloc), S(pkey_free), S(pkey_mprotect),
    /* processes, threads, signals, time */
    S(exit), S(exit_group), S(wait4), S(waitid), S(kill), S(tkill), S(tgkill),
    S(getpid), S(gettid), S(getppid), S(getpgid), S(setpgid), S(getsid), S(setsid),
    S(getuid), S(geteuid), S(getgid), S(getegid), S(getgroups), S(getresuid), S(getresgid),
    S(capget), S(prctl), S(set_tid_address), S(set_robust_list), S(get_robust_list),
    S(rseq), S(futex), S(sched_yield), S(sched_getaffinity), S(sched_setaffinity),
    S(sched_getparam), S(sched_getscheduler), S(sched_get_priority_max),
    S(sched_get_priority_min), S(getpriority), S(setpriority), S(getrlimit), S(setrlimit),
    S(prlimit64), S(getrusage), S(times), S(sysinfo), S(uname), S(pidfd_open),
    S(pidfd_send_signal), S(rt_sigaction), S(rt_sigprocmask), S(rt_sigreturn),
    S(rt_sigpending), S(rt_sigtimedwait), S(rt_sigsuspend), S(rt_sigqueueinfo),
    S(rt_tgsigqueueinfo), S(sigaltstack), S(getitimer), S(setitimer), S(nanosleep),
    S(clock_nanosleep), S(clock_gettime), S(clock_getres), S(gettimeofday),
    S(timer_create), S(timer_settime), S(timer_gettime), S(timer_getoverrun),
    S(timer_delete), S(getrandom), S(ioprio_get), S(restart_syscall),
    S(execve), S(execveat), /* closed after the app's init by gw_sandbox_deny_exec */
#ifdef __NR_futex_waitv
    S(futex_waitv),
#endif
    /* waiting */
    S(ppoll), S(pselect6), S(epoll_create1), S(epoll_ctl), S(epoll_pwait),
#ifdef __NR_epoll_pwait2
    S(epoll_pwait2),
#endif
    /* sockets (socket itself: below, by its arguments) */
    S(socketpair), S(bind), S(listen), S(accept), S(accept4), S(connect), S(getsockname),
    S(getpeername), S(sendto), S(recvfrom), S(sendmsg), S(recvmsg), S(sendmmsg), S(recvmmsg),
    S(shutdown), S(setsockopt), S(getsockopt),
    /* System V and POSIX IPC (multiprocessing, shared caches) */
    S(shmget), S(shmat), S(shmctl), S(shmdt), S(semget), S(semop), S(semtimedop), S(semctl),
    S(msgget), S(msgsnd), S(msgrcv), S(msgctl), S(mq_open), S(mq_unlink), S(mq_timedsend),
    S(mq_timedreceive), S(mq_notify), S(mq_getsetattr),
    /* confining itself further is harmless */
    S(seccomp), S(landlock_create_ruleset), S(landlock_add_rule), S(landlock_restrict_self),
};

/* Allowed for some arguments only (filtered below). */
static const gw_syscall filtered[] = { S(socket), S(clone), S(ioctl), S(clone3) };

#define COUNT(a) (sizeof (a) / sizeof (a)[0])

int gw_sandbox_allows(long nr)
{
    for (size_t i = 0; i < COUNT(allowed); i++)
        if (allowed[i].nr == nr)
            return 1;
    for (size_t i = 0; i < COUNT(filtered); i++)
        if (filtered[i].nr == nr)
            return 2;
    return 0;
}

/* Names of calls the tests check are refused: resolved here, where the
 * architecture's numbers are. */
static const gw_syscall known[] = {
    S(ptrace), S(process_vm_readv), S(process_vm_writev), S(mount), S(umount2),
    S(pivot_root), S(chroot), S(init_module), S(finit_module), S(delete_module),
    S(kexec_load), S(kexec_file_load), S(reboot), S(swapon), S(swapoff), S(setuid),
    S(setgid), S(setreuid), S(setregid), S(setresuid), S(setresgid), S(setfsuid),
    S(setfsgid), S(setgroups), S(capset), S(bpf), S(perf_event_open), S(keyctl), S(add_key),
    S(request_key), S(unshare), S(setns), S(io_uring_setup), S(userfaultfd),
    S(open_by_handle_at), S(personality), S(acct), S(settimeofday), S(clock_settime),
    S(pidfd_getfd), S(fsopen), S(move_mount), S(open_tree),
};

long gw_sandbox_syscall_number(const char *name)
{
    for (size_t i = 0; i < COUNT(allowed); i++)
        if (strcmp(allowed[i].name, name) == 0)
            return allowed[i].nr;
    for (size_t i = 0; i < COUNT(filtered); i++)
        if (strcmp(filtered[i].name, name) == 0)
            return filtered[i].nr;
    for (size_t i = 0; i < COUNT(known); i++)
        if (strcmp(known[i].name, name) == 0)
            return known[i].nr;
    return -1;
}

/* --- the BPF program --- */

#define MAX_INSNS 1024
typedef struct { struct sock_filter insn[MAX_INSNS]; unsigned short n; } program;

static void emit(program *p, unsigned short code, unsigned char jt, unsigned char jf, uint32_t k)
{
    if (p->n < MAX_INSNS)
        p->insn[p->n++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
}

#define RET_ALLOW SECCOMP_RET_ALLOW
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
/* The low 32 bits of argument i (little endian). */
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

#define CLONE_NEW_ANY (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | \
                       CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)

static int install(program *p)
{
    if (p->n >= MAX_INSNS) {
        errno = E2BIG;
        return -1;
    }
    struct sock_fprog prog = { .len = p->n, .filter = p->insn };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0 ? 0 : -1;
}

/* Another architecture's calls (a 32-bit binary, x32) are refused. */
static void arch_check(program *p)
{
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, GW_AUDIT_ARCH);
    emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
    emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000); /* __X32_SYSCALL_BIT */
    emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
#endif
}

/* For system call `nr`: EPERM when its first argument (a pid, as an int)
 * is one of `refused`, else allowed. A skips the block holding nr. */
static void signal_guard(program *p, long nr, const uint32_t *refused, unsigned char m)
{
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (unsigned char)(m + 3), (uint32_t)nr);
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(0));
    for (unsigned char i = 0; i < m; i++)
        emit(p, BPF_JMP | BPF_JEQ | BPF_K, (unsigned char)(m - i), 0, refused[i]);
    emit(p, BPF_RET | BPF_K, 0, 0, RET_ALLOW);
    emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
}

int gw_sandbox_seccomp(void)
{
#ifndef GW_AUDIT_ARCH
    errno = EOPNOTSUPP;
    return -1;
#else
    static program p;
    p.n = 0;
    arch_check(&p);
    /* socket(domain, type, protocol): unix and IP streams, datagrams, seqpackets */
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 12, __NR_socket);
    emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(0));
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 3, 0, AF_UNIX);
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 2, 0, AF_INET);
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AF_INET6);
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(1));
    emit(&p, BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xf); /* without SOCK_NONBLOCK, SOCK_CLOEXEC */
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 3, 0, SOCK_STREAM);
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 2, 0, SOCK_DGRAM);
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, SOCK_SEQPACKET);
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ALLOW);
    /* clone(flags, ...) without namespaces (threads, fork, posix_spawn) */
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 4, __NR_clone);
    emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(0));
    emit(&p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, CLONE_NEW_ANY);
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ALLOW);
    /* clone3: its flags are behind a pointer; ENOSYS makes glibc use clone */
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, __NR_clone3);
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(ENOSYS));
    /* ioctl, but not TIOCSTI (typing into a terminal) */
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 4, __NR_ioctl);
    emit(&p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(1));
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, TIOCSTI);
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ALLOW);
    /* Signals never reach the master: its pid (kill, tkill, tgkill, the
     * sigqueue calls; pidfd_open, so no pidfd_send_signal either), its
     * process group (kill(0), kill(-pgrp): the workers are in it) and
     * everyone (kill(-1)). A master that is not root shares its user with
     * the workers, and a kernel before Landlock's signal scoping (6.12)
     * would let them signal it. */
    uint32_t master = (uint32_t)getppid(), group = (uint32_t)-getpgrp();
    static const long to_pid[] = { __NR_tkill, __NR_tgkill, __NR_rt_sigqueueinfo, __NR_rt_tgsigqueueinfo, __NR_pidfd_open };
    for (size_t i = 0; i < COUNT(to_pid); i++)
        signal_guard(&p, to_pid[i], (uint32_t[]){ master }, 1);
    signal_guard(&p, __NR_kill, (uint32_t[]){ master, 0, (uint32_t)-1, group }, 4);
    /* nr is reloaded: the blocks above left an argument in A only on
     * paths that returned */
    for (size_t i = 0; i < COUNT(allowed); i++) {
        emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)allowed[i].nr);
        emit(&p, BPF_RET | BPF_K, 0, 0, RET_ALLOW);
    }
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    return install(&p);
#endif
}

int gw_sandbox_deny_exec(void)
{
#ifndef GW_AUDIT_ARCH
    errno = EOPNOTSUPP;
    return -1;
#else
    static program p;
    p.n = 0;
    arch_check(&p);
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 2, 0, __NR_execve);
    emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, __NR_execveat);
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ALLOW);
    emit(&p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    return install(&p);
#endif
}

/* --- Landlock (the uapi structs, declared here for older headers) --- */

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

struct gw_landlock_ruleset_attr { uint64_t handled_access_fs, handled_access_net, scoped; };
struct gw_landlock_path_beneath_attr { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));
#define GW_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define GW_LANDLOCK_RULE_PATH_BENEATH 1

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REFER (1ULL << 13)
#define FS_TRUNCATE (1ULL << 14)
#define FS_READ (FS_EXECUTE | FS_READ_FILE | FS_READ_DIR)
/* What applies to a file (not a directory) in a rule. */
#define FS_FILE_RIGHTS (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE)

/* Every filesystem access of the ABI, ioctl on devices (ABI 5) aside: a
 * terminal or /dev/null opened by the app stays usable. */
static uint64_t handled(int abi)
{
    uint64_t all = (1ULL << 13) - 1; /* ABI 1: execute .. make_sym */
    if (abi >= 2)
        all |= FS_REFER;
    if (abi >= 3)
        all |= FS_TRUNCATE;
    return all;
}

int gw_landlock_abi(void)
{
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, GW_LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

/* ABI 4: binding a TCP port (connecting stays free: databases, APIs). */
#define NET_BIND_TCP (1ULL << 0)
/* ABI 6: signals and abstract unix sockets only within the domain (the
 * worker and what it starts), not to the master, a sibling or another
 * service. Signals between the worker's own threads stay allowed. */
#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)

int gw_landlock_ruleset(int abi, int read_anywhere, int allow_bind)
{
    struct gw_landlock_ruleset_attr attr = { .handled_access_fs = handled(abi) };
    if (read_anywhere)
        attr.handled_access_fs &= ~FS_READ;
    if (abi >= 4 && !allow_bind)
        attr.handled_access_net = NET_BIND_TCP;
    if (abi >= 6)
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
    /* A kernel older than a field takes the larger struct as long as what
     * it does not know is zero. */
    return (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
}


int gw_landlock_allow(int ruleset, int abi, int read_anywhere, const char *path, int writable)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    uint64_t mask = handled(abi) & (read_anywhere ? ~FS_READ : ~0ULL);
    uint64_t access = mask & (writable ? ~0ULL : FS_READ);
    if (!S_ISDIR(st.st_mode))
        access &= FS_FILE_RIGHTS;
    struct gw_landlock_path_beneath_attr rule = { .allowed_access = access, .parent_fd = fd };
    /* nothing to allow (reads in a ruleset that does not handle them) */
    int rc = access == 0 ? 0 : (int)syscall(__NR_landlock_add_rule, ruleset, GW_LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int gw_landlock_restrict(int ruleset)
{
    int rc = (int)syscall(__NR_landlock_restrict_self, ruleset, 0);
    int e = errno;
    close(ruleset);
    errno = e;
    return rc;
}

/* The worker's sandbox (docs/sandbox.md): PR_SET_NO_NEW_PRIVS, a seccomp-bpf
 * allow list that answers EPERM to everything else (never a kill), and
 * Landlock rulesets. Applied by the worker after it dropped to the app's
 * user, once; nothing here runs per request. */
#ifndef GW_SANDBOX_H
#define GW_SANDBOX_H

#include <stdint.h>

/* prctl(PR_SET_NO_NEW_PRIVS, 1): 0 or -1 (errno). */
int gw_sandbox_no_new_privs(void);

/* Attaches the allow-list filter to every thread of the process (TSYNC).
 * exec (execve, execveat) stays allowed by this filter: the app's init may
 * need it (the WSGI loader runs its Python once); gw_sandbox_deny_exec
 * closes it after the init. 0, or -1 with errno (EINVAL/ENOSYS: the kernel
 * has no seccomp filters; EOPNOTSUPP: an architecture without a list). */
int gw_sandbox_seccomp(void);

/* A second filter: execve and execveat answer EPERM. 0 or -1 (errno). */
int gw_sandbox_deny_exec(void);

/* Whether the allow list lets system call `nr` through, with any
 * argument (1), with some arguments only (2: socket, clone, ioctl), or
 * refuses it (0); for the tests and docs. */
int gw_sandbox_allows(long nr);
/* The system call's number on this architecture by name, or -1. */
long gw_sandbox_syscall_number(const char *name);

/* Landlock: the highest ABI the kernel has (>= 1), or 0 with errno set
 * (ENOSYS: not built in, EOPNOTSUPP: built but disabled at boot). */
int gw_landlock_abi(void);
/* A ruleset handling every filesystem access the ABI knows (refer,
 * truncate included); `read_anywhere`: reading and executing stay allowed
 * everywhere (only writes are confined). From ABI 4 it also refuses
 * binding TCP ports (unless `allow_bind`; connecting stays free), from ABI
 * 6 it scopes signals and abstract unix sockets to the worker's domain.
 * A descriptor, or -1 (errno). */
int gw_landlock_ruleset(int abi, int read_anywhere, int allow_bind);
/* Allows `path` in a ruleset made with the same abi and read_anywhere (and, for a directory, what is under it): reading and
 * executing, and with `writable` every change too. 0, or -1 (errno;
 * ENOENT and EACCES for a path that is not there or not reachable). */
int gw_landlock_allow(int ruleset, int abi, int read_anywhere, const char *path, int writable);
/* Restricts this thread (the worker is single-threaded then) to the
 * ruleset and closes it. 0 or -1 (errno). */
int gw_landlock_restrict(int ruleset);

#endif

/* bench/sandbox_cost.c: the kernel-side cost of the workers' seccomp filter
 * (docs/sandbox.md), which callgrind cannot see (it counts user-space
 * instructions, and valgrind has no seccomp(2)). Times system calls before
 * and after attaching the filter (then the exec filter, as a worker has
 * both): getppid and read(0 bytes) are allowed whatever their arguments
 * (the kernel's action cache answers without running BPF), ioctl(FIONREAD)
 * runs the filter's argument check.
 *
 *   cc -O2 -I Sources/CSupport/include bench/sandbox_cost.c Sources/CSupport/sandbox.c -o build/sandbox_cost
 *   build/sandbox_cost
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define N 500000

static double ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

/* The fastest of 7 rounds of N calls each: the least disturbed by the
 * machine's other load. */
static double best(int which, int fd)
{
    double min = 1e18;
    for (int round = 0; round < 7; round++) {
        int avail;
        char c;
        double t0 = ns();
        for (int i = 0; i < N; i++) {
            if (which == 0) syscall(SYS_getppid);
            else if (which == 1) (void)!read(fd, &c, 0);
            else ioctl(fd, FIONREAD, &avail);
        }
        double t = (ns() - t0) / N;
        if (t < min) min = t;
    }
    return min;
}

static void run(const char *label, int fd)
{
    printf("%-20s getppid %6.1f ns  read(0) %6.1f ns  ioctl(FIONREAD) %6.1f ns\n", label,
           best(0, fd), best(1, fd), best(2, fd));
}

int main(void)
{
    int p[2];
    if (pipe(p) != 0) return 1;
    run("no filter", p[0]);
    if (gw_sandbox_no_new_privs() != 0 || gw_sandbox_seccomp() != 0) { perror("seccomp"); return 1; }
    run("allow list", p[0]);
    if (gw_sandbox_deny_exec() != 0) { perror("seccomp"); return 1; }
    run("allow list + exec", p[0]);
    return 0;
}

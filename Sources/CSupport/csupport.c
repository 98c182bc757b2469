#define _GNU_SOURCE
#include "csupport.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>

int gw_wifexited(int s) { return WIFEXITED(s); }
int gw_wexitstatus(int s) { return WEXITSTATUS(s); }
int gw_wifsignaled(int s) { return WIFSIGNALED(s); }
int gw_wtermsig(int s) { return WTERMSIG(s); }
int gw_wcoredump(int s) { return WCOREDUMP(s); }

pid_t gw_fork(void) { return fork(); }
int gw_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int gw_tgkill(pid_t pid, pid_t tid, int sig) { return (int)syscall(SYS_tgkill, pid, tid, sig); }
int gw_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int gw_pidfd_getfd(int pidfd, int targetfd) { return (int)syscall(SYS_pidfd_getfd, pidfd, targetfd, 0); }

void gw_reset_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        sigaction(s, &sa, NULL);
    }
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static volatile int signal_write_fd = -1;

void gw_signal_pipe(int fd) { signal_write_fd = fd; }

/* Async-signal-safe: one write(2) of one byte, errno preserved. A full
 * pipe drops the byte, which is fine: the loop is awake already. */
static void record_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (signal_write_fd >= 0) {
        ssize_t r = write(signal_write_fd, &b, 1);
        (void)r;
    }
    errno = saved;
}

int gw_signal_catch(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    return sigaction(sig, &sa, NULL);
}

/* A process may start with signals blocked (a mask inherited from the
 * thread that spawned it); a caught signal that stays blocked never
 * arrives. */
int gw_signal_unblock(int sig) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    return sigprocmask(SIG_UNBLOCK, &one, NULL);
}

int gw_signal_ignore(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    return sigaction(sig, &sa, NULL);
}

int gw_signal_default(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    return sigaction(sig, &sa, NULL);
}

int gw_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GW_TSAN 1
#endif
#endif
#if defined(__x86_64__) && !defined(GW_TSAN)
/* The syscall instruction itself: glibc's syscall() is a function of
 * its own that shuffles six registers (eleven instructions a call). */
static inline long hot_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6) {
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    if (ret < 0 && ret > -4096) { errno = (int)-ret; return -1; }
    return ret;
}
#else
#define hot_syscall(n, a1, a2, a3, a4, a5, a6) syscall(n, a1, a2, a3, a4, a5, a6)
#endif

/* The worker's hot system calls go through syscall(2), not glibc's
 * wrappers: in a process with threads those are pthread cancellation
 * points, and each call pays for enabling and disabling asynchronous
 * cancellation (about 30 instructions), which gatewayd never uses. */
int gw_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = (int)hot_syscall(SYS_epoll_pwait, epfd, (long)evs, max, timeout_ms, 0, 0);
    for (int i = 0; i < n; i++) {
        datas[i] = evs[i].data.u64;
        events[i] = evs[i].events;
    }
    return n;
}

int gw_accept(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof *addr;
    return accept4(fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

ssize_t gw_send(int fd, const void *buf, size_t len) {
    return (ssize_t)hot_syscall(SYS_sendto, fd, (long)buf, (long)len, MSG_NOSIGNAL, 0, 0);
}

ssize_t gw_read(int fd, void *buf, size_t len) {
    return (ssize_t)hot_syscall(SYS_read, fd, (long)buf, (long)len, 0, 0, 0);
}

ssize_t gw_writev2(int fd, const void *a, size_t alen, const void *b, size_t blen) {
    struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    return (ssize_t)hot_syscall(SYS_sendmsg, fd, (long)&msg, MSG_NOSIGNAL, 0, 0, 0);
}

ssize_t gw_sendfile(int out_fd, int in_fd, off_t *offset, size_t count) {
    return sendfile(out_fd, in_fd, offset, count);
}

int gw_format_addr(const struct sockaddr_storage *addr, socklen_t len, char *host, size_t hostlen) {
    if (hostlen == 0) return -1;
    host[0] = 0;
    if (addr->ss_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hostlen);
        return ntohs(a->sin_port);
    }
    if (addr->ss_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hostlen);
        return ntohs(a->sin6_port);
    }
    return -1;
}

int gw_bind_unix(int fd, const char *path) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(a.sun_path, path);
    return bind(fd, (struct sockaddr *)&a, sizeof a);
}

uint64_t gw_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void gw_http_date(char out[30]) {
    char full[30];
    gw_http_date_at((long)time(NULL), full);
    full[29] = 0;
    memcpy(out, full, 30);
}

void gw_http_date_at(long seconds, char *out) {
    time_t t = (time_t)seconds;
    struct tm tm;
    char full[30];
    gmtime_r(&t, &tm);
    snprintf(full, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", wday[tm.tm_wday], tm.tm_mday,
             mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, full, 29);   /* no NUL: fills a 29-byte field */
}

void gw_clf_date(char out[32]) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    snprintf(out, 32, "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld]", tm.tm_mday, mon[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
}

gw_score_slot *gw_scoreboard_create(int count) {
    size_t size = sizeof(gw_score_slot) * (size_t)count;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    return (gw_score_slot *)p;
}

void gw_score_begin(gw_score_slot *s, int fd, const char *method, size_t mlen,
                    const char *path, size_t plen, uint64_t now) {
    if (mlen >= GW_SCORE_METHOD) mlen = GW_SCORE_METHOD - 1;
    if (plen >= GW_SCORE_PATH) plen = GW_SCORE_PATH - 1;
    memcpy(s->method, method, mlen);
    s->method[mlen] = 0;
    memcpy(s->path, path, plen);
    s->path[plen] = 0;
    s->conn_fd = fd;
    s->response_started = 0;
    s->busy_since_ns = now;
    __atomic_store_n(&s->heartbeat_ns, now, __ATOMIC_RELAXED);
    s->request_serial++;
    __atomic_store_n(&s->response_owner, s->request_serial << 2, __ATOMIC_RELEASE);
    __atomic_store_n(&s->state, GW_SCORE_BUSY, __ATOMIC_RELEASE);
}

const uint64_t gw_duration_bounds_ns[GW_DURATION_BUCKETS - 1] = {
    5000000ull, 10000000ull, 25000000ull, 50000000ull, 100000000ull, 250000000ull,
    500000000ull, 1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull,
};

void gw_score_end(gw_score_slot *s, uint64_t now, uint64_t in, uint64_t out, int status) {
    uint64_t d = now - s->busy_since_ns;
    int b = 0;
    while (b < GW_DURATION_BUCKETS - 1 && d > gw_duration_bounds_ns[b]) b++;
    s->duration_counts[b]++;
    s->duration_sum_ns += d;
    unsigned c = (unsigned)status / 100;
    s->status_classes[c < 6 ? c : 0]++;
    s->requests++;
    s->bytes_in += in;
    /* The loop adds the bytes of held responses to the worker's slot from another thread. */
    __atomic_fetch_add(&s->bytes_out, out, __ATOMIC_RELAXED);
    __atomic_store_n(&s->heartbeat_ns, now, __ATOMIC_RELAXED);
    __atomic_store_n(&s->state, GW_SCORE_IDLE, __ATOMIC_RELEASE);
}

void gw_score_add_bytes_out(gw_score_slot *s, uint64_t n) {
    __atomic_fetch_add(&s->bytes_out, n, __ATOMIC_RELAXED);
}

void gw_score_heartbeat(gw_score_slot *s, uint64_t now) {
    __atomic_store_n(&s->heartbeat_ns, now, __ATOMIC_RELAXED);
}

void gw_score_queue_wait(gw_score_slot *s, int bucket) {
    if (bucket >= 0 && bucket < GW_DURATION_BUCKETS) s->queue_wait_counts[bucket]++;
}

void gw_score_release(gw_score_slot *s, uint64_t now) {
    __atomic_store_n(&s->heartbeat_ns, now, __ATOMIC_RELAXED);
    __atomic_store_n(&s->state, GW_SCORE_IDLE, __ATOMIC_RELEASE);
}

int gw_score_claim_worker(gw_score_slot *s) {
    uint64_t owner = __atomic_load_n(&s->response_owner, __ATOMIC_ACQUIRE);
    if ((owner & 3) != GW_OWNER_NONE) return (owner & 3) == GW_OWNER_WORKER;
    if (__atomic_compare_exchange_n(&s->response_owner, &owner, owner | GW_OWNER_WORKER, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        s->response_started = 1;
        return 1;
    }
    return (owner & 3) == GW_OWNER_WORKER;
}

int gw_score_claim_master(gw_score_slot *s, uint64_t serial) {
    uint64_t expected = serial << 2;
    return __atomic_compare_exchange_n(&s->response_owner, &expected, (serial << 2) | GW_OWNER_MASTER, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

int gw_unix_path(const struct sockaddr_storage *addr, socklen_t len, char *buf, size_t buflen) {
    if (addr->ss_family != AF_UNIX || buflen == 0) return -1;
    const struct sockaddr_un *u = (const struct sockaddr_un *)addr;
    size_t max = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    if (max >= buflen) max = buflen - 1;
    size_t n = strnlen(u->sun_path, max);
    memcpy(buf, u->sun_path, n);
    buf[n] = 0;
    return n > 0 ? 0 : -1;
}

long long gw_regular_file_size(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    return (long long)st.st_size;
}

/* Threads and spools (Sys+Threads.swift): what Glibc's Swift module lacks. */
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <pthread.h>
int gw_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
int gw_gettid(void) { return (int)syscall(SYS_gettid); }
void gw_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }
int gw_open_tmpfile(const char *dir) {
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
    /* No O_TMPFILE on this filesystem: a named file, unlinked at once. */
    char path[4096];
    if (snprintf(path, sizeof path, "%s/gatewayd-body.XXXXXX", dir) >= (int)sizeof path) { errno = ENAMETOOLONG; return -1; }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

/* The worker loop's lock (ServerCore LoopLock): a futex word, 0 free, 1
 * held, 2 held with waiters (Drepper, "Futexes Are Tricky", mutex 3).
 * Uncontended, lock and unlock are one atomic instruction each, against
 * some thirty for glibc's mutex; contended, a short spin, then the futex.
 * Plain C11 atomics with acquire and release, so ThreadSanitizer sees the
 * order it makes. */
#include <linux/futex.h>
void gw_loop_lock(int *word) {
    int c = 0;
    if (__atomic_compare_exchange_n(word, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    for (int spin = 0; spin < 100; spin++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
        c = 0;
        if (__atomic_load_n(word, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(word, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    }
    c = __atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
        c = __atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE);
    }
}

void gw_loop_unlock(int *word) {
    if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) == 2)
        syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Where a worker's spare threads wait when enough of them wait in epoll
 * (RequestLoop+Threads.swift, ParkingSpot): a generation count. A thread
 * reads it with the loop's lock held, lets the lock go, and sleeps while
 * the count is still what it read; an unpark bumps it and wakes `n`. A
 * wake-up that finds nothing to do is harmless (the thread looks again). */
int gw_park_generation(int *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }

void gw_park(int *word, int generation) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, generation, NULL, NULL, 0);
}

void gw_unpark(int *word, int n) {
    __atomic_add_fetch(word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

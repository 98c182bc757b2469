/* C shims for what Swift cannot import or call well from libc: status
 * macros, the packed epoll_event, async-signal-safe handlers, raw syscalls
 * without glibc wrappers, and the shared-memory scoreboard layout. */
#ifndef GW_CSUPPORT_H
#define GW_CSUPPORT_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <sys/un.h>
#include "listeners.h" /* a worker's listeners and its master's death */

/* --- wait status --- */
int gw_wifexited(int status);
int gw_wexitstatus(int status);
int gw_wifsignaled(int status);
int gw_wtermsig(int status);
int gw_wcoredump(int status);

/* --- process --- */
pid_t gw_fork(void);
int gw_pipe2(int fds[2], int flags);
int gw_tgkill(pid_t pid, pid_t tid, int sig);
int gw_pidfd_open(pid_t pid);
int gw_pidfd_getfd(int pidfd, int targetfd);
/* Resets every signal disposition to default and unblocks all signals. */
void gw_reset_signals(void);

/* --- signals: the handler only writes the signal number to a pipe --- */
/* Sets the write end of the self-pipe the handler writes to. */
void gw_signal_pipe(int write_fd);
/* Installs the recording handler for `sig` (SA_RESTART off). */
int gw_signal_catch(int sig);
int gw_signal_ignore(int sig);
/* Unblocks `sig` in this process (the master is single-threaded). */
int gw_signal_unblock(int sig);
int gw_signal_default(int sig);

/* --- epoll without the packed struct --- */
int gw_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/* Waits; fills datas[i]/events[i]; returns the count or -1 (errno). */
int gw_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms);

/* --- sockets --- */
int gw_accept(int fd, struct sockaddr_storage *addr, socklen_t *len);
ssize_t gw_send(int fd, const void *buf, size_t len);
ssize_t gw_read(int fd, void *buf, size_t len);
/* The worker loop's lock: a futex word (0 when free). */
void gw_loop_lock(int *word);
void gw_loop_unlock(int *word);
/* A worker's parked threads (ParkingSpot): the generation to park on,
 * parking while it holds, waking n. */
int gw_park_generation(int *word);
void gw_park(int *word, int generation);
void gw_unpark(int *word, int n);
ssize_t gw_writev2(int fd, const void *a, size_t alen, const void *b, size_t blen);
ssize_t gw_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
/* Formats a peer address: host into host (NUL-terminated), port returned; -1 if unknown. */
int gw_format_addr(const struct sockaddr_storage *addr, socklen_t len, char *host, size_t hostlen);
int gw_bind_unix(int fd, const char *path);
/* The path of a bound AF_UNIX address into buf; -1 if not a unix address. */
int gw_unix_path(const struct sockaddr_storage *addr, socklen_t len, char *buf, size_t buflen);

/* The size of the regular file open as fd; -1 for a bad descriptor or
 * another kind of file (fstat, whose struct Swift imports poorly). */
long long gw_regular_file_size(int fd);

/* --- time --- */
uint64_t gw_monotonic_ns(void);
/* Writes an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", 29 bytes) for now. */
void gw_http_date(char out[30]);
/* The IMF-fixdate of `seconds` since the epoch: 29 bytes, no NUL. */
void gw_http_date_at(long seconds, char *out);
/* Writes "[10/Oct/2000:13:55:36 +0000]" style time (26 bytes + NUL) for the access log. */
void gw_clf_date(char out[32]);

/* --- the scoreboard: one slot per worker process in shared memory --- */
#define GW_SCORE_METHOD 16
#define GW_SCORE_PATH 192
/* Request durations are counted per bucket (upper bounds in ns below, the
 * last is +Inf); the master sums them into the histogram. */
#define GW_DURATION_BUCKETS 12
extern const uint64_t gw_duration_bounds_ns[GW_DURATION_BUCKETS - 1];
enum { GW_SCORE_FREE = 0, GW_SCORE_BOOTING = 1, GW_SCORE_IDLE = 2, GW_SCORE_BUSY = 3 };
typedef struct gw_score_slot {
    volatile int32_t pid;
    volatile int32_t state;            /* GW_SCORE_* */
    volatile int32_t conn_fd;          /* fd of the connection being served */
    volatile int32_t response_started; /* 1 once a byte of the response was sent */
    volatile uint64_t request_serial;  /* bumps at each request start */
    volatile uint64_t busy_since_ns;   /* monotonic */
    volatile uint64_t heartbeat_ns;    /* monotonic, at every request boundary and idle tick */
    volatile uint64_t requests;
    volatile uint64_t bytes_in;
    volatile uint64_t bytes_out;
    /* Who answers the request in progress: (request_serial << 2) | GW_OWNER_*.
     * The worker claims it before its first response byte, the master before
     * answering a timeout with 504; whoever loses sends nothing. */
    volatile uint64_t response_owner;
    char method[GW_SCORE_METHOD];
    char path[GW_SCORE_PATH];
    volatile int32_t proto;            /* ListenProtocol of the connection: the form of the master's 504 */
    volatile int32_t request_id;       /* FastCGI: the request id the master's 504 answers */
    /* Counters the master folds into its metrics (they outlive the worker):
     * responses by status class (index status / 100; 0 for anything else),
     * durations by bucket, their sum. Written by the worker only. */
    volatile uint64_t status_classes[6];
    volatile uint64_t duration_counts[GW_DURATION_BUCKETS];
    volatile uint64_t duration_sum_ns;
    /* Requests answered 503 by max_queue_wait before the app (worker only). */
    volatile uint64_t shed;
    /* Set by the master at the start of a drain (drain_delay): the worker
     * answers keep-alive requests with Connection: close. A plain load per
     * request, no system call. */
    volatile int32_t draining;
    /* Stack dumps (stackdump.c): the worker's scratch file holding the last
     * dump (0: none), why the master asked (GW_DUMP_*, set before it
     * signals), and a count the worker bumps when a dump is complete. */
    volatile int32_t dump_fd;
    volatile int32_t dump_reason;
    volatile uint64_t dump_serial;
    /* The worker's connections by state, as nginx's stub_status counts them,
     * published once a second between requests (worker only): reading a
     * head or a held body, writing (a held response, a lingering close),
     * waiting (idle keep-alive). */
    volatile uint32_t conn_reading;
    volatile uint32_t conn_writing;
    volatile uint32_t conn_waiting;
    /* Threads (threads = N): a worker has N slots, one per app thread; the
     * first holds the worker's own fields (pid, heartbeat, draining, dumps,
     * connection counts, the queue below), each holds its thread's request
     * (state .. request_id) and counters (requests .. shed), which the
     * master sums per worker. */
    volatile int32_t tid;              /* the app thread's kernel tid (gettid), for tgkill */
    volatile int32_t thread_index;     /* 0 .. threads-1 */
    /* Master -> worker: the request_serial the master timed out on this
     * thread (504 sent); the worker interrupts or retires (GW_SIG_TIMEOUT). */
    volatile uint64_t timeout_serial;
    /* First slot only (worker-wide), written by the worker: */
    volatile int32_t threads;          /* app threads of this worker */
    volatile uint32_t queued;          /* complete requests waiting for an app thread now */
    volatile uint64_t queue_waits;     /* requests handed to an app thread... */
    volatile uint64_t queue_wait_sum_ns; /* ...the time they waited for one, in total... */
    volatile uint64_t queue_wait_counts[GW_DURATION_BUCKETS]; /* ...and by bucket (the duration buckets) */
} gw_score_slot;
/* Maps `count` zeroed slots shared with every child forked later. */
gw_score_slot *gw_scoreboard_create(int count);
void gw_score_begin(gw_score_slot *s, int fd, const char *method, size_t mlen,
                    const char *path, size_t plen, uint64_t now);
void gw_score_end(gw_score_slot *s, uint64_t now, uint64_t in, uint64_t out, int status);
/* From the loop, any thread: bytes of a held response; the worker's heartbeat. */
void gw_score_add_bytes_out(gw_score_slot *s, uint64_t n);
void gw_score_heartbeat(gw_score_slot *s, uint64_t now);
/* A request waited for an app thread: its bucket (the duration buckets). */
void gw_score_queue_wait(gw_score_slot *s, int bucket);
/* A listening socket's accept queue: its length and its maximum (the
 * backlog), from TCP_INFO for TCP and sock_diag for unix sockets; -1 when
 * the kernel does not tell. */
int gw_listen_queue(int fd, int is_unix, uint32_t *length, uint32_t *max);
/* An accepted TCP connection: milliseconds since data last arrived on it
 * (TCP_INFO's tcpi_last_data_recv, in the kernel's ticks); -1 when the
 * kernel does not tell (not TCP). */
int64_t gw_tcp_last_data_ms(int fd);
enum { GW_OWNER_NONE = 0, GW_OWNER_WORKER = 1, GW_OWNER_MASTER = 2 };
/* The worker, before the first byte of a response: 1 when the response is
 * the worker's to send, 0 when the master took it (a timeout). */
int gw_score_claim_worker(gw_score_slot *s);
/* The request is over but not counted (the master answered it: a timeout). */
void gw_score_release(gw_score_slot *s, uint64_t now);
/* The master, deciding a timeout of request `serial`: 1 when the 504 is
 * the master's to send, 0 when the worker started its response first or
 * moved on to another request. */
int gw_score_claim_master(gw_score_slot *s, uint64_t serial);

/* --- stack dumps of a worker (stackdump.c) --- */
enum { GW_DUMP_ON_DEMAND = 0, GW_DUMP_TIMEOUT = 1 };
/* Set in dump_reason with the reason by the master before it signals a
 * dump, cleared by the worker's handler when the dump is written: a worker
 * told to stop at once right after (a timeout) waits for it before exiting,
 * as the handler runs on the app thread and the stop on another. */
enum { GW_DUMP_REQUESTED = 0x100 };
/* Log line forms, shared with the Swift ErrorLogHandler: text or JSON,
 * either with GW_LOG_JOURNAL (no timestamp, a <N> syslog priority prefix).
 * GW_LOG_CONTINUED (text only): a later line of a message of several lines
 * (a traceback), "| " after the prefix; a first line's leading '|' is
 * escaped, so no message passes for the continuation of another. */
enum { GW_LOG_TEXT = 0, GW_LOG_JSON = 1, GW_LOG_JOURNAL = 2, GW_LOG_CONTINUED = 4 };
/* The signal the master sends a worker's main thread for a dump. */
int gw_stack_signal(void);
/* The signal an old master sends the new master of a binary upgrade once
 * it has told systemd MAINPID=<new master> (SIGNALS.md, SIGUSR2). */
/* Master -> worker with threads > 1: a request of one of its app threads
 * timed out (the slot's timeout_serial says which): SIGRTMIN+7. */
int gw_timeout_signal(void);
/* Threads and spools (Sys+Threads.swift). */
int gw_eventfd(void);
int gw_gettid(void);
void gw_thread_name(const char *name);
/* An unlinked file in `dir` (O_TMPFILE, else mkostemp + unlink); -1 and errno. */
int gw_open_tmpfile(const char *dir);
int gw_handover_signal(void);
/* In a worker, once the app is loaded: creates the scratch file, warms
 * backtrace() up (libgcc loaded now, not in the handler), looks up the
 * app's optional `gateway_dump_stack` and installs the handler. 0 or -1
 * (errno set). `slot` may be NULL. */
int gw_stack_install(const char *app_path, int log_fd, int log_mode, gw_score_slot *slot);
/* threads > 1: every app thread's slot (at most 256 kept), so a dump
 * running on an app thread (the master tgkills the stuck one) starts with
 * a line naming its index: "app thread K of N (tid T)". */
void gw_stack_set_threads(gw_score_slot *const *slots, int count);
/* After a log reopen: the descriptor and form the handler writes with. */
void gw_stack_set_log(int log_fd, int log_mode);
/* One metadata key of the worker's lines (gen) for the dump's lines too:
 * " key=value" in text, "key":"value" in JSON. Plain ASCII, under 32 bytes. */
void gw_stack_set_field(const char *key, const char *value);
/* The dump itself, as the handler does it (for tests and the handler). */
void gw_stack_dump(int reason);
/* Waits up to `ms` for a dump the master requested (GW_DUMP_REQUESTED) to
 * be written; returns at once when none is. */
void gw_stack_wait_requested(int ms);
/* Now as the logs write it: "25/Nov/2026:10:00:00 +0000" (text) or
 * "2026-11-25T10:00:00.123+00:00" (json); NUL-terminated, returns its length. */
size_t gw_log_time(char out[40], int json);
/* Formats one error-log line into out (at most cap bytes, ends in '\n'),
 * async-signal-safe: no malloc, no locks. Returns its length. */
size_t gw_log_line(char *out, size_t cap, int mode, int priority, const char *level,
                   const char *source, int pid, const char *msg, size_t len);

#endif

/* Stack dumps of a worker, from a signal handler: where a timed-out (or
 * merely busy) request is stuck. The master signals the worker's main
 * thread (tgkill, the thread that serves requests); the handler writes the
 * stack into a scratch file (a memfd), then copies it to the error log one
 * whole line per write(2), each in the log's form, so it never tears or
 * interleaves inside a line with other workers' logs, and bumps
 * dump_serial in the scoreboard so the master knows it is complete (and
 * can read the scratch file through pidfd_getfd for `gatewayctl dump`).
 *
 * Everything the handler calls is async-signal-safe or as close as glibc
 * lets it be: write, read, lseek, ftruncate, raise; backtrace() only after
 * a first call at install time loaded libgcc_s; dladdr() (it takes the
 * loader's lock: a worker stuck inside dlopen would hang here, and the
 * master's SIGKILL still ends it). No malloc, no stdio, no locale.
 *
 * The stack is the app's own when it exports
 *     int gateway_dump_stack(int fd);
 * (async-signal-safe, writes text lines to fd, 0 on success): the WSGI
 * loader writes the traceback of every Python thread there. Otherwise it is
 * the native backtrace: module path, offset in it, symbol name where the
 * dynamic symbol table has one; `addr2line -f -e MODULE OFFSET` names the
 * function and line from the debug info. */
#define _GNU_SOURCE
#include "csupport.h"
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define MAX_FRAMES 64
#define MAX_LINE 1024

static volatile int dump_log_fd = -1;
static volatile int dump_log_mode = GW_LOG_TEXT;
static int scratch_fd = -1;
static gw_score_slot *dump_slot;
static int (*app_dumper)(int fd);
#define MAX_THREAD_SLOTS 256
static gw_score_slot *thread_slots[MAX_THREAD_SLOTS];
static volatile int thread_slot_count;
static long utc_offset;           /* seconds east of UTC: read once, outside any handler */
static int utc_offset_known;

static void learn_utc_offset(void) {
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) utc_offset = tm.tm_gmtoff;
    utc_offset_known = 1;
}
static char exe_path[512];
/* The worker's metadata (gen), as its Swift logger writes it: set before
 * the handler can run, read only there. */
static char field_key[32], field_value[32];

int gw_stack_signal(void) { return SIGRTMIN + 4; }
int gw_handover_signal(void) { return SIGRTMIN + 6; }
int gw_timeout_signal(void) { return SIGRTMIN + 7; }

/* --- formatting without stdio --- */

typedef struct { char *p; size_t n, cap; } out_buf;

static void put(out_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n && b->n < b->cap; i++) b->p[b->n++] = s[i];
}
static void puts_(out_buf *b, const char *s) { put(b, s, strlen(s)); }
static void putc_(out_buf *b, char c) { put(b, &c, 1); }

static void put_uint(out_buf *b, unsigned long long v, int width) {
    char tmp[24];
    int i = 0;
    do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v && i < 24);
    while (i < width) tmp[i++] = '0';
    while (i) putc_(b, tmp[--i]);
}

static void put_hex(out_buf *b, unsigned long long v) {
    char tmp[20];
    int i = 0;
    do { tmp[i++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    puts_(b, "0x");
    while (i) putc_(b, tmp[--i]);
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil(long long days, int *y, int *m, int *d) {
    days += 719468;
    long long era = (days >= 0 ? days : days - 146096) / 146097;
    long long doe = days - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put_offset(out_buf *b, long off, int colon) {
    putc_(b, off < 0 ? '-' : '+');
    if (off < 0) off = -off;
    put_uint(b, (unsigned long long)(off / 3600), 2);
    if (colon) putc_(b, ':');
    put_uint(b, (unsigned long long)(off / 60 % 60), 2);
}

/* text: "25/Nov/2026:10:00:00 +0000" (the access log's form, as the error
 * log's Swift side writes it); json: "2026-11-25T10:00:00.123+00:00". */
static void put_time(out_buf *b, int json) {
    static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long t = (long long)ts.tv_sec + utc_offset;
    long long days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    long long secs = t - days * 86400;
    int y, m, d;
    civil(days, &y, &m, &d);
    if (json) {
        put_uint(b, (unsigned)y, 4); putc_(b, '-'); put_uint(b, (unsigned)m, 2); putc_(b, '-'); put_uint(b, (unsigned)d, 2);
        putc_(b, 'T');
    } else {
        put_uint(b, (unsigned)d, 2); putc_(b, '/'); puts_(b, mon[m - 1]); putc_(b, '/'); put_uint(b, (unsigned)y, 4);
        putc_(b, ':');
    }
    put_uint(b, (unsigned long long)(secs / 3600), 2); putc_(b, ':');
    put_uint(b, (unsigned long long)(secs / 60 % 60), 2); putc_(b, ':');
    put_uint(b, (unsigned long long)(secs % 60), 2);
    if (json) {
        putc_(b, '.');
        put_uint(b, (unsigned long long)(ts.tv_nsec / 1000000), 3);
        put_offset(b, utc_offset, 1);
    } else {
        putc_(b, ' ');
        put_offset(b, utc_offset, 0);
    }
}

/* The error log's escaping (LogEscape.errorLog): \, control bytes and
 * bytes from 0x7F up become \xHH. */
static void put_text_escaped(out_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7F || c == '\\') {
            puts_(b, "\\x");
            putc_(b, "0123456789ABCDEF"[c >> 4]);
            putc_(b, "0123456789ABCDEF"[c & 15]);
        } else {
            putc_(b, (char)c);
        }
    }
}

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 when invalid. */
static size_t utf8_length(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++) if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;    /* overlong */
    if (c == 0xED && s[1] >= 0xA0) return 0;   /* surrogates */
    if (c == 0xF0 && s[1] < 0x90) return 0;    /* overlong */
    if (c == 0xF4 && s[1] >= 0x90) return 0;   /* above U+10FFFF */
    return len;
}

/* A JSON string's contents (RFC 8259 section 7): ", \ and control
 * characters escaped, valid UTF-8 kept, an invalid byte as U+FFFD. */
static void put_json_escaped(out_buf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') { putc_(b, '\\'); putc_(b, (char)c); }
        else if (c == '\n') puts_(b, "\\n");
        else if (c == '\t') puts_(b, "\\t");
        else if (c == '\r') puts_(b, "\\r");
        else if (c < 0x20 || c == 0x7F) {
            puts_(b, "\\u00");
            putc_(b, "0123456789abcdef"[c >> 4]);
            putc_(b, "0123456789abcdef"[c & 15]);
        } else if (c < 0x80) putc_(b, (char)c);
        else {
            size_t len = utf8_length(u + i, n - i);
            if (len == 0) { puts_(b, "\\ufffd"); continue; }
            put(b, s + i, len);
            i += len - 1;
        }
    }
}

size_t gw_log_time(char out[40], int json) {
    if (!utc_offset_known) learn_utc_offset();
    out_buf b = {out, 0, 39};
    put_time(&b, json);
    out[b.n] = 0;
    return b.n;
}

size_t gw_log_line(char *out, size_t cap, int mode, int priority, const char *level,
                   const char *source, int pid, const char *msg, size_t len) {
    out_buf b = {out, 0, cap > 1 ? cap - 1 : 0};   /* room kept for the newline */
    if (!utc_offset_known) learn_utc_offset();    /* first call: never the handler's (install did it) */
    int journal = mode & GW_LOG_JOURNAL;
    if (journal) { putc_(&b, '<'); put_uint(&b, (unsigned)priority, 1); putc_(&b, '>'); }
    if (mode & GW_LOG_JSON) {
        putc_(&b, '{');
        if (!journal) { puts_(&b, "\"time\":\""); put_time(&b, 1); puts_(&b, "\","); }
        puts_(&b, "\"level\":\""); puts_(&b, level);
        puts_(&b, "\",\"source\":\""); puts_(&b, source);
        puts_(&b, "\",\"pid\":"); put_uint(&b, (unsigned)pid, 1);
        puts_(&b, ",\"message\":\"");
        /* a message too long for the line is cut, the JSON still closed */
        size_t room = b.cap > b.n + 8 ? b.cap - b.n - 8 : 0;
        out_buf inner = {b.p + b.n, 0, room};
        put_json_escaped(&inner, msg, len);
        /* never end inside an escape or a UTF-8 sequence */
        if (inner.n == room) {
            size_t k = inner.n;
            while (k > 0 && ((unsigned char)inner.p[k - 1] & 0xC0) == 0x80) k--;
            if (k > 0 && (unsigned char)inner.p[k - 1] >= 0xC0) k--;
            for (size_t j = k > 6 ? k - 6 : 0; j < k; j++) if (inner.p[j] == '\\') { k = j; break; }
            inner.n = k;
        }
        b.n += inner.n;
        puts_(&b, "\"}");
    } else {
        if (!journal) { put_time(&b, 0); putc_(&b, ' '); }
        putc_(&b, '['); puts_(&b, level); puts_(&b, "] [");
        puts_(&b, source); putc_(&b, ' '); put_uint(&b, (unsigned)pid, 1); puts_(&b, "] ");
        if (mode & GW_LOG_CONTINUED) {
            puts_(&b, "| ");
        } else if (len > 0 && msg[0] == '|') {
            puts_(&b, "\\x7C");
            msg++;
            len--;
        }
        put_text_escaped(&b, msg, len);
    }
    out[b.n++] = '\n';
    return b.n;
}

/* --- the dump --- */

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void log_stack_line(const char *s, size_t n, int reason) {
    int fd = dump_log_fd;
    if (fd < 0) return;
    char msg[MAX_LINE];
    out_buf m = {msg, 0, sizeof msg};
    puts_(&m, "stack: ");
    put(&m, s, n);
    int json = dump_log_mode & GW_LOG_JSON;
    /* text: " key=value" after the message, as LogRecord writes its fields */
    if (field_key[0] && !json) { putc_(&m, ' '); puts_(&m, field_key); putc_(&m, '='); puts_(&m, field_value); }
    char line[MAX_LINE * 2 + 80];
    int error = reason == GW_DUMP_TIMEOUT;
    size_t len = gw_log_line(line, MAX_LINE * 2, dump_log_mode, error ? 3 : 6, error ? "error" : "info",
                             "worker", (int)syscall(SYS_getpid), msg, m.n);
    /* JSON: a key of its own before the closing brace */
    if (field_key[0] && json && len >= 2 && line[len - 2] == '}') {
        out_buf tail = {line, len - 2, sizeof line};
        puts_(&tail, ",\""); puts_(&tail, field_key); puts_(&tail, "\":\""); puts_(&tail, field_value); puts_(&tail, "\"}\n");
        len = tail.n;
    }
    /* one write: O_APPEND keeps it whole beside other workers' lines */
    ssize_t w;
    do { w = write(fd, line, len); } while (w < 0 && errno == EINTR);
}

/* Copies the scratch file to the error log, one line at a time. */
static void log_scratch(int reason) {
    if (lseek(scratch_fd, 0, SEEK_SET) < 0) return;
    char chunk[4096], line[MAX_LINE];
    size_t have = 0;
    ssize_t n;
    while ((n = read(scratch_fd, chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n') {
                if (have > 0) log_stack_line(line, have, reason);   /* faulthandler's blank separators: none */
                have = 0;
            } else if (have < sizeof line) {
                line[have++] = chunk[i];
            }
        }
    }
    if (have > 0) log_stack_line(line, have, reason);
}

static void native_backtrace(int fd) {
    void *frames[MAX_FRAMES];
    int n = backtrace(frames, MAX_FRAMES);
    char line[MAX_LINE];
    out_buf b = {line, 0, sizeof line};
    puts_(&b, "native backtrace of thread ");
    put_uint(&b, (unsigned long long)syscall(SYS_gettid), 1);
    puts_(&b, " (most recent call first; addr2line -f -e MODULE OFFSET names the line):\n");
    write_all(fd, line, b.n);
    /* frames 0 and 1 are this function and the handler */
    for (int i = 2; i < n; i++) {
        b.n = 0;
        Dl_info info;
        memset(&info, 0, sizeof info);
        puts_(&b, "  #"); put_uint(&b, (unsigned)(i - 2), 1); putc_(&b, ' ');
        if (dladdr(frames[i], &info) && info.dli_fbase != NULL) {
            const char *module = info.dli_fname && info.dli_fname[0] ? info.dli_fname : exe_path;
            puts_(&b, module);
            putc_(&b, ' ');
            put_hex(&b, (unsigned long long)((char *)frames[i] - (char *)info.dli_fbase));
            if (info.dli_sname && info.dli_saddr) {
                puts_(&b, " (");
                puts_(&b, info.dli_sname);
                putc_(&b, '+');
                put_hex(&b, (unsigned long long)((char *)frames[i] - (char *)info.dli_saddr));
                putc_(&b, ')');
            }
        } else {
            puts_(&b, "?? ");
            put_hex(&b, (unsigned long long)(uintptr_t)frames[i]);
        }
        putc_(&b, '\n');
        write_all(fd, line, b.n);
    }
}

/* threads > 1: which app thread this dump runs on, as the first line. */
static void thread_header(int fd) {
    int count = thread_slot_count;
    if (count < 2) return;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    char line[128];
    out_buf b = {line, 0, sizeof line};
    for (int i = 0; i < count; i++) {
        if (thread_slots[i] == NULL || thread_slots[i]->tid != tid) continue;
        puts_(&b, "app thread ");
        put_uint(&b, (unsigned long long)thread_slots[i]->thread_index, 1);
        puts_(&b, " of ");
        put_uint(&b, (unsigned long long)count, 1);
        puts_(&b, " (tid ");
        put_uint(&b, (unsigned long long)tid, 1);
        puts_(&b, "):\n");
        write_all(fd, line, b.n);
        return;
    }
}

__attribute__((noinline)) void gw_stack_dump(int reason) {
    if (scratch_fd < 0) return;
    (void)ftruncate(scratch_fd, 0);
    (void)lseek(scratch_fd, 0, SEEK_SET);
    thread_header(scratch_fd);
    if (app_dumper == NULL || app_dumper(scratch_fd) != 0) native_backtrace(scratch_fd);
    log_scratch(reason);
}

static void on_dump_signal(int sig) {
    (void)sig;
    int saved = errno;
    int reason = dump_slot ? (dump_slot->dump_reason & ~GW_DUMP_REQUESTED) : GW_DUMP_ON_DEMAND;
    gw_stack_dump(reason);
    if (dump_slot) {
        __atomic_add_fetch(&dump_slot->dump_serial, 1, __ATOMIC_RELEASE);
        __atomic_and_fetch(&dump_slot->dump_reason, ~GW_DUMP_REQUESTED, __ATOMIC_RELEASE);
    }
    errno = saved;
}

void gw_stack_wait_requested(int ms) {
    if (dump_slot == NULL) return;
    struct timespec step = {0, 1000000};
    for (int i = 0; i < ms; i++) {
        if (!(__atomic_load_n(&dump_slot->dump_reason, __ATOMIC_ACQUIRE) & GW_DUMP_REQUESTED)) return;
        nanosleep(&step, NULL);
    }
}

void gw_stack_set_field(const char *key, const char *value) {
    field_key[0] = 0;
    if (key == NULL || value == NULL) return;
    size_t k = strlen(key), v = strlen(value);
    if (k >= sizeof field_key || v >= sizeof field_value) return;
    memcpy(field_value, value, v + 1);
    memcpy(field_key, key, k + 1);
}

void gw_stack_set_threads(gw_score_slot *const *slots, int count) {
    if (count > MAX_THREAD_SLOTS) count = MAX_THREAD_SLOTS;
    thread_slot_count = 0;
    for (int i = 0; i < count; i++) thread_slots[i] = slots[i];
    thread_slot_count = count < 0 ? 0 : count;
}

void gw_stack_set_log(int log_fd, int log_mode) {
    dump_log_mode = log_mode;
    dump_log_fd = log_fd;
}

int gw_stack_install(const char *app_path, int log_fd, int log_mode, gw_score_slot *slot) {
    gw_stack_set_log(log_fd, log_mode);
    learn_utc_offset();
    ssize_t len = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[len > 0 ? len : 0] = 0;
    if (app_path != NULL) {
        void *handle = dlopen(app_path, RTLD_NOW | RTLD_NOLOAD);
        if (handle != NULL) {
            app_dumper = (int (*)(int))dlsym(handle, "gateway_dump_stack");
            dlclose(handle);   /* the app's own dlopen keeps it loaded */
        }
    }
    void *warm[4];
    (void)backtrace(warm, 4);   /* loads libgcc_s now, not in the handler */
    scratch_fd = (int)syscall(SYS_memfd_create, "gatewayd-stack", MFD_CLOEXEC);
    if (scratch_fd < 0) return -1;
    dump_slot = slot;
    if (slot) slot->dump_fd = scratch_fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(gw_stack_signal(), &sa, NULL);
}

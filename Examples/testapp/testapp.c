/*
 * testapp: the gatewayd app the test suites drive. Each route exercises one
 * part of the gateway interface (docs/gateway-interface.md); the route is
 * PATH_INFO, parameters come from QUERY_STRING.
 *
 *   /                      "Hello, World!"
 *   /environ               the whole environ as a JSON object
 *   /echo                  the request body, streamed back
 *   /echo-whole            the request body, read whole, then sent back
 *   /sleep?seconds=S       sleeps S seconds (fractional allowed)
 *   /pid                   the worker's pid
 *   /crash                 abort()
 *   /leak?mb=N             allocates and touches N MB, never freed
 *   /stream?chunks=N&size=B[&delay_ms=D]
 *                          N writes of B bytes, no Content-Length
 *   /bytes?n=N             N bytes with Content-Length; sndbuf=B first sets
 *                          the socket's SO_SNDBUF to B (a small send window,
 *                          as over a long link: on loopback the kernel would
 *                          take megabytes from a client that does not read)
 *   /status?code=NNN       that status
 *   /args                  the app_args init received, as a JSON object
 *   /file?path=P           the file P with sendfile, 404 if it cannot be opened
 *   /error                 GATEWAY_ERROR before start_response (server: 500)
 *   /error-after           GATEWAY_ERROR after a body chunk (server: abort)
 *   /hop                   start_response with "Connection: close" (refused)
 *   /replace               start_response twice, the second with GATEWAY_REPLACE
 *   /ignore-body           answers without reading the body
 *   /log?msg=M             logs M at WARNING
 *   /read-then-environ     reads the whole body, logs its length, then
 *                          answers the environ (an app that reads first)
 *   /respond?status=S&h1=N:V&h2=..&h3=..&body=B&mode=last|write|none
 *                          start_response(S) verbatim with up to three
 *                          headers, then B with write_last (default),
 *                          write, or no body call at all; a refused call
 *                          answers nothing more (the server decides);
 *                          retry=1: after a refused start_response, a
 *                          second one with "200 OK" (which must fail too)
 *   /sleep?seconds=S&once=1  one nanosleep, not resumed after a signal
 *   /spin?seconds=S        a busy loop of S seconds in testapp_spin (an
 *                          exported symbol, so a native stack dump names it)
 *
 * Generated bodies (/stream, /bytes) are the pattern: byte i of the body is
 * PATTERN_ALPHABET[i % 64], counted from the first body byte.
 *
 * app_args: fail_init=MSG makes init fail with MSG, crash_init makes init
 * abort(), sleep_init=S makes init sleep S seconds first, read_first makes
 * every request /read-then-environ, with the body read before any getenv,
 * crash_idle_if=PATH makes a worker die of SIGALRM one second after init,
 * while idle, if PATH exists then (a crash right after boot, no request).
 */
#define _POSIX_C_SOURCE 200809L

#include <gateway.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define PATTERN_ALPHABET \
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
#define PATTERN_PERIOD 64
#define MAX_CHUNK_SIZE (256u * 1024 * 1024)

/* What init keeps: a copy of app_args (the server's copy dies after init). */
typedef struct testapp {
    gateway_pair *args;
    size_t arg_count;
} testapp;

/* Memory /leak hands out, reachable so the compiler cannot drop it
 * (atomic: calls on several threads may store at once). */
static _Atomic(void *) leaked_sink;

/* ---------------------------------------------------------------- helpers */

/* The pattern, one period longer than a read chunk so that any stream
 * offset can start anywhere in the first period. */
static char pattern[READ_CHUNK + PATTERN_PERIOD];

static void fill_pattern(char *buf, size_t len)
{
    static const char alphabet[] = PATTERN_ALPHABET;
    _Static_assert(sizeof(alphabet) - 1 == PATTERN_PERIOD, "pattern period");
    for (size_t i = 0; i < len; i++)
        buf[i] = alphabet[i % PATTERN_PERIOD];
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..len) ('+' is a space, as in forms) into a new
 * NUL-terminated string; a %00 cuts the string there. */
static char *percent_decode(const char *src, size_t len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (src[i] == '%' && i + 2 < len &&
            (hi = hex_value(src[i + 1])) >= 0 &&
            (lo = hex_value(src[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (src[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = src[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* The decoded value of query parameter `name` (first occurrence), a new
 * string the caller frees; NULL when absent or out of memory. */
static char *query_param(gateway_request *r, const char *name)
{
    const char *qs = r->api->getenv(r, "QUERY_STRING");
    if (qs == NULL)
        return NULL;
    size_t name_len = strlen(name);
    const char *p = qs;
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        size_t field_len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', field_len);
        size_t key_len = eq ? (size_t)(eq - p) : field_len;
        if (key_len == name_len && memcmp(p, name, name_len) == 0) {
            if (eq == NULL)
                return percent_decode("", 0);
            return percent_decode(eq + 1, field_len - key_len - 1);
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return NULL;
}

/* Parses a decimal integer made of digits only, at most `max`. */
static int parse_uint(const char *s, unsigned long long max,
                      unsigned long long *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    unsigned long long v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned digit = (unsigned)(*s - '0');
        if (v > (max - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    *out = v;
    return 0;
}

/* Parses a non-negative number of seconds (fractional allowed). */
static int parse_seconds(const char *s, double *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

/* Sleeps `seconds`, resuming after signals. */
static void sleep_seconds(double seconds)
{
    struct timespec left;
    left.tv_sec = (time_t)seconds;
    left.tv_nsec = (long)((seconds - (double)left.tv_sec) * 1e9);
    if (left.tv_nsec >= 1000000000L)
        left.tv_nsec = 999999999L;
    if (left.tv_nsec < 0)
        left.tv_nsec = 0;
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        continue;
}

/* A growable byte buffer; `failed` sticks after an allocation failure. */
typedef struct buffer {
    char *data;
    size_t len, cap;
    int failed;
} buffer;

static void buf_append(buffer *b, const void *bytes, size_t len)
{
    if (b->failed)
        return;
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1024;
        while (len > cap - b->len) {
            if (cap > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            cap *= 2;
        }
        char *data = realloc(b->data, cap);
        if (data == NULL) {
            b->failed = 1;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
}

static void buf_puts(buffer *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* Appends s as a JSON string: quotes, backslashes and control characters
 * escaped; every other byte (UTF-8 included) as it is. */
static void buf_json_string(buffer *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    buf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"':  buf_append(b, "\\\"", 2); break;
        case '\\': buf_append(b, "\\\\", 2); break;
        case '\b': buf_append(b, "\\b", 2); break;
        case '\f': buf_append(b, "\\f", 2); break;
        case '\n': buf_append(b, "\\n", 2); break;
        case '\r': buf_append(b, "\\r", 2); break;
        case '\t': buf_append(b, "\\t", 2); break;
        default: {
            char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            buf_append(b, esc, sizeof(esc));
        }
        }
    }
    buf_puts(b, run);
    buf_append(b, "\"", 1);
}

static void buf_json_member(buffer *b, int first, const char *key,
                            const char *value)
{
    if (!first)
        buf_append(b, ",", 1);
    buf_json_string(b, key ? key : "");
    buf_append(b, ":", 1);
    buf_json_string(b, value ? value : "");
}

/* A whole response built in memory: the server sets Content-Length. */
static int respond(gateway_request *r, const char *status,
                   const char *content_type, const void *body, size_t len)
{
    const gateway_pair headers[] = { { "Content-Type", content_type } };
    if (r->api->start_response(r, status, headers, 1, 0) != GATEWAY_OK)
        return GATEWAY_ERROR;
    return r->api->write_last(r, body, len);
}

static int respond_text(gateway_request *r, const char *status,
                        const char *text)
{
    return respond(r, status, "text/plain", text, strlen(text));
}

static int respond_json(gateway_request *r, buffer *b)
{
    int rc;
    if (b->failed)
        rc = respond_text(r, "500 Internal Server Error", "out of memory");
    else
        rc = respond(r, "200 OK", "application/json", b->data, b->len);
    free(b->data);
    return rc;
}

static int bad_request(gateway_request *r, const char *why)
{
    return respond_text(r, "400 Bad Request", why);
}

/* ----------------------------------------------------------------- routes */

static int route_hello(gateway_request *r)
{
    return respond_text(r, "200 OK", "Hello, World!");
}

static int route_environ(gateway_request *r)
{
    const gateway_api *api = r->api;
    buffer b = { 0 };
    buf_append(&b, "{", 1);
    size_t count = api->environ_count(r);
    for (size_t i = 0; i < count; i++) {
        const char *key = NULL, *value = NULL;
        if (api->environ_item(r, i, &key, &value) != GATEWAY_OK)
            break;
        buf_json_member(&b, i == 0, key, value);
    }
    buf_append(&b, "}", 1);
    return respond_json(r, &b);
}

static int route_args(gateway_request *r)
{
    const testapp *app = r->app_data;
    buffer b = { 0 };
    buf_append(&b, "{", 1);
    for (size_t i = 0; app != NULL && i < app->arg_count; i++)
        buf_json_member(&b, i == 0, app->args[i].name, app->args[i].value);
    buf_append(&b, "}", 1);
    return respond_json(r, &b);
}

static int route_echo(gateway_request *r)
{
    const gateway_api *api = r->api;
    const char *type = api->getenv(r, "CONTENT_TYPE");
    const char *length = api->getenv(r, "CONTENT_LENGTH");
    gateway_pair headers[2] = {
        { "Content-Type",
          type != NULL && *type != '\0' ? type : "application/octet-stream" },
        { "Content-Length", length },
    };
    size_t count = length != NULL && *length != '\0' ? 2 : 1;
    if (api->start_response(r, "200 OK", headers, count, 0) != GATEWAY_OK)
        return GATEWAY_ERROR;

    char *chunk = malloc(READ_CHUNK);
    if (chunk == NULL)
        return GATEWAY_ERROR;
    int rc = GATEWAY_OK;
    for (;;) {
        ssize_t n = api->read(r, chunk, READ_CHUNK);
        if (n == 0)
            break;
        if (n < 0 || api->write(r, chunk, (size_t)n) != GATEWAY_OK) {
            rc = GATEWAY_ERROR;
            break;
        }
    }
    free(chunk);
    return rc;
}

/* The whole body read first, then sent back: what a proxy that sends the
 * whole request before it reads the response (nginx) needs for large bodies. */
static int route_echo_whole(gateway_request *r)
{
    const gateway_api *api = r->api;
    size_t cap = READ_CHUNK, used = 0;
    char *all = malloc(cap);
    if (all == NULL)
        return GATEWAY_ERROR;
    for (;;) {
        if (cap - used < READ_CHUNK) {
            char *bigger = realloc(all, cap * 2);
            if (bigger == NULL) {
                free(all);
                return GATEWAY_ERROR;
            }
            all = bigger;
            cap *= 2;
        }
        ssize_t n = api->read(r, all + used, READ_CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            free(all);
            return GATEWAY_ERROR;
        }
        used += (size_t)n;
    }
    char length[32];
    snprintf(length, sizeof length, "%zu", used);
    gateway_pair headers[2] = {
        { "Content-Type", "application/octet-stream" },
        { "Content-Length", length },
    };
    int rc = api->start_response(r, "200 OK", headers, 2, 0);
    if (rc == GATEWAY_OK && used > 0)
        rc = api->write(r, all, used);
    free(all);
    return rc;
}

static int route_sleep(gateway_request *r)
{
    char *arg = query_param(r, "seconds");
    double seconds;
    if (parse_seconds(arg, &seconds) != 0) {
        free(arg);
        return bad_request(r, "seconds must be a non-negative number");
    }
    char *once = query_param(r, "once");
    if (once != NULL) {
        /* As an app blocked in one call would: a signal ends the wait early. */
        struct timespec t = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
        nanosleep(&t, NULL);
    } else {
        sleep_seconds(seconds);
    }
    free(once);
    char body[128];
    snprintf(body, sizeof(body), "slept %s", arg);
    free(arg);
    return respond_text(r, "200 OK", body);
}

/* Exported (and not inlined) so the dynamic symbol table names it in a
 * native stack dump. */
__attribute__((noinline, visibility("default"))) double testapp_spin(double seconds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile double x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += i * 0.5;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    return x;
}

static int route_spin(gateway_request *r)
{
    char *arg = query_param(r, "seconds");
    double seconds;
    if (parse_seconds(arg, &seconds) != 0) {
        free(arg);
        return bad_request(r, "seconds must be a non-negative number");
    }
    testapp_spin(seconds);
    char body[128];
    snprintf(body, sizeof(body), "spun %s", arg);
    free(arg);
    return respond_text(r, "200 OK", body);
}

static int route_pid(gateway_request *r)
{
    char body[32];
    snprintf(body, sizeof(body), "%ld", (long)getpid());
    return respond_text(r, "200 OK", body);
}

static int route_leak(gateway_request *r)
{
    char *arg = query_param(r, "mb");
    unsigned long long mb;
    int bad = parse_uint(arg, SIZE_MAX / (1024 * 1024), &mb);
    free(arg);
    if (bad)
        return bad_request(r, "mb must be a whole number");
    size_t size = (size_t)mb * 1024 * 1024;
    void *block = malloc(size ? size : 1);
    if (block == NULL)
        return respond_text(r, "500 Internal Server Error", "out of memory");
    memset(block, 0x5a, size);
    atomic_store_explicit(&leaked_sink, block, memory_order_relaxed);
    char body[64];
    snprintf(body, sizeof(body), "leaked %llu MB", mb);
    return respond_text(r, "200 OK", body);
}

static int route_stream(gateway_request *r)
{
    char *chunks_arg = query_param(r, "chunks");
    char *size_arg = query_param(r, "size");
    char *delay_arg = query_param(r, "delay_ms");
    unsigned long long chunks, size, delay_ms = 0;
    int bad = parse_uint(chunks_arg, UINT32_MAX, &chunks) != 0 ||
              parse_uint(size_arg, MAX_CHUNK_SIZE, &size) != 0 ||
              (delay_arg != NULL && parse_uint(delay_arg, 3600000, &delay_ms) != 0);
    free(chunks_arg);
    free(size_arg);
    free(delay_arg);
    if (bad)
        return bad_request(r, "chunks and size (and delay_ms) must be whole numbers");

    char *data = pattern;
    if (size + PATTERN_PERIOD > sizeof(pattern)) {
        data = malloc(size + PATTERN_PERIOD);
        if (data == NULL)
            return respond_text(r, "500 Internal Server Error", "out of memory");
        fill_pattern(data, size + PATTERN_PERIOD);
    }

    const gateway_pair headers[] = { { "Content-Type", "application/octet-stream" } };
    int rc = r->api->start_response(r, "200 OK", headers, 1, 0);
    unsigned long long offset = 0;
    for (unsigned long long i = 0; rc == GATEWAY_OK && i < chunks; i++) {
        if (i > 0 && delay_ms > 0)
            sleep_seconds((double)delay_ms / 1000.0);
        rc = r->api->write(r, data + offset % PATTERN_PERIOD, (size_t)size);
        offset += size;
    }
    if (data != pattern)
        free(data);
    return rc;
}

/* Sets SO_SNDBUF on this request's socket, found among the worker's
 * descriptors by the client's port (REMOTE_PORT): a test aid. */
static void shrink_send_buffer(gateway_request *r, int size)
{
    const char *port = r->api->getenv(r, "REMOTE_PORT");
    if (port == NULL || *port == '\0')
        return;
    int want = atoi(port);
    for (int fd = 3; fd < 4096; fd++) {
        struct sockaddr_storage a;
        socklen_t len = sizeof a;
        if (getpeername(fd, (struct sockaddr *)&a, &len) != 0)
            continue;
        int p = -1;
        if (a.ss_family == AF_INET)
            p = ntohs(((struct sockaddr_in *)&a)->sin_port);
        else if (a.ss_family == AF_INET6)
            p = ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
        if (p == want) {
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
            return;
        }
    }
}

static int route_bytes(gateway_request *r)
{
    char *arg = query_param(r, "n");
    unsigned long long n;
    int bad = parse_uint(arg, UINT64_MAX, &n);
    free(arg);
    if (bad)
        return bad_request(r, "n must be a whole number");
    char *sndbuf = query_param(r, "sndbuf");
    unsigned long long size;
    if (sndbuf != NULL && parse_uint(sndbuf, 1 << 30, &size) == 0)
        shrink_send_buffer(r, (int)size);
    free(sndbuf);

    char length[32];
    snprintf(length, sizeof(length), "%llu", n);
    const gateway_pair headers[] = {
        { "Content-Type", "application/octet-stream" },
        { "Content-Length", length },
    };
    if (r->api->start_response(r, "200 OK", headers, 2, 0) != GATEWAY_OK)
        return GATEWAY_ERROR;
    /* READ_CHUNK is a multiple of the period: every chunk starts at 0. */
    while (n > 0) {
        size_t len = n < READ_CHUNK ? (size_t)n : READ_CHUNK;
        if (r->api->write(r, pattern, len) != GATEWAY_OK)
            return GATEWAY_ERROR;
        n -= len;
    }
    return GATEWAY_OK;
}

static const char *reason_phrase(unsigned code)
{
    static const struct { unsigned code; const char *reason; } table[] = {
        { 100, "Continue" }, { 101, "Switching Protocols" },
        { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
        { 203, "Non-Authoritative Information" }, { 204, "No Content" },
        { 205, "Reset Content" }, { 206, "Partial Content" },
        { 300, "Multiple Choices" }, { 301, "Moved Permanently" },
        { 302, "Found" }, { 303, "See Other" }, { 304, "Not Modified" },
        { 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
        { 400, "Bad Request" }, { 401, "Unauthorized" },
        { 402, "Payment Required" }, { 403, "Forbidden" },
        { 404, "Not Found" }, { 405, "Method Not Allowed" },
        { 406, "Not Acceptable" }, { 408, "Request Timeout" },
        { 409, "Conflict" }, { 410, "Gone" }, { 411, "Length Required" },
        { 412, "Precondition Failed" }, { 413, "Content Too Large" },
        { 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
        { 416, "Range Not Satisfiable" }, { 417, "Expectation Failed" },
        { 418, "I'm a teapot" }, { 422, "Unprocessable Content" },
        { 426, "Upgrade Required" }, { 428, "Precondition Required" },
        { 429, "Too Many Requests" },
        { 431, "Request Header Fields Too Large" },
        { 500, "Internal Server Error" }, { 501, "Not Implemented" },
        { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
        { 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].code == code)
            return table[i].reason;
    return "Unknown";
}

static int route_status(gateway_request *r)
{
    char *arg = query_param(r, "code");
    unsigned long long code;
    int bad = parse_uint(arg, 999, &code) != 0 || code < 100;
    free(arg);
    if (bad)
        return bad_request(r, "code must be three digits");

    char status[64];
    snprintf(status, sizeof(status), "%llu %s", code, reason_phrase((unsigned)code));
    /* 1xx, 204 and 304 responses have no body in HTTP. */
    int bodyless = code < 200 || code == 204 || code == 304;
    return respond(r, status, "text/plain", status, bodyless ? 0 : strlen(status));
}

static int route_file(gateway_request *r)
{
    char *path = query_param(r, "path");
    if (path == NULL || *path == '\0') {
        free(path);
        return bad_request(r, "path is required");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return respond_text(r, "404 Not Found", "not found");
    }
    char length[32];
    snprintf(length, sizeof(length), "%jd", (intmax_t)st.st_size);
    const gateway_pair headers[] = {
        { "Content-Type", "application/octet-stream" },
        { "Content-Length", length },
    };
    int rc = r->api->start_response(r, "200 OK", headers, 2, 0);
    if (rc == GATEWAY_OK && st.st_size > 0)
        rc = r->api->sendfile(r, fd, 0, (size_t)st.st_size);
    close(fd);
    return rc;
}

static int route_error(gateway_request *r)
{
    (void)r;
    return GATEWAY_ERROR;
}

static int route_error_after(gateway_request *r)
{
    const gateway_pair headers[] = { { "Content-Type", "text/plain" } };
    if (r->api->start_response(r, "200 OK", headers, 1, 0) == GATEWAY_OK)
        r->api->write(r, "partial", 7);
    return GATEWAY_ERROR;
}

static int route_hop(gateway_request *r)
{
    const gateway_pair headers[] = {
        { "Content-Type", "text/plain" },
        { "Connection", "close" },
    };
    if (r->api->start_response(r, "200 OK", headers, 2, 0) != GATEWAY_OK)
        return GATEWAY_ERROR;
    /* The server should have refused: make its mistake visible. */
    return r->api->write_last(r, "hop-by-hop header accepted", 26);
}

static int route_replace(gateway_request *r)
{
    const gateway_pair headers[] = { { "Content-Type", "text/plain" } };
    if (r->api->start_response(r, "200 OK", headers, 1, 0) != GATEWAY_OK)
        return GATEWAY_ERROR;
    if (r->api->start_response(r, "503 Service Unavailable", headers, 1,
                               GATEWAY_REPLACE) != GATEWAY_OK)
        return GATEWAY_ERROR;
    return r->api->write_last(r, "replaced", 8);
}

static int route_ignore_body(gateway_request *r)
{
    return respond_text(r, "200 OK", "ignored");
}

/* /log?msg=M[&level=N]: api->log(M) at level N (default WARNING; any
 * integer, to check what the server does with unknown levels). */
static int route_log(gateway_request *r)
{
    char *msg = query_param(r, "msg");
    char *level = query_param(r, "level");
    r->api->log(r, level ? atoi(level) : GATEWAY_LOG_WARNING, msg ? msg : "");
    free(level);
    free(msg);
    return respond_text(r, "200 OK", "logged");
}

/* /bad-header?name=N&value=V: start_response with the header N: V as given
 * (percent-decoded), so a test can make the server refuse and quote it. */
static int route_bad_header(gateway_request *r)
{
    char *name = query_param(r, "name");
    char *value = query_param(r, "value");
    const gateway_pair headers[] = { { name ? name : "", value ? value : "v" } };
    int rc = r->api->start_response(r, "200 OK", headers, 1, 0);
    free(name);
    free(value);
    if (rc != GATEWAY_OK)
        return GATEWAY_ERROR;
    return r->api->write_last(r, "bad header accepted", 19);
}

/* /getenv?name=N: the worker PROCESS environment variable N (not the
 * request environ), or 404 when unset: to check what workers inherit. */
static int route_getenv(gateway_request *r)
{
    char *name = query_param(r, "name");
    const char *value = name ? getenv(name) : NULL;
    free(name);
    if (value == NULL)
        return respond_text(r, "404 Not Found", "unset");
    return respond_text(r, "200 OK", value);
}

/* Reads the whole body; its length, or -1 when a read was refused. */
static long long read_whole_body(gateway_request *r)
{
    char buf[16384];
    long long total = 0;
    for (;;) {
        ssize_t n = r->api->read(r, buf, sizeof buf);
        if (n < 0)
            return -1;
        if (n == 0)
            return total;
        total += n;
    }
}

/* /count: reads the whole body first, then answers its length: an app that
 * responds only after the upload (so body errors come before headers). */
static int route_count(gateway_request *r)
{
    long long total = read_whole_body(r);
    if (total < 0)
        return GATEWAY_ERROR;
    char text[32];
    snprintf(text, sizeof text, "%lld", total);
    return respond_text(r, "200 OK", text);
}

static int route_read_then_environ(gateway_request *r)
{
    long long total = read_whole_body(r);
    if (total < 0)
        return GATEWAY_ERROR;
    char text[64];
    snprintf(text, sizeof text, "read %lld body bytes", total);
    r->api->log(r, GATEWAY_LOG_WARNING, text);
    return route_environ(r);
}

static int route_respond(gateway_request *r)
{
    char *status = query_param(r, "status");
    char *body = query_param(r, "body");
    char *mode = query_param(r, "mode");
    char *raw[3] = { query_param(r, "h1"), query_param(r, "h2"), query_param(r, "h3") };
    gateway_pair headers[3];
    size_t count = 0;
    for (size_t i = 0; i < 3; i++) {
        char *colon = raw[i] ? strchr(raw[i], ':') : NULL;
        if (colon == NULL)
            continue;
        *colon = '\0';
        headers[count].name = raw[i];
        headers[count].value = colon + 1;
        count++;
    }
    int rc = r->api->start_response(r, status ? status : "200 OK", headers, count, 0);
    char *retry = query_param(r, "retry");
    if (rc != GATEWAY_OK && retry != NULL)   /* an app that tries again after a refusal */
        rc = r->api->start_response(r, "200 OK", NULL, 0, 0);
    free(retry);
    const char *b = body ? body : "";
    if (rc == GATEWAY_OK) {
        if (mode != NULL && strcmp(mode, "write") == 0)
            rc = r->api->write(r, b, strlen(b));
        else if (mode == NULL || strcmp(mode, "none") != 0)
            rc = r->api->write_last(r, b, strlen(b));
    }
    free(status);
    free(body);
    free(mode);
    for (size_t i = 0; i < 3; i++)
        free(raw[i]);
    (void)rc;   /* the server answers for a refused call: that is under test */
    return GATEWAY_OK;
}

static int route_crash(gateway_request *r)
{
    (void)r;
    abort();
}

static const struct route {
    const char *path;
    int (*handler)(gateway_request *r);
} routes[] = {
    { "/", route_hello },
    { "/environ", route_environ },
    { "/echo", route_echo },
    { "/echo-whole", route_echo_whole },
    { "/sleep", route_sleep },
    { "/spin", route_spin },
    { "/pid", route_pid },
    { "/crash", route_crash },
    { "/leak", route_leak },
    { "/stream", route_stream },
    { "/bytes", route_bytes },
    { "/status", route_status },
    { "/args", route_args },
    { "/file", route_file },
    { "/error", route_error },
    { "/error-after", route_error_after },
    { "/hop", route_hop },
    { "/replace", route_replace },
    { "/ignore-body", route_ignore_body },
    { "/log", route_log },
    { "/bad-header", route_bad_header },
    { "/getenv", route_getenv },
    { "/count", route_count },
    { "/read-then-environ", route_read_then_environ },
    { "/respond", route_respond },
};

static const char *find_arg(const testapp *app, const char *name);

static int testapp_call(gateway_request *r)
{
    /* app_arg read_first: read the whole body before anything else (no
     * getenv yet), then answer the environ, as an app that parses the
     * upload first would. */
    const testapp *app = r->app_data;
    if (app != NULL && find_arg(app, "read_first") != NULL)
        return route_read_then_environ(r);
    const char *path = r->api->getenv(r, "PATH_INFO");
    if (path == NULL || *path == '\0')
        path = "/";
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(path, routes[i].path) == 0)
            return routes[i].handler(r);
    /* /environ/anything: the environ too (for path decoding tests) */
    if (strncmp(path, "/environ/", 9) == 0)
        return route_environ(r);
    return respond_text(r, "404 Not Found", "not found");
}

/* --------------------------------------------------------------- lifecycle */

static void testapp_shutdown(void *app_data)
{
    testapp *app = app_data;
    if (app == NULL)
        return;
    for (size_t i = 0; i < app->arg_count; i++) {
        free((char *)app->args[i].name);
        free((char *)app->args[i].value);
    }
    free(app->args);
    free(app);
}

static const char *find_arg(const testapp *app, const char *name)
{
    for (size_t i = 0; i < app->arg_count; i++)
        if (strcmp(app->args[i].name, name) == 0)
            return app->args[i].value;
    return NULL;
}

static int init_error(gateway_init *init, testapp *app, const char *message)
{
    if (init->error != NULL && init->error_size > 0)
        snprintf(init->error, init->error_size, "%s", message);
    testapp_shutdown(app);
    return 1;
}

static int testapp_init(gateway_init *init)
{
    fill_pattern(pattern, sizeof(pattern));

    testapp *app = calloc(1, sizeof(*app));
    if (app == NULL)
        return init_error(init, NULL, "testapp: out of memory");
    if (init->arg_count > 0) {
        app->args = calloc(init->arg_count, sizeof(*app->args));
        if (app->args == NULL)
            return init_error(init, app, "testapp: out of memory");
    }
    for (size_t i = 0; i < init->arg_count; i++) {
        const gateway_pair *arg = &init->args[i];
        app->args[i].name = strdup(arg->name ? arg->name : "");
        app->args[i].value = strdup(arg->value ? arg->value : "");
        app->arg_count = i + 1;
        if (app->args[i].name == NULL || app->args[i].value == NULL)
            return init_error(init, app, "testapp: out of memory");
    }

    const char *value;
    if ((value = find_arg(app, "sleep_init")) != NULL) {
        double seconds;
        if (parse_seconds(value, &seconds) != 0)
            return init_error(init, app, "testapp: sleep_init must be a number of seconds");
        sleep_seconds(seconds);
    }
    if (find_arg(app, "crash_init") != NULL)
        abort();
    if ((value = find_arg(app, "fail_init")) != NULL)
        return init_error(init, app, value);
    if ((value = find_arg(app, "crash_idle_if")) != NULL && access(value, F_OK) == 0)
        alarm(1);

    if (init->api != NULL && init->api->log != NULL) {
        char message[128];
        snprintf(message, sizeof(message),
                 "testapp: booted worker %d, generation %" PRIu32 ", %zu args",
                 init->worker_id, init->generation, app->arg_count);
        init->api->log(NULL, GATEWAY_LOG_INFO, message);
    }
    init->app_data = app;
    return 0;
}

static const gateway_app_descriptor testapp_descriptor = {
    .abi_version = GATEWAY_ABI_VERSION,
    /* init's app_args and pattern are only read by calls, leaked_sink is
     * atomic, everything else is per call: several threads at once are fine */
    .flags = GATEWAY_APP_THREAD_SAFE,
    .name = "testapp",
    .init = testapp_init,
    .call = testapp_call,
    .shutdown = testapp_shutdown,
};

GATEWAY_EXPORT_APP(testapp_descriptor)

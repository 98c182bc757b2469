/*
 * app_threads.c: calls a gateway.h app (wsgi.so, testapp.so, any) from
 * several threads at once, in process, as a worker with `threads` app
 * threads will: dlopen, gateway_app(), init with gateway_init.threads,
 * then `--threads N` threads each serving its requests. A minimal server
 * behind gateway_api: the environ of a GET, no body, the response kept in
 * memory. Used by Tests/integration/test_loader_threads.py (the loader's
 * and the C examples' thread safety, gateway_interrupt) and to count
 * instructions per request under callgrind (--requests with --quiet).
 *
 *   app_threads APP.so [--arg name=value]... [--init-threads N] [--threads N]
 *               [--requests K] [--path /p?q] [--interrupt-after MS [--then /p]]
 *               [--quiet]
 *
 * Prints one JSON line per request ({"thread", "status", "body", "rc",
 * "ms"}), per log message ({"log", "level", "request"}), per
 * gateway_interrupt ({"interrupt", "thread"}), and {"elapsed_ms"} at the
 * end; exit 0, or 2 when the app does not load or boot (the reason on
 * stderr).
 *
 *   cc -O2 -pthread -I Sources/CGateway/include -o build/app_threads Tests/harness/app_threads.c -ldl
 */
#define _GNU_SOURCE
#include <gateway.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 16
#define MAX_ENV 24
#define MAX_THREADS 64
#define BODY_MAX 4096

typedef struct {
    const char *key[MAX_ENV], *value[MAX_ENV];
    size_t count;
    char status[128];
    char body[BODY_MAX + 1];
    size_t body_len;
    int started;
    char query[512], path[512], uri[1024], port[16];
} exchange;

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int quiet;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A JSON string, escaped enough for the tests' bodies and messages. */
static void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static exchange *of(gateway_request *r) { return r->server; }

static const char *x_getenv(gateway_request *r, const char *key)
{
    exchange *x = of(r);
    for (size_t i = 0; i < x->count; i++)
        if (strcmp(x->key[i], key) == 0)
            return x->value[i];
    return NULL;
}

static size_t x_environ_count(gateway_request *r) { return of(r)->count; }

static int x_environ_item(gateway_request *r, size_t i, const char **k, const char **v)
{
    exchange *x = of(r);
    if (i >= x->count)
        return GATEWAY_ERROR;
    *k = x->key[i];
    *v = x->value[i];
    return GATEWAY_OK;
}

static ssize_t x_read(gateway_request *r, void *buf, size_t len)
{
    (void)r; (void)buf; (void)len;
    return 0;
}

static void x_log(gateway_request *r, int level, const char *message)
{
    pthread_mutex_lock(&out_lock);
    printf("{\"log\": ");
    json_string(stdout, message, strlen(message));
    printf(", \"level\": %d, \"request\": %s}\n", level, r ? "true" : "false");
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

static int x_start_response(gateway_request *r, const char *status, const gateway_pair *h, size_t n, int flags)
{
    (void)h; (void)n;
    exchange *x = of(r);
    if (x->started && !(flags & GATEWAY_REPLACE))
        return GATEWAY_ERROR;
    snprintf(x->status, sizeof x->status, "%s", status);
    x->started = 1;
    return GATEWAY_OK;
}

static int x_write(gateway_request *r, const void *data, size_t len)
{
    exchange *x = of(r);
    if (!x->started)
        return GATEWAY_ERROR;
    size_t room = BODY_MAX - x->body_len;
    memcpy(x->body + x->body_len, data, len < room ? len : room);
    x->body_len += len < room ? len : room;
    return GATEWAY_OK;
}

static int x_sendfile(gateway_request *r, int fd, off_t offset, size_t count)
{
    char buf[BODY_MAX];
    size_t n = count < sizeof buf ? count : sizeof buf;
    ssize_t got = pread(fd, buf, n, offset);
    return got < 0 ? GATEWAY_ERROR : x_write(r, buf, (size_t)got);
}

static int x_last_error(gateway_request *r) { (void)r; return GATEWAY_E_NONE; }

static const gateway_api api = {
    .abi_version = GATEWAY_ABI_VERSION, .size = sizeof(gateway_api),
    .getenv = x_getenv, .environ_count = x_environ_count, .environ_item = x_environ_item,
    .read = x_read, .log = x_log, .start_response = x_start_response, .write = x_write,
    .sendfile = x_sendfile, .write_last = x_write, .last_error = x_last_error,
};

static void add(exchange *x, const char *k, const char *v)
{
    x->key[x->count] = k;
    x->value[x->count] = v;
    x->count++;
}

static void prepare(exchange *x, const char *target, int thread)
{
    memset(x, 0, offsetof(exchange, query));
    const char *q = strchr(target, '?');
    snprintf(x->path, sizeof x->path, "%.*s", (int)(q ? q - target : (long)strlen(target)), target);
    snprintf(x->query, sizeof x->query, "%s", q ? q + 1 : "");
    snprintf(x->uri, sizeof x->uri, "%s", target);
    snprintf(x->port, sizeof x->port, "%d", 40000 + thread);
    add(x, "REQUEST_METHOD", "GET");
    add(x, "SCRIPT_NAME", "");
    add(x, "PATH_INFO", x->path);
    add(x, "QUERY_STRING", x->query);
    add(x, "REQUEST_URI", x->uri);
    add(x, "SERVER_PROTOCOL", "HTTP/1.1");
    add(x, "SERVER_SOFTWARE", "gatewayd/test");
    add(x, "GATEWAY_INTERFACE", "CGI/1.1");
    add(x, "SERVER_NAME", "test");
    add(x, "SERVER_PORT", "80");
    add(x, "REMOTE_ADDR", "127.0.0.1");
    add(x, "REMOTE_PORT", x->port);
    add(x, "HTTP_HOST", "test");
    add(x, "gateway.version", "1");
    add(x, "gateway.url_scheme", "http");
    add(x, "gateway.protocol", "http");
}

static const gateway_app_descriptor *app;
static void *app_data;
static const char *target = "/", *then_target;
static long requests = 1;
static int (*interrupt_fn)(unsigned long);

typedef struct {
    int index;
    pthread_t self;
    atomic_int in_call;
} worker;

static void serve(worker *w, const char *path)
{
    exchange x;
    prepare(&x, path, w->index);
    gateway_request r = { .api = &api, .app_data = app_data, .server = &x };
    double t0 = now_ms();
    atomic_store(&w->in_call, 1);
    int rc = app->call(&r);
    atomic_store(&w->in_call, 0);
    double ms = now_ms() - t0;
    if (quiet)
        return;
    pthread_mutex_lock(&out_lock);
    printf("{\"thread\": %d, \"path\": ", w->index);
    json_string(stdout, path, strlen(path));
    printf(", \"rc\": %d, \"status\": ", rc);
    json_string(stdout, x.status, strlen(x.status));
    printf(", \"body\": ");
    json_string(stdout, x.body, x.body_len);
    printf(", \"ms\": %.1f}\n", ms);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

static pthread_barrier_t start, done_first;

static void *run(void *arg)
{
    worker *w = arg;
    w->self = pthread_self();
    pthread_barrier_wait(&start);
    for (long i = 0; i < requests; i++)
        serve(w, target);
    pthread_barrier_wait(&done_first);
    if (then_target != NULL)
        serve(w, then_target);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s APP.so [--arg k=v] [--init-threads N] [--threads N] [--requests K] "
                "[--path P] [--interrupt-after MS [--then P]] [--quiet]\n", argv[0]);
        return 64;
    }
    gateway_pair args[MAX_ARGS];
    size_t nargs = 0;
    int threads = 1, init_threads = -1;
    long interrupt_after = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quiet") == 0) { quiet = 1; continue; }
        if (v == NULL) { fprintf(stderr, "%s needs a value\n", a); return 64; }
        i++;
        if (strcmp(a, "--arg") == 0 && nargs < MAX_ARGS) {
            char *eq = strchr(v, '=');
            if (eq == NULL) { fprintf(stderr, "--arg name=value\n"); return 64; }
            *eq = '\0';
            args[nargs++] = (gateway_pair){ v, eq + 1 };
        } else if (strcmp(a, "--threads") == 0) {
            threads = atoi(v);
        } else if (strcmp(a, "--init-threads") == 0) {
            init_threads = atoi(v);
        } else if (strcmp(a, "--requests") == 0) {
            requests = atol(v);
        } else if (strcmp(a, "--path") == 0) {
            target = v;
        } else if (strcmp(a, "--then") == 0) {
            then_target = v;
        } else if (strcmp(a, "--interrupt-after") == 0) {
            interrupt_after = atol(v);
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return 64;
        }
    }
    if (threads < 1 || threads > MAX_THREADS) { fprintf(stderr, "--threads 1..%d\n", MAX_THREADS); return 64; }
    if (init_threads < 0)
        init_threads = threads;

    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    gateway_app_fn entry = h ? (gateway_app_fn)dlsym(h, GATEWAY_APP_SYMBOL) : NULL;
    app = entry ? entry() : NULL;
    if (app == NULL || app->abi_version != GATEWAY_ABI_VERSION) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], h ? "no gateway_app of this ABI" : dlerror());
        return 2;
    }
    /* The worker's rule (AppLoader): several threads only for an app that says it may. */
    if (init_threads > 1 && !(app->flags & GATEWAY_APP_THREAD_SAFE)) {
        fprintf(stderr, "%s does not declare GATEWAY_APP_THREAD_SAFE: threads = %d refused\n", argv[1], init_threads);
        return 2;
    }
    interrupt_fn = (int (*)(unsigned long))dlsym(h, "gateway_interrupt");
    char error[2048] = "";
    gateway_init init = {
        .abi_version = GATEWAY_ABI_VERSION, .threads = (uint32_t)init_threads, .api = &api,
        .args = args, .arg_count = nargs, .worker_id = 0, .generation = 1,
        .error = error, .error_size = sizeof error,
    };
    if (app->init != NULL && app->init(&init) != 0) {
        fprintf(stderr, "init failed: %s\n", error);
        return 2;
    }
    app_data = init.app_data;

    worker workers[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&done_first, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        workers[i].index = i;
        atomic_init(&workers[i].in_call, 0);
        pthread_create(&ids[i], NULL, run, &workers[i]);
    }
    double t0 = now_ms();
    pthread_barrier_wait(&start);
    if (interrupt_after >= 0) {
        /* The worker's helper thread: each call still running is interrupted. */
        usleep((useconds_t)interrupt_after * 1000);
        for (int i = 0; i < threads; i++) {
            int rc = interrupt_fn ? interrupt_fn((unsigned long)workers[i].self) : -2;
            pthread_mutex_lock(&out_lock);
            printf("{\"interrupt\": %d, \"thread\": %d, \"was_in_call\": %d}\n", rc, i, atomic_load(&workers[i].in_call));
            fflush(stdout);
            pthread_mutex_unlock(&out_lock);
        }
    }
    for (int i = 0; i < threads; i++)
        pthread_join(ids[i], NULL);
    printf("{\"elapsed_ms\": %.1f}\n", now_ms() - t0);
    fflush(stdout);
    if (app->shutdown != NULL)
        app->shutdown(app_data);
    return 0;
}

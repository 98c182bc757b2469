/*
 * boot.c: wsgi.so itself, the half of the loader without Python (boot.h).
 * Its init runs in the worker after the fork (the master never runs
 * Python) and picks the libpython at run time, from the interpreter the
 * app is to be served with, never from a path fixed at build time:
 *
 *   1. chdir (app_args chdir), then the virtualenv: app_args virtualenv,
 *      else the one gatewayd is installed in, else $VIRTUAL_ENV (venv.c);
 *   2. the interpreter: the virtualenv's bin/python3 (whose pyvenv.cfg
 *      `home` names the Python it was made from), else the Python this
 *      loader was built with, else python3.X on PATH;
 *   3. that interpreter is run once (`-I -S -c`, its own sysconfig): its
 *      X.Y and ABI flags, Py_ENABLE_SHARED, LIBDIR and INSTSONAME,
 *      sys.base_prefix, the real path of sys.executable;
 *   4. another X.Y (or ABI), or no shared libpython: the worker refuses to
 *      boot with one line naming both Pythons; nothing else is tried;
 *   5. dlopen(LIBDIR/INSTSONAME, RTLD_GLOBAL): extension modules (_json,
 *      numpy...) find the C API in the global scope; then the Python half,
 *      wsgi-python3.X.so next to this file, which starts the interpreter
 *      with the virtualenv's python as program_name (so sys.prefix is the
 *      venv, its site-packages first) and serves.
 *
 * Built by the Makefile with -DWSGI_PY_VERSION="3.X", WSGI_PY_ABIFLAGS,
 * WSGI_PYTHON_EXECUTABLE (the default interpreter) and WSGI_PYTHON_BUILT
 * (for messages), without Python's headers.
 */
#define _GNU_SOURCE
#include "boot.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef WSGI_PY_VERSION
#error "wsgi.so is built by the Makefile: -DWSGI_PY_VERSION=\"3.X\""
#endif
#ifndef WSGI_PY_ABIFLAGS
#define WSGI_PY_ABIFLAGS ""
#endif
/* The interpreter served with when there is no virtualenv (the one the
 * loader was built with: Debian's python3 in the .deb). */
#ifndef WSGI_PYTHON_EXECUTABLE
#define WSGI_PYTHON_EXECUTABLE ""
#endif
/* "Python 3.11.7, /path/python3.11": what built the loader, for messages. */
#ifndef WSGI_PYTHON_BUILT
#define WSGI_PYTHON_BUILT "Python " WSGI_PY_VERSION
#endif

#define PYTHON_HALF "wsgi-python" WSGI_PY_VERSION WSGI_PY_ABIFLAGS ".so"
#define PROBE_TIMEOUT_MS 30000

extern char **environ;

static const gateway_app_descriptor *half;   /* the Python half's descriptor */
static int (*half_dump)(int);
static int (*half_interrupt)(unsigned long);
static wsgi_boot boot;
static char b_program[PATH_MAX], b_venv[PATH_MAX], b_python[PATH_MAX], b_version[64],
            b_prefix[PATH_MAX], b_libpython[PATH_MAX];

static int refuse(gateway_init *init, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(gateway_init *init, const char *fmt, ...)
{
    if (init->error != NULL && init->error_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(init->error, init->error_size, fmt, ap);
        va_end(ap);
    }
    return 1;
}

/* ------------------------------------------------------------ the probe */

/* What an interpreter says about itself, NUL-separated (-I: no PYTHON*
 * variables, no user site; -S: no site, so sys.prefix is its own). */
static const char PROBE[] =
    "import os, sys, sysconfig\n"
    "v = sysconfig.get_config_var\n"
    "sys.stdout.write('\\0'.join(str(x) for x in (sys.implementation.name,"
    " '%d.%d' % sys.version_info[:2], sys.version.split()[0], getattr(sys, 'abiflags', ''),"
    " v('Py_ENABLE_SHARED') or 0, v('LIBDIR') or '', v('INSTSONAME') or '', v('LDLIBRARY') or '',"
    " sys.base_prefix, sys.base_exec_prefix, os.path.realpath(sys.executable))))\n";

enum { P_IMPL, P_XY, P_VERSION, P_ABIFLAGS, P_SHARED, P_LIBDIR, P_INSTSONAME, P_LDLIBRARY,
       P_PREFIX, P_EXEC_PREFIX, P_EXECUTABLE, P_COUNT };

typedef struct {
    char out[4 * PATH_MAX + 1024];
    const char *f[P_COUNT];
} probe;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads fd to EOF (or the deadline) into buf; the length, or -1. */
static ssize_t read_all(int fd, char *buf, size_t size, long long deadline)
{
    size_t len = 0;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        char scratch[512];
        char *dst = len + 1 < size ? buf + len : scratch;
        size_t room = len + 1 < size ? size - 1 - len : sizeof scratch;
        ssize_t r = read(fd, dst, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        if (dst != scratch)
            len += (size_t)r;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Runs `python -I -S -c PROBE`. 0, or -1 with why in err (and in
 * *spawn_errno, when it could not be started, the reason). */
static int run_probe(const char *python, probe *p, char *err, size_t err_size, int *spawn_errno)
{
    *spawn_errno = 0;
    int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        if (out[0] >= 0) {
            close(out[0]);
            close(out[1]);
        }
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = { (char *)python, "-I", "-S", "-c", (char *)PROBE, NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, python, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out[1]);
    close(errp[1]);
    if (rc != 0) {
        *spawn_errno = rc;
        snprintf(err, err_size, "%s", strerror(rc));
        close(out[0]);
        close(errp[0]);
        return -1;
    }
    long long deadline = now_ms() + PROBE_TIMEOUT_MS;
    ssize_t n = read_all(out[0], p->out, sizeof p->out, deadline);
    char errtext[2048];
    ssize_t en = n < 0 ? -1 : read_all(errp[0], errtext, sizeof errtext, deadline);
    close(out[0]);
    close(errp[0]);
    if (n < 0 || en < 0)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (n < 0 || en < 0) {
        snprintf(err, err_size, "no answer within %d s", PROBE_TIMEOUT_MS / 1000);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* its last line of stderr: the exception, or Python's fatal error */
        while (en > 0 && (errtext[en - 1] == '\n' || errtext[en - 1] == ' '))
            errtext[--en] = '\0';
        char *last = strrchr(errtext, '\n');
        snprintf(err, err_size, "it exited with %s %d%s%.400s",
                 WIFEXITED(status) ? "status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                 en > 0 ? ": " : "", last ? last + 1 : errtext);
        return -1;
    }
    size_t i = 0;
    const char *s = p->out, *end = p->out + n;
    while (i < P_COUNT && s <= end) {
        p->f[i++] = s;
        s += strlen(s) + 1;
    }
    if (i != P_COUNT || s != end + 1) {
        snprintf(err, err_size, "an answer that is not sysconfig's (%zd bytes)", n);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ the Python */

static int executable(const char *path)
{
    struct stat st;
    return access(path, X_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The Python served with when there is no virtualenv. */
static int default_python(char *out, size_t size)
{
    if (*WSGI_PYTHON_EXECUTABLE != '\0' && executable(WSGI_PYTHON_EXECUTABLE)) {
        snprintf(out, size, "%s", WSGI_PYTHON_EXECUTABLE);
        return 1;
    }
    const char *path = getenv("PATH");
    char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    if (copy == NULL)
        return 0;
    int found = 0;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir != NULL && !found; dir = strtok_r(NULL, ":", &save)) {
        if ((size_t)snprintf(out, size, "%s/python" WSGI_PY_VERSION WSGI_PY_ABIFLAGS, dir) < size)
            found = executable(out);
    }
    free(copy);
    return found;
}

/* pyvenv.cfg's `home` (the directory of the Python the venv was made
 * from), for messages; "" when it has none. */
static void venv_home(const char *venv, char *out, size_t size)
{
    char path[PATH_MAX + 16], line[PATH_MAX + 64];
    *out = '\0';
    snprintf(path, sizeof path, "%s/pyvenv.cfg", venv);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        char *k = line, *v = eq + 1, *e = eq;
        while (*k == ' ' || *k == '\t')
            k++;
        while (e > k && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = '\0';
        if (strcmp(k, "home") != 0)
            continue;
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\r\n")] = '\0';
        snprintf(out, size, "%s", v);
        break;
    }
    fclose(f);
}

static const char *find_arg(const gateway_init *init, const char *name)
{
    const char *value = NULL;
    for (size_t i = 0; i < init->arg_count; i++)
        if (strcmp(init->args[i].name, name) == 0)
            value = init->args[i].value;   /* the last one wins */
    return value;
}

/* The libpython a probed Python runs on: LIBDIR/INSTSONAME, or (Pythons
 * whose LIBDIR is the build machine's) the same name under its prefix. */
static int find_libpython(const probe *p, char *out, size_t size)
{
    const char *names[] = { p->f[P_INSTSONAME], p->f[P_LDLIBRARY] };
    const char *dirs[3] = { p->f[P_LIBDIR], NULL, NULL };
    char d1[PATH_MAX], d2[PATH_MAX];
    snprintf(d1, sizeof d1, "%s/lib", p->f[P_PREFIX]);
    snprintf(d2, sizeof d2, "%s/lib", p->f[P_EXEC_PREFIX]);
    dirs[1] = d1;
    dirs[2] = d2;
    for (size_t d = 0; d < 3; d++)
        for (size_t n = 0; n < 2; n++) {
            if (*dirs[d] == '\0' || *names[n] == '\0' || strchr(names[n], '/') != NULL ||
                strstr(names[n], ".so") == NULL)
                continue;
            if ((size_t)snprintf(out, size, "%s/%s", dirs[d], names[n]) < size && exists(out))
                return 1;
        }
    snprintf(out, size, "%s/%s", p->f[P_LIBDIR], p->f[P_INSTSONAME]);
    return 0;
}

/* The directory this file (wsgi.so) is in. */
static int own_dir(char *out, size_t size)
{
    Dl_info info;
    if (dladdr((void *)&find_arg, &info) == 0 || info.dli_fname == NULL)
        return 0;
    snprintf(out, size, "%s", info.dli_fname);
    char *slash = strrchr(out, '/');
    if (slash == NULL)
        snprintf(out, size, ".");
    else
        *slash = '\0';
    return 1;
}

static int boot_init(gateway_init *init)
{
    if (half != NULL)
        return refuse(init, "wsgi: Python is already initialised in this process");

    /* 1. the working directory, then the virtualenv */
    const char *dir = find_arg(init, "chdir");
    if (dir != NULL && *dir != '\0' && chdir(dir) != 0)
        return refuse(init, "wsgi: chdir \"%s\": %s", dir, strerror(errno));
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL)
        return refuse(init, "wsgi: getcwd: %s", strerror(errno));

    const char *configured = find_arg(init, "virtualenv");
    int has_cfg = 0;
    if (configured != NULL && *configured != '\0') {
        if ((size_t)snprintf(b_venv, sizeof b_venv, "%s%s%s", configured[0] == '/' ? "" : cwd,
                             configured[0] == '/' ? "" : "/", configured) >= sizeof b_venv)
            return refuse(init, "wsgi: virtualenv \"%s\": path too long", configured);
        struct stat st;
        if (stat(b_venv, &st) != 0 || !S_ISDIR(st.st_mode))
            return refuse(init, "wsgi: virtualenv \"%s\" is not a directory", configured);
        boot.virtualenv = b_venv;
    } else if (find_virtualenv(init, b_venv, sizeof b_venv)) {
        boot.virtualenv = b_venv;
    }
    char cfg[PATH_MAX + 16];
    if (boot.virtualenv != NULL) {
        snprintf(cfg, sizeof cfg, "%s/pyvenv.cfg", boot.virtualenv);
        has_cfg = exists(cfg);
    }

    /* 2. the interpreter to ask: the venv's python, or the default one.
     * A directory without pyvenv.cfg (a bare site-packages tree) is served
     * by the default Python, with its site-packages added (setup_paths). */
    char what[PATH_MAX + 64];
    char home[PATH_MAX];
    *home = '\0';
    if (has_cfg) {
        const char *names[] = { "python3", "python", "python" WSGI_PY_VERSION };
        for (size_t i = 0; i < 3; i++) {
            snprintf(b_program, sizeof b_program, "%s/bin/%s", boot.virtualenv, names[i]);
            if (exists(b_program))
                break;
            *b_program = '\0';
        }
        venv_home(boot.virtualenv, home, sizeof home);
        if (*b_program == '\0')
            return refuse(init, "wsgi: the virtualenv %s has no bin/python3: recreate it (%s -m venv %s)",
                          boot.virtualenv, *home ? home : "python3", boot.virtualenv);
        snprintf(what, sizeof what, "the virtualenv %s", boot.virtualenv);
    } else {
        if (!default_python(b_program, sizeof b_program))
            return refuse(init, "wsgi: no Python %s to serve with: this loader (built with %s) "
                          "needs a virtualenv of Python %s (app_args virtualenv, $VIRTUAL_ENV, or "
                          "gatewayd installed in one), or python%s on PATH", WSGI_PY_VERSION,
                          WSGI_PYTHON_BUILT, WSGI_PY_VERSION, WSGI_PY_VERSION WSGI_PY_ABIFLAGS);
        snprintf(what, sizeof what, "the Python %s", b_program);
    }

    /* 3. its sysconfig */
    static probe p;
    char err[1024];
    int spawn_errno;
    if (run_probe(b_program, &p, err, sizeof err, &spawn_errno) != 0) {
        if (spawn_errno == ENOENT && *home)
            return refuse(init, "wsgi: cannot run %s, the python of %s: the Python it was made from "
                          "(%s) is not there: recreate the virtualenv with a Python %s of this "
                          "machine (python%s -m venv %s)", b_program, what, home, WSGI_PY_VERSION,
                          WSGI_PY_VERSION, boot.virtualenv);
        if (*home)
            return refuse(init, "wsgi: cannot run %s, the python of %s (made from %s): %s; the "
                          "workers' user must be able to run that Python (make it readable, or run "
                          "the workers as a user who can: user = \"NAME\" or -u NAME)",
                          b_program, what, home, err);
        return refuse(init, "wsgi: cannot run %s: %s; the workers' user must be able to run that "
                      "Python (make it readable, or run the workers as a user who can: "
                      "user = \"NAME\" or -u NAME)", b_program, err);
    }
    snprintf(b_python, sizeof b_python, "%s", p.f[P_EXECUTABLE]);
    snprintf(b_version, sizeof b_version, "%s", p.f[P_VERSION]);
    snprintf(b_prefix, sizeof b_prefix, "%s", p.f[P_PREFIX]);

    /* 4. the same X.Y and ABI, with a shared libpython, or a refusal */
    const char *verb = has_cfg ? "is of" : "is";
    if (strcmp(p.f[P_IMPL], "cpython") != 0)
        return refuse(init, "wsgi: %s %s %s %s (%s), not CPython; this loader is for CPython %s "
                      "(built with %s)", what, verb, p.f[P_IMPL], b_version, b_python,
                      WSGI_PY_VERSION, WSGI_PYTHON_BUILT);
    if (strcmp(p.f[P_XY], WSGI_PY_VERSION) != 0 || strcmp(p.f[P_ABIFLAGS], WSGI_PY_ABIFLAGS) != 0)
        return refuse(init, "wsgi: %s %s Python %s%s (%s); this loader is for Python %s%s (built "
                      "with %s): install gatewayd with that Python's pip (the wheel for %s%s), or "
                      "serve from a Python %s%s virtualenv", what, verb, b_version, p.f[P_ABIFLAGS],
                      b_python, WSGI_PY_VERSION, WSGI_PY_ABIFLAGS, WSGI_PYTHON_BUILT, p.f[P_XY],
                      p.f[P_ABIFLAGS], WSGI_PY_VERSION, WSGI_PY_ABIFLAGS);
    if (strcmp(p.f[P_SHARED], "1") != 0)
        return refuse(init, "wsgi: %s %s Python %s (%s), which has no shared libpython (built "
                      "without --enable-shared); this loader (for Python %s, built with %s) embeds "
                      "one: use a Python %s built with --enable-shared (pyenv: "
                      "PYTHON_CONFIGURE_OPTS=--enable-shared)", what, verb, b_version, b_python,
                      WSGI_PY_VERSION, WSGI_PYTHON_BUILT, WSGI_PY_VERSION);
    if (!find_libpython(&p, b_libpython, sizeof b_libpython))
        return refuse(init, "wsgi: %s %s Python %s (%s), whose libpython %s is not there; this "
                      "loader (for Python %s, built with %s) embeds it", what, verb, b_version,
                      b_python, b_libpython, WSGI_PY_VERSION, WSGI_PYTHON_BUILT);

    /* 5. libpython into the global scope, then the Python half */
    void *lib = dlopen(b_libpython, RTLD_NOW | RTLD_GLOBAL);
    if (lib == NULL)
        return refuse(init, "wsgi: cannot load %s, the libpython of %s (%s): %s", b_libpython,
                      what, b_python, dlerror());
    const char *(*get_version)(void) = (const char *(*)(void))dlsym(lib, "Py_GetVersion");
    const char *v = get_version ? get_version() : "";
    size_t xy = strlen(WSGI_PY_VERSION);
    if (strncmp(v, WSGI_PY_VERSION, xy) != 0 || v[xy] != '.')
        return refuse(init, "wsgi: %s, the libpython of %s (%s), is Python %.20s; this loader is "
                      "for Python %s (built with %s)", b_libpython, what, b_python, v,
                      WSGI_PY_VERSION, WSGI_PYTHON_BUILT);
    char path[PATH_MAX];
    if (!own_dir(path, sizeof path))
        return refuse(init, "wsgi: cannot find where wsgi.so is (dladdr)");
    size_t len = strlen(path);
    snprintf(path + len, sizeof path - len, "/%s", PYTHON_HALF);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return refuse(init, "wsgi: cannot load the loader's Python half %s: %s", path, dlerror());
    wsgi_python_app_fn app = (wsgi_python_app_fn)dlsym(h, WSGI_PYTHON_APP_SYMBOL);
    half_dump = (int (*)(int))dlsym(h, WSGI_PYTHON_DUMP_SYMBOL);
    half_interrupt = (int (*)(unsigned long))dlsym(h, WSGI_PYTHON_INTERRUPT_SYMBOL);
    boot.program = b_program;
    boot.python = b_python;
    boot.version = b_version;
    boot.prefix = b_prefix;
    boot.libpython = b_libpython;
    const gateway_app_descriptor *d = app ? app(&boot) : NULL;
    if (d == NULL || d->call == NULL)
        return refuse(init, "wsgi: %s is not the Python half of this loader (no %s)", path,
                      WSGI_PYTHON_APP_SYMBOL);
    half = d;
    return half->init ? half->init(init) : 0;
}

static int boot_call(gateway_request *r)
{
    return half->call(r);
}

static void boot_shutdown(void *app_data)
{
    if (half != NULL && half->shutdown != NULL)
        half->shutdown(app_data);
}

/* stack.c's, once the Python half is loaded (the server looks this up
 * after init). Async-signal-safe: one call through a pointer. */
__attribute__((visibility("default"))) int gateway_dump_stack(int fd)
{
    return half_dump != NULL ? half_dump(fd) : -1;
}

/* interrupt.c's, once the Python half is loaded: raises
 * gatewayd.RequestTimeout in the call running on the thread whose
 * pthread_self() (threading.get_ident()) is thread_id. 1: raised; 0: no
 * call on that thread; -1: Python is not running (before init, during
 * shutdown) or the exception could not be set. Takes the GIL, so it may
 * block: call it from a helper thread, never from the event loop. */
__attribute__((visibility("default"))) int gateway_interrupt(unsigned long thread_id)
{
    return half_interrupt != NULL ? half_interrupt(thread_id) : -1;
}

static const gateway_app_descriptor boot_descriptor = {
    .abi_version = GATEWAY_ABI_VERSION,
    /* The loader is thread-safe (wsgi.h); whether the app is, the
     * operator says with threads > 1, as with Gunicorn's --threads. */
    .flags = GATEWAY_APP_THREAD_SAFE,
    .name = "wsgi",
    .init = boot_init,
    .call = boot_call,
    .shutdown = boot_shutdown,
};

GATEWAY_EXPORT_APP(boot_descriptor)

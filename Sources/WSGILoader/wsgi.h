/*
 * wsgi.h: the private header of wsgi.so, the gatewayd WSGI loader. An
 * ordinary gatewayd app (gateway.h) that embeds CPython and serves any
 * PEP 3333 application: Flask, Django, or a bare
 * `def application(environ, start_response)`.
 *
 *   app = "/usr/lib/gatewayd/apps/wsgi.so"
 *   [app_args]
 *   app = "myproject.wsgi:application"     # module:callable (required)
 *   pythonpath = ["/srv/myproject"]        # prepended to sys.path
 *   virtualenv = "/srv/myproject/.venv"    # its site-packages are used
 *   chdir = "/srv/myproject"               # working directory of the workers
 *
 * Python is initialised in init, i.e. in each worker after the fork: the
 * master never runs Python. Two files (boot.h): wsgi.so (boot.c, venv.c),
 * which finds the Python to serve with and dlopens its libpython, and the
 * Python half wsgi-python3.X.so (the other files, this header), compiled
 * with the headers of `make PYTHON=...` (CPython >= 3.9) and linked
 * against no libpython: it serves with any shared-library install of that
 * X.Y. Built by the Makefile's "WSGI loader" section.
 * docs/wsgi.md is the user documentation; these comments are about the
 * implementation.
 *
 * The per-request path runs no Python code of ours: the environ is a copy
 * of a template dict (the constant wsgi.* keys and placeholders for the
 * CGI keys every request has) filled from the server's environ with
 * interned keys and, when a value is the same as the last one seen for
 * that key, the same str object; wsgi.input, start_response, write() and
 * wsgi.file_wrapper are C types; a response that is a list or tuple goes
 * out with one write_last (so the server frames it with Content-Length),
 * other iterables chunk by chunk, a file_wrapper over a real file with
 * sendfile(2). The objects handed to the app (wsgi.input, start_response,
 * write) are reused for the next request when the app kept no reference
 * to them, and refuse to work once their request is over when it did.
 *
 * Threads (gateway_init.threads > 1): the server calls `call` from that
 * many threads at once. Each OS thread that calls gets a wsgi_thread on its
 * first call (its PyThreadState, made once and reused, its own wsgi.errors,
 * environ template, reusable per-request objects and join buffer); what
 * is shared (the key cache, the interned strings, the app) is read, or
 * changed only while the GIL is held and no Python code can run in
 * between. A call holds the GIL while Python runs and releases it around
 * the server's blocking calls (read, write, sendfile) and between
 * requests; app threads (an error reporter's sender) run meanwhile.
 *
 * The files, one concern each:
 *   boot.c          wsgi.so: chdir, the virtualenv, the interpreter and
 *                   its sysconfig, the refusals, dlopen of libpython and
 *                   of the Python half; forwards to it (no Python headers)
 *   venv.c          wsgi.so: the virtualenv gatewayd runs from, when none is given
 *   loader.c        the descriptor: init (arguments, order of the steps),
 *                   call (one request), shutdown
 *   interpreter.c   starting Python: PyConfig, the virtualenv check,
 *                   sys.path
 *   appspec.c       the app import: module:name, module:factory(literals)
 *   environ.c       the environ: template, key cache, per-request fill
 *   input.c         wsgi.input
 *   response.c      start_response, write(), sending the body and the result
 *   file_wrapper.c  wsgi.file_wrapper and its sendfile path
 *   errors.c        wsgi.errors, logging, exception text, init failures
 *   stack.c         every Python thread's traceback for the server's stack dumps
 *   interrupt.c     gateway_interrupt: gatewayd.RequestTimeout into a call
 *                   the server timed out, and the time.sleep it wakes
 *
 * Everything here is compiled with -fvisibility=hidden: wsgi.so exports
 * gateway_app, gateway_dump_stack and gateway_interrupt (boot.c), the
 * Python half wsgi_python_app (loader.c), wsgi_python_dump_stack (stack.c)
 * and wsgi_python_interrupt (interrupt.c).
 */
#ifndef WSGI_LOADER_H
#define WSGI_LOADER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <gateway.h>
#include "boot.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x03090000
#error "wsgi.so needs Python 3.9 or later"
#endif
#ifdef Py_GIL_DISABLED
/* The shared caches (environ.c) count on the GIL. */
#error "wsgi.so needs a CPython with the GIL (not a free-threaded build)"
#endif

#define WSGI_NAME "wsgi"
#define READ_CHUNK (64 * 1024)
#define LINE_CHUNK (8 * 1024)
#define JOIN_LIMIT (1024 * 1024)      /* lists up to this many bytes go out as one write_last */
#define KEY_TABLE_SIZE 512            /* environ key cache: open addressing, power of 2 */
#define KEY_TABLE_MAX 384             /* at most this many distinct keys cached */
#define VALUE_CACHE_MAX 64            /* values up to this length are remembered per key */
#define MAX_STACK_HEADERS 32
#define INDEX_CACHE 64
/* The CGI keys every request has (environ.c's placeholder_keys). */
#define PLACEHOLDERS 12

/* ------------------------------------------------------------------ types */

typedef struct key_entry {
    char *key;                 /* the server's key (owned copy) */
    size_t key_len;
    uint32_t hash;
    int slot;                  /* index of a template placeholder, or -1 */
    int is_content_length;
    PyObject *pykey;           /* interned str */
    PyObject *value;           /* the last value seen for this key (str) */
    size_t value_len;
    char value_bytes[VALUE_CACHE_MAX];
} key_entry;

typedef struct wsgi_thread wsgi_thread;

/* wsgi.errors (errors.c), one per app thread: lines are buffered until
 * their newline. */
typedef struct {
    PyObject_HEAD
    char *buf;
    size_t len, cap;
    wsgi_thread *owner;
} ErrorsObject;

/* wsgi.input (input.c). `owner` and `id` tie it to its request. */
typedef struct InputObject {
    PyObject_HEAD
    wsgi_thread *owner;
    uint64_t id;
    char *buf;            /* read-ahead for readline */
    size_t pos, end, cap;
    int eof;
} InputObject;

/* start_response and write() are C objects with vectorcall; `owner` and
 * `id` tie each to its request (response.c). */
typedef struct CallObject {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    wsgi_thread *owner;
    uint64_t id;
} CallObject;

/* wsgi.file_wrapper (file_wrapper.c). */
typedef struct {
    PyObject_HEAD
    PyObject *filelike;
    Py_ssize_t blksize;
} FileWrapperObject;

/* ------------------------------------------------------------------ state */

#define JOIN_BUFFER 16384

/* One OS thread that calls the app: made on its first call (loader.c),
 * kept for the life of the worker. The request fields are this thread's
 * current request; `in_call` and `interrupted` are read and written with
 * the GIL held (gateway_interrupt takes it too). */
struct wsgi_thread {
    wsgi_thread *next;             /* G.threads_list */
    PyThreadState *tstate;         /* made once, restored for every call */
    unsigned long ident;           /* threading.get_ident() of this thread */
    int wake_fd;                   /* eventfd: gateway_interrupt wakes time.sleep */
    PyObject *environ_template;    /* G's, with this thread's wsgi.errors */
    ErrorsObject *errors;

    /* the entry used for environ item i last time: requests from the same
     * kind of client list the same keys in the same order */
    struct key_entry *by_index[INDEX_CACHE];

    /* cached per-request objects (reused when the app kept no reference) */
    InputObject *input;
    CallObject *start_response;
    CallObject *write;

    /* the request being served */
    gateway_request *r;
    uint64_t req_id;
    int in_call;
    int interrupted;               /* gateway_interrupt raised RequestTimeout in this call */
    int interrupt_reported;        /* ...and the call logged it */
    int status_set;                /* start_response was called (and accepted) */
    int body_started;              /* headers went out: no more replacing */
    int finished;                  /* write_last was called */
    int from_iterable;             /* sending the returned iterable, not write() */
    long long content_length;      /* of the response, -1 = not set by the app */
    unsigned long long sent;       /* response body bytes sent */
    long long request_length;      /* CONTENT_LENGTH of the request, -1 = unknown */

    char join[JOIN_BUFFER];        /* a list's chunks joined for one write_last */
};

/* What every thread shares: set at init, read-only afterwards, except the
 * key cache (changed with the GIL held) and threads_list (GIL). */
struct wsgi_state {
    const gateway_api *api;
    const wsgi_boot *boot;         /* what wsgi.so found (boot.h) */
    PyThreadState *tstate;         /* the init thread's */
    PyInterpreterState *interp;
    pthread_t main_thread;
    int threads;                   /* gateway_init.threads (0 from an old server: 1) */
    PyObject *app;                 /* the WSGI callable */
    char *app_spec;                /* "module:callable", for messages */
    PyObject *format_exception;    /* traceback.format_exception */
    PyObject *environ_template;    /* wsgi.errors None: each thread's copy has its own */
    PyObject *placeholder_pykeys[PLACEHOLDERS];
    PyObject *request_timeout;     /* gatewayd.RequestTimeout (interrupt.c) */
    PyObject *original_sleep;      /* time.sleep before interrupt.c's */

    struct key_entry *keys[KEY_TABLE_SIZE];
    size_t key_count;

    /* interned strings */
    PyObject *s_close, *s_fileno, *s_tell, *s_wsgi_input, *s_wsgi_errors,
             *s_wsgi_url_scheme, *s_http, *s_https, *s_empty,
             *s_gateway_protocol, *s_uwsgi, *s_fastcgi, *s_scgi;

    wsgi_thread *threads_list;     /* every thread that called, newest first */
    int loader_tstates;            /* thread states the loader made: init's and the app threads' */
    /* gateway_interrupt may run only while Python does: from the end of
     * init to the start of shutdown (live), checked under live_lock. */
    pthread_mutex_t live_lock;
    int live;
};

extern struct wsgi_state G;
/* The calling thread's, or NULL before its first call. */
extern __thread wsgi_thread *wsgi_current;

/* The app_args the loader takes. */
typedef struct {
    const char *app, *pythonpath, *virtualenv, *chdir;
} wsgi_args;

/* ------------------------------------------------------------ small tools */

/* Release the GIL around blocking I/O when another Python thread exists
 * that could use it (always with several app threads): with none it is
 * pure overhead. The loader's own thread states (init's, the app
 * threads') do not count: idle, they need no GIL. */
static inline int other_threads(void)
{
    if (G.threads > 1)
        return 1;
    int n = 0;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(G.interp); ts != NULL; ts = PyThreadState_Next(ts))
        if (++n > G.loader_tstates)
            return 1;
    return 0;
}

#define IO_BEGIN { PyThreadState *_io_save = other_threads() ? PyEval_SaveThread() : NULL;
/* The same, only when `cond` says the call may wait. */
#define RESPONSE_NEVER_WAITS 16384
#define IO_BEGIN_IF(cond) { PyThreadState *_io_save = (cond) && other_threads() ? PyEval_SaveThread() : NULL;
#define IO_END   if (_io_save != NULL) PyEval_RestoreThread(_io_save); }

static inline int request_alive(const wsgi_thread *t, uint64_t id)
{
    return t != NULL && t->r != NULL && id == t->req_id;
}

#define FASTCALL(f) ((PyCFunction)(void (*)(void))(f))

static inline PyObject *new_str(const char *s)
{
    return PyUnicode_InternFromString(s);
}

/* ------------------------------------------------- between the files */

/* errors.c */
extern PyTypeObject ErrorsType;
void log_message(gateway_request *r, int level, const char *message);
void log_format(gateway_request *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
char *exception_text(void);
void log_exception(gateway_request *r, const char *what);
void errors_emit(ErrorsObject *self, int all);
PyObject *return_false(PyObject *self, PyObject *unused);
PyObject *return_true(PyObject *self, PyObject *unused);
int fail(gateway_init *init, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fail_exception(gateway_init *init, const char *what);

/* input.c */
extern PyTypeObject InputType;

/* response.c */
extern PyTypeObject StartResponseType, WriteType;
PyObject *start_response_call(PyObject *callable, PyObject *const *args,
                              size_t nargsf, PyObject *kwnames);
PyObject *write_call(PyObject *callable, PyObject *const *args,
                     size_t nargsf, PyObject *kwnames);
CallObject *new_call_object(PyTypeObject *type, vectorcallfunc fn);
int parse_length(const char *s, long long *out);
int send_body(wsgi_thread *t, const char *data, size_t len, int last);
int send_result(wsgi_thread *t, PyObject *result);

/* file_wrapper.c */
extern PyTypeObject FileWrapperType;
int send_file(wsgi_thread *t, FileWrapperObject *fw);

/* environ.c */
int build_template(gateway_init *init);
PyObject *build_environ(wsgi_thread *t, gateway_request *r);

/* interpreter.c */
int start_python(gateway_init *init, wsgi_args *a, char *cwd, size_t cwd_size);
int setup_paths(const wsgi_args *a, const char *cwd);
void stop_python(void);

/* appspec.c */
PyObject *load_app(const char *spec);

/* stack.c: faulthandler registered for gateway_dump_stack (0, or -1 with a
 * Python exception or errno set). Called with the GIL, once. */
int stack_init(void);

/* interrupt.c: gatewayd.RequestTimeout and the time.sleep that
 * gateway_interrupt wakes (0, or -1 with an exception), at init with the
 * GIL; after a call gateway_interrupt interrupted, its pending exception
 * dropped and the wake-up drained (GIL held). */
int interrupt_init(void);
void interrupt_settle(wsgi_thread *t);

#endif

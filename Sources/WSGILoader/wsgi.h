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
 * The GIL is released between requests (app threads, such as an error
 * reporter's sender, keep running while the worker waits for the next
 * request) and around blocking I/O when the app has started threads.
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
 *
 * Everything here is compiled with -fvisibility=hidden: wsgi.so exports
 * gateway_app and gateway_dump_stack (boot.c), the Python half
 * wsgi_python_app (loader.c) and wsgi_python_dump_stack (stack.c).
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

/* wsgi.errors (errors.c): lines are buffered until their newline. */
typedef struct {
    PyObject_HEAD
    char *buf;
    size_t len, cap;
} ErrorsObject;

/* wsgi.input (input.c). */
typedef struct InputObject {
    PyObject_HEAD
    uint64_t id;
    char *buf;            /* read-ahead for readline */
    size_t pos, end, cap;
    int eof;
} InputObject;

/* start_response and write() are C objects with vectorcall; `id` ties each
 * to its request (response.c). */
typedef struct CallObject {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    uint64_t id;
} CallObject;

/* wsgi.file_wrapper (file_wrapper.c). */
typedef struct {
    PyObject_HEAD
    PyObject *filelike;
    Py_ssize_t blksize;
} FileWrapperObject;

/* ------------------------------------------------------------------ state */

/* One worker serves one request at a time from one thread: the loader's
 * state is this one struct, shared by the files. */
struct wsgi_state {
    const gateway_api *api;
    const wsgi_boot *boot;         /* what wsgi.so found (boot.h) */
    PyThreadState *tstate;
    PyInterpreterState *interp;
    pthread_t main_thread;
    PyObject *app;                 /* the WSGI callable */
    char *app_spec;                /* "module:callable", for messages */
    PyObject *format_exception;    /* traceback.format_exception */
    PyObject *environ_template;
    PyObject *errors;              /* wsgi.errors, one per worker */
    PyObject *placeholder_pykeys[PLACEHOLDERS];

    key_entry *keys[KEY_TABLE_SIZE];
    size_t key_count;
    /* the entry used for environ item i last time: requests from the same
     * kind of client list the same keys in the same order */
    key_entry *by_index[INDEX_CACHE];

    /* interned strings */
    PyObject *s_close, *s_fileno, *s_tell, *s_wsgi_input,
             *s_wsgi_url_scheme, *s_http, *s_https, *s_empty,
             *s_gateway_protocol, *s_uwsgi, *s_fastcgi, *s_scgi;

    /* cached per-request objects (reused when the app kept no reference) */
    InputObject *input;
    CallObject *start_response;
    CallObject *write;

    /* the request being served */
    gateway_request *r;
    uint64_t req_id;
    int status_set;                /* start_response was called (and accepted) */
    int body_started;              /* headers went out: no more replacing */
    int finished;                  /* write_last was called */
    int from_iterable;             /* sending the returned iterable, not write() */
    long long content_length;      /* of the response, -1 = not set by the app */
    unsigned long long sent;       /* response body bytes sent */
    long long request_length;      /* CONTENT_LENGTH of the request, -1 = unknown */
};

extern struct wsgi_state G;

/* The app_args the loader takes. */
typedef struct {
    const char *app, *pythonpath, *virtualenv, *chdir;
} wsgi_args;

/* ------------------------------------------------------------ small tools */

/* Release the GIL around blocking I/O only when another Python thread
 * exists that could use it: without threads it is pure overhead. */
static inline int other_threads(void)
{
    PyThreadState *head = PyInterpreterState_ThreadHead(G.interp);
    return head != NULL && PyThreadState_Next(head) != NULL;
}

#define IO_BEGIN { PyThreadState *_io_save = other_threads() ? PyEval_SaveThread() : NULL;
#define IO_END   if (_io_save != NULL) PyEval_RestoreThread(_io_save); }

static inline int request_alive(uint64_t id)
{
    return G.r != NULL && id == G.req_id;
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
int send_body(const char *data, size_t len, int last);
int send_result(PyObject *result);

/* file_wrapper.c */
extern PyTypeObject FileWrapperType;
int send_file(FileWrapperObject *fw);

/* environ.c */
int build_template(gateway_init *init);
PyObject *build_environ(gateway_request *r);

/* interpreter.c */
int start_python(gateway_init *init, wsgi_args *a, char *cwd, size_t cwd_size);
int setup_paths(const wsgi_args *a, const char *cwd);
void stop_python(void);

/* appspec.c */
PyObject *load_app(const char *spec);

/* stack.c: faulthandler registered for gateway_dump_stack (0, or -1 with a
 * Python exception or errno set). Called with the GIL, once. */
int stack_init(void);

#endif

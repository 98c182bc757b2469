/*
 * wsgi.so: the gatewayd WSGI loader. An ordinary gatewayd app (gateway.h)
 * that embeds CPython and serves any PEP 3333 application: Flask, Django,
 * or a bare `def application(environ, start_response)`.
 *
 *   app = "/usr/lib/gatewayd/apps/wsgi.so"
 *   [app_args]
 *   app = "myproject.wsgi:application"     # module:callable (required)
 *   pythonpath = ["/srv/myproject"]        # prepended to sys.path
 *   virtualenv = "/srv/myproject/.venv"    # its site-packages are used
 *   chdir = "/srv/myproject"               # working directory of the workers
 *
 * Python is initialised in init, i.e. in each worker after the fork: the
 * master never runs Python. Built by mk/wsgi.mk against the libpython of
 * `make PYTHON=...` (CPython >= 3.9, shared). docs/wsgi.md is the user
 * documentation; this comment is about the implementation.
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
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <gateway.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#if PY_VERSION_HEX < 0x03090000
#error "wsgi.so needs Python 3.9 or later"
#endif

/* The interpreter the loader was built against (sys.executable at build
 * time, set by mk/wsgi.mk): used as program_name so that Python finds its
 * own standard library whatever the path of gatewayd is. */
#ifndef WSGI_PYTHON_EXECUTABLE
#define WSGI_PYTHON_EXECUTABLE ""
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

/* ------------------------------------------------------------------ state */

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

/* The CGI keys the server sends with every request: the template holds a
 * placeholder for each, so filling them never grows the dict. One that a
 * request lacks after all is deleted from its environ. */
static const char *const placeholder_keys[] = {
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
    "REQUEST_URI", "SERVER_PROTOCOL", "SERVER_SOFTWARE", "GATEWAY_INTERFACE",
    "SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "REMOTE_PORT",
};
#define PLACEHOLDERS (sizeof(placeholder_keys) / sizeof(placeholder_keys[0]))
#define ALL_PLACEHOLDERS ((1u << PLACEHOLDERS) - 1)

typedef struct InputObject InputObject;
typedef struct CallObject CallObject;

static struct {
    const gateway_api *api;
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
             *s_wsgi_url_scheme, *s_http, *s_https, *s_empty;

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
} G;

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

/* api->log may only be used from the thread that runs init/call/shutdown:
 * what other threads (the app's own) write to wsgi.errors goes to stderr. */
static void log_message(gateway_request *r, int level, const char *message)
{
    if (G.api != NULL && G.api->log != NULL && pthread_equal(pthread_self(), G.main_thread))
        G.api->log(r, level, message);
    else
        fprintf(stderr, "wsgi: %s\n", message);
}

static void log_format(gateway_request *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_format(gateway_request *r, int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_message(r, level, buf);
}

/* The current exception as text (a full traceback), malloc'ed; clears it. */
static char *exception_text(void)
{
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL)
        return strdup("unknown error (no exception set)");
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);

    char *out = NULL;
    PyObject *lines = NULL, *joined = NULL, *bytes = NULL;
    if (G.format_exception != NULL)
        lines = PyObject_CallFunctionObjArgs(G.format_exception, type,
                                             value ? value : Py_None,
                                             tb ? tb : Py_None, NULL);
    if (lines != NULL)
        joined = PyUnicode_Join(G.s_empty, lines);
    if (joined == NULL) {
        PyErr_Clear();
        /* No traceback module (or it failed): at least the exception. */
        PyObject *s = value ? PyObject_Repr(value) : PyObject_Repr(type);
        if (s != NULL)
            joined = s;
    }
    if (joined != NULL)
        bytes = PyUnicode_AsEncodedString(joined, "utf-8", "backslashreplace");
    if (bytes != NULL)
        out = strdup(PyBytes_AS_STRING(bytes));
    PyErr_Clear();
    Py_XDECREF(lines);
    Py_XDECREF(joined);
    Py_XDECREF(bytes);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    if (out == NULL)
        return strdup("unknown error (the traceback could not be formatted)");
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return out;
}

/* Logs the current exception with its traceback (and clears it). */
static void log_exception(gateway_request *r, const char *what)
{
    char *text = exception_text();
    size_t size = strlen(what) + strlen(text) + 8;
    char *message = malloc(size);
    if (message != NULL) {
        snprintf(message, size, "%s:\n%s", what, text);
        log_message(r, GATEWAY_LOG_ERROR, message);
        free(message);
    } else {
        log_message(r, GATEWAY_LOG_ERROR, text);
    }
    free(text);
}

/* The latin-1 bytes of a str (PEP 3333 "native string"), NUL-terminated,
 * borrowed from the object. NULL with an exception when it is not a str,
 * not latin-1 or holds a NUL. */
static const char *native_string(PyObject *s, const char *what, Py_ssize_t *len)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", what, Py_TYPE(s)->tp_name);
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0)
        return NULL;
#endif
    if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError, "%s must be latin-1 (PEP 3333 native string): %R", what, s);
        return NULL;
    }
    const char *data = (const char *)PyUnicode_1BYTE_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (memchr(data, '\0', (size_t)n) != NULL) {
        PyErr_Format(PyExc_ValueError, "%s contains a NUL character: %R", what, s);
        return NULL;
    }
    if (len != NULL)
        *len = n;
    return data;
}

static int request_alive(uint64_t id)
{
    return G.r != NULL && id == G.req_id;
}

/* ----------------------------------------------------------- wsgi.errors */

typedef struct {
    PyObject_HEAD
    char *buf;
    size_t len, cap;
} ErrorsObject;

static void errors_emit(ErrorsObject *self, int all)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(self->buf + start, '\n', self->len - start);
        if (nl == NULL)
            break;
        *nl = '\0';
        if (nl > self->buf + start)
            log_message(G.r, GATEWAY_LOG_ERROR, self->buf + start);
        start = (size_t)(nl - self->buf) + 1;
    }
    if (all && start < self->len) {
        if (self->len == self->cap) {
            /* room for the NUL */
            char *b = realloc(self->buf, self->cap + 1);
            if (b == NULL) { self->len = 0; return; }
            self->buf = b;
            self->cap++;
        }
        self->buf[self->len] = '\0';
        log_message(G.r, GATEWAY_LOG_ERROR, self->buf + start);
        start = self->len;
    }
    memmove(self->buf, self->buf + start, self->len - start);
    self->len -= start;
}

static int errors_append(ErrorsObject *self, PyObject *s)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "wsgi.errors.write() takes a str, not %.100s", Py_TYPE(s)->tp_name);
        return -1;
    }
    PyObject *bytes = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
    if (bytes == NULL)
        return -1;
    size_t n = (size_t)PyBytes_GET_SIZE(bytes);
    if (self->len + n + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 256;
        while (cap < self->len + n + 1)
            cap *= 2;
        char *b = realloc(self->buf, cap);
        if (b == NULL) {
            Py_DECREF(bytes);
            PyErr_NoMemory();
            return -1;
        }
        self->buf = b;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, PyBytes_AS_STRING(bytes), n);
    self->len += n;
    Py_DECREF(bytes);
    /* NULs would cut a message short: show them */
    for (size_t i = self->len - n; i < self->len; i++)
        if (self->buf[i] == '\0')
            self->buf[i] = '?';
    if (memchr(self->buf + self->len - n, '\n', n) != NULL)
        errors_emit(self, 0);
    return 0;
}

static PyObject *errors_write(ErrorsObject *self, PyObject *s)
{
    if (errors_append(self, s) < 0)
        return NULL;
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(s));
}

static PyObject *errors_writelines(ErrorsObject *self, PyObject *seq)
{
    PyObject *it = PyObject_GetIter(seq), *item;
    if (it == NULL)
        return NULL;
    while ((item = PyIter_Next(it)) != NULL) {
        int rc = errors_append(self, item);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *errors_flush(ErrorsObject *self, PyObject *unused)
{
    (void)unused;
    errors_emit(self, 1);
    Py_RETURN_NONE;
}

static PyObject *return_false(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    Py_RETURN_FALSE;
}

static PyObject *return_true(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    Py_RETURN_TRUE;
}

static void errors_dealloc(ErrorsObject *self)
{
    free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef errors_methods[] = {
    { "write", (PyCFunction)errors_write, METH_O, "Write a str to the error log (one message per line)." },
    { "writelines", (PyCFunction)errors_writelines, METH_O, "Write each str of a sequence." },
    { "flush", (PyCFunction)errors_flush, METH_NOARGS, "Log the pending partial line." },
    { "isatty", return_false, METH_NOARGS, NULL },
    { "writable", return_true, METH_NOARGS, NULL },
    { NULL, NULL, 0, NULL },
};

static PyTypeObject ErrorsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gatewayd.ErrorStream",
    .tp_basicsize = sizeof(ErrorsObject),
    .tp_dealloc = (destructor)errors_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.errors: gatewayd's error log",
    .tp_methods = errors_methods,
};

/* ------------------------------------------------------------ wsgi.input */

struct InputObject {
    PyObject_HEAD
    uint64_t id;
    char *buf;            /* read-ahead for readline */
    size_t pos, end, cap;
    int eof;
};

static int input_check(InputObject *self)
{
    if (!request_alive(self->id)) {
        PyErr_SetString(PyExc_ValueError, "wsgi.input used after the end of its request");
        return -1;
    }
    return 0;
}

/* One read from the server: > 0 bytes, 0 at the end, -1 with an exception. */
static Py_ssize_t body_read(InputObject *self, char *dst, size_t n)
{
    if (self->eof)
        return 0;
    ssize_t got;
    IO_BEGIN
    got = G.api->read(G.r, dst, n);
    IO_END
    if (got < 0) {
        PyErr_SetString(PyExc_OSError,
                        "wsgi.input: the client went away, timed out or sent a malformed body");
        return -1;
    }
    if (got == 0)
        self->eof = 1;
    return got;
}

static PyObject *input_take(InputObject *self, size_t n)
{
    PyObject *out = PyBytes_FromStringAndSize(self->buf + self->pos, (Py_ssize_t)n);
    if (out != NULL)
        self->pos += n;
    return out;
}

/* read(size): up to size bytes, fewer only at the end of the body. */
static PyObject *input_read_n(InputObject *self, size_t size)
{
    size_t avail = self->end - self->pos;
    if (avail >= size || self->eof)
        return input_take(self, avail < size ? avail : size);
    size_t alloc = size;
    if (alloc > avail + READ_CHUNK)
        alloc = avail + READ_CHUNK;   /* read(huge) on a small body: grow as it comes */
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)alloc);
    if (out == NULL)
        return NULL;
    memcpy(PyBytes_AS_STRING(out), self->buf + self->pos, avail);
    self->pos = self->end = 0;
    size_t got = avail;
    while (got < size) {
        if (got == alloc) {
            alloc = alloc * 2 < size ? alloc * 2 : size;
            if (_PyBytes_Resize(&out, (Py_ssize_t)alloc) < 0)
                return NULL;
        }
        Py_ssize_t n = body_read(self, PyBytes_AS_STRING(out) + got, alloc - got);
        if (n < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got != alloc && _PyBytes_Resize(&out, (Py_ssize_t)got) < 0)
        return NULL;
    return out;
}

static PyObject *input_read_all(InputObject *self)
{
    size_t avail = self->end - self->pos;
    size_t alloc = avail + READ_CHUNK;
    /* Size it from CONTENT_LENGTH (+1: the final read sees the end without
     * growing), but do not trust a client's figure beyond 16 MB up front. */
    if (G.request_length >= 0 && (unsigned long long)G.request_length + 1 > alloc)
        alloc = G.request_length < (16LL << 20) ? (size_t)G.request_length + 1 : (size_t)16 << 20;
    if (self->eof)
        alloc = avail;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)alloc);
    if (out == NULL)
        return NULL;
    memcpy(PyBytes_AS_STRING(out), self->buf + self->pos, avail);
    self->pos = self->end = 0;
    size_t got = avail;
    while (!self->eof) {
        if (got == alloc) {
            alloc *= 2;
            if (_PyBytes_Resize(&out, (Py_ssize_t)alloc) < 0)
                return NULL;
        }
        Py_ssize_t n = body_read(self, PyBytes_AS_STRING(out) + got, alloc - got);
        if (n < 0) {
            Py_DECREF(out);
            return NULL;
        }
        got += (size_t)n;
    }
    if (got != alloc && _PyBytes_Resize(&out, (Py_ssize_t)got) < 0)
        return NULL;
    return out;
}

static int size_arg(PyObject *const *args, Py_ssize_t nargs, const char *name, Py_ssize_t *size)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", name, nargs);
        return -1;
    }
    if (nargs == 1 && args[0] != Py_None) {
        *size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
        if (*size == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

static PyObject *input_read(InputObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (input_check(self) < 0 || size_arg(args, nargs, "read", &size) < 0)
        return NULL;
    if (size < 0)
        return input_read_all(self);
    return input_read_n(self, (size_t)size);
}

static PyObject *input_readline_impl(InputObject *self, Py_ssize_t limit)
{
    size_t scanned = 0;   /* bytes after pos known to hold no newline */
    for (;;) {
        size_t avail = self->end - self->pos;
        size_t window = limit >= 0 && (size_t)limit < avail ? (size_t)limit : avail;
        if (window > scanned) {
            char *nl = memchr(self->buf + self->pos + scanned, '\n', window - scanned);
            if (nl != NULL)
                return input_take(self, (size_t)(nl - (self->buf + self->pos)) + 1);
            scanned = window;
        }
        if ((limit >= 0 && avail >= (size_t)limit) || self->eof)
            return input_take(self, window);
        /* need more bytes: compact, grow, read */
        if (self->pos > 0) {
            memmove(self->buf, self->buf + self->pos, avail);
            self->pos = 0;
            self->end = avail;
        }
        if (self->cap - self->end < LINE_CHUNK) {
            size_t cap = self->cap ? self->cap * 2 : 2 * LINE_CHUNK;
            char *b = realloc(self->buf, cap);
            if (b == NULL)
                return PyErr_NoMemory();
            self->buf = b;
            self->cap = cap;
        }
        Py_ssize_t n = body_read(self, self->buf + self->end, self->cap - self->end);
        if (n < 0)
            return NULL;
        self->end += (size_t)n;
    }
}

static PyObject *input_readline(InputObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (input_check(self) < 0 || size_arg(args, nargs, "readline", &size) < 0)
        return NULL;
    if (size == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    return input_readline_impl(self, size);
}

static PyObject *input_readlines(InputObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t hint;
    if (input_check(self) < 0 || size_arg(args, nargs, "readlines", &hint) < 0)
        return NULL;
    PyObject *lines = PyList_New(0);
    if (lines == NULL)
        return NULL;
    Py_ssize_t total = 0;
    for (;;) {
        PyObject *line = input_readline_impl(self, -1);
        if (line == NULL) {
            Py_DECREF(lines);
            return NULL;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(line);
        if (n == 0) {
            Py_DECREF(line);
            break;
        }
        int rc = PyList_Append(lines, line);
        Py_DECREF(line);
        if (rc < 0) {
            Py_DECREF(lines);
            return NULL;
        }
        total += n;
        if (hint > 0 && total >= hint)
            break;
    }
    return lines;
}

static PyObject *input_iternext(InputObject *self)
{
    if (input_check(self) < 0)
        return NULL;
    PyObject *line = input_readline_impl(self, -1);
    if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL;   /* StopIteration */
    }
    return line;
}

static PyObject *input_iter(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

static PyObject *input_close(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    Py_RETURN_NONE;
}

static void input_dealloc(InputObject *self)
{
    free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define FASTCALL(f) ((PyCFunction)(void (*)(void))(f))

static PyMethodDef input_methods[] = {
    { "read", FASTCALL(input_read), METH_FASTCALL, "read([size]) -> bytes: up to size bytes (all when omitted)" },
    { "readline", FASTCALL(input_readline), METH_FASTCALL, "readline([size]) -> bytes: one line, newline included" },
    { "readlines", FASTCALL(input_readlines), METH_FASTCALL, "readlines([hint]) -> list of lines" },
    { "readable", return_true, METH_NOARGS, NULL },
    { "close", input_close, METH_NOARGS, "Does nothing (the server owns the stream)." },
    { NULL, NULL, 0, NULL },
};

static PyTypeObject InputType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gatewayd.InputStream",
    .tp_basicsize = sizeof(InputObject),
    .tp_dealloc = (destructor)input_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.input: the request body, de-chunked, never read past its end",
    .tp_iter = input_iter,
    .tp_iternext = (iternextfunc)input_iternext,
    .tp_methods = input_methods,
};

/* ----------------------------------------------------- the response side */

/* Sends body bytes. `last`: these are the final bytes (write_last). A write
 * that completes the Content-Length the app declared is made a write_last
 * too, so that the server can finish the response at once. */
static int send_body(const char *data, size_t len, int last)
{
    if (G.finished) {
        /* PEP 3333: an iterable past its Content-Length is cut there. */
        if (len == 0 || G.from_iterable)
            return 0;
        PyErr_SetString(PyExc_RuntimeError,
                        "body bytes after the end of the response (more than its Content-Length?)");
        return -1;
    }
    if (!G.status_set) {
        PyErr_SetString(PyExc_RuntimeError, "body bytes before start_response() was called");
        return -1;
    }
    if (len == 0 && !last)
        return 0;   /* PEP 3333: an empty chunk sends nothing, not even the headers */
    /* PEP 3333: the server does not transmit more bytes than Content-Length
     * allows and stops iterating once enough was sent (Gunicorn cuts the
     * same way); write() past it is an error (the server refuses it). */
    if (G.from_iterable && G.content_length >= 0 &&
        G.sent + len >= (unsigned long long)G.content_length) {
        len = (size_t)((unsigned long long)G.content_length - G.sent);
        last = 1;
    }
    if (!last && G.content_length >= 0 && G.sent + len == (unsigned long long)G.content_length)
        last = 1;
    int rc;
    IO_BEGIN
    rc = last ? G.api->write_last(G.r, data, len) : G.api->write(G.r, data, len);
    IO_END
    if (rc != GATEWAY_OK) {
        G.body_started = 1;
        PyErr_SetString(PyExc_OSError, "response write failed: the client went away, "
                                       "or the body is longer than its Content-Length");
        return -1;
    }
    G.sent += len;
    G.body_started = 1;
    if (last)
        G.finished = 1;
    return 0;
}

/* A body chunk must be bytes (bytearray and other buffers are accepted). */
static int send_object(PyObject *chunk, int last)
{
    if (PyBytes_CheckExact(chunk))
        return send_body(PyBytes_AS_STRING(chunk), (size_t)PyBytes_GET_SIZE(chunk), last);
    if (PyUnicode_Check(chunk) || !PyObject_CheckBuffer(chunk)) {
        PyErr_Format(PyExc_TypeError, "a WSGI body chunk must be bytes, not %.100s",
                     Py_TYPE(chunk)->tp_name);
        return -1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) < 0)
        return -1;
    int rc = send_body(view.buf, (size_t)view.len, last);
    PyBuffer_Release(&view);
    return rc;
}

/* start_response and write() are C objects with vectorcall; `id` ties each
 * to its request. */
struct CallObject {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    uint64_t id;
};

static int is_hop_by_hop(const char *name, Py_ssize_t n)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "transfer-encoding", "te", "trailer",
        "upgrade", "proxy-connection",
    };
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if ((size_t)n == strlen(hop[i]) && strncasecmp(name, hop[i], (size_t)n) == 0)
            return 1;
    return 0;
}

static int parse_length(const char *s, long long *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return -1;
    long long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (LLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '\0')
        return -1;
    *out = v;
    return 0;
}

static PyObject *start_response_call(PyObject *callable, PyObject *const *args,
                                     size_t nargsf, PyObject *kwnames)
{
    CallObject *self = (CallObject *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *status, *headers, *exc_info = NULL;

    if (!request_alive(self->id)) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called after the end of its request");
        return NULL;
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw < 2 || nargs + nkw > 3 || nargs < 2) {
        PyErr_SetString(PyExc_TypeError, "start_response(status, headers, exc_info=None)");
        return NULL;
    }
    status = args[0];
    headers = args[1];
    if (nargs == 3)
        exc_info = args[2];
    if (nkw == 1) {
        if (nargs == 3 || !PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0)) ||
            PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "exc_info") != 0) {
            PyErr_SetString(PyExc_TypeError, "start_response(status, headers, exc_info=None)");
            return NULL;
        }
        exc_info = args[2];
    }
    if (exc_info == Py_None)
        exc_info = NULL;

    if (exc_info != NULL) {
        if (G.body_started) {
            /* PEP 3333: too late to change the response: re-raise. */
            if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
                PyErr_SetString(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple");
                return NULL;
            }
            PyObject *t = PyTuple_GET_ITEM(exc_info, 0), *v = PyTuple_GET_ITEM(exc_info, 1),
                     *tb = PyTuple_GET_ITEM(exc_info, 2);
            Py_INCREF(t);
            Py_INCREF(v);
            if (tb == Py_None)
                tb = NULL;
            Py_XINCREF(tb);
            PyErr_Restore(t, v, tb);
            return NULL;
        }
    } else if (G.status_set) {
        PyErr_SetString(PyExc_RuntimeError,
                        "start_response() called a second time without exc_info");
        return NULL;
    }

    const char *status_c = native_string(status, "the status", NULL);
    if (status_c == NULL)
        return NULL;
    PyObject *seq = PySequence_Fast(headers, "the headers must be a list of (name, value) tuples");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    gateway_pair stack_pairs[MAX_STACK_HEADERS];
    gateway_pair *pairs = stack_pairs;
    if (count > MAX_STACK_HEADERS) {
        pairs = PyMem_Malloc(sizeof(gateway_pair) * (size_t)count);
        if (pairs == NULL) {
            Py_DECREF(seq);
            return PyErr_NoMemory();
        }
    }
    long long content_length = -1;
    size_t n = 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *h = items[i];
        if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2) {
            PyErr_Format(PyExc_TypeError, "header %zd must be a (name, value) tuple, not %R", i, h);
            goto done;
        }
        Py_ssize_t name_len;
        const char *name = native_string(PyTuple_GET_ITEM(h, 0), "a header name", &name_len);
        const char *value = name ? native_string(PyTuple_GET_ITEM(h, 1), "a header value", NULL) : NULL;
        if (value == NULL)
            goto done;
        if (is_hop_by_hop(name, name_len))
            continue;   /* connection management is the server's (as Gunicorn does) */
        if (name_len == 14 && strcasecmp(name, "content-length") == 0 &&
            parse_length(value, &content_length) < 0) {
            PyErr_Format(PyExc_ValueError, "Content-Length is not a number: %R", PyTuple_GET_ITEM(h, 1));
            goto done;
        }
        pairs[n].name = name;
        pairs[n].value = value;
        n++;
    }
    if (G.api->start_response(G.r, status_c, pairs, n,
                              G.status_set || exc_info ? GATEWAY_REPLACE : 0) != GATEWAY_OK) {
        PyErr_Format(PyExc_ValueError,
                     "gatewayd refused the status or headers (%R): see the log for why", status);
        goto done;
    }
    G.status_set = 1;
    G.content_length = content_length;
    Py_INCREF(G.write);
    result = (PyObject *)G.write;
done:
    if (pairs != stack_pairs)
        PyMem_Free(pairs);
    Py_DECREF(seq);
    return result;
}

static PyObject *write_call(PyObject *callable, PyObject *const *args,
                            size_t nargsf, PyObject *kwnames)
{
    CallObject *self = (CallObject *)callable;
    if (!request_alive(self->id)) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after the end of its request");
        return NULL;
    }
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames && PyTuple_GET_SIZE(kwnames) > 0)) {
        PyErr_SetString(PyExc_TypeError, "write(data) takes one bytes argument");
        return NULL;
    }
    if (send_object(args[0], 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyTypeObject StartResponseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gatewayd.StartResponse",
    .tp_basicsize = sizeof(CallObject),
    .tp_dealloc = (destructor)PyObject_Del,
    .tp_vectorcall_offset = offsetof(CallObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "start_response(status, headers, exc_info=None) -> write",
};

static PyTypeObject WriteType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gatewayd.Write",
    .tp_basicsize = sizeof(CallObject),
    .tp_dealloc = (destructor)PyObject_Del,
    .tp_vectorcall_offset = offsetof(CallObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "write(data): the PEP 3333 write() callable",
};

static CallObject *new_call_object(PyTypeObject *type, vectorcallfunc fn)
{
    CallObject *o = PyObject_New(CallObject, type);
    if (o != NULL) {
        o->vectorcall = fn;
        o->id = 0;
    }
    return o;
}

/* ----------------------------------------------------- wsgi.file_wrapper */

typedef struct {
    PyObject_HEAD
    PyObject *filelike;
    Py_ssize_t blksize;
} FileWrapperObject;

static int filewrapper_init(FileWrapperObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = { "filelike", "blksize", NULL };
    PyObject *filelike;
    Py_ssize_t blksize = 8192;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:file_wrapper", kwlist, &filelike, &blksize))
        return -1;
    if (blksize <= 0)
        blksize = 8192;
    Py_INCREF(filelike);
    Py_XSETREF(self->filelike, filelike);
    self->blksize = blksize;
    return 0;
}

static PyObject *filewrapper_iternext(FileWrapperObject *self)
{
    if (self->filelike == NULL)
        return NULL;
    PyObject *data = PyObject_CallMethod(self->filelike, "read", "n", self->blksize);
    if (data == NULL)
        return NULL;
    Py_ssize_t len = PyObject_Length(data);
    if (len <= 0) {
        Py_DECREF(data);
        return NULL;   /* an error, or StopIteration at the end of the file */
    }
    return data;
}

static PyObject *filewrapper_close(FileWrapperObject *self, PyObject *unused)
{
    (void)unused;
    if (self->filelike != NULL && PyObject_HasAttr(self->filelike, G.s_close)) {
        PyObject *r = PyObject_CallMethodObjArgs(self->filelike, G.s_close, NULL);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

static int filewrapper_traverse(FileWrapperObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->filelike);
    return 0;
}

static int filewrapper_clear(FileWrapperObject *self)
{
    Py_CLEAR(self->filelike);
    return 0;
}

static void filewrapper_dealloc(FileWrapperObject *self)
{
    PyObject_GC_UnTrack(self);
    filewrapper_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef filewrapper_methods[] = {
    { "close", (PyCFunction)filewrapper_close, METH_NOARGS, "Closes the wrapped file (when it has close())." },
    { NULL, NULL, 0, NULL },
};

static PyMemberDef filewrapper_members[] = {
    { "filelike", T_OBJECT, offsetof(FileWrapperObject, filelike), READONLY, NULL },
    { "blksize", T_PYSSIZET, offsetof(FileWrapperObject, blksize), READONLY, NULL },
    { NULL, 0, 0, 0, NULL },
};

static PyTypeObject FileWrapperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gatewayd.FileWrapper",
    .tp_basicsize = sizeof(FileWrapperObject),
    .tp_dealloc = (destructor)filewrapper_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "wsgi.file_wrapper(filelike, blksize=8192): served with sendfile(2) when "
              "filelike has a fileno() of a regular file",
    .tp_traverse = (traverseproc)filewrapper_traverse,
    .tp_clear = (inquiry)filewrapper_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)filewrapper_iternext,
    .tp_methods = filewrapper_methods,
    .tp_members = filewrapper_members,
    .tp_init = (initproc)filewrapper_init,
    .tp_new = PyType_GenericNew,
};

/* Sends a file_wrapper's file with sendfile. 1: sent; 0: not a regular
 * file with a descriptor (the caller iterates instead); -1: error. */
static int send_file(FileWrapperObject *fw)
{
    if (fw->filelike == NULL)
        return 0;
    PyObject *r = PyObject_CallMethodObjArgs(fw->filelike, G.s_fileno, NULL);
    if (r == NULL) {
        PyErr_Clear();   /* no fileno(): io.BytesIO and the like */
        return 0;
    }
    long fd = PyLong_AsLong(r);
    Py_DECREF(r);
    struct stat st;
    if ((fd == -1 && PyErr_Occurred()) || fd < 0 || fd > INT32_MAX ||
        fstat((int)fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        PyErr_Clear();
        return 0;
    }
    /* Start at the file's current position: tell() knows about Python's
     * read buffer, the descriptor's offset does not. */
    long long offset = -1;
    r = PyObject_CallMethodObjArgs(fw->filelike, G.s_tell, NULL);
    if (r != NULL) {
        offset = PyLong_AsLongLong(r);
        Py_DECREF(r);
    }
    if (offset < 0) {
        PyErr_Clear();
        offset = lseek((int)fd, 0, SEEK_CUR);
        if (offset < 0)
            offset = 0;
    }
    if (!G.status_set) {
        PyErr_SetString(PyExc_RuntimeError, "the app returned a file_wrapper before calling start_response()");
        return -1;
    }
    unsigned long long count = st.st_size > offset ? (unsigned long long)(st.st_size - offset) : 0;
    if (G.content_length >= 0) {
        unsigned long long rest = (unsigned long long)G.content_length > G.sent
                                  ? (unsigned long long)G.content_length - G.sent : 0;
        if (rest < count)
            count = rest;
    }
    if (G.finished) {
        if (count == 0)
            return 1;
        PyErr_SetString(PyExc_RuntimeError, "file_wrapper after the end of the response");
        return -1;
    }
    while (count > 0) {
        size_t n = count > (1ULL << 30) ? (size_t)1 << 30 : (size_t)count;
        int rc;
        IO_BEGIN
        rc = G.api->sendfile(G.r, (int)fd, (off_t)offset, n);
        IO_END
        if (rc != GATEWAY_OK) {
            G.body_started = 1;
            PyErr_SetString(PyExc_OSError, "sendfile failed: the client went away, or the "
                                           "file is shorter than it was");
            return -1;
        }
        G.body_started = 1;
        G.sent += n;
        offset += (long long)n;
        count -= n;
    }
    return 1;
}

/* ----------------------------------------------------------- the environ */

static uint32_t key_hash(const char *s, size_t *len)
{
    uint32_t h = 2166136261u;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    *len = (size_t)(p - s);
    return h;
}

static key_entry *key_new(const char *key, size_t len, uint32_t hash)
{
    key_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->key = malloc(len + 1);
    e->pykey = PyUnicode_DecodeLatin1(key, (Py_ssize_t)len, NULL);
    if (e->key == NULL || e->pykey == NULL) {
        free(e->key);
        Py_XDECREF(e->pykey);
        free(e);
        PyErr_Clear();
        return NULL;
    }
    PyUnicode_InternInPlace(&e->pykey);
    memcpy(e->key, key, len + 1);
    e->key_len = len;
    e->hash = hash;
    e->slot = -1;
    for (size_t i = 0; i < PLACEHOLDERS; i++)
        if (strcmp(key, placeholder_keys[i]) == 0)
            e->slot = (int)i;
    e->is_content_length = strcmp(key, "CONTENT_LENGTH") == 0;
    return e;
}

/* The cache entry for a key; NULL when the cache is full (or no memory). */
static key_entry *key_lookup(const char *key)
{
    size_t len;
    uint32_t h = key_hash(key, &len);
    size_t i = h & (KEY_TABLE_SIZE - 1);
    for (;;) {
        key_entry *e = G.keys[i];
        if (e == NULL)
            break;
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
        i = (i + 1) & (KEY_TABLE_SIZE - 1);
    }
    if (G.key_count >= KEY_TABLE_MAX)
        return NULL;
    key_entry *e = key_new(key, len, h);
    if (e != NULL) {
        G.keys[i] = e;
        G.key_count++;
    }
    return e;
}

/* A new reference to the str for `value` under key `e`. */
static PyObject *key_value(key_entry *e, const char *value)
{
    size_t len = strlen(value);
    if (e->value != NULL && len == e->value_len && memcmp(e->value_bytes, value, len) == 0) {
        Py_INCREF(e->value);
        return e->value;
    }
    PyObject *v = PyUnicode_DecodeLatin1(value, (Py_ssize_t)len, NULL);
    if (v != NULL && len <= VALUE_CACHE_MAX) {
        Py_XDECREF(e->value);
        Py_INCREF(v);
        e->value = v;
        e->value_len = len;
        memcpy(e->value_bytes, value, len);
    }
    return v;
}

static PyObject *build_environ(gateway_request *r)
{
    const gateway_api *api = G.api;
    PyObject *env = PyDict_Copy(G.environ_template);
    if (env == NULL)
        return NULL;
    unsigned seen = 0;
    size_t count = api->environ_count(r);
    for (size_t i = 0; i < count; i++) {
        const char *k = NULL, *v = NULL;
        if (api->environ_item(r, i, &k, &v) != GATEWAY_OK || k == NULL || v == NULL)
            continue;
        if (k[0] == 'g' && strncmp(k, "gateway.", 8) == 0) {
            /* the gateway.* keys are wsgi.* ones here (the worker's are in the template) */
            if (strcmp(k + 8, "url_scheme") == 0 && strcmp(v, "https") == 0 &&
                PyDict_SetItem(env, G.s_wsgi_url_scheme, G.s_https) < 0)
                goto fail;
            continue;
        }
        key_entry *e = i < INDEX_CACHE ? G.by_index[i] : NULL;
        if (e == NULL || strcmp(e->key, k) != 0) {
            e = key_lookup(k);
            if (i < INDEX_CACHE)
                G.by_index[i] = e;
        }
        PyObject *value;
        int rc;
        if (e != NULL) {
            value = key_value(e, v);
            if (value == NULL)
                goto fail;
            rc = PyDict_SetItem(env, e->pykey, value);
            if (e->slot >= 0)
                seen |= 1u << e->slot;
            if (e->is_content_length && parse_length(v, &G.request_length) < 0)
                G.request_length = -1;
        } else {
            value = PyUnicode_DecodeLatin1(v, (Py_ssize_t)strlen(v), NULL);
            if (value == NULL)
                goto fail;
            rc = PyDict_SetItemString(env, k, value);   /* the cache is full: rare */
        }
        Py_DECREF(value);
        if (rc < 0)
            goto fail;
    }
    if (seen != ALL_PLACEHOLDERS) {
        for (size_t i = 0; i < PLACEHOLDERS; i++)
            if (!(seen & (1u << i)) && PyDict_DelItem(env, G.placeholder_pykeys[i]) < 0)
                goto fail;
    }
    if (PyDict_SetItem(env, G.s_wsgi_input, (PyObject *)G.input) < 0)
        goto fail;
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}

/* ------------------------------------------------------------ a request */

/* The per-request objects: reuse last request's when the app kept no
 * reference to them (refcount 1: ours), else make new ones. */
static int prepare_objects(void)
{
    if (G.input == NULL || Py_REFCNT(G.input) != 1) {
        Py_XDECREF(G.input);
        G.input = PyObject_New(InputObject, &InputType);
        if (G.input == NULL)
            return -1;
        G.input->buf = NULL;
        G.input->cap = 0;
    }
    G.input->id = G.req_id;
    if (G.input->cap > 1024 * 1024) {   /* one request's very long line */
        free(G.input->buf);
        G.input->buf = NULL;
        G.input->cap = 0;
    }
    G.input->pos = G.input->end = 0;
    G.input->eof = 0;
    if (G.start_response == NULL || Py_REFCNT(G.start_response) != 1) {
        Py_XDECREF(G.start_response);
        G.start_response = new_call_object(&StartResponseType, start_response_call);
        if (G.start_response == NULL)
            return -1;
    }
    G.start_response->id = G.req_id;
    if (G.write == NULL || Py_REFCNT(G.write) != 1) {
        Py_XDECREF(G.write);
        G.write = new_call_object(&WriteType, write_call);
        if (G.write == NULL)
            return -1;
    }
    G.write->id = G.req_id;
    return 0;
}

/* Sends what the app returned. 0 or -1 with an exception set. */
static int send_result(PyObject *result)
{
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(result);
        PyObject **items = PySequence_Fast_ITEMS(result);
        if (n == 1)
            return send_object(items[0], 1);
        if (n == 0)
            return send_body("", 0, 1);
        /* Several chunks, all in memory already: one write_last when they
         * are bytes and not too big (Content-Length framing, one send). */
        size_t total = 0;
        int joinable = 1;
        for (Py_ssize_t i = 0; i < n && joinable; i++) {
            if (!PyBytes_CheckExact(items[i]))
                joinable = 0;
            else
                total += (size_t)PyBytes_GET_SIZE(items[i]);
        }
        if (joinable && total <= JOIN_LIMIT) {
            static char stack[16384];   /* only the main thread serves requests */
            char *buf = total <= sizeof stack ? stack : PyMem_Malloc(total ? total : 1);
            if (buf == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            size_t off = 0;
            for (Py_ssize_t i = 0; i < n; i++) {
                memcpy(buf + off, PyBytes_AS_STRING(items[i]), (size_t)PyBytes_GET_SIZE(items[i]));
                off += (size_t)PyBytes_GET_SIZE(items[i]);
            }
            int rc = send_body(buf, total, 1);
            if (buf != stack)
                PyMem_Free(buf);
            return rc;
        }
        /* the list is the app's: re-read its size, hold each item */
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(result); i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(result, i);
            Py_INCREF(item);
            int rc = send_object(item, i == PySequence_Fast_GET_SIZE(result) - 1);
            Py_DECREF(item);
            if (rc < 0)
                return -1;
        }
        return send_body("", 0, 1);
    }

    if (Py_IS_TYPE(result, &FileWrapperType)) {
        int rc = send_file((FileWrapperObject *)result);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        /* not a real file: iterate it as any iterable */
    }

    PyObject *it = PyObject_GetIter(result);
    if (it == NULL)
        return -1;
    iternextfunc next = Py_TYPE(it)->tp_iternext;
    PyObject *item;
    while ((item = next(it)) != NULL) {
        int rc = send_object(item, 0);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
        if (G.finished)
            break;   /* the Content-Length is reached: stop iterating */
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration))
            return -1;
        PyErr_Clear();
    }
    if (!G.status_set) {
        PyErr_SetString(PyExc_RuntimeError, "the app returned without calling start_response()");
        return -1;
    }
    return 0;
}

static void describe_request(gateway_request *r, char *buf, size_t size)
{
    const char *method = G.api->getenv(r, "REQUEST_METHOD");
    const char *path = G.api->getenv(r, "PATH_INFO");
    snprintf(buf, size, "wsgi: exception in the app %s (%s %s)", G.app_spec,
             method ? method : "?", path ? path : "?");
}

static int wsgi_call(gateway_request *r)
{
    PyEval_RestoreThread(G.tstate);
    G.r = r;
    G.req_id++;
    G.status_set = G.body_started = G.finished = 0;
    G.content_length = -1;
    G.request_length = -1;
    G.sent = 0;

    int rc = GATEWAY_ERROR;
    PyObject *environ = NULL, *result = NULL;
    char what[512];
    if (prepare_objects() < 0 || (environ = build_environ(r)) == NULL) {
        log_exception(r, "wsgi: cannot build the request environ");
        goto out;
    }
    PyObject *args[2] = { environ, (PyObject *)G.start_response };
    result = PyObject_Vectorcall(G.app, args, 2, NULL);
    if (result == NULL) {
        describe_request(r, what, sizeof what);
        log_exception(r, what);
        goto out;
    }
    G.from_iterable = 1;
    int sent = send_result(result);
    G.from_iterable = 0;
    if (sent < 0) {
        describe_request(r, what, sizeof what);
        log_exception(r, what);
    } else {
        rc = GATEWAY_OK;
    }
    /* PEP 3333: close() is called whatever happened. */
    if (!PyList_CheckExact(result) && !PyTuple_CheckExact(result)) {
        PyObject *close = PyObject_GetAttr(result, G.s_close);
        if (close == NULL) {
            PyErr_Clear();
        } else {
            PyObject *res = PyObject_CallNoArgs(close);
            Py_DECREF(close);
            /* The body was sent whole: the response stands; the
             * exception is the app's bug, logged. */
            if (res == NULL)
                log_exception(r, "wsgi: exception in close() of the app's response");
            Py_XDECREF(res);
        }
    }
out:
    Py_XDECREF(result);
    Py_XDECREF(environ);
    if (G.errors != NULL && ((ErrorsObject *)G.errors)->len > 0)
        errors_emit((ErrorsObject *)G.errors, 1);
    if (PyErr_Occurred())
        log_exception(r, "wsgi: unexpected error");
    G.r = NULL;
    G.tstate = PyEval_SaveThread();
    return rc;
}

/* ---------------------------------------------------------------- init */

typedef struct {
    const char *app, *pythonpath, *virtualenv, *chdir;
} wsgi_args;

static int fail(gateway_init *init, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(gateway_init *init, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (init->error != NULL && init->error_size > 0)
        snprintf(init->error, init->error_size, "%s", buf);
    return 1;
}

/* A Python exception at boot: the whole traceback to the log, and as much
 * as fits of it into init->error, keeping its end (the exception itself). */
static int fail_exception(gateway_init *init, const char *what)
{
    char *text = exception_text();
    size_t size = strlen(what) + strlen(text) + 8;
    char *message = malloc(size);
    if (message == NULL) {
        free(text);
        return fail(init, "%s (out of memory)", what);
    }
    snprintf(message, size, "%s:\n%s", what, text);
    log_message(NULL, GATEWAY_LOG_ERROR, message);
    if (init->error != NULL && init->error_size > 0) {
        size_t room = init->error_size - 1;
        if (strlen(message) <= room) {
            memcpy(init->error, message, strlen(message) + 1);
        } else {
            /* head line + "[...]" + the tail, cut at a line start */
            const char *cut = "\n[...]\n";
            size_t head = strlen(what) + 1;
            if (head + strlen(cut) + 64 > room)
                head = room / 2;
            size_t tail_room = room - head - strlen(cut);
            const char *tail = message + strlen(message) - tail_room;
            const char *nl = strchr(tail, '\n');
            if (nl != NULL && (size_t)(nl - tail) < tail_room / 2)
                tail = nl + 1;
            snprintf(init->error, init->error_size, "%.*s%s%s", (int)head - 1, message, cut, tail);
        }
    }
    free(message);
    free(text);
    return 1;
}

/* Extension modules (_json, _ssl, numpy...) expect the libpython symbols
 * in the global scope; gatewayd dlopens apps with RTLD_LOCAL, so promote
 * the libpython this object was linked against. */
static void promote_libpython(void)
{
    Dl_info info;
    if (dladdr((void *)&Py_IsInitialized, &info) != 0 && info.dli_fname != NULL)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
}

static int insert_path(PyObject *sys_path, Py_ssize_t index, const char *dir)
{
    PyObject *p = PyUnicode_DecodeFSDefault(dir);
    if (p == NULL)
        return -1;
    int present = PySequence_Contains(sys_path, p);
    int rc = present < 0 ? -1 : present ? 0 : PyList_Insert(sys_path, index, p);
    Py_DECREF(p);
    return rc;
}

/* sys.path: pythonpath entries (in order), then the working directory, in
 * front of what Python computed; a virtualenv's site-packages too. */
static int setup_paths(const wsgi_args *a, const char *cwd)
{
    PyObject *sys_path = PySys_GetObject("path");   /* borrowed */
    if (sys_path == NULL || !PyList_Check(sys_path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
        return -1;
    }
    Py_ssize_t index = 0;
    if (a->pythonpath != NULL && *a->pythonpath != '\0') {
        char *copy = strdup(a->pythonpath), *save = NULL;
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (char *dir = strtok_r(copy, ",", &save); dir != NULL; dir = strtok_r(NULL, ",", &save)) {
            while (*dir == ' ')
                dir++;
            if (*dir == '\0')
                continue;
            char full[2 * PATH_MAX + 2];
            if (dir[0] != '/')
                snprintf(full, sizeof full, "%s/%s", cwd, dir);
            else
                snprintf(full, sizeof full, "%s", dir);
            if (insert_path(sys_path, index++, full) < 0) {
                free(copy);
                return -1;
            }
        }
        free(copy);
    }
    if (insert_path(sys_path, index, cwd) < 0)
        return -1;
    if (a->virtualenv != NULL && *a->virtualenv != '\0') {
        /* Python normally activated it through pyvenv.cfg already (program
         * name = the venv's python); make sure its site-packages is there. */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/lib/python%d.%d/site-packages", a->virtualenv,
                 PY_MAJOR_VERSION, PY_MINOR_VERSION);
        PyObject *p = PyUnicode_DecodeFSDefault(dir);
        if (p == NULL)
            return -1;
        int present = PySequence_Contains(sys_path, p);
        if (present < 0) {
            Py_DECREF(p);
            return -1;
        }
        if (!present) {
            PyObject *site = PyImport_ImportModule("site");
            PyObject *r = site ? PyObject_CallMethod(site, "addsitedir", "O", p) : NULL;
            Py_XDECREF(site);
            if (r == NULL) {
                Py_DECREF(p);
                return -1;
            }
            Py_DECREF(r);
        }
        Py_DECREF(p);
    }
    return 0;
}

/* Imports "module:callable" ("module" alone means module:application;
 * callable may be dotted, and "name()" calls a factory with no arguments). */
static PyObject *load_app(const char *spec)
{
    char *copy = strdup(spec);
    if (copy == NULL)
        return PyErr_NoMemory();
    char *colon = strchr(copy, ':');
    const char *attr = "application";
    if (colon != NULL) {
        *colon = '\0';
        attr = colon + 1;
    }
    PyObject *obj = PyImport_ImportModule(copy);
    if (obj == NULL)
        goto out;
    char *path = strdup(attr), *save = NULL;
    if (path == NULL) {
        Py_CLEAR(obj);
        PyErr_NoMemory();
        goto out;
    }
    size_t plen = strlen(path);
    int factory = plen > 2 && strcmp(path + plen - 2, "()") == 0;
    if (factory)
        path[plen - 2] = '\0';
    for (char *name = strtok_r(path, ".", &save); name != NULL; name = strtok_r(NULL, ".", &save)) {
        PyObject *next = PyObject_GetAttrString(obj, name);
        if (next == NULL) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_AttributeError, "the app %s: module %s has no attribute %s",
                             spec, copy, attr);
            }
            Py_CLEAR(obj);
            break;
        }
        Py_SETREF(obj, next);
    }
    free(path);
    if (obj != NULL && factory)
        Py_SETREF(obj, PyObject_CallNoArgs(obj));
    if (obj != NULL && !PyCallable_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "the app %s is not callable (it is a %.100s)",
                     spec, Py_TYPE(obj)->tp_name);
        Py_CLEAR(obj);
    }
out:
    free(copy);
    return obj;
}

static PyObject *new_str(const char *s)
{
    PyObject *o = PyUnicode_InternFromString(s);
    return o;
}

static int build_template(gateway_init *init)
{
    PyObject *t = PyDict_New();
    if (t == NULL)
        return -1;
    G.environ_template = t;
    for (size_t i = 0; i < PLACEHOLDERS; i++) {
        key_entry *e = key_lookup(placeholder_keys[i]);
        if (e == NULL)
            return PyErr_NoMemory(), -1;
        G.placeholder_pykeys[i] = e->pykey;
        if (PyDict_SetItem(t, e->pykey, G.s_empty) < 0)
            return -1;
    }
    PyObject *version = Py_BuildValue("(ii)", 1, 0);
    char worker_id[32], generation[32], pid[32];
    snprintf(worker_id, sizeof worker_id, "%d", init->worker_id);
    snprintf(generation, sizeof generation, "%u", (unsigned)init->generation);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    struct { const char *key; PyObject *value; } items[] = {
        { "wsgi.version", version },
        { "wsgi.url_scheme", (Py_INCREF(G.s_http), G.s_http) },
        { "wsgi.input", (Py_INCREF(Py_None), Py_None) },
        { "wsgi.errors", (Py_INCREF(G.errors), G.errors) },
        { "wsgi.multithread", (Py_INCREF(Py_False), Py_False) },
        { "wsgi.multiprocess", (Py_INCREF(Py_True), Py_True) },
        { "wsgi.run_once", (Py_INCREF(Py_False), Py_False) },
        { "wsgi.file_wrapper", (Py_INCREF(&FileWrapperType), (PyObject *)&FileWrapperType) },
        /* wsgi.input ends at the end of the body (chunked bodies too):
         * Werkzeug/Flask then read bodies that have no CONTENT_LENGTH */
        { "wsgi.input_terminated", (Py_INCREF(Py_True), Py_True) },
        { "gateway.worker_id", PyUnicode_FromString(worker_id) },
        { "gateway.generation", PyUnicode_FromString(generation) },
        { "gateway.worker_pid", PyUnicode_FromString(pid) },
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        if (items[i].value == NULL) {
            rc = -1;
            continue;
        }
        PyObject *k = new_str(items[i].key);
        if (k == NULL || PyDict_SetItem(t, k, items[i].value) < 0)
            rc = -1;
        Py_XDECREF(k);
        Py_DECREF(items[i].value);
    }
    return rc;
}

static const char *find_arg(const gateway_init *init, const char *name)
{
    const char *value = NULL;
    for (size_t i = 0; i < init->arg_count; i++)
        if (strcmp(init->args[i].name, name) == 0)
            value = init->args[i].value;   /* the last one wins */
    return value;
}

static int wsgi_init(gateway_init *init)
{
    G.api = init->api;
    G.main_thread = pthread_self();
    static const char *const known[] = { "app", "pythonpath", "virtualenv", "chdir" };
    for (size_t i = 0; i < init->arg_count; i++) {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(init->args[i].name, known[k]) != 0)
            k++;
        if (k == sizeof(known) / sizeof(known[0]))
            return fail(init, "wsgi: unknown app_args key \"%s\" (known: app, pythonpath, "
                              "virtualenv, chdir)", init->args[i].name);
    }
    wsgi_args a = {
        .app = find_arg(init, "app"),
        .pythonpath = find_arg(init, "pythonpath"),
        .virtualenv = find_arg(init, "virtualenv"),
        .chdir = find_arg(init, "chdir"),
    };
    if (a.app == NULL || *a.app == '\0')
        return fail(init, "wsgi: app_args needs app = \"module:callable\" (the WSGI application to serve)");
    if (Py_IsInitialized())
        return fail(init, "wsgi: Python is already initialised in this process");
    if (a.chdir != NULL && *a.chdir != '\0' && chdir(a.chdir) != 0)
        return fail(init, "wsgi: chdir \"%s\": %s", a.chdir, strerror(errno));
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL)
        return fail(init, "wsgi: getcwd: %s", strerror(errno));

    char program[PATH_MAX];
    snprintf(program, sizeof program, "%s", WSGI_PYTHON_EXECUTABLE);
    if (a.virtualenv != NULL && *a.virtualenv != '\0') {
        struct stat st;
        if (stat(a.virtualenv, &st) != 0 || !S_ISDIR(st.st_mode))
            return fail(init, "wsgi: virtualenv \"%s\" is not a directory", a.virtualenv);
        char python[PATH_MAX];
        snprintf(python, sizeof python, "%s/bin/python%d", a.virtualenv, PY_MAJOR_VERSION);
        if (access(python, X_OK) == 0)
            snprintf(program, sizeof program, "%s", python);
    }
    G.app_spec = strdup(a.app);
    if (G.app_spec == NULL)
        return fail(init, "wsgi: out of memory");

    promote_libpython();

    PyStatus status;
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;   /* signals are the worker's */
    config.parse_argv = 0;
    config.buffered_stdio = 0;            /* print() reaches the log at once */
    if (*program != '\0') {
        status = PyConfig_SetBytesString(&config, &config.program_name, program);
        if (PyStatus_Exception(status))
            goto status_fail;
    }
    char *argv[] = { "gatewayd" };
    status = PyConfig_SetBytesArgv(&config, 1, argv);
    if (PyStatus_Exception(status))
        goto status_fail;
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto status_fail;
    PyConfig_Clear(&config);

    G.s_empty = new_str("");
    G.s_close = new_str("close");
    G.s_fileno = new_str("fileno");
    G.s_tell = new_str("tell");
    G.s_wsgi_input = new_str("wsgi.input");
    G.s_wsgi_url_scheme = new_str("wsgi.url_scheme");
    G.s_http = new_str("http");
    G.s_https = new_str("https");
    if (PyErr_Occurred())
        return fail_exception(init, "wsgi: cannot start Python");

    PyObject *tb = PyImport_ImportModule("traceback");
    if (tb != NULL) {
        G.format_exception = PyObject_GetAttrString(tb, "format_exception");
        Py_DECREF(tb);
    }
    PyErr_Clear();

    if (PyType_Ready(&ErrorsType) < 0 || PyType_Ready(&InputType) < 0 ||
        PyType_Ready(&StartResponseType) < 0 || PyType_Ready(&WriteType) < 0 ||
        PyType_Ready(&FileWrapperType) < 0)
        return fail_exception(init, "wsgi: cannot create the WSGI types");
    G.errors = PyType_GenericNew(&ErrorsType, NULL, NULL);
    if (G.errors == NULL || build_template(init) < 0 || prepare_objects() < 0)
        return fail_exception(init, "wsgi: cannot create the WSGI objects");

    if (setup_paths(&a, cwd) < 0)
        return fail_exception(init, "wsgi: cannot set sys.path");

    char what[600];
    snprintf(what, sizeof what, "wsgi: cannot load the app %s", a.app);
    G.app = load_app(a.app);
    if (G.app == NULL)
        return fail_exception(init, what);

    PyObject *prefix = PySys_GetObject("prefix");   /* borrowed */
    const char *prefix_c = prefix && PyUnicode_Check(prefix) ? PyUnicode_AsUTF8(prefix) : NULL;
    PyErr_Clear();
    log_format(NULL, GATEWAY_LOG_INFO, "wsgi: worker %d serves %s with Python %s, prefix %s",
               init->worker_id, a.app, Py_GetVersion(), prefix_c ? prefix_c : "?");
    G.interp = PyInterpreterState_Get();
    G.tstate = PyEval_SaveThread();
    return 0;

status_fail:
    PyConfig_Clear(&config);
    if (PyStatus_IsExit(status))
        return fail(init, "wsgi: Python exited during initialisation (status %d)", status.exitcode);
    return fail(init, "wsgi: cannot initialise Python (program_name %s): %s%s%s", program,
                status.func ? status.func : "", status.func ? ": " : "",
                status.err_msg ? status.err_msg : "unknown error");
}

static void wsgi_shutdown(void *app_data)
{
    (void)app_data;
    if (G.tstate == NULL)
        return;
    PyEval_RestoreThread(G.tstate);
    G.tstate = NULL;
    /* atexit handlers, logging.shutdown(), non-daemon threads joined: what
     * a Python process does when it exits normally. */
    if (Py_FinalizeEx() < 0)
        log_message(NULL, GATEWAY_LOG_WARNING, "wsgi: errors while finalising Python");
}

static const gateway_app_descriptor wsgi_descriptor = {
    .abi_version = GATEWAY_ABI_VERSION,
    .reserved = 0,
    .name = WSGI_NAME,
    .init = wsgi_init,
    .call = wsgi_call,
    .shutdown = wsgi_shutdown,
};

GATEWAY_EXPORT_APP(wsgi_descriptor)

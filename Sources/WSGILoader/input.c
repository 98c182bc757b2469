/*
 * input.c: wsgi.input, the request body as a file-like object. Read from
 * the server as the app asks (api->read), de-chunked, never past the end
 * of the body; a read-ahead buffer only for readline.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <stdlib.h>
#include <string.h>

static int input_check(InputObject *self)
{
    if (!request_alive(self->owner, self->id)) {
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
    got = G.api->read(self->owner->r, dst, n);
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
    if (self->owner->request_length >= 0 && (unsigned long long)self->owner->request_length + 1 > alloc)
        alloc = self->owner->request_length < (16LL << 20) ? (size_t)self->owner->request_length + 1 : (size_t)16 << 20;
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

PyTypeObject InputType = {
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

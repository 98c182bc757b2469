/*
 * errors.c: the loader's voice. wsgi.errors (a file-like object whose
 * lines go to gatewayd's error log), logging through api->log, and the
 * text of a Python exception, for the log and for init->error.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* api->log takes a request only on the thread serving it, and NULL only
 * on the thread that runs init and shutdown: what other threads (the
 * app's own) write to wsgi.errors goes to stderr. */
void log_message(gateway_request *r, int level, const char *message)
{
    if (r == NULL && wsgi_current != NULL)
        r = wsgi_current->r;
    if (G.api != NULL && G.api->log != NULL && (r != NULL || pthread_equal(pthread_self(), G.main_thread)))
        G.api->log(r, level, message);
    else
        fprintf(stderr, "wsgi: %s\n", message);
}

void log_format(gateway_request *r, int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_message(r, level, buf);
}

/* The current exception as text (a full traceback), malloc'ed; clears it. */
char *exception_text(void)
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
void log_exception(gateway_request *r, const char *what)
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

void errors_emit(ErrorsObject *self, int all)
{
    /* the owner's request when its own thread writes; another thread's
     * write (the app kept the stream) goes to stderr */
    gateway_request *r = self->owner != NULL && self->owner == wsgi_current ? self->owner->r : NULL;
    size_t start = 0;
    for (;;) {
        char *nl = memchr(self->buf + start, '\n', self->len - start);
        if (nl == NULL)
            break;
        *nl = '\0';
        if (nl > self->buf + start)
            log_message(r, GATEWAY_LOG_ERROR, self->buf + start);
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
        log_message(r, GATEWAY_LOG_ERROR, self->buf + start);
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

PyObject *return_false(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    Py_RETURN_FALSE;
}

PyObject *return_true(PyObject *self, PyObject *unused)
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

PyTypeObject ErrorsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gatewayd.ErrorStream",
    .tp_basicsize = sizeof(ErrorsObject),
    .tp_dealloc = (destructor)errors_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.errors: gatewayd's error log",
    .tp_methods = errors_methods,
};

int fail(gateway_init *init, const char *fmt, ...)
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
int fail_exception(gateway_init *init, const char *what)
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

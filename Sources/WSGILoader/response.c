/*
 * response.c: start_response, write(), and sending what the app returned:
 * a list or tuple as one write_last (Content-Length framing), any other
 * iterable chunk by chunk, cut at the Content-Length the app declared.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

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

/* Sends body bytes. `last`: these are the final bytes (write_last). A write
 * that completes the Content-Length the app declared is made a write_last
 * too, so that the server can finish the response at once. */
int send_body(wsgi_thread *t, const char *data, size_t len, int last)
{
    if (t->finished) {
        /* PEP 3333: an iterable past its Content-Length is cut there. */
        if (len == 0 || t->from_iterable)
            return 0;
        PyErr_SetString(PyExc_RuntimeError,
                        "body bytes after the end of the response (more than its Content-Length?)");
        return -1;
    }
    if (!t->status_set) {
        PyErr_SetString(PyExc_RuntimeError, "body bytes before start_response() was called");
        return -1;
    }
    if (len == 0 && !last)
        return 0;   /* PEP 3333: an empty chunk sends nothing, not even the headers */
    /* PEP 3333: the server does not transmit more bytes than Content-Length
     * allows and stops iterating once enough was sent (Gunicorn cuts the
     * same way); write() past it is an error (the server refuses it). */
    if (t->from_iterable && t->content_length >= 0 &&
        t->sent + len >= (unsigned long long)t->content_length) {
        len = (size_t)((unsigned long long)t->content_length - t->sent);
        last = 1;
    }
    if (!last && t->content_length >= 0 && t->sent + len == (unsigned long long)t->content_length)
        last = 1;
    int rc;
    /* The server keeps what the socket does not take at once (up to
     * response_buffer_size, 64 KiB by default) and sends it from its
     * loop, and a socket takes 16 KiB at once unless its client stopped
     * reading: a response still that small does not make this call wait,
     * so the GIL is kept (letting it go hands it to another app thread
     * and back, two context switches per request). */
    IO_BEGIN_IF(t->sent + len > RESPONSE_NEVER_WAITS)
    rc = last ? G.api->write_last(t->r, data, len) : G.api->write(t->r, data, len);
    IO_END
    if (rc != GATEWAY_OK) {
        t->body_started = 1;
        PyErr_SetString(PyExc_OSError, "response write failed: the client went away, "
                                       "or the body is longer than its Content-Length");
        return -1;
    }
    t->sent += len;
    t->body_started = 1;
    if (last)
        t->finished = 1;
    return 0;
}

/* A body chunk must be bytes (bytearray and other buffers are accepted). */
static int send_object(wsgi_thread *t, PyObject *chunk, int last)
{
    if (PyBytes_CheckExact(chunk))
        return send_body(t, PyBytes_AS_STRING(chunk), (size_t)PyBytes_GET_SIZE(chunk), last);
    if (PyUnicode_Check(chunk) || !PyObject_CheckBuffer(chunk)) {
        PyErr_Format(PyExc_TypeError, "a WSGI body chunk must be bytes, not %.100s",
                     Py_TYPE(chunk)->tp_name);
        return -1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) < 0)
        return -1;
    int rc = send_body(t, view.buf, (size_t)view.len, last);
    PyBuffer_Release(&view);
    return rc;
}

/* Headers the server sets itself: the hop-by-hop ones, and Status (the
 * server refuses it: over SCGI and FastCGI it would be a second CGI Status
 * line). Dropped here, as Gunicorn drops the hop-by-hop ones. */
static int is_hop_by_hop(const char *name, Py_ssize_t n)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "transfer-encoding", "te", "trailer",
        "upgrade", "proxy-connection", "status",
    };
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if ((size_t)n == strlen(hop[i]) && strncasecmp(name, hop[i], (size_t)n) == 0)
            return 1;
    return 0;
}

int parse_length(const char *s, long long *out)
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

PyObject *start_response_call(PyObject *callable, PyObject *const *args,
                                     size_t nargsf, PyObject *kwnames)
{
    CallObject *self = (CallObject *)callable;
    wsgi_thread *t = self->owner;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *status, *headers, *exc_info = NULL;

    if (!request_alive(t, self->id)) {
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
        if (t->body_started) {
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
    } else if (t->status_set) {
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
            continue;   /* connection management and the status are the server's */
        if (name_len == 14 && strcasecmp(name, "content-length") == 0 &&
            parse_length(value, &content_length) < 0) {
            PyErr_Format(PyExc_ValueError, "Content-Length is not a number: %R", PyTuple_GET_ITEM(h, 1));
            goto done;
        }
        pairs[n].name = name;
        pairs[n].value = value;
        n++;
    }
    if (G.api->start_response(t->r, status_c, pairs, n,
                              t->status_set || exc_info ? GATEWAY_REPLACE : 0) != GATEWAY_OK) {
        PyErr_Format(PyExc_ValueError,
                     "gatewayd refused the status or headers (%R): see the log for why", status);
        goto done;
    }
    t->status_set = 1;
    t->content_length = content_length;
    Py_INCREF(t->write);
    result = (PyObject *)t->write;
done:
    if (pairs != stack_pairs)
        PyMem_Free(pairs);
    Py_DECREF(seq);
    return result;
}

PyObject *write_call(PyObject *callable, PyObject *const *args,
                            size_t nargsf, PyObject *kwnames)
{
    CallObject *self = (CallObject *)callable;
    if (!request_alive(self->owner, self->id)) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after the end of its request");
        return NULL;
    }
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames && PyTuple_GET_SIZE(kwnames) > 0)) {
        PyErr_SetString(PyExc_TypeError, "write(data) takes one bytes argument");
        return NULL;
    }
    if (send_object(self->owner, args[0], 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyTypeObject StartResponseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gatewayd.StartResponse",
    .tp_basicsize = sizeof(CallObject),
    .tp_dealloc = (destructor)PyObject_Del,
    .tp_vectorcall_offset = offsetof(CallObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "start_response(status, headers, exc_info=None) -> write",
};

PyTypeObject WriteType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gatewayd.Write",
    .tp_basicsize = sizeof(CallObject),
    .tp_dealloc = (destructor)PyObject_Del,
    .tp_vectorcall_offset = offsetof(CallObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "write(data): the PEP 3333 write() callable",
};

CallObject *new_call_object(PyTypeObject *type, vectorcallfunc fn)
{
    CallObject *o = PyObject_New(CallObject, type);
    if (o != NULL) {
        o->vectorcall = fn;
        o->owner = NULL;
        o->id = 0;
    }
    return o;
}

/* Sends what the app returned. 0 or -1 with an exception set. */
int send_result(wsgi_thread *t, PyObject *result)
{
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(result);
        PyObject **items = PySequence_Fast_ITEMS(result);
        if (n == 1)
            return send_object(t, items[0], 1);
        if (n == 0)
            return send_body(t, "", 0, 1);
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
            /* the thread's own buffer: send_body releases the GIL */
            char *buf = total <= sizeof t->join ? t->join : PyMem_Malloc(total ? total : 1);
            if (buf == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            size_t off = 0;
            for (Py_ssize_t i = 0; i < n; i++) {
                memcpy(buf + off, PyBytes_AS_STRING(items[i]), (size_t)PyBytes_GET_SIZE(items[i]));
                off += (size_t)PyBytes_GET_SIZE(items[i]);
            }
            int rc = send_body(t, buf, total, 1);
            if (buf != t->join)
                PyMem_Free(buf);
            return rc;
        }
        /* the list is the app's: re-read its size, hold each item */
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(result); i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(result, i);
            Py_INCREF(item);
            int rc = send_object(t, item, i == PySequence_Fast_GET_SIZE(result) - 1);
            Py_DECREF(item);
            if (rc < 0)
                return -1;
        }
        return send_body(t, "", 0, 1);
    }

    if (Py_IS_TYPE(result, &FileWrapperType)) {
        int rc = send_file(t, (FileWrapperObject *)result);
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
        int rc = send_object(t, item, 0);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
        if (t->finished)
            break;   /* the Content-Length is reached: stop iterating */
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration))
            return -1;
        PyErr_Clear();
    }
    if (!t->status_set) {
        PyErr_SetString(PyExc_RuntimeError, "the app returned without calling start_response()");
        return -1;
    }
    return 0;
}

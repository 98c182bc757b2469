/*
 * file_wrapper.c: wsgi.file_wrapper. Returned over a regular file with a
 * descriptor, it is sent with api->sendfile from the file's position;
 * anything else (io.BytesIO) is iterated in blksize chunks.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <structmember.h>

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

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

PyTypeObject FileWrapperType = {
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
int send_file(wsgi_thread *t, FileWrapperObject *fw)
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
    if (!t->status_set) {
        PyErr_SetString(PyExc_RuntimeError, "the app returned a file_wrapper before calling start_response()");
        return -1;
    }
    unsigned long long count = st.st_size > offset ? (unsigned long long)(st.st_size - offset) : 0;
    if (t->content_length >= 0) {
        unsigned long long rest = (unsigned long long)t->content_length > t->sent
                                  ? (unsigned long long)t->content_length - t->sent : 0;
        if (rest < count)
            count = rest;
    }
    if (t->finished) {
        if (count == 0)
            return 1;
        PyErr_SetString(PyExc_RuntimeError, "file_wrapper after the end of the response");
        return -1;
    }
    while (count > 0) {
        size_t n = count > (1ULL << 30) ? (size_t)1 << 30 : (size_t)count;
        int rc;
        IO_BEGIN
        rc = G.api->sendfile(t->r, (int)fd, (off_t)offset, n);
        IO_END
        if (rc != GATEWAY_OK) {
            t->body_started = 1;
            PyErr_SetString(PyExc_OSError, "sendfile failed: the client went away, or the "
                                           "file is shorter than it was");
            return -1;
        }
        t->body_started = 1;
        t->sent += n;
        offset += (long long)n;
        count -= n;
    }
    return 1;
}

/* stack.c: the traceback of every Python thread for the server's stack
 * dumps (a request that timed out, `gatewayctl dump PID`).
 *
 * The server's dump handler (CSupport/stackdump.c) runs in the signalled
 * worker thread and calls the app's optional export
 *     int gateway_dump_stack(int fd);
 * which must be async-signal-safe. We let faulthandler do the Python part:
 * at init it is registered (its documented API, stable from 3.3 to 3.13)
 * for a private signal with all_threads=True and our scratch memfd as its
 * file; gateway_dump_stack raises that signal, so faulthandler's C handler
 * walks every thread's frames right now, on this thread, without running
 * Python code or taking the GIL; then the text is copied to the server's
 * fd. Why not faulthandler straight onto the error log: it writes a line in
 * many small write(2)s, which other workers' lines could land between; the
 * server copies ours one whole line per write. Why not
 * _Py_DumpTracebackThreads: an internal symbol, declared only in internal
 * headers and free to change or disappear between versions. */
#define _GNU_SOURCE
#include "wsgi.h"
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int python_stack_fd = -1;
static int python_stack_signal;

int stack_init(void)
{
    python_stack_signal = SIGRTMIN + 5;
    python_stack_fd = (int)syscall(SYS_memfd_create, "gatewayd-python-stack", MFD_CLOEXEC);
    if (python_stack_fd < 0)
        return -1;
    PyObject *faulthandler = PyImport_ImportModule("faulthandler");
    if (faulthandler == NULL)
        goto fail;
    PyObject *args = Py_BuildValue("(i)", python_stack_signal);
    PyObject *kwargs = Py_BuildValue("{s:i,s:O,s:O}", "file", python_stack_fd, "all_threads", Py_True, "chain", Py_False);
    PyObject *reg = PyObject_GetAttrString(faulthandler, "register");
    PyObject *r = (args && kwargs && reg) ? PyObject_Call(reg, args, kwargs) : NULL;
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_XDECREF(reg);
    Py_DECREF(faulthandler);
    if (r == NULL)
        goto fail;
    Py_DECREF(r);
    return 0;
fail:
    close(python_stack_fd);
    python_stack_fd = -1;
    return -1;
}

/* wsgi.so's gateway_dump_stack (boot.c) calls this: WSGI_PYTHON_DUMP_SYMBOL. */
/* One dump at a time: two app threads' dumps would share the scratch file
 * (an atomic flag is async-signal-safe; the second dump gets -1). */
static atomic_flag dumping = ATOMIC_FLAG_INIT;

static int dump_stack(int fd);

__attribute__((visibility("default"))) int wsgi_python_dump_stack(int fd)
{
    if (atomic_flag_test_and_set(&dumping))
        return -1;
    int rc = dump_stack(fd);
    atomic_flag_clear(&dumping);
    return rc;
}

static int dump_stack(int fd)
{
    if (python_stack_fd < 0)
        return -1;
    if (ftruncate(python_stack_fd, 0) < 0 || lseek(python_stack_fd, 0, SEEK_SET) < 0)
        return -1;
    /* delivered to this thread before raise() returns: faulthandler's
     * handler has written the traceback when we go on */
    if (raise(python_stack_signal) != 0)
        return -1;
    if (lseek(python_stack_fd, 0, SEEK_SET) < 0)
        return -1;
    char buf[4096];
    ssize_t n;
    while ((n = read(python_stack_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            off += w;
        }
    }
    return 0;
}

/*
 * interrupt.c: gateway_interrupt, the server's way to end one call it
 * timed out without killing the worker (with threads > 1 the worker's
 * other requests go on). Like mod_wsgi 6's interrupt-timeout it raises an
 * exception in the Python thread of that call (PyThreadState_SetAsyncExc),
 * gatewayd.RequestTimeout, which derives from BaseException as
 * mod_wsgi.RequestTimeout, KeyboardInterrupt and asyncio.CancelledError
 * do: an app's `except Exception:` (Flask's and Django's error handlers,
 * retry loops) does not swallow it; `finally:` blocks and context managers
 * run. `from gatewayd import RequestTimeout` for apps that clean up. The
 * call then fails: one log line names the request (loader.c), and the
 * server's 500 goes nowhere (the master answered 504).
 *
 * An asynchronous exception lands at the thread's next bytecode: at once
 * in a Python loop, when it returns from a blocking C call (a database
 * read) otherwise. time.sleep is the exception: the loader's replaces it
 * (same arguments, same result) and in a call it waits on the thread's
 * eventfd as well, which gateway_interrupt writes, so a sleeping request
 * ends now rather than when its sleep would have.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* The thread's pending asynchronous exception, if any, is dropped and its
 * wake-up drained: neither may reach the thread's next request. GIL held. */
void interrupt_settle(wsgi_thread *t)
{
    if (t->tstate->async_exc != NULL)
        PyThreadState_SetAsyncExc(t->ident, NULL);
    uint64_t n;
    if (t->wake_fd >= 0)
        while (read(t->wake_fd, &n, sizeof n) == sizeof n)
            ;
}

static PyObject *timed_out(wsgi_thread *t)
{
    interrupt_settle(t);
    PyErr_SetString(G.request_timeout, "the server timed this request out (gateway_interrupt)");
    return NULL;
}

/* time.sleep(secs), woken by gateway_interrupt in a call; anything else
 * (another thread, sleep(0), which only yields the GIL, an argument the
 * original refuses) is the original's. */
static PyObject *interruptible_sleep(PyObject *self, PyObject *arg)
{
    (void)self;
    wsgi_thread *t = wsgi_current;
    if (t == NULL || !t->in_call || t->wake_fd < 0 || !(PyFloat_CheckExact(arg) || PyLong_CheckExact(arg)))
        return PyObject_CallOneArg(G.original_sleep, arg);
    double secs = PyFloat_AsDouble(arg);
    if (secs == -1.0 && PyErr_Occurred())
        return NULL;
    if (!(secs > 0) || !isfinite(secs))
        return PyObject_CallOneArg(G.original_sleep, arg);
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double whole = floor(secs);
    if (whole > 1e12)
        whole = 1e12;
    end.tv_sec = now.tv_sec + (time_t)whole;
    end.tv_nsec = now.tv_nsec + (long)((secs - floor(secs)) * 1e9);
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    for (;;) {
        if (t->interrupted)
            return timed_out(t);
        clock_gettime(CLOCK_MONOTONIC, &now);
        struct timespec left = { end.tv_sec - now.tv_sec, end.tv_nsec - now.tv_nsec };
        if (left.tv_nsec < 0) {
            left.tv_sec--;
            left.tv_nsec += 1000000000L;
        }
        if (left.tv_sec < 0)
            break;
        struct pollfd p = { .fd = t->wake_fd, .events = POLLIN };
        int n, err;
        Py_BEGIN_ALLOW_THREADS
        n = ppoll(&p, 1, &left, NULL);
        err = errno;
        Py_END_ALLOW_THREADS
        if (n < 0 && err == EINTR) {
            if (PyErr_CheckSignals() < 0)
                return NULL;
            continue;
        }
        if (n < 0) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (n == 0)
            break;
        if (t->interrupted)
            return timed_out(t);
        uint64_t drain;   /* a wake-up left from a call that was not interrupted */
        while (read(t->wake_fd, &drain, sizeof drain) == sizeof drain)
            ;
    }
    Py_RETURN_NONE;
}

static PyMethodDef sleep_def = {
    "sleep", interruptible_sleep, METH_O,
    "sleep(seconds)\n\nDelay execution for a given number of seconds (time.sleep; in a request "
    "served by gatewayd, woken when the server interrupts the request).",
};

int interrupt_init(void)
{
    G.request_timeout = PyErr_NewExceptionWithDoc(
        "gatewayd.RequestTimeout",
        "Raised in a request's thread when gatewayd timed the request out (its client got "
        "a 504). A BaseException, as KeyboardInterrupt: clean up and re-raise.",
        PyExc_BaseException, NULL);
    if (G.request_timeout == NULL)
        return -1;
    /* `from gatewayd import RequestTimeout`: in the wheel's gatewayd
     * package when it is installed (python -m gatewayd), else in a module
     * of that name made here. Before sys.path has the app's directories. */
    PyObject *package = PyImport_ImportModule("gatewayd");
    if (package == NULL) {
        PyErr_Clear();
        package = PyImport_AddModule("gatewayd");   /* borrowed, in sys.modules */
        Py_XINCREF(package);
    }
    int set = package != NULL ? PyObject_SetAttrString(package, "RequestTimeout", G.request_timeout) : -1;
    Py_XDECREF(package);
    if (set < 0)
        return -1;
    PyObject *time = PyImport_ImportModule("time");
    if (time == NULL)
        return -1;
    G.original_sleep = PyObject_GetAttrString(time, "sleep");
    PyObject *module = PyUnicode_FromString("time");
    PyObject *fn = G.original_sleep && module ? PyCFunction_NewEx(&sleep_def, NULL, module) : NULL;
    int rc = fn != NULL ? PyObject_SetAttrString(time, "sleep", fn) : -1;
    Py_XDECREF(fn);
    Py_XDECREF(module);
    Py_DECREF(time);
    return rc;
}

/* wsgi.so's gateway_interrupt (boot.c) calls this. From a helper thread of
 * the server, never the event loop: it waits for the GIL. */
__attribute__((visibility("default"))) int wsgi_python_interrupt(unsigned long thread_id)
{
    pthread_mutex_lock(&G.live_lock);
    if (!G.live) {
        pthread_mutex_unlock(&G.live_lock);
        return -1;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    int rc = 0;
    for (wsgi_thread *t = G.threads_list; t != NULL; t = t->next) {
        if (t->ident != thread_id)
            continue;
        if (!t->in_call)
            break;
        int n = PyThreadState_SetAsyncExc(thread_id, G.request_timeout);
        if (n == 1) {
            t->interrupted = 1;
            uint64_t one = 1;
            if (t->wake_fd >= 0 && write(t->wake_fd, &one, sizeof one) < 0) {
                /* the counter is full: it is awake anyway */
            }
            rc = 1;
        } else {
            if (n > 1)   /* the C API's advice: undo, it reached more than one */
                PyThreadState_SetAsyncExc(thread_id, NULL);
            rc = -1;
        }
        break;
    }
    PyGILState_Release(gil);
    pthread_mutex_unlock(&G.live_lock);
    return rc;
}

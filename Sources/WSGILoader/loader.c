/*
 * loader.c: the Python half as a gatewayd app (gateway.h): the descriptor
 * and its three entry points, which wsgi.so's (boot.c) forward to. init
 * checks the app_args and starts Python in the worker; call serves one
 * request (environ, the app, its result, close()) on whichever thread
 * calls, with that thread's wsgi_thread (made on its first call);
 * shutdown finalises Python as a normal interpreter exit does.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct wsgi_state G = { .live_lock = PTHREAD_MUTEX_INITIALIZER };
__thread wsgi_thread *wsgi_current;

/* The per-request objects: reuse last request's when the app kept no
 * reference to them (refcount 1: ours), else make new ones. */
static int prepare_objects(wsgi_thread *t)
{
    if (t->input == NULL || Py_REFCNT(t->input) != 1) {
        Py_XDECREF(t->input);
        t->input = PyObject_New(InputObject, &InputType);
        if (t->input == NULL)
            return -1;
        t->input->owner = t;
        t->input->buf = NULL;
        t->input->cap = 0;
    }
    t->input->id = t->req_id;
    if (t->input->cap > 1024 * 1024) {   /* one request's very long line */
        free(t->input->buf);
        t->input->buf = NULL;
        t->input->cap = 0;
    }
    t->input->pos = t->input->end = 0;
    t->input->eof = 0;
    if (t->start_response == NULL || Py_REFCNT(t->start_response) != 1) {
        Py_XDECREF(t->start_response);
        t->start_response = new_call_object(&StartResponseType, start_response_call);
        if (t->start_response == NULL)
            return -1;
        t->start_response->owner = t;
    }
    t->start_response->id = t->req_id;
    if (t->write == NULL || Py_REFCNT(t->write) != 1) {
        Py_XDECREF(t->write);
        t->write = new_call_object(&WriteType, write_call);
        if (t->write == NULL)
            return -1;
        t->write->owner = t;
    }
    t->write->id = t->req_id;
    return 0;
}

/* The calling OS thread's first call: its thread state (the init
 * thread's own, else a new one, kept: restoring it costs less than
 * PyGILState_Ensure/Release per call), then what is per thread. Returns
 * with the GIL held, or NULL without it (logged). */
static wsgi_thread *thread_attach(void)
{
    PyThreadState *ts = PyGILState_GetThisThreadState();
    int made = ts == NULL;
    if (made)
        ts = PyThreadState_New(G.interp);
    if (ts == NULL) {
        log_message(NULL, GATEWAY_LOG_ERROR, "wsgi: cannot create a Python thread state for an app thread");
        return NULL;
    }
    PyEval_RestoreThread(ts);
    G.loader_tstates += made;
    wsgi_thread *t = calloc(1, sizeof *t);
    if (t == NULL)
        goto fail;
    t->tstate = ts;
    t->ident = PyThread_get_thread_ident();
    t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);   /* -1: time.sleep is not woken */
    t->errors = (ErrorsObject *)PyType_GenericNew(&ErrorsType, NULL, NULL);
    if (t->errors == NULL)
        goto fail;
    t->errors->owner = t;
    t->environ_template = PyDict_Copy(G.environ_template);
    if (t->environ_template == NULL ||
        PyDict_SetItem(t->environ_template, G.s_wsgi_errors, (PyObject *)t->errors) < 0)
        goto fail;
    t->next = G.threads_list;
    G.threads_list = t;
    wsgi_current = t;
    return t;
fail:
    log_exception(NULL, "wsgi: cannot set up an app thread");
    if (t != NULL) {
        Py_XDECREF(t->environ_template);
        Py_XDECREF(t->errors);
        if (t->wake_fd >= 0)
            close(t->wake_fd);
        free(t);
    }
    PyEval_SaveThread();
    return NULL;
}

static void describe_request(gateway_request *r, char *buf, size_t size)
{
    const char *method = G.api->getenv(r, "REQUEST_METHOD");
    const char *path = G.api->getenv(r, "PATH_INFO");
    snprintf(buf, size, "wsgi: exception in the app %s (%s %s)", G.app_spec,
             method ? method : "?", path ? path : "?");
}

/* Where the current exception was raised: "file:line in function". */
static void exception_site(char *buf, size_t size)
{
    PyObject *type, *value, *tb;
    *buf = '\0';
    PyErr_Fetch(&type, &value, &tb);
    PyObject *last = tb;
    Py_XINCREF(last);
    while (last != NULL) {
        PyObject *next = PyObject_GetAttrString(last, "tb_next");
        if (next == NULL || next == Py_None) {
            Py_XDECREF(next);
            break;
        }
        Py_DECREF(last);
        last = next;
    }
    PyObject *frame = last ? PyObject_GetAttrString(last, "tb_frame") : NULL;
    PyObject *line = last ? PyObject_GetAttrString(last, "tb_lineno") : NULL;
    PyCodeObject *code = frame ? PyFrame_GetCode((PyFrameObject *)frame) : NULL;
    if (code != NULL && line != NULL) {
        const char *file = PyUnicode_AsUTF8(code->co_filename);
        const char *name = PyUnicode_AsUTF8(code->co_name);
        snprintf(buf, size, " at %s:%ld in %s", file ? file : "?", PyLong_AsLong(line), name ? name : "?");
    }
    Py_XDECREF(code);
    Py_XDECREF(frame);
    Py_XDECREF(line);
    Py_XDECREF(last);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

/* The app (or its iteration, or close()) raised: the traceback to the log;
 * gatewayd.RequestTimeout from gateway_interrupt: one line naming the
 * request instead (the master answered 504 already). */
static void report_failure(wsgi_thread *t, gateway_request *r, const char *what)
{
    if (t->interrupted)
        interrupt_settle(t);
    if (G.request_timeout != NULL && PyErr_ExceptionMatches(G.request_timeout)) {
        char site[512];
        exception_site(site, sizeof site);
        PyErr_Clear();
        const char *method = G.api->getenv(r, "REQUEST_METHOD");
        const char *uri = G.api->getenv(r, "REQUEST_URI");
        log_format(r, GATEWAY_LOG_ERROR, "wsgi: %s %s interrupted by the server's timeout: "
                   "gatewayd.RequestTimeout raised in the app %s%s", method ? method : "?",
                   uri ? uri : "?", G.app_spec, site);
        t->interrupt_reported = 1;
        return;
    }
    char buf[512];
    describe_request(r, buf, sizeof buf);
    log_exception(r, what ? what : buf);
}

static int wsgi_call(gateway_request *r)
{
    wsgi_thread *t = wsgi_current;
    if (t != NULL)
        PyEval_RestoreThread(t->tstate);
    else if ((t = thread_attach()) == NULL)
        return GATEWAY_ERROR;
    t->r = r;
    t->req_id++;
    t->in_call = 1;
    t->status_set = t->body_started = t->finished = 0;
    t->content_length = -1;
    t->request_length = -1;
    t->sent = 0;

    int rc = GATEWAY_ERROR;
    PyObject *environ = NULL, *result = NULL;
    if (prepare_objects(t) < 0 || (environ = build_environ(t, r)) == NULL) {
        log_exception(r, "wsgi: cannot build the request environ");
        goto out;
    }
    PyObject *args[2] = { environ, (PyObject *)t->start_response };
    result = PyObject_Vectorcall(G.app, args, 2, NULL);
    if (result == NULL) {
        report_failure(t, r, NULL);
        goto out;
    }
    t->from_iterable = 1;
    int sent = send_result(t, result);
    t->from_iterable = 0;
    if (sent < 0)
        report_failure(t, r, NULL);
    else
        rc = GATEWAY_OK;
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
                report_failure(t, r, "wsgi: exception in close() of the app's response");
            Py_XDECREF(res);
        }
    }
out:
    Py_XDECREF(result);
    Py_XDECREF(environ);
    if (t->errors->len > 0)
        errors_emit(t->errors, 1);
    if (PyErr_Occurred())
        log_exception(r, "wsgi: unexpected error");
    /* From here on no Python runs, so the GIL is not let go before the
     * end: an interrupt landed by now is seen here, none can land later. */
    t->in_call = 0;
    if (t->interrupted) {
        /* Interrupted but the app caught the exception and returned: the
         * client has its 504; this response is not its. */
        interrupt_settle(t);
        if (!t->interrupt_reported) {
            const char *method = G.api->getenv(r, "REQUEST_METHOD");
            const char *uri = G.api->getenv(r, "REQUEST_URI");
            log_format(r, GATEWAY_LOG_ERROR, "wsgi: %s %s interrupted by the server's timeout: the app %s "
                       "caught gatewayd.RequestTimeout and went on", method ? method : "?",
                       uri ? uri : "?", G.app_spec);
        }
        rc = GATEWAY_ERROR;
        t->interrupted = t->interrupt_reported = 0;
    }
    t->r = NULL;
    PyEval_SaveThread();
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

/* The app_args, checked: an unknown key is a typo, refused by name. */
static int read_args(gateway_init *init, wsgi_args *a)
{
    static const char *const known[] = { "app", "pythonpath", "virtualenv", "chdir" };
    for (size_t i = 0; i < init->arg_count; i++) {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(init->args[i].name, known[k]) != 0)
            k++;
        if (k == sizeof(known) / sizeof(known[0]))
            return fail(init, "wsgi: unknown app_args key \"%s\" (known: app, pythonpath, "
                              "virtualenv, chdir)", init->args[i].name);
    }
    a->app = find_arg(init, "app");
    a->pythonpath = find_arg(init, "pythonpath");
    a->virtualenv = find_arg(init, "virtualenv");
    a->chdir = find_arg(init, "chdir");
    if (a->app == NULL || *a->app == '\0')
        return fail(init, "wsgi: app_args needs app = \"module:callable\" (the WSGI application to serve)");
    return 0;
}

/* What every request uses, made once Python runs: interned strings, the
 * traceback formatter, the WSGI types, the environ template,
 * gatewayd.RequestTimeout and time.sleep (interrupt.c). What is per
 * thread is made on each thread's first call. */
static int create_objects(gateway_init *init)
{
    G.s_empty = new_str("");
    G.s_close = new_str("close");
    G.s_fileno = new_str("fileno");
    G.s_tell = new_str("tell");
    G.s_wsgi_input = new_str("wsgi.input");
    G.s_wsgi_errors = new_str("wsgi.errors");
    G.s_wsgi_url_scheme = new_str("wsgi.url_scheme");
    G.s_http = new_str("http");
    G.s_https = new_str("https");
    G.s_gateway_protocol = new_str("gateway.protocol");
    G.s_uwsgi = new_str("uwsgi");
    G.s_fastcgi = new_str("fastcgi");
    G.s_scgi = new_str("scgi");
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
    if (interrupt_init() < 0 || build_template(init) < 0)
        return fail_exception(init, "wsgi: cannot create the WSGI objects");
    return 0;
}

static int wsgi_init(gateway_init *init)
{
    G.api = init->api;
    G.main_thread = pthread_self();
    G.threads = init->threads > 1 ? (int)init->threads : 1;
    wsgi_args a;
    if (read_args(init, &a) != 0)
        return 1;
    if (Py_IsInitialized())
        return fail(init, "wsgi: Python is already initialised in this process");
    G.app_spec = strdup(a.app);
    if (G.app_spec == NULL)
        return fail(init, "wsgi: out of memory");
    char cwd[PATH_MAX];
    if (start_python(init, &a, cwd, sizeof cwd) != 0 || create_objects(init) != 0)
        return 1;

    if (setup_paths(&a, cwd) < 0)
        return fail_exception(init, "wsgi: cannot set sys.path");
    char what[600];
    snprintf(what, sizeof what, "wsgi: cannot load the app %s", a.app);
    G.app = load_app(a.app);
    if (G.app == NULL)
        return fail_exception(init, what);

    if (stack_init() != 0) {
        PyErr_Clear();
        log_format(NULL, GATEWAY_LOG_WARNING, "wsgi: faulthandler could not be registered: stack dumps show native frames only");
    }

    PyObject *prefix = PySys_GetObject("prefix");   /* borrowed */
    const char *prefix_c = prefix && PyUnicode_Check(prefix) ? PyUnicode_AsUTF8(prefix) : NULL;
    PyErr_Clear();
    log_format(NULL, GATEWAY_LOG_INFO, "wsgi: worker %d serves %s with Python %s, prefix %s, "
               "libpython %s", init->worker_id, a.app, Py_GetVersion(), prefix_c ? prefix_c : "?",
               G.boot->libpython);
    G.interp = PyInterpreterState_Get();
    G.loader_tstates = 1;
    G.tstate = PyEval_SaveThread();
    pthread_mutex_lock(&G.live_lock);
    G.live = 1;
    pthread_mutex_unlock(&G.live_lock);
    return 0;
}

static void wsgi_shutdown(void *app_data)
{
    (void)app_data;
    /* No gateway_interrupt from here on: it would take a GIL that
     * Py_FinalizeEx is about to destroy. */
    pthread_mutex_lock(&G.live_lock);
    G.live = 0;
    pthread_mutex_unlock(&G.live_lock);
    stop_python();
}

static const gateway_app_descriptor wsgi_descriptor = {
    .abi_version = GATEWAY_ABI_VERSION,
    /* The loader is thread-safe; whether the app is, the operator says
     * with threads > 1, as with Gunicorn's --threads. */
    .flags = GATEWAY_APP_THREAD_SAFE,
    .name = WSGI_NAME,
    .init = wsgi_init,
    .call = wsgi_call,
    .shutdown = wsgi_shutdown,
};

/* boot.c (wsgi.so) calls this once it has loaded libpython. */
__attribute__((visibility("default"))) const gateway_app_descriptor *wsgi_python_app(const wsgi_boot *boot)
{
    G.boot = boot;
    return &wsgi_descriptor;
}

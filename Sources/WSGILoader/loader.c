/*
 * loader.c: the Python half as a gatewayd app (gateway.h): the descriptor
 * and its three entry points, which wsgi.so's (boot.c) forward to. init checks the app_args and starts Python in the
 * worker; call serves one request (environ, the app, its result, close());
 * shutdown finalises Python as a normal interpreter exit does.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsgi_state G;

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
 * traceback formatter, the WSGI types, wsgi.errors, the environ template
 * and the first request's objects. */
static int create_objects(gateway_init *init)
{
    G.s_empty = new_str("");
    G.s_close = new_str("close");
    G.s_fileno = new_str("fileno");
    G.s_tell = new_str("tell");
    G.s_wsgi_input = new_str("wsgi.input");
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
    G.errors = PyType_GenericNew(&ErrorsType, NULL, NULL);
    if (G.errors == NULL || build_template(init) < 0 || prepare_objects() < 0)
        return fail_exception(init, "wsgi: cannot create the WSGI objects");
    return 0;
}

static int wsgi_init(gateway_init *init)
{
    G.api = init->api;
    G.main_thread = pthread_self();
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
    G.tstate = PyEval_SaveThread();
    return 0;
}

static void wsgi_shutdown(void *app_data)
{
    (void)app_data;
    stop_python();
}

static const gateway_app_descriptor wsgi_descriptor = {
    .abi_version = GATEWAY_ABI_VERSION,
    .flags = 0,
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

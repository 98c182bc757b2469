/*
 * interpreter.c: the embedded CPython. Started in init, i.e. in each worker
 * after the fork (the master never runs Python), once boot.c has loaded
 * the libpython of the Python to serve with; configured for the
 * virtualenv (the one configured, or the one gatewayd is installed in)
 * and sys.path; then the app is imported.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
int setup_paths(const wsgi_args *a, const char *cwd)
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

/* realpath(a) == realpath(b), for paths Python and boot.c both name. */
static int same_dir(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    if (realpath(a, ra) == NULL || realpath(b, rb) == NULL)
        return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}

/* Initialises Python with the program_name boot.c chose (the
 * virtualenv's python, from whose pyvenv.cfg Python sets sys.prefix to
 * the venv and finds its base install; else the interpreter itself), in
 * the working directory boot.c changed to (cwd gets it). A virtualenv
 * found rather than configured is stored in a->virtualenv, so that
 * setup_paths adds its site-packages too. 0, or fail()'s 1 with
 * init->error set. */
int start_python(gateway_init *init, wsgi_args *a, char *cwd, size_t cwd_size)
{
    const wsgi_boot *b = G.boot;
    if (getcwd(cwd, cwd_size) == NULL)
        return fail(init, "wsgi: getcwd: %s", strerror(errno));
    a->virtualenv = b->virtualenv;

    PyStatus status;
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;   /* signals are the worker's */
    config.parse_argv = 0;
    config.buffered_stdio = 0;            /* print() reaches the log at once */
    status = PyConfig_SetBytesString(&config, &config.program_name, b->program);
    if (PyStatus_Exception(status))
        goto status_fail;
    char *argv[] = { "gatewayd" };
    status = PyConfig_SetBytesArgv(&config, 1, argv);
    if (PyStatus_Exception(status))
        goto status_fail;
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto status_fail;
    PyConfig_Clear(&config);

    /* A virtualenv with a pyvenv.cfg is sys.prefix, or something (such as
     * PYTHONHOME) made Python another install's: refused, not served. */
    char cfg[PATH_MAX + 16];
    if (b->virtualenv != NULL) {
        snprintf(cfg, sizeof cfg, "%s/pyvenv.cfg", b->virtualenv);
        PyObject *prefix = PySys_GetObject("prefix");   /* borrowed */
        const char *p = prefix && PyUnicode_Check(prefix) ? PyUnicode_AsUTF8(prefix) : NULL;
        PyErr_Clear();
        if (access(cfg, F_OK) == 0 && (p == NULL || !same_dir(p, b->virtualenv)))
            return fail(init, "wsgi: Python %s (%s) started with sys.prefix %s, not the virtualenv "
                        "%s%s", b->version, b->python, p ? p : "?", b->virtualenv,
                        getenv("PYTHONHOME") ? " (PYTHONHOME is set: unset it)" : "");
    }
    return 0;

status_fail:
    PyConfig_Clear(&config);
    if (PyStatus_IsExit(status))
        return fail(init, "wsgi: Python exited during initialisation (status %d)", status.exitcode);
    return fail(init, "wsgi: cannot initialise Python %s (%s, program_name %s): %s%s%s", b->version,
                b->libpython, b->program, status.func ? status.func : "", status.func ? ": " : "",
                status.err_msg ? status.err_msg : "unknown error");
}

/* atexit handlers, logging.shutdown(), non-daemon threads joined: what a
 * Python process does when it exits normally. */
void stop_python(void)
{
    if (G.tstate == NULL)
        return;
    PyEval_RestoreThread(G.tstate);
    G.tstate = NULL;
    if (Py_FinalizeEx() < 0)
        log_message(NULL, GATEWAY_LOG_WARNING, "wsgi: errors while finalising Python");
}

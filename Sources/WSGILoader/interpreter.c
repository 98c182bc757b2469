/*
 * interpreter.c: the embedded CPython. Started in init, i.e. in each worker
 * after the fork (the master never runs Python); configured for the
 * virtualenv (the one configured, or the one gatewayd is installed in),
 * the working directory and sys.path; then the app is imported.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Extension modules (_json, _ssl, numpy...) expect the libpython symbols
 * in the global scope; gatewayd dlopens apps with RTLD_LOCAL, so promote
 * the libpython this object was linked against. */
static void promote_libpython(void)
{
    Dl_info info;
    if (dladdr((void *)&Py_IsInitialized, &info) != 0 && info.dli_fname != NULL)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
}

/* The rpath names the libpython the loader was built against. When the
 * workers' user cannot read that directory (a pyenv under /root), the
 * dynamic linker quietly takes another libpython of the same soname, such
 * as Debian's, with another standard library and prefix: serving with it
 * would run the app on a Python it was not installed for, so the worker
 * refuses to boot instead. NULL when the right one is loaded, else the
 * path of the one that was. */
static const char *wrong_libpython(void)
{
    const char *want = WSGI_PYTHON_LIBDIR;
    size_t n = strlen(want);
    if (n == 0 || strncmp(want, "/usr/lib", 8) == 0 || strncmp(want, "/lib", 4) == 0)
        return NULL;   /* no rpath: the system's libpython is the one */
    Dl_info info;
    if (dladdr((void *)&Py_IsInitialized, &info) == 0 || info.dli_fname == NULL)
        return NULL;
    if (strncmp(info.dli_fname, want, n) == 0 && info.dli_fname[n] == '/')
        return NULL;
    return info.dli_fname;
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

/* The python of a virtualenv, when it has one: program_name, from which
 * Python finds the venv's pyvenv.cfg and so sets sys.prefix to the venv. */
static void venv_program(const char *venv, char *program, size_t size)
{
    char python[PATH_MAX + 32];
    snprintf(python, sizeof python, "%s/bin/python%d", venv, PY_MAJOR_VERSION);
    if (strlen(python) < size && access(python, X_OK) == 0)
        snprintf(program, size, "%s", python);
}

/* Changes to a->chdir (cwd gets the working directory), picks the
 * program_name (the virtualenv's python, else the one built against) and
 * initialises Python. A virtualenv found rather than configured is stored
 * in a->virtualenv, so that setup_paths adds its site-packages too.
 * 0, or fail()'s 1 with init->error set. */
int start_python(gateway_init *init, wsgi_args *a, char *cwd, size_t cwd_size)
{
    if (a->chdir != NULL && *a->chdir != '\0' && chdir(a->chdir) != 0)
        return fail(init, "wsgi: chdir \"%s\": %s", a->chdir, strerror(errno));
    if (getcwd(cwd, cwd_size) == NULL)
        return fail(init, "wsgi: getcwd: %s", strerror(errno));

    char program[PATH_MAX];
    snprintf(program, sizeof program, "%s", WSGI_PYTHON_EXECUTABLE);
    if (a->virtualenv != NULL && *a->virtualenv != '\0') {
        struct stat st;
        if (stat(a->virtualenv, &st) != 0 || !S_ISDIR(st.st_mode))
            return fail(init, "wsgi: virtualenv \"%s\" is not a directory", a->virtualenv);
        venv_program(a->virtualenv, program, sizeof program);
    } else {
        static char found[PATH_MAX];
        if (find_virtualenv(found, sizeof found)) {
            a->virtualenv = found;
            venv_program(found, program, sizeof program);
        }
    }

    promote_libpython();
    const char *loaded = wrong_libpython();
    if (loaded != NULL)
        return fail(init, "wsgi: the workers' user cannot read the Python this loader was built "
                    "against (%s; the system loaded %s instead): make %s readable by that user, "
                    "run the workers as a user who can (user = \"NAME\" or -u NAME), or build the "
                    "loader against a Python they can read (make PYTHON=/usr/bin/python3)",
                    WSGI_PYTHON_LIBDIR, loaded, WSGI_PYTHON_LIBDIR);

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
    return 0;

status_fail:
    PyConfig_Clear(&config);
    if (PyStatus_IsExit(status))
        return fail(init, "wsgi: Python exited during initialisation (status %d)", status.exitcode);
    return fail(init, "wsgi: cannot initialise Python (program_name %s): %s%s%s", program,
                status.func ? status.func : "", status.func ? ": " : "",
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

/*
 * boot.h: between the two halves of the WSGI loader.
 *
 *   wsgi.so              boot.c, venv.c: no Python in it, does not link
 *                        libpython. In the worker's init it finds the
 *                        Python to serve with (the virtualenv's, else the
 *                        default one), asks that interpreter for its
 *                        sysconfig, checks it is the CPython X.Y this
 *                        loader is for, dlopens its libpython RTLD_GLOBAL,
 *                        then the Python half next to itself.
 *   wsgi-python3.X.so    every other file: the loader proper, compiled
 *                        with the headers of a CPython X.Y (they define the
 *                        ABI of that minor version) and not linked against
 *                        libpython either: its Py* symbols resolve to the
 *                        libpython wsgi.so loaded, whichever install of
 *                        X.Y that is.
 *
 * The Python half exports WSGI_PYTHON_APP_SYMBOL: given what boot found, its
 * gateway descriptor, whose init/call/shutdown wsgi.so's own descriptor
 * forwards to.
 */
#ifndef WSGI_BOOT_H
#define WSGI_BOOT_H

#include <gateway.h>

typedef struct wsgi_boot {
    const char *program;     /* program_name: the virtualenv's python, or the interpreter */
    const char *virtualenv;  /* the virtualenv to serve from (absolute), or NULL */
    const char *python;      /* the interpreter (realpath of its sys.executable) */
    const char *version;     /* its sys.version, first word ("3.11.7") */
    const char *prefix;      /* its sys.base_prefix */
    const char *libpython;   /* the libpython loaded */
} wsgi_boot;

#define WSGI_PYTHON_APP_SYMBOL "wsgi_python_app"
typedef const gateway_app_descriptor *(*wsgi_python_app_fn)(const wsgi_boot *boot);
/* The Python half's gateway_dump_stack (stack.c), which wsgi.so's forwards to. */
#define WSGI_PYTHON_DUMP_SYMBOL "wsgi_python_dump_stack"
/* The Python half's gateway_interrupt (interrupt.c), which wsgi.so's forwards to. */
#define WSGI_PYTHON_INTERRUPT_SYMBOL "wsgi_python_interrupt"

/* venv.c (in wsgi.so): the virtualenv gatewayd runs from when app_args
 * names none: 1 with its directory in out, 0 when there is none. */
int find_virtualenv(const gateway_init *init, char *out, size_t size);

#endif

/*
 * appspec.c: the app named as Gunicorn names it: "module:name", "module"
 * (module:application), a dotted name ("pkg.mod:obj.app", gatewayd's own
 * extension) and a factory called with literal arguments
 * ("module:create_app('shop', greeting='yo')"). The part after the colon is
 * parsed with Python's ast module and each argument with ast.literal_eval,
 * as Gunicorn's util.import_app does: nothing in it is ever evaluated.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The parser of the callable part. It returns (names, args, kwargs, None)
 * or (None, None, None, message); the message becomes the exception. */
static const char PARSE_SOURCE[] =
    "import ast\n"
    "def parse(spec, obj):\n"
    "    try:\n"
    "        e = ast.parse(obj.strip(), mode='eval').body\n"
    "    except (SyntaxError, ValueError):\n"
    "        e = None\n"
    "    args = kwargs = None\n"
    "    if isinstance(e, ast.Call):\n"
    "        try:\n"
    "            if any(isinstance(a, ast.Starred) for a in e.args) or any(k.arg is None for k in e.keywords):\n"
    "                raise ValueError\n"
    "            args = [ast.literal_eval(a) for a in e.args]\n"
    "            kwargs = {k.arg: ast.literal_eval(k.value) for k in e.keywords}\n"
    "        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):\n"
    "            return None, None, None, ('the app %s: a factory\\'s arguments must be literals (strings, numbers, '\n"
    "                'tuples, lists, dicts, sets, booleans, None): they are never evaluated' % spec)\n"
    "        e = e.func\n"
    "    names = []\n"
    "    while isinstance(e, ast.Attribute):\n"
    "        names.append(e.attr)\n"
    "        e = e.value\n"
    "    if not isinstance(e, ast.Name):\n"
    "        return None, None, None, ('the app %s: %r is not a name or a call (module:name, '\n"
    "            'module:obj.name, module:factory(literal arguments))' % (spec, obj))\n"
    "    names.append(e.id)\n"
    "    names.reverse()\n"
    "    return names, args, kwargs, None\n";

/* (names, args, kwargs) for `obj`, or NULL with an exception set. */
static PyObject *parse_callable(const char *spec, const char *obj)
{
    PyObject *globals = PyDict_New();
    if (globals == NULL)
        return NULL;
    PyObject *result = NULL;
    if (PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0) {
        PyObject *run = PyRun_String(PARSE_SOURCE, Py_file_input, globals, globals);
        Py_XDECREF(run);
        PyObject *parse = run != NULL ? PyDict_GetItemString(globals, "parse") : NULL;   /* borrowed */
        if (parse != NULL)
            result = PyObject_CallFunction(parse, "ss", spec, obj);
    }
    Py_DECREF(globals);
    if (result == NULL)
        return NULL;
    if (!PyTuple_Check(result) || PyTuple_GET_SIZE(result) != 4) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_RuntimeError, "wsgi: the app's name parser returned something else");
        return NULL;
    }
    PyObject *message = PyTuple_GET_ITEM(result, 3);
    if (message != Py_None) {
        PyErr_SetObject(PyExc_ValueError, message);
        Py_DECREF(result);
        return NULL;
    }
    Py_SETREF(result, PyTuple_GetSlice(result, 0, 3));
    return result;
}

/* Gunicorn's "did you mean" when the module is a file name ("app.py:app"):
 * an ImportError replaced by the module to name instead. */
static void suggest_module(const char *module, const char *obj)
{
    size_t n = strlen(module);
    if (n <= 3 || strcmp(module + n - 3, ".py") != 0 || access(module, F_OK) != 0
        || !PyErr_ExceptionMatches(PyExc_ImportError))
        return;
    char *name = strndup(module, n - 3);
    if (name == NULL)
        return;
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '.';
    PyErr_Clear();
    PyErr_Format(PyExc_ImportError, "%s is a file, not a module: did you mean '%s:%s'?",
                 module, name[0] == '.' ? name + 1 : name, obj);
    free(name);
}

PyObject *load_app(const char *spec)
{
    char *module = strdup(spec);
    if (module == NULL)
        return PyErr_NoMemory();
    char *colon = strchr(module, ':');
    const char *obj = "application";
    if (colon != NULL) {
        *colon = '\0';
        obj = colon + 1;
    }
    PyObject *app = NULL, *parsed = NULL;
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) {
        suggest_module(module, obj);
        goto out;
    }
    parsed = parse_callable(spec, obj);
    if (parsed == NULL)
        goto out;
    PyObject *names = PyTuple_GET_ITEM(parsed, 0), *args = PyTuple_GET_ITEM(parsed, 1),
             *kwargs = PyTuple_GET_ITEM(parsed, 2);
    Py_INCREF(mod);
    app = mod;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(names); i++) {
        PyObject *next = PyObject_GetAttr(app, PyList_GET_ITEM(names, i));
        if (next == NULL) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_AttributeError, "the app %s: module %s has no attribute %U",
                             spec, module, PyList_GET_ITEM(names, i));
            }
            Py_CLEAR(app);
            goto out;
        }
        Py_SETREF(app, next);
    }
    if (args != Py_None) {
        PyObject *tuple = PyList_AsTuple(args);
        if (tuple == NULL) {
            Py_CLEAR(app);
            goto out;
        }
        Py_SETREF(app, PyObject_Call(app, tuple, kwargs));
        Py_DECREF(tuple);
    }
    if (app == Py_None) {
        PyErr_Format(PyExc_TypeError, "the app %s is None (does the factory return the app?)", spec);
        Py_CLEAR(app);
    } else if (app != NULL && !PyCallable_Check(app)) {
        PyErr_Format(PyExc_TypeError, "the app %s is not callable (it is a %.100s)", spec, Py_TYPE(app)->tp_name);
        Py_CLEAR(app);
    }
out:
    Py_XDECREF(parsed);
    Py_XDECREF(mod);
    free(module);
    return app;
}

/*
 * environ.c: the environ dict of each request. A template (the constant
 * wsgi.* keys, placeholders for the CGI keys every request has) is copied
 * and filled from the server's environ; keys are interned once, and a
 * value equal to the last one seen for its key is the same str object.
 * The key cache is shared by the app threads: it is read and changed with
 * the GIL held, and nothing between a lookup and its update runs Python
 * code (no GC-tracked allocation), so no other thread sees it half done.
 */
#define _GNU_SOURCE
#include "wsgi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The CGI keys the server sends with every request: the template holds a
 * placeholder for each, so filling them never grows the dict. One that a
 * request lacks after all is deleted from its environ. */
static const char *const placeholder_keys[] = {
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
    "REQUEST_URI", "SERVER_PROTOCOL", "SERVER_SOFTWARE", "GATEWAY_INTERFACE",
    "SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "REMOTE_PORT",
};
_Static_assert(sizeof(placeholder_keys) / sizeof(placeholder_keys[0]) == PLACEHOLDERS,
               "PLACEHOLDERS (wsgi.h) counts placeholder_keys");
#define ALL_PLACEHOLDERS ((1u << PLACEHOLDERS) - 1)

static uint32_t key_hash(const char *s, size_t *len)
{
    uint32_t h = 2166136261u;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    *len = (size_t)(p - s);
    return h;
}

static key_entry *key_new(const char *key, size_t len, uint32_t hash)
{
    key_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->key = malloc(len + 1);
    e->pykey = PyUnicode_DecodeLatin1(key, (Py_ssize_t)len, NULL);
    if (e->key == NULL || e->pykey == NULL) {
        free(e->key);
        Py_XDECREF(e->pykey);
        free(e);
        PyErr_Clear();
        return NULL;
    }
    PyUnicode_InternInPlace(&e->pykey);
    memcpy(e->key, key, len + 1);
    e->key_len = len;
    e->hash = hash;
    e->slot = -1;
    for (size_t i = 0; i < PLACEHOLDERS; i++)
        if (strcmp(key, placeholder_keys[i]) == 0)
            e->slot = (int)i;
    e->is_content_length = strcmp(key, "CONTENT_LENGTH") == 0;
    return e;
}

/* The cache entry for a key; NULL when the cache is full (or no memory). */
static key_entry *key_lookup(const char *key)
{
    size_t len;
    uint32_t h = key_hash(key, &len);
    size_t i = h & (KEY_TABLE_SIZE - 1);
    for (;;) {
        key_entry *e = G.keys[i];
        if (e == NULL)
            break;
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
        i = (i + 1) & (KEY_TABLE_SIZE - 1);
    }
    if (G.key_count >= KEY_TABLE_MAX)
        return NULL;
    key_entry *e = key_new(key, len, h);
    if (e != NULL) {
        G.keys[i] = e;
        G.key_count++;
    }
    return e;
}

/* A new reference to the str for `value` under key `e`. */
static PyObject *key_value(key_entry *e, const char *value)
{
    size_t len = strlen(value);
    if (e->value != NULL && len == e->value_len && memcmp(e->value_bytes, value, len) == 0) {
        Py_INCREF(e->value);
        return e->value;
    }
    PyObject *v = PyUnicode_DecodeLatin1(value, (Py_ssize_t)len, NULL);
    if (v != NULL && len <= VALUE_CACHE_MAX) {
        Py_XDECREF(e->value);
        Py_INCREF(v);
        e->value = v;
        e->value_len = len;
        memcpy(e->value_bytes, value, len);
    }
    return v;
}

PyObject *build_environ(wsgi_thread *t, gateway_request *r)
{
    const gateway_api *api = G.api;
    PyObject *env = PyDict_Copy(t->environ_template);
    if (env == NULL)
        return NULL;
    unsigned seen = 0;
    size_t count = api->environ_count(r);
    for (size_t i = 0; i < count; i++) {
        const char *k = NULL, *v = NULL;
        if (api->environ_item(r, i, &k, &v) != GATEWAY_OK || k == NULL || v == NULL)
            continue;
        if (k[0] == 'g' && strncmp(k, "gateway.", 8) == 0) {
            /* the gateway.* keys are wsgi.* ones here (the worker's are in the template) */
            if (strcmp(k + 8, "url_scheme") == 0 && strcmp(v, "https") == 0 &&
                PyDict_SetItem(env, G.s_wsgi_url_scheme, G.s_https) < 0)
                goto fail;
            /* gateway.protocol: the template says "http"; the others are
             * interned too, so no request allocates for it */
            if (strcmp(k + 8, "protocol") == 0 && v[0] != 'h') {
                PyObject *p = v[0] == 'u' ? G.s_uwsgi : v[0] == 'f' ? G.s_fastcgi : G.s_scgi;
                if (PyDict_SetItem(env, G.s_gateway_protocol, p) < 0)
                    goto fail;
            }
            continue;
        }
        key_entry *e = i < INDEX_CACHE ? t->by_index[i] : NULL;
        if (e == NULL || strcmp(e->key, k) != 0) {
            e = key_lookup(k);
            if (i < INDEX_CACHE)
                t->by_index[i] = e;
        }
        PyObject *value;
        int rc;
        if (e != NULL) {
            value = key_value(e, v);
            if (value == NULL)
                goto fail;
            rc = PyDict_SetItem(env, e->pykey, value);
            if (e->slot >= 0)
                seen |= 1u << e->slot;
            if (e->is_content_length && parse_length(v, &t->request_length) < 0)
                t->request_length = -1;
        } else {
            value = PyUnicode_DecodeLatin1(v, (Py_ssize_t)strlen(v), NULL);
            if (value == NULL)
                goto fail;
            rc = PyDict_SetItemString(env, k, value);   /* the cache is full: rare */
        }
        Py_DECREF(value);
        if (rc < 0)
            goto fail;
    }
    if (seen != ALL_PLACEHOLDERS) {
        for (size_t i = 0; i < PLACEHOLDERS; i++)
            if (!(seen & (1u << i)) && PyDict_DelItem(env, G.placeholder_pykeys[i]) < 0)
                goto fail;
    }
    if (PyDict_SetItem(env, G.s_wsgi_input, (PyObject *)t->input) < 0)
        goto fail;
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}

int build_template(gateway_init *init)
{
    PyObject *t = PyDict_New();
    if (t == NULL)
        return -1;
    G.environ_template = t;
    for (size_t i = 0; i < PLACEHOLDERS; i++) {
        key_entry *e = key_lookup(placeholder_keys[i]);
        if (e == NULL)
            return PyErr_NoMemory(), -1;
        G.placeholder_pykeys[i] = e->pykey;
        if (PyDict_SetItem(t, e->pykey, G.s_empty) < 0)
            return -1;
    }
    PyObject *version = Py_BuildValue("(ii)", 1, 0);
    char worker_id[32], generation[32], pid[32];
    snprintf(worker_id, sizeof worker_id, "%d", init->worker_id);
    snprintf(generation, sizeof generation, "%u", (unsigned)init->generation);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    struct { const char *key; PyObject *value; } items[] = {
        { "wsgi.version", version },
        { "wsgi.url_scheme", (Py_INCREF(G.s_http), G.s_http) },
        { "wsgi.input", (Py_INCREF(Py_None), Py_None) },
        { "wsgi.errors", (Py_INCREF(Py_None), Py_None) },   /* each thread's copy: its own */
        { "wsgi.multithread", G.threads > 1 ? (Py_INCREF(Py_True), Py_True) : (Py_INCREF(Py_False), Py_False) },
        { "wsgi.multiprocess", (Py_INCREF(Py_True), Py_True) },
        { "wsgi.run_once", (Py_INCREF(Py_False), Py_False) },
        { "wsgi.file_wrapper", (Py_INCREF(&FileWrapperType), (PyObject *)&FileWrapperType) },
        /* wsgi.input ends at the end of the body (chunked bodies too):
         * Werkzeug/Flask then read bodies that have no CONTENT_LENGTH */
        { "wsgi.input_terminated", (Py_INCREF(Py_True), Py_True) },
        { "gateway.worker_id", PyUnicode_FromString(worker_id) },
        { "gateway.generation", PyUnicode_FromString(generation) },
        { "gateway.worker_pid", PyUnicode_FromString(pid) },
        { "gateway.protocol", (Py_INCREF(G.s_http), G.s_http) },
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        if (items[i].value == NULL) {
            rc = -1;
            continue;
        }
        PyObject *k = new_str(items[i].key);
        if (k == NULL || PyDict_SetItem(t, k, items[i].value) < 0)
            rc = -1;
        Py_XDECREF(k);
        Py_DECREF(items[i].value);
    }
    return rc;
}

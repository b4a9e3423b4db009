/*
 * routes.c -- imports handlers.py and calls its routes from native worker
 * threads. Everything that touches Python in the sample is here.
 */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Puts the module's directory first on sys.path and imports it by name. */
static PyObject *
import_file(const char *path)
{
    char dir[4096], name[256];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    PyObject *syspath, *d, *mod;

    if (blen < 4 || strcmp(base + blen - 3, ".py") != 0 ||
        blen - 3 >= sizeof(name)) {
        fprintf(stderr, "threaded_server: %s: not a .py file\n", path);
        return NULL;
    }
    memcpy(name, base, blen - 3);
    name[blen - 3] = '\0';
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    }
    syspath = PySys_GetObject("path"); /* borrowed */
    d = PyUnicode_DecodeFSDefault(dir);
    if (syspath == NULL || d == NULL || PyList_Insert(syspath, 0, d) != 0) {
        Py_XDECREF(d);
        PyErr_Print();
        return NULL;
    }
    Py_DECREF(d);
    mod = PyImport_ImportModule(name);
    if (mod == NULL) {
        fprintf(stderr, "threaded_server: cannot import %s:\n", path);
        PyErr_Print();
    }
    return mod;
}

int
ts_routes_load(ts_routes *r, embprof *ep, const char *handlers_path)
{
    PyObject *mod, *table, *key, *value;
    Py_ssize_t pos = 0;

    memset(r, 0, sizeof(*r));
    r->ep = ep;
    if ((mod = import_file(handlers_path)) == NULL) {
        return -1;
    }
    table = PyObject_GetAttrString(mod, "ROUTES");
    Py_DECREF(mod);
    if (table == NULL || !PyDict_Check(table)) {
        PyErr_Clear();
        fprintf(stderr, "threaded_server: %s has no ROUTES dict\n",
                handlers_path);
        Py_XDECREF(table);
        return -1;
    }
    while (PyDict_Next(table, &pos, &key, &value)) {
        const char *path = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : 0;
        ts_route *rt;

        if (path == NULL || path[0] != '/' || strlen(path) >= 64 ||
            !PyCallable_Check(value)) {
            PyErr_Clear();
            fprintf(stderr,
                    "threaded_server: %s: ROUTES maps \"/path\" (under 64 "
                    "bytes) to a function; bad entry skipped\n",
                    handlers_path);
            continue;
        }
        if (r->count == TS_MAX_ROUTES) {
            fprintf(stderr, "threaded_server: more than %d routes\n",
                    TS_MAX_ROUTES);
            break;
        }
        rt = &r->route[r->count++];
        snprintf(rt->path, sizeof(rt->path), "%s", path);
        snprintf(rt->metric, sizeof(rt->metric), "request_ms.%s", path + 1);
        Py_INCREF(value);
        rt->fn = value;
    }
    Py_DECREF(table);
    if (r->count == 0) {
        fprintf(stderr, "threaded_server: %s: ROUTES is empty\n",
                handlers_path);
        return -1;
    }
    return 0;
}

ts_route *
ts_routes_find(ts_routes *r, const char *path)
{
    int i;

    for (i = 0; i < r->count; i++) {
        if (strcmp(r->route[i].path, path) == 0) {
            return &r->route[i];
        }
    }
    return NULL;
}

static char *
copy_bytes(const char *p, size_t n, size_t *len)
{
    char *b = malloc(n + 1);

    if (b != NULL) {
        memcpy(b, p, n);
        b[n] = '\0';
        *len = n;
    }
    return b;
}

/* Takes the pending exception (normalised, traceback attached). */
static PyObject *
take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* Makes exc (a reference we own) the pending exception again. */
static void
restore_exception(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc,
                  PyException_GetTraceback(exc));
#endif
}

/* The pending exception as "Type: message\n"; prints its traceback the
 * first time this route fails. Clears the exception. */
static char *
describe_error(ts_route *route, size_t *len)
{
    PyObject *exc = take_exception(), *text;
    const char *msg;
    char line[512];

    if (exc == NULL) {
        return copy_bytes("unknown error\n", 14, len);
    }
    text = PyObject_Str(exc);
    msg = text ? PyUnicode_AsUTF8(text) : NULL;
    snprintf(line, sizeof(line), "%s: %s\n", Py_TYPE(exc)->tp_name,
             msg ? msg : "?");
    Py_XDECREF(text);
    PyErr_Clear();
    if (atomic_exchange(&route->traceback_shown, 1) == 0) {
        fprintf(stderr,
                "threaded_server: route %s raised (traceback shown once; "
                "the request got a 500):\n",
                route->path);
        restore_exception(exc);
        PyErr_PrintEx(0);
    } else {
        Py_DECREF(exc);
    }
    return copy_bytes(line, strlen(line), len);
}

int
ts_routes_call(ts_routes *r, ts_route *route, const char *query, char **body,
               size_t *len)
{
    PyGILState_STATE st;
    PyObject *arg, *res = NULL;
    int status = 200;

    *body = NULL;
    *len = 0;
    st = embprof_gil_ensure(r->ep, "threaded_server:routes.c:call");
    arg = PyUnicode_FromString(query);
    if (arg != NULL) {
        res = PyObject_CallOneArg(route->fn, arg);
        Py_DECREF(arg);
    }
    if (res != NULL && PyUnicode_Check(res)) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(res, &n);

        if (p != NULL) {
            *body = copy_bytes(p, (size_t)n, len);
        }
    } else if (res != NULL && PyBytes_Check(res)) {
        *body = copy_bytes(PyBytes_AS_STRING(res),
                           (size_t)PyBytes_GET_SIZE(res), len);
    } else if (res != NULL) {
        PyErr_Format(PyExc_TypeError, "route %s returned %s, not str or bytes",
                     route->path, Py_TYPE(res)->tp_name);
    }
    Py_XDECREF(res);
    if (PyErr_Occurred()) {
        status = 500;
        free(*body);
        *body = describe_error(route, len);
        atomic_fetch_add(&route->errors, 1);
    }
    embprof_gil_release(r->ep, st);
    atomic_fetch_add(&route->calls, 1);
    return status;
}

void
ts_routes_free(ts_routes *r)
{
    int i;

    for (i = 0; i < r->count; i++) {
        Py_CLEAR(r->route[i].fn);
    }
}

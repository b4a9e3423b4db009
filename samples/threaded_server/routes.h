/*
 * routes.h -- the threaded_server sample's Python side: imports the
 * handlers module, keeps its ROUTES table, and calls a route from any
 * native thread through embprof_gil_ensure.
 */
#ifndef TS_ROUTES_H
#define TS_ROUTES_H

#include <Python.h>

#include <embprof.h>

#include <stdatomic.h>
#include <stddef.h>

#define TS_MAX_ROUTES 32

typedef struct ts_route {
    char path[64];      /* "/cpu" */
    char metric[80];    /* "request_ms./cpu", for embprof_observe */
    PyObject *fn;       /* the handler; a strong reference */
    atomic_ulong calls; /* requests answered */
    atomic_ulong errors;
    atomic_int traceback_shown; /* the first exception's traceback only */
} ts_route;

/* Lives from ts_routes_load to ts_routes_free; the metric names are read
 * by the policy engine while embprof runs, so free only after
 * embprof_finalize. Workers only read it (the counters are atomic). */
typedef struct ts_routes {
    ts_route route[TS_MAX_ROUTES];
    int count;
    embprof *ep;
} ts_routes;

/* Imports the module at handlers_path (a .py file) and reads its ROUTES
 * dict. The caller holds the GIL. Returns 0, or -1 after printing why
 * (with Python's traceback when the import failed). */
int ts_routes_load(ts_routes *r, embprof *ep, const char *handlers_path);
/* Finds a route by path; NULL if none. Any thread. */
ts_route *ts_routes_find(ts_routes *r, const char *path);
/* Calls route(query) on the calling native thread: takes the GIL with
 * embprof_gil_ensure, converts the result (str or bytes) into *body
 * (malloc'd, caller frees), releases the GIL. Returns 200, or 500 with
 * *body naming the exception; the first exception of each route prints
 * its traceback to stderr. Must not hold the GIL. */
int ts_routes_call(ts_routes *r, ts_route *route, const char *query,
                   char **body, size_t *len);
/* Drops the references. The caller holds the GIL. */
void ts_routes_free(ts_routes *r);

#endif

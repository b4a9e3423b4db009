/*
 * embed.h -- what the embedding layer shares between its files: the
 * process's runtime (one per process) and the Python-side helpers.
 */
#ifndef EP_EMBED_H
#define EP_EMBED_H

#include <Python.h>

#include "embprof.h"

/* The process's embprof, or NULL. The one documented static of embed/:
 * the Python module and the atexit hook have no other way to reach it.
 * Set and cleared by the init/attach/finalize thread only. */
extern struct embprof *ep_embed_current;

/* The `embprof` module's init function (registered before Py_Initialize
 * or inserted into sys.modules by attach). */
PyObject *ep_pymodule_init(void);
/* Collects Python thread names into the registry. Caller holds the GIL.
 * Never raises (a failure keeps the old names). */
void ep_embed_collect_names(void);
/* Schedules ep_embed_collect_names on the main thread. Any thread; never
 * blocks. */
void ep_embed_schedule_names(struct embprof *ep);
/* Stops probes and writes output.file once (atexit or finalize). */
int ep_embed_shutdown(struct embprof *ep);

#endif

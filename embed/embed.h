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
/* Restores threading.Thread._bootstrap_inner if embprof wrapped it (see
 * pymodule.c). With the GIL, at shutdown. */
void ep_embed_remove_thread_hook(void);
/* Imports threading (main thread only) and installs the wrapper that
 * names each threading.Thread as it starts. With the GIL, at init. */
void ep_embed_prepare_thread_names(void);
/* Schedules ep_embed_collect_names on the main thread. Any thread; never
 * blocks. */
void ep_embed_schedule_names(struct embprof *ep);
/* Stops probes and writes output.file once (atexit or finalize). */
int ep_embed_shutdown(struct embprof *ep);

#endif

/*
 * tracehook.h -- how the tracer is attached to CPython, per version:
 *   3.10, 3.11: a PEP 523 frame-evaluation hook, chained to the one that
 *               was installed before (the specialising interpreter stays
 *               on); builtins through a per-thread C profile function,
 *               lines through a per-frame C trace function, both only
 *               when asked for.
 *   3.12, 3.13: sys.monitoring with a tool id of its own and C vectorcall
 *               callbacks (PY_START/RESUME/THROW, PY_RETURN/YIELD/UNWIND;
 *               CALL/C_RETURN/C_RAISE only for builtins; LINE only on the
 *               code objects tracer.lines selects).
 * Both are interpreter-wide, so threads that exist, threads started later
 * from Python and host threads that get a thread state through PyGILState
 * are all traced.
 */
#ifndef EP_TRACEHOOK_H
#define EP_TRACEHOOK_H

#include <stdbool.h>
#include <stdint.h>

#include "../probes/tracer.h"

/* Asks for the hooks to be on (or off). Under ctl_lock; never waits for
 * the GIL: if the caller holds it the change is made now, otherwise a
 * pending call makes it on the main thread. EMBPROF_EPYTHON (with the
 * reason) if installing fails now. */
int ep_tracehook_request(ep_tracer *tr, bool on);
/* At free: detaches tr from the hooks (they pass through from now on)
 * and removes them. true: tr may be freed now; the caller then frees it
 * and calls ep_tracehook_forget_done(*gil), which gives back the GIL if
 * forget took it (Python runs and the caller did not hold it: after
 * embprof_attach, threads may be inside our hooks, and holding the GIL
 * is what keeps them out while tr goes). false: Python is finalizing and
 * the caller has no GIL (it may not wait for it then), so a thread may
 * still hold tr: it must stay allocated (leaked on purpose). */
bool ep_tracehook_forget(ep_tracer *tr, int *gil);
void ep_tracehook_forget_done(int gil);
/* Static text naming the mechanism of this build. */
const char *ep_tracehook_mechanism(void);

/* Label of a code object the tracer holds a reference to: file, name
 * (co_name, as cProfile) and first line; malloc'd UTF-8. Any thread, no
 * GIL needed (reads immutable strings of a live object). 0 or -1. */
int ep_tracehook_code_label(void *code, char **file, char **name, int *line);
/* The qualified name (co_qualname on 3.11+, co_name on 3.10). */
char *ep_tracehook_code_qualname(void *code);
/* Drops the tracer's references to code objects if the caller holds the
 * GIL and Python runs; otherwise they are kept (leaked on purpose). */
void ep_tracehook_release_codes(void **codes, uint32_t n);

#endif

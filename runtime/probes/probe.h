/*
 * probe.h -- the probe table: what the controller knows about a probe.
 *
 * A probe (sampler, tracer, gil) is a row of ep_probe_table. The
 * controller (runtime.c) owns the lifecycle: it validates start options on
 * a copy of the settings, calls the row's functions under ctl_lock, adopts
 * the settings on success and tells listeners. A probe keeps its state
 * behind a pointer in struct embprof that its init sets. Adding a probe is
 * adding a row here and a file under probes/; nothing else in the
 * controller changes.
 *
 * Start options: "key=value" words where key is the probe's own setting
 * without the prefix (rate=997 for sampler.rate); the prefix is the
 * probe's name.
 */
#ifndef EP_PROBE_H
#define EP_PROBE_H

#include <stdbool.h>
#include <stdio.h>

struct embprof;
struct embprof_config;

typedef struct ep_probe {
    const char *name; /* also the prefix of its settings */
    const char *doc;  /* one line, for help texts */
    /* Start and stop hook into the interpreter and need the GIL: the
     * controller takes it (through ep->python_enter) before ctl_lock when
     * the caller does not hold it, so they work from any thread even when
     * the host's main thread never runs Python again. */
    bool needs_python;
    /* At runtime creation / free (ctl_lock not yet / no longer taken).
     * NULL: nothing to do. destroy runs after stop. */
    int (*init)(struct embprof *ep);
    void (*destroy)(struct embprof *ep);
    /* Under ctl_lock. cfg: the settings with the start options applied;
     * the controller adopts them when start succeeds. EMBPROF_ESTATE if it
     * runs already is checked by the controller first. */
    int (*start)(struct embprof *ep, const struct embprof_config *cfg);
    /* Under ctl_lock; called only while running() is true (or a thread
     * that ended by itself still needs joining: see sampler). The data
     * stays for export. */
    int (*stop)(struct embprof *ep);
    /* Any thread, lock-free. */
    bool (*running)(struct embprof *ep);
    /* Under ctl_lock and after stop: true if a stop() is still owed (a
     * thread that ended by itself). NULL: same as running(). */
    bool (*needs_stop)(struct embprof *ep);
    /* Under ctl_lock: drop the collected data. NULL: none kept. */
    void (*reset)(struct embprof *ep);
    /* Under ctl_lock: extra JSON members for the probe_started event,
     * written after a comma, e.g. "rate":100,"mode":"wall". NULL: none. */
    void (*describe)(struct embprof *ep, FILE *out);
    /* In a fork child (only the forking thread is left). NULL: none. */
    void (*after_fork)(struct embprof *ep);
} ep_probe;

extern const ep_probe *const ep_probe_table[];
extern const size_t ep_probe_count;

/* By name; NULL if unknown. */
const ep_probe *ep_probe_find(const char *name);
/* "sampler|tracer|gil", for messages. Static text. */
const char *ep_probe_names(void);

/* The rows (probes/<name>.c). */
extern const ep_probe ep_probe_sampler;
extern const ep_probe ep_probe_tracer;
extern const ep_probe ep_probe_gil;

#endif

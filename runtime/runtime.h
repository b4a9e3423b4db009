/*
 * runtime.h -- struct embprof, the one runtime object, and the controller
 * behind every front end.
 *
 * The controller is the only code that changes probe state. Each request
 * (start, stop, export, reset, config) runs under ctl_lock, in arrival
 * order, whichever front end sent it: the C API, the Python module, and
 * later the control socket and Lua (which post to the same functions from
 * the control thread). The controller never waits for the GIL and never
 * calls Python, so a request made with or without the GIL cannot deadlock
 * against it; the embed layer supplies the few hooks that need Python
 * (thread-name refresh) and they only schedule work.
 *
 * Locks, in the only order they nest: ctl_lock -> store.lock ->
 * thread-name registry. The sampler thread takes only the last two.
 */
#ifndef EP_RUNTIME_H
#define EP_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "embprof.h"
#include "obsq.h"
#include "options.h"
#include "probes/gil.h"
#include "probes/sampler.h"
#include "probes/tracer.h"
#include "profile/store.h"

struct embprof {
    pthread_mutex_t ctl_lock;  /* the controller's lock */
    struct embprof_config cfg; /* current settings; ctl_lock */
    ep_store store;
    ep_sampler sampler;
    struct ep_tracer *tracer; /* probes/tracer.c; set at init */
    ep_gil *gil;              /* the GIL probe (probes/gil.h) */
    ep_obsq obs;
    uint64_t created_ns;      /* monotonic */
    uint64_t created_real_ns; /* epoch, for profile headers */
    int last_mode;            /* sampler mode of the data in the store */
    int last_rate;

    /* Set by embed/: called under ctl_lock, must not block or wait for the
     * GIL (schedules a refresh of Python thread names). */
    void (*refresh_names)(struct embprof *ep);
    /* Set by embed/: takes the GIL for a probe that needs_python, called
     * by the controller BEFORE ctl_lock (no holder of ctl_lock ever waits
     * for the GIL, so waiting for it here cannot deadlock). Returns a
     * token for python_leave, or -1 when nothing was taken (the caller
     * holds the GIL already, or Python is not running or finalizing). */
    int (*python_enter)(struct embprof *ep);
    void (*python_leave)(struct embprof *ep, int token);

    /* Set by the control server: called after every state change with
     * one JSON object (no newline), from whichever thread made it. Must
     * not block. NULL: nobody listens. */
    void (*on_event)(struct embprof *ep, const char *json);
    struct ep_control *control; /* the control server, or NULL */

    /* Set by the GIL probe while it runs: the share (0..1) of thread time
     * spent waiting for the GIL over its recent interval, or a negative
     * value when it does not know yet. Called by the policy engine
     * (embprof.stats().gil_wait_share) on the control thread; must not
     * block. NULL: no GIL probe, and stats() leaves the field out. */
    double (*gil_wait_share)(struct embprof *ep);

    /* embed/ state (see embed/embed.h). */
    bool owns_python;       /* embprof_init (true) or attach (false) */
    bool control_stuck;     /* the control thread outlived its stop */
    void *main_tstate;      /* PyThreadState of the init thread */
    atomic_bool finalizing; /* set once at shutdown; any thread reads */
    char last_export[4096]; /* ctl_lock */
    int flush_rc;           /* result of writing output.file */
    char flush_error[512];
};

/* Creates the runtime from cfg (copied). Caller owns the result. */
int ep_runtime_new(const struct embprof_config *cfg, struct embprof **out);
/* Stops every probe and frees the runtime. */
void ep_runtime_free(struct embprof *ep);

/* The controller. Any thread; serialised by ctl_lock. */
int ep_ctl_start(struct embprof *ep, const char *probe, const char *options);
int ep_ctl_stop(struct embprof *ep, const char *probe);
int ep_ctl_stop_all(struct embprof *ep);
int ep_ctl_export(struct embprof *ep, const char *format, const char *path);
int ep_ctl_reset(struct embprof *ep);
int ep_ctl_active(struct embprof *ep, const char *probe);
void ep_ctl_stats(struct embprof *ep, embprof_stats *out);
/* Starts what the config enables (sampler.enabled). */
int ep_ctl_autostart(struct embprof *ep);
/* Writes output.file if set (at finalize). */
int ep_ctl_flush(struct embprof *ep);
/* Sets a setting that may change while the host runs (sampler.*,
 * output.dir, log.level); others get EMBPROF_EINVAL naming why. */
int ep_ctl_config_set(struct embprof *ep, const char *key, const char *val);
/* Reads a setting into buf. */
int ep_ctl_config_get(struct embprof *ep, const char *key, char *buf,
                      size_t size);
/* Sends one event line (a JSON object, no newline) to the listeners of
 * on_event, under ctl_lock. Any thread not holding ctl_lock. */
void ep_ctl_emit(struct embprof *ep, const char *json);
/* The path the last successful export wrote (controller's copy). */
void ep_ctl_last_export(struct embprof *ep, char *buf, size_t size);
/* In a fork child: forget threads that did not survive. */
void ep_ctl_after_fork(struct embprof *ep);

#endif

/*
 * sampler.h -- the sampling probe: a plain pthread that, sampler.rate
 * times a second, walks every Python thread's stack through the walker
 * (no GIL, no Python C API) and adds it to the profile store.
 *
 * Ownership: the runtime owns one ep_sampler; the controller (under its
 * lock) is the only caller of start/stop. The sampler thread owns its
 * walker and thread table; it shares only the store (under the store's
 * lock) and the atomic counters below.
 */
#ifndef EP_SAMPLER_H
#define EP_SAMPLER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../profile/store.h"

enum { EP_SAMPLER_WALL, EP_SAMPLER_CPU };

typedef struct ep_sampler_opts {
    int rate; /* Hz */
    int mode; /* EP_SAMPLER_WALL or EP_SAMPLER_CPU */
    bool idle;
    bool gil_only;
    double duration; /* seconds, 0: until stopped */
    int max_depth;
    int memread; /* EP_MEMREAD_* */
} ep_sampler_opts;

typedef struct ep_sampler_counters {
    _Atomic uint64_t ticks, samples, idle_skipped, walk_errors, truncated,
        missed_ticks, cpu_ns, wall_ns, threads_seen;
} ep_sampler_counters;

typedef struct ep_sampler {
    pthread_t thread;
    bool joinable;             /* controller only */
    atomic_bool running;       /* the thread is sampling */
    pthread_mutex_t wake_lock; /* with wake, lets stop cut a sleep */
    pthread_cond_t wake;
    bool stop_requested;  /* guarded by wake_lock */
    ep_sampler_opts opts; /* written before the thread starts */
    ep_store *store;
    /* The GIL probe, asked whether a sampled thread waits for the GIL
     * (a "[waiting for GIL]" leaf frame). Set once at creation. */
    struct ep_gil *gil;
    ep_sampler_counters c;
    char memread_name[24];
} ep_sampler;

int ep_sampler_init(ep_sampler *s, ep_store *store);
void ep_sampler_destroy(ep_sampler *s);
/* Starts the thread. Controller only. EMBPROF_ESTATE if it runs. */
int ep_sampler_start(ep_sampler *s, const ep_sampler_opts *opts);
/* Stops and joins the thread (also one that ended by its duration).
 * Controller only. EMBPROF_ESTATE if it was not running. */
int ep_sampler_stop(ep_sampler *s);
/* True while the thread samples. Any thread. */
bool ep_sampler_running(const ep_sampler *s);
/* Zeroes the counters. */
void ep_sampler_reset_counters(ep_sampler *s);
/* After fork in the child: the thread is gone; forget it. */
void ep_sampler_after_fork(ep_sampler *s);

#endif

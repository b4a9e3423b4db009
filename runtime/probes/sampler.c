/*
 * sampler.c -- the sampler thread.
 *
 * Each tick: list the thread states, decide per thread whether it is
 * sampled (wall mode: running on a CPU, or sampler.idle; cpu mode: its CPU
 * clock advanced; sampler.gil_only: it holds the GIL), walk its stack into
 * private buffers, then intern and aggregate it under the store lock. The
 * thread never takes the GIL, never calls the Python C API and never
 * blocks on anything a host thread holds, except the thread-name registry
 * mutex on a thread's first sighting.
 */
#include "sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "../error.h"
#include "../log.h"
#include "../memread.h"
#include "../py/walker.h"
#include "../threads.h"
#include "gil.h"

/* What the sampler remembers of a thread between ticks. */
typedef struct pthread_info {
    uintptr_t tstate;
    uint64_t ident;
    pid_t tid;
    int stat_fd; /* /proc/self/task/TID/stat, -1 if none */
    uint64_t last_cpu;
    bool have_cpu;
    uint32_t store_idx; /* UINT32_MAX until known */
    uint64_t names_gen;
    uint64_t seen_tick;
} pthread_info;

typedef struct sampler_ctx {
    ep_sampler *s;
    ep_walker w;
    ep_wthread *threads;
    uint32_t *code_slots; /* max_depth per walk, reused */
    int32_t *offsets;
    uint32_t *frame_ids;
    pthread_info *info;
    size_t ninfo, info_cap;
} sampler_ctx;

int
ep_sampler_init(ep_sampler *s, ep_store *store)
{
    pthread_condattr_t ca;

    memset(s, 0, sizeof(*s));
    s->store = store;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&s->wake_lock, NULL) != 0 ||
        pthread_cond_init(&s->wake, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        return ep_error(EMBPROF_EINTERNAL, "sampler: cannot create locks");
    }
    pthread_condattr_destroy(&ca);
    return EMBPROF_OK;
}

void
ep_sampler_destroy(ep_sampler *s)
{
    if (s->joinable) {
        ep_sampler_stop(s);
    }
    pthread_mutex_destroy(&s->wake_lock);
    pthread_cond_destroy(&s->wake);
}

bool
ep_sampler_running(const ep_sampler *s)
{
    return atomic_load(&s->running);
}

void
ep_sampler_reset_counters(ep_sampler *s)
{
    _Atomic uint64_t *c[] = {
        &s->c.ticks,       &s->c.samples,   &s->c.idle_skipped,
        &s->c.walk_errors, &s->c.truncated, &s->c.missed_ticks,
        &s->c.cpu_ns,      &s->c.wall_ns,   &s->c.threads_seen};

    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        atomic_store_explicit(c[i], 0, memory_order_relaxed);
    }
}

static void
bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

/* --- per-thread state -------------------------------------------------- */

static pthread_info *
info_find(sampler_ctx *x, const ep_wthread *t, size_t hint)
{
    pthread_info *p;

    if (hint < x->ninfo && x->info[hint].tstate == t->tstate &&
        x->info[hint].ident == t->ident && x->info[hint].tid == t->tid) {
        return &x->info[hint];
    }
    for (size_t i = 0; i < x->ninfo; i++) {
        if (x->info[i].tstate == t->tstate && x->info[i].ident == t->ident &&
            x->info[i].tid == t->tid) {
            return &x->info[i];
        }
    }
    if (x->ninfo == x->info_cap) {
        size_t cap = x->info_cap ? x->info_cap * 2 : 32;
        pthread_info *n = realloc(x->info, cap * sizeof(*n));

        if (n == NULL) {
            return NULL;
        }
        x->info = n;
        x->info_cap = cap;
    }
    p = &x->info[x->ninfo++];
    memset(p, 0, sizeof(*p));
    p->tstate = t->tstate;
    p->ident = t->ident;
    p->tid = t->tid;
    p->stat_fd = -1;
    p->store_idx = UINT32_MAX;
    p->names_gen = UINT64_MAX;
    if (t->tid != 0) {
        char path[64];

        snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)t->tid);
        p->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    bump(&x->s->c.threads_seen, 1);
    return p;
}

/* Forgets threads not seen this tick. */
static void
info_sweep(sampler_ctx *x, uint64_t tick)
{
    size_t j = 0;

    for (size_t i = 0; i < x->ninfo; i++) {
        if (x->info[i].seen_tick == tick) {
            x->info[j++] = x->info[i];
        } else if (x->info[i].stat_fd >= 0) {
            close(x->info[i].stat_fd);
        }
    }
    x->ninfo = j;
}

/* True if the thread is on a CPU or runnable now ('R' in its stat). A
 * thread we cannot tell about counts as running. */
static bool
is_running(pthread_info *p)
{
    char buf[512];
    ssize_t n;
    char *rp;

    if (p->stat_fd < 0) {
        return true;
    }
    n = pread(p->stat_fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) {
        return true;
    }
    buf[n] = '\0';
    rp = strrchr(buf, ')');
    return rp == NULL || rp[1] == '\0' || rp[2] == 'R';
}

/* Keeps the store's thread entry and name current. Caller holds store
 * lock. */
static void
update_thread(sampler_ctx *x, pthread_info *p)
{
    uint64_t gen = ep_names_generation();
    char name[64];
    bool host;

    if (p->store_idx != UINT32_MAX && p->names_gen == gen) {
        return;
    }
    ep_names_resolve(p->tid, p->ident, name, sizeof(name), &host);
    p->store_idx =
        ep_store_thread(x->s->store, p->ident, p->tid,
                        host ? EP_THREAD_HOST : EP_THREAD_PYTHON, name);
    p->names_gen = gen;
}

/* --- the loop ---------------------------------------------------------- */

static void
sample_tick(sampler_ctx *x, uint64_t tick, uint64_t interval_ns)
{
    ep_sampler *s = x->s;
    const ep_sampler_opts *o = &s->opts;
    int n = ep_walker_threads(&x->w, x->threads, EP_WALK_MAX_THREADS);

    bump(&s->c.ticks, 1);
    if (n < 0) {
        bump(&s->c.walk_errors, 1);
        return;
    }
    for (int i = 0; i < n; i++) {
        ep_wthread *t = &x->threads[i];
        pthread_info *p = info_find(x, t, (size_t)i);
        ep_weights wt = {0};
        int depth;

        if (p == NULL) {
            continue;
        }
        p->seen_tick = tick;
        if (o->mode == EP_SAMPLER_CPU) {
            uint64_t now_cpu;

            if (t->tid == 0 || ep_clock_tid_cpu_ns(t->tid, &now_cpu) != 0) {
                continue;
            }
            wt.cpu_ns = p->have_cpu ? now_cpu - p->last_cpu : 0;
            p->last_cpu = now_cpu;
            p->have_cpu = true;
            if (wt.cpu_ns == 0) {
                bump(&s->c.idle_skipped, 1);
                continue;
            }
        } else if (!o->idle && !is_running(p)) {
            bump(&s->c.idle_skipped, 1);
            continue;
        }
        if (o->gil_only && !t->holds_gil) {
            continue;
        }
        t->code_slot = x->code_slots;
        t->offset = x->offsets;
        if (ep_walker_stack(&x->w, t) != 0) {
            bump(&s->c.walk_errors, 1);
            continue;
        }
        if (t->truncated) {
            bump(&s->c.truncated, 1);
        }
        wt.samples = 1;
        wt.samples_gil = t->holds_gil ? 1 : 0;
        wt.wall_ns = interval_ns;
        pthread_mutex_lock(&s->store->lock);
        update_thread(x, p);
        depth = ep_walker_resolve(&x->w, s->store, t, x->frame_ids);
        if (depth >= 0 && t->tid != 0 && ep_gil_waiting(s->gil, t->tid)) {
            /* A pseudo-frame under the waiting stack (frame_ids has one
             * slot more than max_depth for it). */
            uint32_t file = ep_store_str(s->store, "<embprof>", 9);
            uint32_t name = ep_store_str(s->store, "[waiting for GIL]", 17);
            uint32_t fn = file == UINT32_MAX || name == UINT32_MAX
                              ? UINT32_MAX
                              : ep_store_func(s->store, file, name, 0);
            uint32_t fr = fn == UINT32_MAX ? UINT32_MAX
                                           : ep_store_frame(s->store, fn, 0);

            if (fr != UINT32_MAX) {
                x->frame_ids[depth++] = fr;
            }
        }
        if (depth >= 0 && p->store_idx != UINT32_MAX &&
            ep_store_add(s->store, p->store_idx, x->frame_ids, (uint32_t)depth,
                         &wt, ep_clock_now_ns()) == 0) {
            bump(&s->c.samples, 1);
        }
        pthread_mutex_unlock(&s->store->lock);
    }
    info_sweep(x, tick);
}

/* Sleeps until deadline (monotonic ns) or a stop request. Returns true if
 * asked to stop. */
static bool
sleep_until(ep_sampler *s, uint64_t deadline)
{
    struct timespec ts = {(time_t)(deadline / 1000000000u),
                          (long)(deadline % 1000000000u)};
    bool stop;

    pthread_mutex_lock(&s->wake_lock);
    while (!s->stop_requested &&
           pthread_cond_timedwait(&s->wake, &s->wake_lock, &ts) == 0) {
    }
    stop = s->stop_requested;
    pthread_mutex_unlock(&s->wake_lock);
    return stop;
}

/* xorshift64*: the tick jitter needs speed, not quality. */
static uint64_t
next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ull;
}

static void *
sampler_main(void *arg)
{
    sampler_ctx *x = arg;
    ep_sampler *s = x->s;
    uint64_t period = 1000000000u / (uint64_t)s->opts.rate;
    uint64_t start = ep_clock_now_ns(), prev = start, next = start + period;
    uint64_t cpu0 = ep_clock_thread_cpu_ns(), tick = 0, metered = start;
    uint64_t rnd = start | 1;
    uint64_t jitter = period / 2; /* ticks land in next +- period/4 */
    uint64_t end = s->opts.duration > 0
                       ? start + (uint64_t)(s->opts.duration * 1e9)
                       : UINT64_MAX;

    /* Ticks are jittered around their nominal times: a sampler in lockstep
     * with a periodic workload (a 60 Hz frame loop, a 5 ms timer) would
     * see the same phase every time and misattribute it. The mean rate is
     * unchanged. */
    while (!sleep_until(s, next - jitter / 2 +
                               (jitter ? next_random(&rnd) % jitter : 0))) {
        uint64_t now = ep_clock_now_ns();

        sample_tick(x, ++tick, now - prev);
        prev = now;
        now = ep_clock_now_ns();
        /* The sampler's own figures stay live for stats readers: add its
         * CPU and wall time about ten times a second (a CPU-clock read is
         * a system call, too dear for every tick at high rates). */
        if (now - metered >= 100000000u) {
            uint64_t cpu = ep_clock_thread_cpu_ns();

            bump(&s->c.cpu_ns, cpu - cpu0);
            bump(&s->c.wall_ns, now - metered);
            cpu0 = cpu;
            metered = now;
        }
        next += period;
        if (next <= now) {
            bump(&s->c.missed_ticks, (now - next) / period + 1);
            next = now + period;
        }
        if (now >= end) {
            ep_log(EP_LOG_INFO, "sampler: duration of %gs reached",
                   s->opts.duration);
            break;
        }
    }
    bump(&s->c.cpu_ns, ep_clock_thread_cpu_ns() - cpu0);
    bump(&s->c.wall_ns, ep_clock_now_ns() - metered);
    for (size_t i = 0; i < x->ninfo; i++) {
        if (x->info[i].stat_fd >= 0) {
            close(x->info[i].stat_fd);
        }
    }
    free(x->info);
    ep_walker_close(&x->w);
    free(x->threads);
    free(x->code_slots);
    free(x->offsets);
    free(x->frame_ids);
    free(x);
    atomic_store(&s->running, false);
    return NULL;
}

int
ep_sampler_start(ep_sampler *s, const ep_sampler_opts *opts)
{
    sampler_ctx *x;
    sigset_t all, old;
    size_t d;
    int rc;

    if (atomic_load(&s->running)) {
        return ep_error(EMBPROF_ESTATE, "sampler: already running");
    }
    if (s->joinable) { /* ended by its duration: reap it */
        pthread_join(s->thread, NULL);
        s->joinable = false;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return ep_error(EMBPROF_ENOMEM, "sampler: out of memory");
    }
    x->s = s;
    s->opts = *opts;
    rc = ep_walker_open(&x->w, opts->memread, (uint32_t)opts->max_depth);
    if (rc != EMBPROF_OK) {
        free(x);
        return rc;
    }
    snprintf(s->memread_name, sizeof(s->memread_name), "%s",
             ep_memread_name(&x->w.mr));
    d = (size_t)opts->max_depth;
    x->threads = calloc(EP_WALK_MAX_THREADS, sizeof(*x->threads));
    x->code_slots = malloc(d * sizeof(*x->code_slots));
    x->offsets = malloc(d * sizeof(*x->offsets));
    x->frame_ids = malloc((d + 1) * sizeof(*x->frame_ids));
    if (x->threads == NULL || x->code_slots == NULL || x->offsets == NULL ||
        x->frame_ids == NULL) {
        ep_walker_close(&x->w);
        free(x->threads);
        free(x->code_slots);
        free(x->offsets);
        free(x->frame_ids);
        free(x);
        return ep_error(EMBPROF_ENOMEM, "sampler: out of memory");
    }
    pthread_mutex_lock(&s->wake_lock);
    s->stop_requested = false;
    pthread_mutex_unlock(&s->wake_lock);
    atomic_store(&s->running, true);
    /* The host's signals are the host's: the sampler blocks them all. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->thread, NULL, sampler_main, x);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_store(&s->running, false);
        ep_walker_close(&x->w);
        free(x->threads);
        free(x->code_slots);
        free(x->offsets);
        free(x->frame_ids);
        free(x);
        return ep_error(EMBPROF_EINTERNAL, "sampler: pthread_create: %s",
                        strerror(rc));
    }
    pthread_setname_np(s->thread, "embprof-sampler");
    s->joinable = true;
    return EMBPROF_OK;
}

int
ep_sampler_stop(ep_sampler *s)
{
    bool was_running = atomic_load(&s->running);

    if (!s->joinable) {
        return ep_error(EMBPROF_ESTATE, "sampler: not running");
    }
    pthread_mutex_lock(&s->wake_lock);
    s->stop_requested = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->wake_lock);
    pthread_join(s->thread, NULL);
    s->joinable = false;
    if (!was_running) {
        return ep_error(EMBPROF_ESTATE, "sampler: not running (it ended after "
                                        "sampler.duration)");
    }
    return EMBPROF_OK;
}

void
ep_sampler_after_fork(ep_sampler *s)
{
    pthread_condattr_t ca;

    /* The thread did not survive fork; its memory is leaked on purpose
     * (freeing what another thread owned mid-tick is unsafe). */
    s->joinable = false;
    atomic_store(&s->running, false);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->wake_lock, NULL);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
}

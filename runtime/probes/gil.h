/*
 * gil.h -- the GIL contention probe.
 *
 * Exact waits: take_gil waits for the GIL in pthread_cond_timedwait on
 * gil->cond, and it is the only caller of that function in libpython (or
 * in the executable that links libpython statically). The probe points
 * that object's GOT slot for pthread_cond_timedwait at ep_gil_hook, which
 * times every call on &gil->cond and passes every other call straight
 * through. An uncontended acquisition never calls it, so it costs
 * nothing. One take_gil wait (an "episode") spans several calls, one per
 * switch interval: it ends at the return after which gil->locked is 0
 * (the hook returns holding gil->mutex, so that is exactly when the
 * thread takes the GIL).
 *
 * Hold share: a thread of its own ("embprof-gil", gil.hold_rate Hz) reads
 * gil->locked / last_holder / switch_number (static memory: no GIL, no
 * Python API), samples the holder's stack through the walker, and
 * symbolizes the wait sites the hook recorded.
 *
 * Threads and memory (the hook's rules): the hook runs on host threads
 * under gil->mutex; it never blocks, allocates, locks or calls Python. Each
 * waiting thread owns one ep_gil_thread slot (claimed lock-free, never
 * given back); only that thread writes it, others read its atomics. The
 * probe thread owns the holder table under `lock`; exporters take `lock`.
 * The controller (ctl_lock) starts, stops and resets. Stopping restores
 * the GOT slot, then waits until no thread is inside the hook (at most
 * one switch interval); if that takes too long the ep_gil is never freed,
 * so a thread still inside can finish safely.
 */
#ifndef EP_GIL_H
#define EP_GIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../elfhook.h"

#define EP_GIL_MAX_THREADS 512
#define EP_GIL_HBUCKETS 128 /* log-linear, 4 per power of two from 1 us */
#define EP_GIL_SITES 8      /* distinct wait sites kept per thread */
#define EP_GIL_SITE_FRAMES 3
#define EP_GIL_BEHIND 8 /* distinct holders kept per waiter */
#define EP_GIL_TEXT 240

/* Where a thread was when it started to wait. Written by the owner, then
 * published by storing key last; text is filled by the probe thread. */
typedef struct ep_gil_site {
    _Atomic uint64_t key; /* 0: free */
    const char *ensure;   /* embprof_gil_ensure site (static string) */
    uintptr_t tstate;
    uintptr_t code[EP_GIL_SITE_FRAMES];
    uintptr_t instr[EP_GIL_SITE_FRAMES];
    int nframes;
    _Atomic uint64_t count, wait_ns;
    _Atomic int text_ready; /* 1: text is final */
    char text[EP_GIL_TEXT];
} ep_gil_site;

typedef struct ep_gil_behind {
    _Atomic uint64_t ident; /* the holder's thread_id, 0: free */
    _Atomic uint64_t count; /* samples: wait start and each wake-up */
} ep_gil_behind;

/* One thread that waited for the GIL. Single writer: that thread. */
typedef struct ep_gil_thread {
    _Atomic int32_t tid; /* published last at claim; 0: not ready */
    uint64_t ident;      /* pthread_self */
    _Atomic uintptr_t tstate;
    _Atomic uint64_t wait_ns, wait_count, calls, drops, closed, max_ns;
    _Atomic uint64_t hist[EP_GIL_HBUCKETS];
    _Atomic uint64_t cur_start; /* ns: in a wait since; 0: not waiting */
    _Atomic uint64_t cur_wait;  /* hooked ns of the open wait */
    _Atomic uint64_t site_overflow, behind_other;
    _Atomic uint64_t site_overflow_ns; /* wait time of those sites */
    uint64_t last_switch;              /* owner only */
    int cur_site;                      /* owner only; -1: none */
    ep_gil_site sites[EP_GIL_SITES];
    ep_gil_behind behind[EP_GIL_BEHIND];
} ep_gil_thread;

/* A thread seen by the probe thread (holders and waiters), by its
 * thread_id (a host thread gets a new tstate per outermost Ensure). Under
 * lock. */
typedef struct ep_gil_tinfo {
    uint64_t ident;
    uintptr_t tstate; /* its latest */
    pid_t tid;
    uint64_t cpu0; /* its CPU clock when first seen */
    uint64_t first_ns;
    bool have_cpu;
    uint64_t hold_ticks, long_holds, max_hold_ns;
    struct {
        char text[EP_GIL_TEXT];
        uint64_t count;
    } hold_sites[EP_GIL_SITES];
    uint64_t hold_other;
} ep_gil_tinfo;

typedef struct ep_gil {
    uint64_t epoch; /* tells thread-local slot caches apart */
    pthread_mutex_t lock;
    /* controller (ctl_lock) */
    bool installed, joinable, undrained, found;
    ep_elfhook hook;
    uintptr_t gil; /* struct _gil_runtime_state of the main interpreter */
    pthread_key_t tss_key;
    bool have_tss;
    int hold_rate;
    bool stacks;
    uint64_t started_ns, sn0;
    uint64_t active_ns, switches; /* of runs that ended */
    pthread_t thread;
    atomic_bool stop_flag;
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    pid_t pid;
    /* hook side (atomics) */
    _Atomic uint32_t nthreads; /* slots claimed (may exceed the max) */
    _Atomic uint64_t forced, last_forced_sn, hook_calls, threads_dropped,
        stacks_failed, repatches;
    atomic_bool stacks_off; /* process_vm_readv refused: stop trying */
    /* the holder whose thread_id the hook read last, in which switch;
     * written only under gil->mutex */
    _Atomic uint64_t behind_sn, behind_ident;
    _Atomic uintptr_t behind_holder;
    ep_gil_thread *slots; /* EP_GIL_MAX_THREADS */
    /* probe thread (under lock) */
    ep_gil_tinfo *tinfo;
    size_t ntinfo;
    uint64_t ticks, held_ticks;
    uint64_t cur_hold_sn, cur_hold_start;
    uintptr_t cur_holder, cur_holder_ident;
    pid_t cur_holder_tid;
    int cur_hold_state; /* enum in gil.c: is this hold a native one? */
    uintptr_t snap_frame, snap_instr;
    uint64_t snap_cpu, snap_ns;
    uint64_t names_asked_ns;
    uint64_t share_wait, share_ns; /* ep_gil_wait_share's caller only */
    size_t names_seen;
    /* Set by gil_probe.c: asks embed/ to collect Python thread names
     * (never blocks). Called by the probe thread when threads appear. */
    void (*want_names)(void *arg);
    void *want_names_arg;
} ep_gil;

int ep_gil_init(ep_gil **out);
/* Frees g unless a thread may still be inside the hook. */
void ep_gil_destroy(ep_gil *g);
/* Controller only. */
int ep_gil_start(ep_gil *g, int hold_rate, bool stacks);
int ep_gil_stop(ep_gil *g);
bool ep_gil_running(ep_gil *g);
void ep_gil_reset(ep_gil *g);
void ep_gil_after_fork(ep_gil *g);

/* Records the embprof_gil_ensure site of the calling thread (NULL
 * clears). Any thread, lock-free. */
void ep_gil_set_site(const char *site);
/* True if thread tid waits for the GIL now (the sampler's pseudo-frame).
 * Any thread, lock-free. */
bool ep_gil_waiting(ep_gil *g, pid_t tid);

/* The share (0..1) of thread time spent waiting for the GIL since the
 * previous call, or -1 when not running or on the first call. One caller
 * thread (the policy engine's). Lock-free. */
double ep_gil_wait_share(ep_gil *g);

/* --- reports (export/gil.c formats them) ------------------------------ */

typedef struct ep_gil_row {
    pid_t tid;
    uint64_t ident;
    char name[64];
    bool host;
    uint64_t wait_ns, wait_count, calls, drops, max_ns, open_ns;
    uint64_t p50_ns, p90_ns, p99_ns;
    uint64_t hold_ticks, long_holds, max_hold_ns;
    double held_pct, waiting_pct, running_pct, idle_pct;
    bool have_cpu;
    size_t nsites;
    struct {
        char text[EP_GIL_TEXT];
        uint64_t count, wait_ns;
    } sites[EP_GIL_SITES + 1];
    size_t nbehind;
    struct {
        pid_t tid;
        uint64_t ident;
        char name[64];
        uint64_t count;
    } behind[EP_GIL_BEHIND + 1];
    size_t nhold;
    struct {
        char text[EP_GIL_TEXT];
        uint64_t count;
    } hold_sites[EP_GIL_SITES];
} ep_gil_row;

typedef struct ep_gil_report {
    bool running;
    uint64_t duration_ns, interval_us, switches, forced;
    uint64_t ticks, held_ticks;
    uint64_t hook_calls, episodes, closed, open, threads_dropped,
        stacks_failed, repatches;
    char object[256];
    ep_gil_row *rows; /* malloc'd; waiters first, by wait_ns */
    size_t nrows;
} ep_gil_report;

/* Builds a report of what the probe collected. EMBPROF_ENODATA (with
 * ep_error) if it never ran. Controller (ctl_lock) or any thread that
 * owns g's lifetime. */
int ep_gil_report_get(ep_gil *g, ep_gil_report *r);
void ep_gil_report_free(ep_gil_report *r);

#endif

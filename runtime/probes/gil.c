/*
 * gil.c -- the GIL probe: the pthread_cond_timedwait hook, the per-thread
 * wait slots, and the holder-sampling thread. See gil.h for the rules.
 */
#include "gil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "../error.h"
#include "../log.h"
#include "../memread.h"
#include "../py/layout.h"
#include "../py/walker.h"
#include "../threads.h"

typedef int (*cond_timedwait_fn)(pthread_cond_t *, pthread_mutex_t *,
                                 const struct timespec *);

/* The hook has no user data: these statics are its context (STYLE 7).
 * ep_gil_real and ep_gil_cond are set before the slot is first patched
 * and never change after (the GIL's cond survives fork in place). */
static _Atomic(cond_timedwait_fn) ep_gil_real;
static _Atomic uintptr_t ep_gil_cond;
static _Atomic(ep_gil *) ep_gil_hooked; /* NULL: pass through */
static _Atomic long ep_gil_inflight;    /* threads inside the hook */
static _Atomic uint64_t ep_gil_epochs;

/* Thread-local state, initial-exec so that reading it never allocates. */
#define EP_TLS __thread __attribute__((tls_model("initial-exec")))
static EP_TLS const char *tls_site;
static EP_TLS uint64_t tls_epoch;
static EP_TLS ep_gil_thread *tls_slot;

void
ep_gil_set_site(const char *site)
{
    tls_site = site;
}

/* --- histogram --------------------------------------------------------- */

static unsigned
hbucket(uint64_t ns)
{
    unsigned b, idx;

    if (ns < 1024) {
        return 0;
    }
    b = 63u - (unsigned)__builtin_clzll(ns); /* >= 10 */
    idx = 1 + (b - 10) * 4 + (unsigned)((ns >> (b - 2)) & 3);
    return idx < EP_GIL_HBUCKETS ? idx : EP_GIL_HBUCKETS - 1;
}

/* The middle of bucket i, in ns. */
static uint64_t
hbucket_mid(unsigned i)
{
    unsigned b, sub;
    uint64_t lo, width;

    if (i == 0) {
        return 512;
    }
    b = (i - 1) / 4 + 10;
    sub = (i - 1) % 4;
    width = (uint64_t)1 << (b - 2);
    lo = (4 + sub) * width;
    return lo + width / 2;
}

/* --- the hook ---------------------------------------------------------- */

static inline uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline unsigned long
gil_ulong(const ep_gil *g, size_t off)
{
    return *(volatile const unsigned long *)(g->gil + off);
}

static inline int
gil_int(const ep_gil *g, size_t off)
{
    return *(volatile const int *)(g->gil + off);
}

static inline uintptr_t
gil_ptr(const ep_gil *g, size_t off)
{
    return *(volatile const uintptr_t *)(g->gil + off);
}

/* The calling thread's slot, claimed on its first wait. NULL if full. */
static ep_gil_thread *
thread_slot(ep_gil *g)
{
    uint32_t i;
    ep_gil_thread *t;

    if (tls_epoch == g->epoch) {
        return tls_slot;
    }
    tls_epoch = g->epoch;
    tls_slot = NULL;
    i = atomic_fetch_add(&g->nthreads, 1);
    if (i >= EP_GIL_MAX_THREADS) {
        atomic_fetch_add(&g->threads_dropped, 1);
        return NULL;
    }
    t = &g->slots[i];
    t->ident = (uint64_t)pthread_self();
    t->cur_site = -1;
    atomic_store_explicit(&t->tid, (int32_t)ep_gettid(), memory_order_release);
    tls_slot = t;
    return t;
}

/* Copies n bytes of our own memory without faulting (process_vm_readv):
 * a thread state can be freed under a daemon thread at finalization. */
static bool
safe_read(ep_gil *g, void *dst, uintptr_t src, size_t n)
{
    struct iovec l = {dst, n}, r = {(void *)src, n};
    ssize_t got;

    if (src == 0) {
        return false;
    }
    got = process_vm_readv(g->pid, &l, 1, &r, 1, 0);
    if (got == (ssize_t)n) {
        return true;
    }
    /* errno means something only after a failure: a partial read (the
     * range ends in unmapped memory) leaves a stale one. */
    if (got == -1 && (errno == ENOSYS || errno == EPERM)) {
        atomic_store(&g->stacks_off, true);
        atomic_fetch_add(&g->stacks_failed, 1);
    }
    return false;
}

/* The top frames of the calling thread, which is blocked in take_gil so
 * its frames cannot change. Returns how many were read. Every read here
 * happens under gil->mutex, which the holder's drop_gil needs: at most
 * EP_GIL_SITE_FRAMES + 2 frames are read (two C-stack entry frames
 * skipped), after one or two reads to find the top frame. */
static int
own_frames(ep_gil *g, uintptr_t tstate, uintptr_t *code, uintptr_t *instr)
{
    const ep_py_layout *L = ep_py_layout_get();
    unsigned char fr[256];
    size_t need = 0,
           offs[] = {L->fr_code, L->fr_previous, L->fr_instr, L->fr_owner};
    uintptr_t f;
    int n = 0;

    /* Only the fields we use: 3.10's frame object is ~400 bytes. */
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        if (offs[i] != EP_OFF_NONE && offs[i] + sizeof(uintptr_t) > need) {
            need = offs[i] + sizeof(uintptr_t);
        }
    }
    if (need > sizeof(fr) ||
        !safe_read(g, &f, tstate + L->ts_frame, sizeof(f))) {
        return 0;
    }
    if (L->cframe_current != EP_OFF_NONE && f != 0 &&
        !safe_read(g, &f, f + L->cframe_current, sizeof(f))) {
        return 0;
    }
    for (int guard = 0;
         f != 0 && n < EP_GIL_SITE_FRAMES && guard < EP_GIL_SITE_FRAMES + 2;
         guard++) {
        int owner = -1;

        if (!safe_read(g, fr, f, need)) {
            break;
        }
        if (L->fr_owner != EP_OFF_NONE) {
            owner = (int8_t)fr[L->fr_owner];
        }
        if (owner < 0 || owner != L->owner_cstack) {
            memcpy(&code[n], fr + L->fr_code, sizeof(uintptr_t));
            if (L->frame_kind == EP_FRAMES_OBJECTS) {
                int32_t lasti;

                memcpy(&lasti, fr + L->fr_instr, sizeof(lasti));
                instr[n] = (uintptr_t)(intptr_t)lasti;
            } else {
                memcpy(&instr[n], fr + L->fr_instr, sizeof(uintptr_t));
            }
            n++;
        }
        memcpy(&f, fr + L->fr_previous, sizeof(f));
    }
    return n;
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

/* Finds or adds the site the thread waits at now; returns its index or
 * -1 when the table is full. */
static int
record_site(ep_gil *g, ep_gil_thread *t)
{
    uintptr_t tstate = 0, code[EP_GIL_SITE_FRAMES] = {0},
              instr[EP_GIL_SITE_FRAMES] = {0};
    const char *ensure = tls_site;
    uint64_t key = 1469598103934665603ull;
    int n = 0;

    if (g->have_tss) {
        tstate = (uintptr_t)pthread_getspecific(g->tss_key);
        atomic_store_explicit(&t->tstate, tstate, memory_order_relaxed);
    }
    if (tstate != 0 && g->stacks && !atomic_load(&g->stacks_off)) {
        n = own_frames(g, tstate, code, instr);
    }
    key = mix(key, (uint64_t)(uintptr_t)ensure);
    for (int i = 0; i < n; i++) {
        key = mix(mix(key, code[i]), instr[i]);
    }
    key |= 1; /* never 0 */
    for (int i = 0; i < EP_GIL_SITES; i++) {
        ep_gil_site *s = &t->sites[i];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_relaxed);

        if (k == key) {
            atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
            return i;
        }
        if (k == 0) {
            s->ensure = ensure;
            s->tstate = tstate;
            s->nframes = n;
            memcpy(s->code, code, sizeof(code));
            memcpy(s->instr, instr, sizeof(instr));
            atomic_store_explicit(&s->count, 1, memory_order_relaxed);
            atomic_store_explicit(&s->key, key, memory_order_release);
            return i;
        }
    }
    atomic_fetch_add_explicit(&t->site_overflow, 1, memory_order_relaxed);
    return -1;
}

/* The thread_id of the holder `holder` during switch `sn`: read once per
 * switch and kept in g (every hooked call holds gil->mutex, so the cache
 * has one writer at a time and the holder cannot change under it), so
 * that the wake-ups of every waiter in the same hold cost no read. A
 * holder's tstate freed and reused by another thread without a switch in
 * between (take_gil counts a switch only when the tstate differs) keeps
 * the first thread's id for that hold. 0: unknown. */
static uint64_t
holder_ident(ep_gil *g, uintptr_t holder, unsigned long sn)
{
    uint64_t ident = 0;

    if (holder == 0) {
        return 0;
    }
    if (atomic_load_explicit(&g->behind_holder, memory_order_relaxed) ==
            holder &&
        atomic_load_explicit(&g->behind_sn, memory_order_relaxed) == sn) {
        return atomic_load_explicit(&g->behind_ident, memory_order_relaxed);
    }
    if (atomic_load(&g->stacks_off) ||
        !safe_read(g, &ident, holder + ep_py_layout_get()->ts_thread_id,
                   sizeof(ident))) {
        ident = 0;
    }
    atomic_store_explicit(&g->behind_ident, ident, memory_order_relaxed);
    atomic_store_explicit(&g->behind_sn, sn, memory_order_relaxed);
    atomic_store_explicit(&g->behind_holder, holder, memory_order_relaxed);
    return ident;
}

/* Counts the holder (a tstate) as one the thread waited behind, by its
 * thread_id: a host thread's tstate changes with each outermost Ensure. */
static void
record_behind(ep_gil *g, ep_gil_thread *t, uintptr_t holder, unsigned long sn)
{
    uint64_t ident = holder_ident(g, holder, sn);

    if (ident == 0) {
        return;
    }
    for (int i = 0; i < EP_GIL_BEHIND; i++) {
        ep_gil_behind *b = &t->behind[i];
        uint64_t h = atomic_load_explicit(&b->ident, memory_order_relaxed);

        if (h == ident) {
            atomic_fetch_add_explicit(&b->count, 1, memory_order_relaxed);
            return;
        }
        if (h == 0) {
            atomic_store_explicit(&b->count, 1, memory_order_relaxed);
            atomic_store_explicit(&b->ident, ident, memory_order_release);
            return;
        }
    }
    atomic_fetch_add_explicit(&t->behind_other, 1, memory_order_relaxed);
}

/* Ends the open wait of t that lasted d ns. */
static void
close_wait(ep_gil_thread *t, uint64_t d)
{
    uint64_t max = atomic_load_explicit(&t->max_ns, memory_order_relaxed);

    atomic_fetch_add_explicit(&t->hist[hbucket(d)], 1, memory_order_relaxed);
    if (d > max) {
        atomic_store_explicit(&t->max_ns, d, memory_order_relaxed);
    }
    if (t->cur_site >= 0) {
        atomic_fetch_add_explicit(&t->sites[t->cur_site].wait_ns, d,
                                  memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&t->site_overflow_ns, d,
                                  memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&t->closed, 1, memory_order_relaxed);
    atomic_store_explicit(&t->cur_start, 0, memory_order_release);
}

/* Runs with gil->mutex held (take_gil holds it around its wait). */
static int
ep_gil_hook(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *ts)
{
    cond_timedwait_fn real =
        atomic_load_explicit(&ep_gil_real, memory_order_relaxed);
    const ep_py_layout *L;
    ep_gil_thread *t;
    ep_gil *g;
    unsigned long sn, sn2;
    uint64_t t0, t1;
    int rc, saved, locked;

    if ((uintptr_t)c !=
        atomic_load_explicit(&ep_gil_cond, memory_order_relaxed)) {
        return real(c, m, ts);
    }
    atomic_fetch_add(&ep_gil_inflight, 1);
    g = atomic_load(&ep_gil_hooked);
    if (g == NULL) {
        atomic_fetch_sub(&ep_gil_inflight, 1);
        return real(c, m, ts);
    }
    saved = errno;
    L = ep_py_layout_get();
    atomic_fetch_add_explicit(&g->hook_calls, 1, memory_order_relaxed);
    t = thread_slot(g);
    sn = gil_ulong(g, L->gil_switch_number);
    t0 = now_ns();
    if (t != NULL) {
        uint64_t open =
            atomic_load_explicit(&t->cur_start, memory_order_relaxed);

        /* A continuation of the open wait comes right after its last
         * return, under the same mutex hold: no switch in between. Any
         * other open wait ended while the hook was not installed. */
        if (open != 0 && t->last_switch != sn) {
            close_wait(
                t, atomic_load_explicit(&t->cur_wait, memory_order_relaxed));
            open = 0;
        }
        if (open == 0) {
            atomic_fetch_add_explicit(&t->wait_count, 1, memory_order_relaxed);
            atomic_store_explicit(&t->cur_wait, 0, memory_order_relaxed);
            t->cur_site = record_site(g, t);
            atomic_store_explicit(&t->cur_start, t0, memory_order_release);
            t0 = now_ns(); /* the site's reads are not the GIL's wait */
        }
        record_behind(g, t, gil_ptr(g, L->gil_last_holder), sn);
    }
    rc = real(c, m, ts);
    t1 = now_ns();
    locked = gil_int(g, L->gil_locked);
    sn2 = gil_ulong(g, L->gil_switch_number);
    if (rc == ETIMEDOUT && locked > 0 && sn2 == sn) {
        /* take_gil now sets the drop request (once per switch). */
        uint64_t prev = atomic_exchange(&g->last_forced_sn, sn + 1);

        if (prev != sn + 1) {
            atomic_fetch_add_explicit(&g->forced, 1, memory_order_relaxed);
        }
        if (t != NULL) {
            atomic_fetch_add_explicit(&t->drops, 1, memory_order_relaxed);
        }
    }
    if (t != NULL) {
        atomic_fetch_add_explicit(&t->calls, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->wait_ns, t1 - t0, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->cur_wait, t1 - t0, memory_order_relaxed);
        if (locked <= 0) {
            /* Free: take_gil leaves its loop and takes it now. */
            close_wait(t, t1 - atomic_load_explicit(&t->cur_start,
                                                    memory_order_relaxed));
        } else {
            t->last_switch = sn2;
            record_behind(g, t, gil_ptr(g, L->gil_last_holder), sn2);
        }
    }
    errno = saved;
    atomic_fetch_sub(&ep_gil_inflight, 1);
    return rc;
}

bool
ep_gil_waiting(ep_gil *g, pid_t tid)
{
    uint32_t n;

    if (g == NULL || atomic_load(&ep_gil_hooked) != g) {
        return false;
    }
    n = atomic_load(&g->nthreads);
    n = n < EP_GIL_MAX_THREADS ? n : EP_GIL_MAX_THREADS;
    /* Newest first: a tid the kernel reused belongs to the thread that
     * claimed a slot last; an older slot with it is a dead thread's. */
    for (uint32_t i = n; i-- > 0;) {
        ep_gil_thread *t = &g->slots[i];

        if (atomic_load_explicit(&t->tid, memory_order_acquire) == tid) {
            return atomic_load_explicit(&t->cur_start, memory_order_relaxed) !=
                   0;
        }
    }
    return false;
}

/* --- lifecycle --------------------------------------------------------- */

int
ep_gil_init(ep_gil **out)
{
    ep_gil *g = calloc(1, sizeof(*g));
    pthread_condattr_t ca;

    *out = NULL;
    if (g == NULL ||
        (g->slots = calloc(EP_GIL_MAX_THREADS, sizeof(*g->slots))) == NULL ||
        (g->tinfo = calloc(EP_GIL_MAX_THREADS, sizeof(*g->tinfo))) == NULL) {
        if (g != NULL) {
            free(g->slots);
        }
        free(g);
        return ep_error(EMBPROF_ENOMEM, "gil: out of memory");
    }
    g->epoch = atomic_fetch_add(&ep_gil_epochs, 1) + 1;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&g->wake_lock, NULL);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    *out = g;
    return EMBPROF_OK;
}

void
ep_gil_destroy(ep_gil *g)
{
    if (g == NULL) {
        return;
    }
    if (g->installed || g->joinable) {
        ep_gil_stop(g);
    }
    if (g->undrained) {
        /* A thread may still be inside the hook with g: keep it. */
        ep_log(EP_LOG_WARN, "gil: a thread stayed in the GIL wait hook; "
                            "its state is kept (not freed)");
        return;
    }
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->wake_lock);
    pthread_cond_destroy(&g->wake);
    free(g->slots);
    free(g->tinfo);
    free(g);
}

bool
ep_gil_running(ep_gil *g)
{
    return g != NULL && g->installed;
}

/* Finds the main interpreter's GIL; reads through safe reads since
 * Python may not be initialised. */
static int
locate_gil(ep_gil *g)
{
    const ep_py_layout *L = ep_py_layout_get();
    ep_reader mr;
    uintptr_t interp = 0, gil = L->gil_static;
    int locked = -1;
    int rc;

    if (L->gil_disabled) {
        return ep_error(EMBPROF_EUNSUPPORTED,
                        "gil: no GIL: this is a free-threaded CPython");
    }
    rc = ep_memread_open(&mr, EP_MEMREAD_AUTO);
    if (rc != EMBPROF_OK) {
        return rc;
    }
    if (gil == 0) {
        if (ep_memread(&mr, &interp, L->runtime + L->rt_interp_main,
                       sizeof(interp)) != 0 ||
            interp == 0 ||
            ep_memread(&mr, &gil, interp + L->is_gil_ptr, sizeof(gil)) != 0) {
            gil = 0;
        }
    }
    if (gil != 0 &&
        ep_memread(&mr, &locked, gil + L->gil_locked, sizeof(locked)) != 0) {
        locked = -1;
    }
    ep_memread_close(&mr);
    if (gil == 0 || locked < 0) {
        return ep_error(EMBPROF_ESTATE,
                        "gil: the interpreter has no GIL yet (Python is not "
                        "initialised)");
    }
    g->gil = gil;
    return EMBPROF_OK;
}

static void *gil_thread_main(void *arg);

/* How long stop waits for threads inside the hook: a thread there
 * returns within one switch interval unless the machine starves it. */
static uint64_t
ep_gil_drain_ns(const ep_gil *g)
{
    const ep_py_layout *L = ep_py_layout_get();

    return 2u * 1000u * (uint64_t)gil_ulong(g, L->gil_interval) + 1000000000u;
}

/* Waits until no thread is inside the hook; false after `limit_ns`. */
static bool
drain(uint64_t limit_ns)
{
    uint64_t end = ep_clock_now_ns() + limit_ns;

    while (atomic_load(&ep_gil_inflight) != 0) {
        struct timespec ts = {0, 100000};

        if (ep_clock_now_ns() > end) {
            return false;
        }
        nanosleep(&ts, NULL);
    }
    return true;
}

/* Closes every wait still open, with what was measured, once no thread
 * is inside the hook (so no slot has a writer). A thread that was in a
 * wait when the slot was restored, or that left take_gil without
 * returning (a daemon thread ending in PyThread_exit_thread), would
 * otherwise stay "waiting" into the next run: the sampler's pseudo-frame
 * and the reports' open count. */
static void
close_open_waits(ep_gil *g)
{
    uint32_t n = atomic_load(&g->nthreads);

    n = n < EP_GIL_MAX_THREADS ? n : EP_GIL_MAX_THREADS;
    for (uint32_t i = 0; i < n; i++) {
        ep_gil_thread *t = &g->slots[i];

        if (atomic_load_explicit(&t->tid, memory_order_acquire) != 0 &&
            atomic_load(&t->cur_start) != 0) {
            close_wait(t, atomic_load(&t->cur_wait));
        }
    }
}

int
ep_gil_start(ep_gil *g, int hold_rate, bool stacks)
{
    const ep_py_layout *L = ep_py_layout_get();
    ep_gil *other = NULL;
    sigset_t all, old;
    int rc;

    if (g->installed) {
        return ep_error(EMBPROF_ESTATE, "gil: already running");
    }
    if (g->undrained && drain(ep_gil_drain_ns(g))) {
        g->undrained = false; /* the straggler has left the hook */
        close_open_waits(g);
    }
    if (g->undrained) {
        return ep_error(EMBPROF_EBUSY,
                        "gil: a thread is still inside the previous run's "
                        "hook; try again");
    }
    rc = locate_gil(g);
    if (rc != EMBPROF_OK) {
        return rc;
    }
    if (!g->found) {
        rc = ep_elfhook_find((const void *)L->runtime,
                             "pthread_cond_timedwait", &g->hook);
        if (rc == EMBPROF_ENOTFOUND) {
            return ep_error(EMBPROF_EUNSUPPORTED,
                            "gil: cannot interpose the GIL wait: %s",
                            embprof_last_error());
        }
        if (rc != EMBPROF_OK) {
            return rc;
        }
        g->found = true;
    }
    /* The GIL exists, so PyGILState's key was created (it never
     * changes after; a fork child keeps it). */
    g->pid = getpid();
    g->tss_key = *(const pthread_key_t *)L->tss_key;
    g->have_tss = true;
    g->hold_rate = hold_rate;
    g->stacks = stacks;
    g->sn0 = gil_ulong(g, L->gil_switch_number);
    g->started_ns = ep_clock_now_ns();
    atomic_store(&g->stop_flag, false);

    atomic_store(&g->behind_holder, 0); /* read the holder afresh */
    atomic_store(&ep_gil_real, (cond_timedwait_fn)g->hook.real);
    atomic_store(&ep_gil_cond, g->gil + L->gil_cond);
    if (!atomic_compare_exchange_strong(&ep_gil_hooked, &other, g)) {
        return ep_error(EMBPROF_EBUSY, "gil: another embprof runtime in this "
                                       "process runs the GIL probe");
    }
    rc = ep_elfhook_write(&g->hook, (void *)ep_gil_hook);
    if (rc != EMBPROF_OK) {
        atomic_store(&ep_gil_hooked, NULL);
        return rc;
    }
    g->installed = true;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&g->thread, NULL, gil_thread_main, g);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ep_gil_stop(g);
        return ep_error(EMBPROF_EINTERNAL, "gil: pthread_create: %s",
                        strerror(rc));
    }
    pthread_setname_np(g->thread, "embprof-gil");
    g->joinable = true;
    return EMBPROF_OK;
}

int
ep_gil_stop(ep_gil *g)
{
    const ep_py_layout *L = ep_py_layout_get();

    if (!g->installed && !g->joinable) {
        return ep_error(EMBPROF_ESTATE, "gil: not running");
    }
    if (g->joinable) {
        pthread_mutex_lock(&g->wake_lock);
        atomic_store(&g->stop_flag, true);
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->wake_lock);
        pthread_join(g->thread, NULL);
        g->joinable = false;
    }
    if (g->installed) {
        /* Restore the slot, then stop reporting; a thread already inside
         * finishes its call and its wait is still counted. */
        ep_elfhook_write(&g->hook, g->hook.real);
        ep_error_clear();
        atomic_store(&ep_gil_hooked, NULL);
        if (drain(ep_gil_drain_ns(g))) {
            close_open_waits(g);
        } else {
            g->undrained = true;
            ep_log(EP_LOG_WARN, "gil: a thread is still inside the GIL wait "
                                "hook after stop");
        }
        g->installed = false;
        g->active_ns += ep_clock_now_ns() - g->started_ns;
        g->switches += gil_ulong(g, L->gil_switch_number) - g->sn0;
    }
    return EMBPROF_OK;
}

void
ep_gil_reset(ep_gil *g)
{
    bool was = g->installed;
    int hold_rate = g->hold_rate;
    bool stacks = g->stacks;

    if (was) {
        ep_gil_stop(g);
    }
    if (g->undrained && drain(ep_gil_drain_ns(g))) {
        g->undrained = false;
    }
    if (!g->undrained) {
        uint32_t n = atomic_load(&g->nthreads);

        n = n < EP_GIL_MAX_THREADS ? n : EP_GIL_MAX_THREADS;
        for (uint32_t i = 0; i < n; i++) {
            ep_gil_thread *t = &g->slots[i];
            int32_t tid = atomic_load(&t->tid);
            uint64_t ident = t->ident;

            memset(t, 0, sizeof(*t)); /* nobody is inside the hook */
            t->ident = ident;
            t->cur_site = -1;
            atomic_store(&t->tid, tid);
        }
        atomic_store(&g->forced, 0);
        atomic_store(&g->hook_calls, 0);
        atomic_store(&g->threads_dropped, 0);
        atomic_store(&g->stacks_failed, 0);
        atomic_store(&g->repatches, 0);
    }
    pthread_mutex_lock(&g->lock);
    g->ntinfo = 0;
    g->ticks = g->held_ticks = 0;
    g->cur_holder = 0;
    pthread_mutex_unlock(&g->lock);
    g->active_ns = g->switches = 0;
    if (was) {
        ep_gil_start(g, hold_rate, stacks);
    }
}

void
ep_gil_after_fork(ep_gil *g)
{
    pthread_condattr_t ca;

    /* Only this thread is left: nothing is inside the hook. */
    atomic_store(&ep_gil_inflight, 0);
    if (g->installed) {
        ep_elfhook_write(&g->hook, g->hook.real);
        atomic_store(&ep_gil_hooked, NULL);
        g->installed = false;
    }
    g->joinable = false;
    g->undrained = false;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&g->wake_lock, NULL);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
}

/* --- the probe thread -------------------------------------------------- */

typedef struct gil_ctx {
    ep_gil *g;
    ep_walker w;
    bool have_walker;
    ep_wthread *threads;
    int nthreads;
    uint32_t *code_slots;
    int32_t *offsets;
    uint64_t listed_ns;
} gil_ctx;

#define EP_GIL_WALK_DEPTH 64
#define EP_GIL_LIST_NS 20000000u /* re-list thread states every 20 ms */

/* The entry of thread `ident`, made on first sight. Caller holds
 * g->lock. */
static ep_gil_tinfo *
tinfo_for(ep_gil *g, uint64_t ident, pid_t tid, uintptr_t tstate)
{
    ep_gil_tinfo *ti;

    if (ident == 0) {
        return NULL;
    }
    for (size_t i = 0; i < g->ntinfo; i++) {
        ti = &g->tinfo[i];
        if (ti->ident == ident) {
            if (tstate != 0) {
                ti->tstate = tstate;
            }
            if (tid != 0 && ti->tid != tid) {
                ti->tid = tid; /* a pthread_t reused by a new thread */
                ti->have_cpu = ep_clock_tid_cpu_ns(tid, &ti->cpu0) == 0;
                ti->first_ns = ep_clock_now_ns();
            }
            return ti;
        }
    }
    if (g->ntinfo == EP_GIL_MAX_THREADS) {
        return NULL;
    }
    ti = &g->tinfo[g->ntinfo++];
    memset(ti, 0, sizeof(*ti));
    ti->tstate = tstate;
    ti->tid = tid;
    ti->ident = ident;
    ti->first_ns = ep_clock_now_ns();
    if (tid != 0 && ep_clock_tid_cpu_ns(tid, &ti->cpu0) == 0) {
        ti->have_cpu = true;
    }
    return ti;
}

static void
list_threads(gil_ctx *x, uint64_t now)
{
    ep_gil *g = x->g;

    x->nthreads = ep_walker_threads(&x->w, x->threads, EP_WALK_MAX_THREADS);
    x->listed_ns = now;
    if (x->nthreads < 0) {
        x->nthreads = 0;
        return;
    }
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < x->nthreads; i++) {
        ep_wthread *t = &x->threads[i];

        tinfo_for(g, t->ident, t->tid, t->tstate);
    }
    pthread_mutex_unlock(&g->lock);
}

/* Samples the holder's stack into its hold sites. */
static void
hold_stack(gil_ctx *x, uintptr_t holder)
{
    ep_gil *g = x->g;
    ep_wthread *t = NULL;
    char text[EP_GIL_TEXT];
    size_t o = 0;
    ep_gil_tinfo *ti;

    for (int i = 0; i < x->nthreads; i++) {
        if (x->threads[i].tstate == holder) {
            t = &x->threads[i];
        }
    }
    if (t == NULL) {
        return;
    }
    t->code_slot = x->code_slots;
    t->offset = x->offsets;
    t->error = false;
    text[0] = '\0';
    if (ep_walker_stack(&x->w, t) != 0 || t->depth == 0) {
        snprintf(text, sizeof(text), "(no Python frames: native code)");
    } else {
        for (uint32_t i = 0; i < t->depth && i < EP_GIL_SITE_FRAMES; i++) {
            ep_codeinfo *c = &x->w.codes[t->code_slot[i]];
            const char *base = strrchr(c->file, '/');
            int k = snprintf(text + o, sizeof(text) - o, "%s%s (%s:%d)",
                             i ? " <- " : "", c->qualname_s,
                             base ? base + 1 : c->file,
                             ep_walker_line(&x->w, t, i));

            if (k < 0 || (size_t)k >= sizeof(text) - o) {
                break;
            }
            o += (size_t)k;
        }
    }
    pthread_mutex_lock(&g->lock);
    ti = tinfo_for(g, t->ident, t->tid, holder);
    if (ti != NULL) {
        int i;

        for (i = 0; i < EP_GIL_SITES; i++) {
            if (ti->hold_sites[i].count == 0) {
                snprintf(ti->hold_sites[i].text, EP_GIL_TEXT, "%s", text);
            }
            if (strcmp(ti->hold_sites[i].text, text) == 0) {
                ti->hold_sites[i].count++;
                break;
            }
        }
        if (i == EP_GIL_SITES) {
            ti->hold_other++;
        }
    }
    pthread_mutex_unlock(&g->lock);
}

/* Gives the waiters' new sites their text. */
static void
symbolize(gil_ctx *x)
{
    ep_gil *g = x->g;
    uint32_t n = atomic_load(&g->nthreads);

    n = n < EP_GIL_MAX_THREADS ? n : EP_GIL_MAX_THREADS;
    for (uint32_t i = 0; i < n; i++) {
        ep_gil_thread *t = &g->slots[i];

        if (atomic_load_explicit(&t->tid, memory_order_acquire) == 0) {
            continue;
        }
        for (int k = 0; k < EP_GIL_SITES; k++) {
            ep_gil_site *s = &t->sites[k];
            size_t o = 0;

            if (atomic_load_explicit(&s->key, memory_order_acquire) == 0) {
                break;
            }
            if (atomic_load_explicit(&s->text_ready, memory_order_relaxed)) {
                continue;
            }
            s->text[0] = '\0';
            for (int f = 0; f < s->nframes; f++) {
                char one[160];

                if (ep_walker_describe(&x->w, s->code[f], s->instr[f], one,
                                       sizeof(one)) != 0) {
                    snprintf(one, sizeof(one), "?");
                }
                o += (size_t)snprintf(s->text + o, sizeof(s->text) - o, "%s%s",
                                      f ? " <- " : "", one);
                if (o >= sizeof(s->text)) {
                    break;
                }
            }
            if (s->ensure != NULL && o < sizeof(s->text)) {
                snprintf(s->text + o, sizeof(s->text) - o, "%s%s",
                         o ? " via " : "", s->ensure);
            } else if (s->nframes == 0 && s->ensure == NULL) {
                snprintf(s->text, sizeof(s->text),
                         "(no Python frames; use embprof_gil_ensure to "
                         "name the site)");
            }
            atomic_store_explicit(&s->text_ready, 1, memory_order_release);
        }
    }
}

static bool
anyone_waiting(ep_gil *g)
{
    uint32_t n = atomic_load(&g->nthreads);

    n = n < EP_GIL_MAX_THREADS ? n : EP_GIL_MAX_THREADS;
    for (uint32_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&g->slots[i].cur_start,
                                 memory_order_relaxed) != 0) {
            return true;
        }
    }
    return false;
}

enum { HOLD_NEW, HOLD_SNAPPED, HOLD_NATIVE, HOLD_PYTHON };

/* Where the holder's Python code is: its top frame and instruction. */
static void
holder_pos(gil_ctx *x, uintptr_t holder, uintptr_t *frame, uintptr_t *instr)
{
    const ep_py_layout *L = x->w.L;
    uintptr_t f = 0;

    *frame = *instr = 0;
    if (ep_memread(&x->w.mr, &f, holder + L->ts_frame, sizeof(f)) != 0) {
        return;
    }
    if (L->cframe_current != EP_OFF_NONE && f != 0 &&
        ep_memread(&x->w.mr, &f, f + L->cframe_current, sizeof(f)) != 0) {
        return;
    }
    *frame = f;
    if (f != 0) {
        ep_memread(&x->w.mr, instr, f + L->fr_instr,
                   L->frame_kind == EP_FRAMES_OBJECTS ? sizeof(int32_t)
                                                      : sizeof(uintptr_t));
    }
}

/* The scheduler state letter of a thread ('R' running or runnable). */
static char
task_state(pid_t tid)
{
    char path[64], buf[512], *rp;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return '?';
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return '?';
    }
    buf[n] = '\0';
    rp = strrchr(buf, ')');
    return rp != NULL && rp[1] == ' ' ? rp[2] : '?';
}

/* A hold that outlasts the switch interval while threads wait is native
 * code keeping the GIL only if the holder's Python position did not move
 * (Python code would have seen the drop request and switched) and it
 * either ran on a CPU (busy C code) or was blocked (sleeping, I/O) with
 * the GIL. A holder that is merely preempted (runnable, not running, on
 * a loaded machine) is neither. Judged once per hold, half-way and at
 * the threshold; only long holds pay the reads. */
static void
judge_hold(gil_ctx *x, uint64_t now, uint64_t long_ns)
{
    ep_gil *g = x->g;
    uint64_t d = now - g->cur_hold_start, cpu = 0;
    pid_t tid = g->cur_holder_tid;
    ep_gil_tinfo *ti;

    if (g->cur_hold_state == HOLD_NEW && d >= long_ns / 2) {
        holder_pos(x, g->cur_holder, &g->snap_frame, &g->snap_instr);
        g->snap_cpu = 0;
        if (tid != 0) {
            ep_clock_tid_cpu_ns(tid, &g->snap_cpu);
        }
        g->snap_ns = now;
        g->cur_hold_state = HOLD_SNAPPED;
    } else if (g->cur_hold_state == HOLD_SNAPPED && d >= long_ns) {
        uintptr_t f, i;
        bool busy, blocked;

        holder_pos(x, g->cur_holder, &f, &i);
        if (tid != 0) {
            ep_clock_tid_cpu_ns(tid, &cpu);
        }
        busy = tid != 0 && cpu - g->snap_cpu >= (now - g->snap_ns) / 4;
        blocked = tid != 0 && !busy && task_state(tid) != 'R';
        g->cur_hold_state =
            f == g->snap_frame && i == g->snap_instr && (busy || blocked)
                ? HOLD_NATIVE
                : HOLD_PYTHON;
        if (g->cur_hold_state == HOLD_NATIVE) {
            pthread_mutex_lock(&g->lock);
            ti = tinfo_for(g, g->cur_holder_ident, 0, 0);
            if (ti != NULL) {
                ti->long_holds++;
            }
            pthread_mutex_unlock(&g->lock);
        }
    }
    if (g->cur_hold_state == HOLD_NATIVE) {
        pthread_mutex_lock(&g->lock);
        ti = tinfo_for(g, g->cur_holder_ident, 0, 0);
        if (ti != NULL && d > ti->max_hold_ns) {
            ti->max_hold_ns = d;
        }
        pthread_mutex_unlock(&g->lock);
    }
}

/* Asks for Python thread names when threads appeared (at most every
 * 50 ms): a thread's name can only be read while it lives. */
static void
names_check(gil_ctx *x, uint64_t now)
{
    ep_gil *g = x->g;
    size_t seen = g->ntinfo + atomic_load(&g->nthreads);

    if (seen != g->names_seen && now - g->names_asked_ns > 50000000u &&
        g->want_names != NULL) {
        g->names_seen = seen;
        g->names_asked_ns = now;
        g->want_names(g->want_names_arg);
    }
}

static void
tick(gil_ctx *x, uint64_t n)
{
    ep_gil *g = x->g;
    const ep_py_layout *L = ep_py_layout_get();
    uint64_t now = ep_clock_now_ns();
    int locked = gil_int(g, L->gil_locked);
    uintptr_t holder = gil_ptr(g, L->gil_last_holder);
    unsigned long sn = gil_ulong(g, L->gil_switch_number);
    uint64_t long_ns = 3u * 1000u * (uint64_t)gil_ulong(g, L->gil_interval);
    bool waiters = anyone_waiting(g);
    bool new_holder = false;

    if (long_ns < 20000000u) {
        long_ns = 20000000u;
    }
    /* A lazily bound slot can be overwritten by the dynamic linker's
     * first resolution after we patched it: put the hook back. */
    for (size_t i = 0; i < g->hook.nslots; i++) {
        if (ep_elfhook_current(&g->hook, i) != (void *)ep_gil_hook) {
            ep_elfhook_write(&g->hook, (void *)ep_gil_hook);
            atomic_fetch_add(&g->repatches, 1);
            break;
        }
    }
    bool new_hold = sn != g->cur_hold_sn || holder != g->cur_holder;

    /* Who holds it: its thread_id and tid, read once per hold. */
    if (new_hold && x->have_walker) {
        const ep_py_layout *LL = L;
        uint64_t ident = 0;
        unsigned long ntid = 0;

        if (holder == 0 ||
            ep_memread(&x->w.mr, &ident, holder + LL->ts_thread_id,
                       sizeof(ident)) != 0) {
            ident = 0;
        }
        if (ident != 0 && LL->ts_native_tid != EP_OFF_NONE &&
            ep_memread(&x->w.mr, &ntid, holder + LL->ts_native_tid,
                       sizeof(ntid)) != 0) {
            ntid = 0;
        }
        if (ident != 0 && ntid == 0 && x->w.tid_off >= 0) {
            pid_t t32 = 0; /* 3.10: the tid inside struct pthread */

            if (ep_memread(&x->w.mr, &t32, (uintptr_t)ident + x->w.tid_off,
                           sizeof(t32)) == 0) {
                ntid = (unsigned long)t32;
            }
        }
        g->cur_holder_ident = ident;
        g->cur_holder_tid = (pid_t)ntid;
    }
    pthread_mutex_lock(&g->lock);
    g->ticks++;
    if (locked > 0 && holder != 0) {
        ep_gil_tinfo *ti =
            tinfo_for(g, g->cur_holder_ident, g->cur_holder_tid, holder);

        g->held_ticks++;
        if (ti != NULL) {
            ti->hold_ticks++;
            new_holder = ti->tid == 0;
        }
    }
    /* Holds: one switch number is one hold. */
    if (new_hold) {
        g->cur_hold_sn = sn;
        g->cur_holder = holder;
        g->cur_hold_start = now;
        g->cur_hold_state = HOLD_NEW;
    }
    pthread_mutex_unlock(&g->lock);
    if (!x->have_walker) {
        return;
    }
    if (!new_hold && locked > 0 && waiters) {
        judge_hold(x, now, long_ns);
    }
    names_check(x, now);
    if (new_holder || now - x->listed_ns > EP_GIL_LIST_NS) {
        list_threads(x, now);
    }
    /* The holder's stack, at about 100 Hz. */
    if (locked > 0 && holder != 0 &&
        (n % (uint64_t)(g->hold_rate / 100 > 0 ? g->hold_rate / 100 : 1)) ==
            0) {
        if (now - x->listed_ns > 1000000u) {
            list_threads(x, now); /* fresh frame pointers */
        }
        hold_stack(x, holder);
    }
    symbolize(x);
}

static void *
gil_thread_main(void *arg)
{
    gil_ctx x;
    ep_gil *g = arg;
    uint64_t period = 1000000000u / (uint64_t)g->hold_rate;
    uint64_t next = ep_clock_now_ns() + period, n = 0;

    memset(&x, 0, sizeof(x));
    x.g = g;
    x.threads = calloc(EP_WALK_MAX_THREADS, sizeof(*x.threads));
    x.code_slots = malloc(EP_GIL_WALK_DEPTH * sizeof(*x.code_slots));
    x.offsets = malloc(EP_GIL_WALK_DEPTH * sizeof(*x.offsets));
    x.have_walker =
        x.threads != NULL && x.code_slots != NULL && x.offsets != NULL &&
        ep_walker_open(&x.w, EP_MEMREAD_AUTO, EP_GIL_WALK_DEPTH) == EMBPROF_OK;
    if (x.have_walker) {
        list_threads(&x, ep_clock_now_ns());
    }
    for (;;) {
        struct timespec ts = {(time_t)(next / 1000000000u),
                              (long)(next % 1000000000u)};
        bool stop;

        pthread_mutex_lock(&g->wake_lock);
        while (!atomic_load(&g->stop_flag) &&
               pthread_cond_timedwait(&g->wake, &g->wake_lock, &ts) == 0) {
        }
        stop = atomic_load(&g->stop_flag);
        pthread_mutex_unlock(&g->wake_lock);
        if (stop) {
            break;
        }
        tick(&x, ++n);
        next += period;
        if (next < ep_clock_now_ns()) {
            next = ep_clock_now_ns() + period;
        }
    }
    if (x.have_walker) {
        symbolize(&x);
        ep_walker_close(&x.w);
    }
    free(x.threads);
    free(x.code_slots);
    free(x.offsets);
    return NULL;
}

double
ep_gil_wait_share(ep_gil *g)
{
    uint32_t n = atomic_load(&g->nthreads), active = 0;
    uint64_t wait = 0, now = ep_clock_now_ns(), dw, dt;
    double share;

    if (atomic_load(&ep_gil_hooked) != g) {
        g->share_ns = 0;
        return -1;
    }
    n = n < EP_GIL_MAX_THREADS ? n : EP_GIL_MAX_THREADS;
    for (uint32_t i = 0; i < n; i++) {
        ep_gil_thread *t = &g->slots[i];
        uint64_t w = atomic_load_explicit(&t->wait_ns, memory_order_relaxed);

        wait += w;
        active += w > 0;
    }
    dw = wait - g->share_wait;
    dt = now - g->share_ns;
    share = g->share_ns == 0 || dt < 1000000u || wait < g->share_wait
                ? -1
                : (double)dw / ((double)dt * (active > 0 ? active : 1));
    g->share_wait = wait;
    g->share_ns = now;
    return share > 1 ? 1 : share;
}

/* --- reports ----------------------------------------------------------- */

static uint64_t
percentile(const uint64_t *h, uint64_t total, double q, uint64_t max)
{
    uint64_t want, acc = 0;

    if (total == 0) {
        return 0;
    }
    want = (uint64_t)(q * (double)total + 0.999999);
    if (want == 0) {
        want = 1;
    }
    for (unsigned i = 0; i < EP_GIL_HBUCKETS; i++) {
        acc += h[i];
        if (acc >= want) {
            uint64_t v = hbucket_mid(i);

            return v > max ? max : v;
        }
    }
    return max;
}

/* The tid of thread_id `ident`, from the probe thread's table or the
 * waiters' slots; 0 if unknown. Caller holds g->lock. */
static pid_t
tid_of(const ep_gil *g, uint64_t ident, uint32_t nslots)
{
    for (size_t i = 0; i < g->ntinfo; i++) {
        if (g->tinfo[i].ident == ident && g->tinfo[i].tid != 0) {
            return g->tinfo[i].tid;
        }
    }
    for (uint32_t i = 0; i < nslots; i++) {
        /* ident is written before tid is published (release): read it
         * only after seeing the tid. */
        int32_t tid =
            atomic_load_explicit(&g->slots[i].tid, memory_order_acquire);

        if (tid != 0 && g->slots[i].ident == ident) {
            return tid;
        }
    }
    return 0;
}

static ep_gil_row *
row_for(ep_gil_report *r, pid_t tid, uint64_t ident, size_t cap)
{
    for (size_t i = 0; i < r->nrows; i++) {
        if (tid != 0 && r->rows[i].tid == tid) {
            return &r->rows[i];
        }
    }
    if (r->nrows == cap) {
        return NULL;
    }
    memset(&r->rows[r->nrows], 0, sizeof(r->rows[0]));
    r->rows[r->nrows].tid = tid;
    r->rows[r->nrows].ident = ident;
    return &r->rows[r->nrows++];
}

/* Sites that read the same (another instruction of the same line) are
 * one site in a report; most waited-at first. */
static void
merge_sites(ep_gil_row *row)
{
    size_t n = 0;

    for (size_t i = 0; i < row->nsites; i++) {
        size_t j;

        for (j = 0; j < n; j++) {
            if (strcmp(row->sites[j].text, row->sites[i].text) == 0) {
                row->sites[j].count += row->sites[i].count;
                row->sites[j].wait_ns += row->sites[i].wait_ns;
                break;
            }
        }
        if (j == n) {
            if (n != i) {
                row->sites[n] = row->sites[i];
            }
            n++;
        }
    }
    row->nsites = n;
    for (size_t i = 1; i < n; i++) { /* insertion sort by wait_ns */
        for (size_t j = i;
             j > 0 && row->sites[j].wait_ns > row->sites[j - 1].wait_ns; j--) {
            __typeof__(row->sites[0]) tmp = row->sites[j];

            row->sites[j] = row->sites[j - 1];
            row->sites[j - 1] = tmp;
        }
    }
}

static int
cmp_rows(const void *a, const void *b)
{
    const ep_gil_row *x = a, *y = b;

    if (x->wait_ns != y->wait_ns) {
        return x->wait_ns < y->wait_ns ? 1 : -1;
    }
    if (x->hold_ticks != y->hold_ticks) {
        return x->hold_ticks < y->hold_ticks ? 1 : -1;
    }
    return x->tid - y->tid;
}

int
ep_gil_report_get(ep_gil *g, ep_gil_report *r)
{
    const ep_py_layout *L = ep_py_layout_get();
    uint32_t nslots = atomic_load(&g->nthreads);
    size_t cap = 2 * EP_GIL_MAX_THREADS;
    uint64_t now = ep_clock_now_ns();

    memset(r, 0, sizeof(*r));
    if (!g->installed && g->active_ns == 0) {
        return ep_error(EMBPROF_ENODATA,
                        "gil: no data (start the gil probe first)");
    }
    nslots = nslots < EP_GIL_MAX_THREADS ? nslots : EP_GIL_MAX_THREADS;
    r->rows = calloc(cap, sizeof(*r->rows));
    if (r->rows == NULL) {
        return ep_error(EMBPROF_ENOMEM, "gil: out of memory");
    }
    r->running = g->installed;
    r->duration_ns = g->active_ns + (g->installed ? now - g->started_ns : 0);
    r->switches = g->switches;
    if (g->gil != 0) {
        r->interval_us = gil_ulong(g, L->gil_interval);
        if (g->installed) {
            r->switches += gil_ulong(g, L->gil_switch_number) - g->sn0;
        }
    }
    r->forced = atomic_load(&g->forced);
    r->hook_calls = atomic_load(&g->hook_calls);
    r->threads_dropped = atomic_load(&g->threads_dropped);
    r->stacks_failed = atomic_load(&g->stacks_failed);
    r->repatches = atomic_load(&g->repatches);
    snprintf(r->object, sizeof(r->object), "%s",
             g->hook.object[0] ? g->hook.object : "(the executable)");

    pthread_mutex_lock(&g->lock);
    r->ticks = g->ticks;
    r->held_ticks = g->held_ticks;
    /* Waiters, from their slots. */
    for (uint32_t i = 0; i < nslots; i++) {
        ep_gil_thread *t = &g->slots[i];
        int32_t tid = atomic_load_explicit(&t->tid, memory_order_acquire);
        uint64_t h[EP_GIL_HBUCKETS], closed = 0;
        ep_gil_row *row;

        if (tid == 0 || (row = row_for(r, tid, t->ident, cap)) == NULL) {
            continue;
        }
        row->wait_ns = atomic_load(&t->wait_ns);
        row->wait_count = atomic_load(&t->wait_count);
        row->calls = atomic_load(&t->calls);
        row->drops = atomic_load(&t->drops);
        row->max_ns = atomic_load(&t->max_ns);
        for (unsigned k = 0; k < EP_GIL_HBUCKETS; k++) {
            h[k] = atomic_load_explicit(&t->hist[k], memory_order_relaxed);
            closed += h[k];
        }
        r->episodes += row->wait_count;
        r->closed += atomic_load(&t->closed);
        if (atomic_load(&t->cur_start) != 0) {
            r->open++;
            row->open_ns = atomic_load(&t->cur_wait);
        }
        row->p50_ns = percentile(h, closed, 0.50, row->max_ns);
        row->p90_ns = percentile(h, closed, 0.90, row->max_ns);
        row->p99_ns = percentile(h, closed, 0.99, row->max_ns);
        for (int k = 0; k < EP_GIL_SITES; k++) {
            ep_gil_site *s = &t->sites[k];

            if (atomic_load_explicit(&s->key, memory_order_acquire) == 0) {
                break;
            }
            snprintf(row->sites[row->nsites].text, EP_GIL_TEXT, "%s",
                     atomic_load_explicit(&s->text_ready, memory_order_acquire)
                         ? s->text
                         : "(not symbolized yet)");
            row->sites[row->nsites].count = atomic_load(&s->count);
            row->sites[row->nsites].wait_ns = atomic_load(&s->wait_ns);
            row->nsites++;
        }
        merge_sites(row);
        if (atomic_load(&t->site_overflow) > 0) {
            snprintf(row->sites[row->nsites].text, EP_GIL_TEXT,
                     "(other sites)");
            row->sites[row->nsites].count = atomic_load(&t->site_overflow);
            row->sites[row->nsites].wait_ns =
                atomic_load(&t->site_overflow_ns);
            row->nsites++;
        }
        for (int k = 0; k < EP_GIL_BEHIND; k++) {
            uint64_t id = atomic_load_explicit(&t->behind[k].ident,
                                               memory_order_acquire);

            if (id == 0) {
                break;
            }
            row->behind[row->nbehind].tid = tid_of(g, id, nslots);
            row->behind[row->nbehind].ident = id;
            row->behind[row->nbehind].count = atomic_load(&t->behind[k].count);
            row->nbehind++;
        }
    }
    /* Holders and every thread the probe thread saw. */
    for (size_t i = 0; i < g->ntinfo; i++) {
        const ep_gil_tinfo *ti = &g->tinfo[i];
        ep_gil_row *row;

        if (ti->tid == 0 ||
            (row = row_for(r, ti->tid, ti->ident, cap)) == NULL) {
            continue;
        }
        if (row->ident == 0) {
            row->ident = ti->ident;
        }
        row->hold_ticks = ti->hold_ticks;
        row->long_holds = ti->long_holds;
        row->max_hold_ns = ti->max_hold_ns;
        for (int k = 0; k < EP_GIL_SITES && ti->hold_sites[k].count; k++) {
            snprintf(row->hold_sites[row->nhold].text, EP_GIL_TEXT, "%s",
                     ti->hold_sites[k].text);
            row->hold_sites[row->nhold].count = ti->hold_sites[k].count;
            row->nhold++;
        }
        for (size_t a = 1; a < row->nhold; a++) { /* most held first */
            for (size_t b = a; b > 0 && row->hold_sites[b].count >
                                            row->hold_sites[b - 1].count;
                 b--) {
                __typeof__(row->hold_sites[0]) tmp = row->hold_sites[b];

                row->hold_sites[b] = row->hold_sites[b - 1];
                row->hold_sites[b - 1] = tmp;
            }
        }
        if (ti->have_cpu) {
            uint64_t cpu;

            if (ep_clock_tid_cpu_ns(ti->tid, &cpu) == 0) {
                double life = (double)(now - ti->first_ns);

                row->have_cpu = true;
                row->running_pct =
                    life > 0 ? 100.0 * (double)(cpu - ti->cpu0) / life : 0;
            }
        }
    }
    pthread_mutex_unlock(&g->lock);

    for (size_t i = 0; i < r->nrows; i++) {
        ep_gil_row *row = &r->rows[i];
        double dur = (double)r->duration_ns;

        ep_names_resolve(row->tid, row->ident, row->name, sizeof(row->name),
                         &row->host);
        row->held_pct =
            r->ticks ? 100.0 * (double)row->hold_ticks / (double)r->ticks : 0;
        row->waiting_pct = dur > 0 ? 100.0 * (double)(row->wait_ns) / dur : 0;
        if (row->waiting_pct > 100) {
            row->waiting_pct = 100;
        }
        /* CPU time while not holding the GIL (native code that released
         * it); the rest of the time is idle (sleeping, blocked). */
        row->running_pct -= row->held_pct;
        if (row->running_pct < 0 || !row->have_cpu) {
            row->running_pct = 0;
        }
        row->idle_pct =
            100.0 - row->held_pct - row->waiting_pct - row->running_pct;
        if (row->idle_pct < 0) {
            row->idle_pct = 0;
        }
        for (size_t k = 0; k < row->nbehind; k++) {
            bool host;

            if (row->behind[k].tid != 0) {
                ep_names_resolve(row->behind[k].tid, row->behind[k].ident,
                                 row->behind[k].name,
                                 sizeof(row->behind[k].name), &host);
            } else {
                snprintf(row->behind[k].name, sizeof(row->behind[k].name),
                         "(unknown thread)");
            }
        }
    }
    qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_rows);
    return EMBPROF_OK;
}

void
ep_gil_report_free(ep_gil_report *r)
{
    free(r->rows);
    r->rows = NULL;
    r->nrows = 0;
}

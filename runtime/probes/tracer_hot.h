/*
 * tracer_hot.h -- the tracer's hot path, inlined into the version hooks
 * (runtime/py/tracehook.c). Thread that runs Python, GIL held; no lock,
 * no Python object, no allocation except when an array grows.
 *
 * The arithmetic is _lsprof's (Modules/_lsprof.c, Stop()): a call's
 * cumtime counts only at its outermost activation (the others count as
 * recursive calls), tottime is cumtime minus the completed callees', and
 * each caller edge keeps the same four counters.
 */
#ifndef EP_TRACER_HOT_H
#define EP_TRACER_HOT_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "tracer.h"

#define EP_TR_NONE UINT32_MAX

static inline __attribute__((always_inline)) int64_t
ep_tr_raw_ticks(int use_tsc)
{
#if defined(__x86_64__) || defined(__i386__)
    if (use_tsc) {
        return (int64_t)__rdtsc();
    }
#else
    (void)use_tsc;
#endif
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint32_t
ep_tr_hash_ptr(uintptr_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 29;
    return (uint32_t)k;
}

#define EP_TR_HOT static inline __attribute__((always_inline))

/* Slot of key in t's function cache. */
EP_TR_HOT uint32_t
ep_tr_fcache_slot(const void *key)
{
    uintptr_t k = (uintptr_t)key;

    return (uint32_t)((k >> 4) ^ (k >> 10)) & (EP_TR_FCACHE - 1);
}

/* Index of key in t's functions through the hash, or EP_TR_NONE; fills
 * the cache. */
static inline uint32_t
ep_tr_func_probe(ep_tr_thread *t, const void *key)
{
    const ep_tr_func *fs =
        atomic_load_explicit(&t->funcs.data, memory_order_relaxed);
    uint32_t i = ep_tr_hash_ptr((uintptr_t)key) & t->fidx.mask;

    if (t->fidx.slots == NULL) {
        return EP_TR_NONE;
    }
    for (;;) {
        uint32_t s = t->fidx.slots[i];

        if (s == 0) {
            return EP_TR_NONE;
        }
        if (fs[s - 1].key == key) {
            uint32_t c = ep_tr_fcache_slot(key);

            t->fcache[c].key = key;
            t->fcache[c].f = s - 1;
            return s - 1;
        }
        i = (i + 1) & t->fidx.mask;
    }
}

/* Index of key in t's functions, or EP_TR_NONE. */
EP_TR_HOT uint32_t
ep_tr_func_find(ep_tr_thread *t, const void *key)
{
    uint32_t c = ep_tr_fcache_slot(key);

    if (__builtin_expect(t->fcache[c].key == key, 1)) {
        return t->fcache[c].f;
    }
    return ep_tr_func_probe(t, key);
}

static inline uint32_t
ep_tr_edge_find(ep_tr_thread *t, uint32_t caller, uint32_t callee)
{
    const ep_tr_edge *es =
        atomic_load_explicit(&t->edges.data, memory_order_relaxed);
    uint64_t k = ((uint64_t)caller << 32) | callee;
    uint32_t i;

    if (t->eidx.slots != NULL) {
        i = ep_tr_hash_ptr((uintptr_t)k) & t->eidx.mask;
        for (;;) {
            uint32_t s = t->eidx.slots[i];

            if (s == 0) {
                break;
            }
            if (es[s - 1].caller == caller && es[s - 1].callee == callee) {
                return s - 1;
            }
            i = (i + 1) & t->eidx.mask;
        }
    }
    return ep_tr_edge_add(t, caller, callee);
}

/* The clock of t now, in ticks; in cpu mode the virtual cpu clock (see
 * tracer.c, "The cpu clock"). *wall gets the wall ticks. */
EP_TR_HOT int64_t
ep_tr_now(ep_tracer *tr, ep_tr_thread *t, int64_t *wall)
{
    int64_t w = ep_tr_raw_ticks(tr->use_tsc), v;

    *wall = w;
    if (tr->o.clock == EP_TR_WALL) {
        return w;
    }
    if (w - t->tsc_last > tr->cpu_gap || w - t->tsc_base > tr->cpu_period) {
        v = ep_tr_cpu_sync(tr, t, w);
    } else {
        v = t->v_base + (w - t->tsc_base);
    }
    if (v < t->v_last) {
        v = t->v_last;
    }
    t->v_last = v;
    t->tsc_last = w;
    return v;
}

/* Opens a call of function f on t. */
EP_TR_HOT void
ep_tr_push(ep_tr_thread *t, uint32_t f, int64_t now, int64_t wall)
{
    ep_tr_frame *fr;
    ep_tr_func *fs;

    if (t->depth == t->stack_cap && ep_tr_stack_grow(t) != 0) {
        t->oom++;
        return;
    }
    fs = atomic_load_explicit(&t->funcs.data, memory_order_relaxed);
    fr = &t->stack[t->depth];
    fr->func = f;
    fr->edge = EP_TR_NONE;
    if (t->depth > 0) {
        uint32_t caller = t->stack[t->depth - 1].func, e;

        if (fs[f].ecaller == caller + 1) {
            e = fs[f].eidx; /* most calls come from the last caller */
        } else {
            e = ep_tr_edge_find(t, caller, f);
            fs[f].ecaller = e != EP_TR_NONE ? caller + 1 : 0;
            fs[f].eidx = e;
        }
        if (e != EP_TR_NONE) {
            ep_tr_edge *es =
                atomic_load_explicit(&t->edges.data, memory_order_relaxed);

            es[e].rec++;
            fr->edge = e;
        }
    }
    fs[f].rec++;
    fr->t0 = now;
    fr->subt = 0;
    fr->w0 = wall;
    fr->wsubt = 0;
    fr->lt = -1;
    t->depth++;
}

/* Closes the innermost open call (if any). */
EP_TR_HOT void
ep_tr_pop(ep_tracer *tr, ep_tr_thread *t, int64_t now, int64_t wall)
{
    ep_tr_frame *fr;
    ep_tr_func *f;
    int64_t tt, it;

    if (t->depth == 0) {
        return; /* a call that began before the tracer did */
    }
    fr = &t->stack[--t->depth];
    tt = now - fr->t0;
    it = tt - fr->subt;
    if (fr->lt >= 0) {
        ep_tr_lineent *ls =
            atomic_load_explicit(&t->lines.data, memory_order_relaxed);

        ls[fr->lineent].time += now - fr->lt;
    }
    f = (ep_tr_func *)atomic_load_explicit(&t->funcs.data,
                                           memory_order_relaxed) +
        fr->func;
    if (t->depth > 0) {
        t->stack[t->depth - 1].subt += tt;
    }
    if (--f->rec == 0) {
        f->tt += tt;
    } else {
        f->recc++;
    }
    f->it += it;
    f->nc++;
    if (tr->o.clock == EP_TR_CPU) {
        int64_t wtt = wall - fr->w0;

        f->wt += wtt - fr->wsubt;
        if (t->depth > 0) {
            t->stack[t->depth - 1].wsubt += wtt;
        }
    }
    if (fr->edge != EP_TR_NONE) {
        ep_tr_edge *e = (ep_tr_edge *)atomic_load_explicit(
                            &t->edges.data, memory_order_relaxed) +
                        fr->edge;

        if (--e->rec == 0) {
            e->tt += tt;
        } else {
            e->recc++;
        }
        e->it += it;
        e->nc++;
    }
    if (t->spans != NULL && tr->o.timeline) {
        uint32_t n = atomic_load_explicit(&t->nspans, memory_order_relaxed);

        if (n < t->spans_cap) {
            ep_tr_span *s = &t->spans[n];

            s->func = fr->func;
            s->depth = t->depth;
            s->t0 = fr->w0;
            s->t1 = wall;
            atomic_store_explicit(&t->nspans, n + 1, memory_order_release);
        } else {
            t->spans_dropped++;
        }
    }
}

/* A line event in the innermost open call. */
static inline void
ep_tr_line(ep_tr_thread *t, uint32_t line, int64_t now)
{
    ep_tr_frame *fr;
    const ep_tr_func *fs;
    ep_tr_lineent *ls;
    uint32_t i;

    if (t->depth == 0) {
        return;
    }
    fr = &t->stack[t->depth - 1];
    fs = atomic_load_explicit(&t->funcs.data, memory_order_relaxed);
    if (!fs[fr->func].lines) {
        return;
    }
    if (fr->lt >= 0) {
        ls = atomic_load_explicit(&t->lines.data, memory_order_relaxed);
        ls[fr->lineent].time += now - fr->lt;
    }
    if (fr->lt >= 0 && fr->lline == line) {
        i = fr->lineent;
    } else {
        i = ep_tr_line_add(t, fr->func, line);
        if (i == EP_TR_NONE) {
            fr->lt = -1;
            return;
        }
    }
    ls = atomic_load_explicit(&t->lines.data, memory_order_relaxed);
    ls[i].hits++;
    fr->lt = now;
    fr->lline = line;
    fr->lineent = i;
}

#endif

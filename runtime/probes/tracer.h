/*
 * tracer.h -- the deterministic tracer: exact calls, tottime, cumtime and
 * caller edges per function, computed the way _lsprof computes them.
 *
 * Who does what:
 *   - the hook (runtime/py/tracehook.c, per CPython version) calls
 *     ep_tr_enter / ep_tr_leave / ep_tr_line on the thread that runs the
 *     Python code, with the GIL held. Those functions (tracer_hot.h) take
 *     no lock and allocate no Python object; they touch only the calling
 *     thread's ep_tr_thread, found through a thread-local pointer.
 *   - the controller (ctl_lock) starts, stops and resets; exports read
 *     every thread's tables (ep_tr_snapshot) without the GIL.
 *
 * Sharing rules, ep_tr_thread: every field is written by its owner thread
 * only. Readers (exports) copy the published prefix of the arrays: an
 * array that grows is replaced (release-store of the pointer, then of the
 * count) and the old one is retired, never freed while the tracer lives,
 * so a reader never touches freed memory. Counters are naturally aligned
 * 64-bit words: a copy made while the owner runs may be torn by the
 * events made during the copy (at most), a copy made while it does not
 * run (stopped, blocked, waiting for the GIL) is exact.
 */
#ifndef EP_TRACER_H
#define EP_TRACER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct embprof;
struct embprof_config;

enum ep_tr_clock { EP_TR_WALL = 0, EP_TR_CPU = 1 };
enum ep_tr_kind { EP_TR_PY = 0, EP_TR_BUILTIN = 1 };

/* One function seen by one thread. key: the code object (a strong
 * reference taken at first sight) or, for builtins, the PyMethodDef. */
typedef struct ep_tr_func {
    void *key;
    uint32_t kind;    /* enum ep_tr_kind */
    uint32_t sym;     /* builtins: index into the tracer's name table */
    uint32_t rec;     /* live activations (not exported) */
    uint32_t lines;   /* 1: line events wanted for this code */
    uint32_t ecaller; /* one-entry cache: last caller + 1 ... */
    uint32_t eidx;    /* ... and that edge (owner thread only) */
    uint64_t nc;      /* calls completed */
    uint64_t recc;    /* ... of which recursive */
    int64_t tt;       /* time at the outermost activation (cumtime) */
    int64_t it;       /* time inside, callees excluded (tottime) */
    int64_t wt;       /* cpu clock: wall tottime (for the waiting column) */
} ep_tr_func;

/* caller -> callee, the same counters as the callee's, per caller. */
typedef struct ep_tr_edge {
    uint32_t caller, callee;
    uint32_t rec, pad;
    uint64_t nc, recc;
    int64_t tt, it;
} ep_tr_edge;

/* Per line of a traced function (tracer.lines). */
typedef struct ep_tr_lineent {
    uint32_t func, line;
    uint64_t hits;
    int64_t time;
} ep_tr_lineent;

/* One open call on the shadow stack. */
typedef struct ep_tr_frame {
    uint32_t func;
    uint32_t edge; /* UINT32_MAX: no caller */
    int64_t t0;    /* tracer clock at entry */
    int64_t subt;  /* time of completed callees */
    int64_t w0;    /* cpu clock: wall ticks at entry */
    int64_t wsubt;
    int64_t lt;       /* lines: clock at the last line event, or -1 */
    uint32_t lline;   /* lines: the last line */
    uint32_t lineent; /* lines: its entry */
} ep_tr_frame;

/* A completed call for the timeline (tracer.timeline). */
typedef struct ep_tr_span {
    uint32_t func;
    uint32_t depth;
    int64_t t0, t1; /* wall ticks */
} ep_tr_span;

/* A growable array whose readers see a consistent prefix (see top). */
typedef struct ep_tr_arr {
    void *_Atomic data;
    _Atomic uint32_t n;
    uint32_t cap;
} ep_tr_arr;

/* Entries of the per-thread code -> function cache (power of 2). */
#define EP_TR_FCACHE 64

/* Open-addressing index: slot -> index + 1 (0: empty). */
typedef struct ep_tr_hash {
    uint32_t *slots;
    uint32_t mask;
    uint32_t used;
} ep_tr_hash;

typedef struct ep_tr_thread {
    struct ep_tr_thread *next; /* tracer list; set once, before publish */
    struct ep_tracer *tr;
    uint64_t ident;  /* pthread_self */
    int tid;         /* kernel tid */
    uint32_t gen;    /* tracer generation the stack belongs to */
    ep_tr_arr funcs; /* ep_tr_func */
    ep_tr_arr edges; /* ep_tr_edge */
    ep_tr_arr lines; /* ep_tr_lineent */
    ep_tr_hash fidx; /* key -> funcs */
    ep_tr_hash eidx; /* (caller, callee) -> edges */
    ep_tr_hash lidx; /* (func, line) -> lines */
    /* Direct-mapped cache in front of fidx: key -> index. Functions are
     * never removed and keys stay referenced, so it is never stale. */
    struct {
        const void *key;
        uint32_t f;
    } fcache[EP_TR_FCACHE];
    ep_tr_frame *stack;
    uint32_t depth, stack_cap;
    /* cpu clock (see tracer.c, "The cpu clock") */
    int64_t v_base;    /* virtual cpu ticks at the last sync */
    int64_t tsc_base;  /* wall ticks at the last sync */
    int64_t tsc_last;  /* wall ticks at the last event */
    int64_t v_last;    /* virtual clock at the last event */
    uint64_t cpu_base; /* thread cpu ns at the last sync */
    uint64_t syncs;    /* cpu clock reads */
    /* timeline */
    ep_tr_span *spans; /* allocated once (first traced with timeline) */
    uint32_t spans_cap;
    _Atomic uint32_t nspans;
    uint64_t spans_dropped;
    void *retired; /* arrays replaced by growth: freed at destroy */
    uint64_t oom;  /* events lost for want of memory (sticky) */
} ep_tr_thread;

/* Builtin names (cProfile's spelling), resolved at first sight. */
typedef struct ep_tr_sym {
    void *key;
    char *name;
} ep_tr_sym;

typedef struct ep_tracer_opts {
    int clock;     /* enum ep_tr_clock */
    bool builtins; /* time C functions too */
    bool timeline; /* record spans for the chrome export */
    uint32_t timeline_max;
    const char *lines; /* spec, "" for none (borrowed during start) */
} ep_tracer_opts;

typedef struct ep_tracer {
    struct embprof *ep;
    uint32_t epoch;       /* unique per tracer in the process */
    _Atomic bool active;  /* hooks record; read by the hot path */
    _Atomic uint32_t gen; /* bumped at every start */
    bool installed;       /* hooks in place (GIL side); ctl_lock+GIL */
    bool ever;            /* started once since the last reset */
    ep_tracer_opts o;
    char *lines_spec;              /* owned copy of o.lines */
    ep_tr_thread *_Atomic threads; /* lock-free push list */
    pthread_mutex_t sym_lock;      /* symbols: first-sight path and exports */
    ep_tr_sym *syms;
    uint32_t nsyms, syms_cap;
    /* clocks */
    double ticks_per_ns; /* calibrated at start */
    int64_t tsc0;        /* at the first start */
    uint64_t mono0;
    int64_t tsc_stop; /* at the last stop (0 while running) */
    uint64_t mono_stop;
    uint64_t real0_ns; /* epoch ns at the first start (timeline) */
    bool use_tsc;
    int64_t cpu_gap;       /* cpu clock: sync after this many idle ticks */
    int64_t cpu_period;    /* ... and at least this often */
    const char *mechanism; /* static text, for describe and docs */
    int tool_id;           /* sys.monitoring tool (3.12+), -1 otherwise */
    _Atomic uint64_t events_lost;
} ep_tracer;

/* ---- lifecycle (probe row in tracer.c) ---- */
int ep_tracer_new(struct embprof *ep, ep_tracer **out);
void ep_tracer_free(ep_tracer *tr);

/* The calling thread's table, created on first use. Thread that runs
 * Python (GIL held); NULL when out of memory (counted). */
ep_tr_thread *ep_tr_thread_get_slow(ep_tracer *tr);

/* Drops the calls a previous run left open and re-arms t's clocks for
 * the current generation. Owner thread. */
void ep_tr_thread_restart(ep_tracer *tr, ep_tr_thread *t);
/* Source of ep_tracer.epoch. */
extern _Atomic uint32_t ep_tr_epochs;

/* Grows a thread's arrays; owner thread. 0 or -1 (out of memory). */
int ep_tr_stack_grow(ep_tr_thread *t);
uint32_t ep_tr_func_add(ep_tr_thread *t, void *key, uint32_t kind,
                        uint32_t sym, uint32_t lines);
uint32_t ep_tr_edge_add(ep_tr_thread *t, uint32_t caller, uint32_t callee);
uint32_t ep_tr_line_add(ep_tr_thread *t, uint32_t func, uint32_t line);
/* Index of a builtin's name, adding it (name is copied). */
uint32_t ep_tr_sym_add(ep_tracer *tr, void *key, const char *name);

/* The clock, in ticks (TSC or ns). */
int64_t ep_tr_ticks(const ep_tracer *tr);
/* Resynchronises the cpu clock of t; returns the virtual clock. */
int64_t ep_tr_cpu_sync(ep_tracer *tr, ep_tr_thread *t, int64_t tsc);
/* Ticks per second for exports (calibrated over the whole run). */
double ep_tr_ticks_per_sec(const ep_tracer *tr);

/* ---- snapshot for exports ---- */

/* One function merged over every thread. */
typedef struct ep_tr_mfunc {
    void *key;
    uint32_t kind, sym;
    uint64_t nc, cc;
    double tt, ct, wt; /* seconds: tottime, cumtime, wall tottime */
    char *file, *name; /* owned */
    int line;
} ep_tr_mfunc;

typedef struct ep_tr_medge {
    uint32_t caller, callee; /* indexes into funcs */
    uint64_t nc, cc;
    double tt, ct;
} ep_tr_medge;

typedef struct ep_tr_mline {
    uint32_t func, line;
    uint64_t hits;
    double time;
} ep_tr_mline;

typedef struct ep_tr_mthread {
    uint64_t ident;
    int tid;
    ep_tr_span *spans; /* owned copy */
    uint32_t nspans;
    uint64_t dropped;
} ep_tr_mthread;

typedef struct ep_tr_snapshot {
    ep_tr_mfunc *funcs;
    uint32_t nfuncs;
    ep_tr_medge *edges;
    uint32_t nedges;
    ep_tr_mline *lines;
    uint32_t nlines;
    ep_tr_mthread *threads;
    uint32_t nthreads;
    double ticks_per_sec;
    int64_t tsc0;
    int clock;
    const char *mechanism;
    uint64_t events_lost;
} ep_tr_snapshot;

/* Merges every thread's tables (any thread, no GIL needed; the names of
 * code objects are read from the referenced objects). EMBPROF_ENODATA if
 * the tracer never ran, EMBPROF_ENOMEM. */
int ep_tr_snapshot_take(struct embprof *ep, ep_tr_snapshot *s);
void ep_tr_snapshot_free(ep_tr_snapshot *s);

#endif

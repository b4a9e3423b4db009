/*
 * tracer.c -- the tracer's tables, clocks, snapshot and probe row. The
 * hot path is tracer_hot.h; the CPython side is runtime/py/tracehook.c.
 *
 * The cpu clock. A thread's CPU clock is a system call (~1.7 us here),
 * 30-60 times a TSC read, so reading it at every event would multiply the
 * tracer's cost. Instead each thread keeps a virtual cpu clock that
 * advances with the TSC between synchronisation points, and reads its
 * real CPU clock only (a) when more than tracer cpu_gap (50 us) passed
 * since its previous event -- a blocking call, a GIL wait, a long C
 * call: exactly where wall and cpu part -- and (b) at least every
 * cpu_period (1 ms). At a sync the virtual clock jumps to the CPU time
 * really used (never backwards), so a wait of more than 50 us is charged
 * its true CPU time (near zero) to the calls that span it. What it cannot
 * see: waits shorter than 50 us between two events, and preemption inside
 * a 1 ms period, are charged as CPU. Cost: at most one system call per
 * millisecond of run time plus one per long gap (measured in
 * docs/PERFORMANCE.md).
 */
#include "tracer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "../error.h"
#include "../export/export.h"
#include "../log.h"
#include "../options.h"
#include "../py/tracehook.h"
#include "../runtime.h"
#include "../threads.h"
#include "probe.h"
#include "tracer_hot.h"

#define EP_TR_CPU_GAP_NS 50000
#define EP_TR_CPU_PERIOD_NS 1000000

/* ---- arrays and indexes (owner thread) ---- */

typedef struct retired {
    struct retired *next;
} retired;

static int
arr_grow(ep_tr_thread *t, ep_tr_arr *a, size_t elem, uint32_t want)
{
    uint32_t cap = a->cap ? a->cap : 16;
    void *old = atomic_load_explicit(&a->data, memory_order_relaxed);
    retired *r;
    char *nd;

    while (cap < want) {
        if (cap > UINT32_MAX / 2) {
            return -1; /* 2^31 entries: doubling would wrap (and spin) */
        }
        cap *= 2;
    }
    /* The block starts with a retired header so it can be chained. */
    nd = malloc(sizeof(retired) + (size_t)cap * elem);
    if (nd == NULL) {
        return -1;
    }
    nd += sizeof(retired);
    if (old != NULL) {
        memcpy(nd, old, (size_t)atomic_load(&a->n) * elem);
        r = (retired *)((char *)old - sizeof(retired));
        r->next = t->retired;
        t->retired = r;
    }
    atomic_store_explicit(&a->data, nd, memory_order_release);
    a->cap = cap;
    return 0;
}

static void
arr_free(ep_tr_arr *a)
{
    char *d = atomic_load(&a->data);

    if (d != NULL) {
        free(d - sizeof(retired));
    }
}

static int
hash_init(ep_tr_hash *h, uint32_t size)
{
    h->slots = calloc(size, sizeof(uint32_t));
    h->mask = size - 1;
    h->used = 0;
    return h->slots ? 0 : -1;
}

/* Inserts idx (for hash hv) unless the table must grow first. */
static int
hash_put(ep_tr_hash *h, uint32_t hv, uint32_t idx)
{
    uint32_t i = hv & h->mask;

    while (h->slots[i] != 0) {
        i = (i + 1) & h->mask;
    }
    h->slots[i] = idx + 1;
    h->used++;
    return 0;
}

/* Rebuilds h twice as large; hv(i) gives the hash of entry i. */
static int
hash_grow(ep_tr_hash *h, uint32_t n, uint32_t (*hv)(const void *, uint32_t),
          const void *arg)
{
    ep_tr_hash nh;

    if (h->mask >= UINT32_MAX / 2) {
        return -1; /* 2^32 slots would wrap to 0 */
    }
    if (hash_init(&nh, (h->mask + 1) * 2) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        hash_put(&nh, hv(arg, i), i);
    }
    free(h->slots);
    *h = nh;
    return 0;
}

static uint32_t
func_hv(const void *arg, uint32_t i)
{
    const ep_tr_func *fs = arg;

    return ep_tr_hash_ptr((uintptr_t)fs[i].key);
}

static uint32_t
edge_hv(const void *arg, uint32_t i)
{
    const ep_tr_edge *es = arg;

    return ep_tr_hash_ptr(((uint64_t)es[i].caller << 32) | es[i].callee);
}

static uint32_t
line_hv(const void *arg, uint32_t i)
{
    const ep_tr_lineent *ls = arg;

    return ep_tr_hash_ptr(((uint64_t)ls[i].func << 32) | ls[i].line);
}

/* Appends one zeroed element; returns its index or EP_TR_NONE (out of
 * memory or of index space: the event is lost, counted in t->oom). */
static uint32_t
arr_append(ep_tr_thread *t, ep_tr_arr *a, ep_tr_hash *h, size_t elem,
           uint32_t (*hv)(const void *, uint32_t), const void *proto)
{
    uint32_t n = atomic_load_explicit(&a->n, memory_order_relaxed);
    char *d;

    if (n == EP_TR_NONE - 1 ||
        (n == a->cap && arr_grow(t, a, elem, n + 1) != 0) ||
        (h->slots == NULL && hash_init(h, 64) != 0)) {
        t->oom++;
        return EP_TR_NONE;
    }
    d = atomic_load_explicit(&a->data, memory_order_relaxed);
    if ((uint64_t)(h->used + 1) * 2 > (uint64_t)h->mask + 1 &&
        hash_grow(h, n, hv, d) != 0) {
        t->oom++;
        return EP_TR_NONE;
    }
    memcpy(d + (size_t)n * elem, proto, elem);
    hash_put(h, hv(d, n), n);
    /* Published after the element is complete (readers take a prefix). */
    atomic_store_explicit(&a->n, n + 1, memory_order_release);
    return n;
}

uint32_t
ep_tr_func_add(ep_tr_thread *t, void *key, uint32_t kind, uint32_t sym,
               uint32_t lines)
{
    ep_tr_func f;

    memset(&f, 0, sizeof(f));
    f.key = key;
    f.kind = kind;
    f.sym = sym;
    f.lines = lines;
    return arr_append(t, &t->funcs, &t->fidx, sizeof(f), func_hv, &f);
}

uint32_t
ep_tr_edge_add(ep_tr_thread *t, uint32_t caller, uint32_t callee)
{
    ep_tr_edge e;

    memset(&e, 0, sizeof(e));
    e.caller = caller;
    e.callee = callee;
    return arr_append(t, &t->edges, &t->eidx, sizeof(e), edge_hv, &e);
}

uint32_t
ep_tr_line_add(ep_tr_thread *t, uint32_t func, uint32_t line)
{
    const ep_tr_lineent *ls =
        atomic_load_explicit(&t->lines.data, memory_order_relaxed);
    uint64_t k = ((uint64_t)func << 32) | line;
    ep_tr_lineent e;

    if (t->lidx.slots != NULL) {
        uint32_t i = ep_tr_hash_ptr(k) & t->lidx.mask;

        for (;;) {
            uint32_t s = t->lidx.slots[i];

            if (s == 0) {
                break;
            }
            if (ls[s - 1].func == func && ls[s - 1].line == line) {
                return s - 1;
            }
            i = (i + 1) & t->lidx.mask;
        }
    }
    memset(&e, 0, sizeof(e));
    e.func = func;
    e.line = line;
    return arr_append(t, &t->lines, &t->lidx, sizeof(e), line_hv, &e);
}

int
ep_tr_stack_grow(ep_tr_thread *t)
{
    uint32_t cap = t->stack_cap ? t->stack_cap * 2 : 128;
    ep_tr_frame *ns;

    if (cap > (1u << 22)) {
        return -1; /* runaway: 4M open calls */
    }
    ns = realloc(t->stack, cap * sizeof(*ns)); /* owner only reads it */
    if (ns == NULL) {
        return -1;
    }
    t->stack = ns;
    t->stack_cap = cap;
    return 0;
}

/* ---- threads ---- */

ep_tr_thread *
ep_tr_thread_get_slow(ep_tracer *tr)
{
    ep_tr_thread *t = calloc(1, sizeof(*t));
    ep_tr_thread *head;

    if (t == NULL) {
        atomic_fetch_add(&tr->events_lost, 1);
        return NULL;
    }
    t->tr = tr;
    t->ident = (uint64_t)pthread_self();
    t->tid = (int)ep_gettid();
    t->gen = atomic_load(&tr->gen);
    if (ep_tr_stack_grow(t) != 0) {
        free(t);
        atomic_fetch_add(&tr->events_lost, 1);
        return NULL;
    }
    if (tr->o.timeline) {
        t->spans = malloc((size_t)tr->o.timeline_max * sizeof(ep_tr_span));
        t->spans_cap = t->spans ? tr->o.timeline_max : 0;
    }
    t->tsc_base = t->tsc_last = ep_tr_raw_ticks(tr->use_tsc);
    t->cpu_base = ep_clock_thread_cpu_ns();
    t->v_base = t->v_last = t->tsc_base;
    head = atomic_load(&tr->threads);
    do {
        t->next = head;
    } while (!atomic_compare_exchange_weak(&tr->threads, &head, t));
    return t;
}

void
ep_tr_thread_restart(ep_tracer *tr, ep_tr_thread *t)
{
    ep_tr_func *fs =
        atomic_load_explicit(&t->funcs.data, memory_order_relaxed);
    ep_tr_edge *es =
        atomic_load_explicit(&t->edges.data, memory_order_relaxed);

    /* Calls left open by the previous run will never be closed. */
    while (t->depth > 0) {
        ep_tr_frame *fr = &t->stack[--t->depth];

        fs[fr->func].rec--;
        if (fr->edge != EP_TR_NONE) {
            es[fr->edge].rec--;
        }
    }
    if (tr->o.timeline && t->spans == NULL) {
        /* Kept for the tracer's life: an export may be reading it. */
        t->spans = malloc((size_t)tr->o.timeline_max * sizeof(ep_tr_span));
        t->spans_cap = t->spans ? tr->o.timeline_max : 0;
    }
    t->tsc_base = t->tsc_last = ep_tr_raw_ticks(tr->use_tsc);
    t->cpu_base = ep_clock_thread_cpu_ns();
    t->v_base = t->v_last = t->tsc_base;
    t->gen = atomic_load(&tr->gen);
}

int64_t
ep_tr_cpu_sync(ep_tracer *tr, ep_tr_thread *t, int64_t tsc)
{
    uint64_t cpu = ep_clock_thread_cpu_ns();
    int64_t v =
        t->v_base + (int64_t)((double)(cpu - t->cpu_base) * tr->ticks_per_ns);

    if (v < t->v_last) {
        v = t->v_last;
    }
    t->v_base = v;
    t->tsc_base = tsc;
    t->cpu_base = cpu;
    t->syncs++;
    return v;
}

/* ---- clocks ---- */

static bool
tsc_usable(void)
{
#if defined(__x86_64__) || defined(__i386__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    bool constant = false, nonstop = false;

    if (f == NULL) {
        return false;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "flags", 5) == 0) {
            constant = strstr(line, " constant_tsc") != NULL;
            nonstop = strstr(line, " nonstop_tsc") != NULL;
            break;
        }
    }
    fclose(f);
    return constant && nonstop && getenv("EMBPROF_TRACER_NO_TSC") == NULL;
#else
    return false;
#endif
}

static void
calibrate(ep_tracer *tr)
{
    uint64_t m0, m1;
    int64_t c0, c1;

    tr->use_tsc = tsc_usable();
    if (!tr->use_tsc) {
        tr->ticks_per_ns = 1.0;
        return;
    }
    m0 = ep_clock_now_ns();
    c0 = ep_tr_raw_ticks(1);
    do {
        m1 = ep_clock_now_ns();
        c1 = ep_tr_raw_ticks(1);
    } while (m1 - m0 < 2000000);
    tr->ticks_per_ns = (double)(c1 - c0) / (double)(m1 - m0);
    if (!(tr->ticks_per_ns > 0.01)) {
        tr->use_tsc = false;
        tr->ticks_per_ns = 1.0;
    }
}

int64_t
ep_tr_ticks(const ep_tracer *tr)
{
    return ep_tr_raw_ticks(tr->use_tsc);
}

double
ep_tr_ticks_per_sec(const ep_tracer *tr)
{
    uint64_t m1 = tr->tsc_stop ? tr->mono_stop : ep_clock_now_ns();
    int64_t c1 = tr->tsc_stop ? tr->tsc_stop : ep_tr_ticks(tr);

    if (!tr->use_tsc) {
        return 1e9;
    }
    /* The whole run is a better baseline than the 2 ms at start. */
    if (m1 - tr->mono0 > 200000000 && c1 > tr->tsc0) {
        return (double)(c1 - tr->tsc0) * 1e9 / (double)(m1 - tr->mono0);
    }
    return tr->ticks_per_ns * 1e9;
}

/* ---- symbols (builtins) ---- */

uint32_t
ep_tr_sym_add(ep_tracer *tr, void *key, const char *name)
{
    uint32_t i;

    pthread_mutex_lock(&tr->sym_lock);
    for (i = 0; i < tr->nsyms; i++) {
        if (tr->syms[i].key == key) {
            pthread_mutex_unlock(&tr->sym_lock);
            return i;
        }
    }
    if (tr->nsyms == tr->syms_cap) {
        uint32_t cap = tr->syms_cap ? tr->syms_cap * 2 : 64;
        ep_tr_sym *ns = realloc(tr->syms, cap * sizeof(*ns));

        if (ns == NULL) {
            pthread_mutex_unlock(&tr->sym_lock);
            return EP_TR_NONE;
        }
        tr->syms = ns;
        tr->syms_cap = cap;
    }
    tr->syms[i].key = key;
    tr->syms[i].name = strdup(name);
    if (tr->syms[i].name == NULL) {
        pthread_mutex_unlock(&tr->sym_lock);
        return EP_TR_NONE;
    }
    tr->nsyms++;
    pthread_mutex_unlock(&tr->sym_lock);
    return i;
}

/* ---- lifecycle ---- */

_Atomic uint32_t ep_tr_epochs;

int
ep_tracer_new(struct embprof *ep, ep_tracer **out)
{
    ep_tracer *tr = calloc(1, sizeof(*tr));

    *out = NULL;
    if (tr == NULL) {
        return ep_error(EMBPROF_ENOMEM, "out of memory");
    }
    tr->ep = ep;
    tr->epoch = atomic_fetch_add(&ep_tr_epochs, 1) + 1;
    tr->tool_id = -1;
    tr->mechanism = ep_tracehook_mechanism();
    pthread_mutex_init(&tr->sym_lock, NULL);
    *out = tr;
    return EMBPROF_OK;
}

static void
thread_free(ep_tr_thread *t)
{
    retired *r = t->retired;

    while (r != NULL) {
        retired *n = r->next;

        free(r);
        r = n;
    }
    arr_free(&t->funcs);
    arr_free(&t->edges);
    arr_free(&t->lines);
    free(t->fidx.slots);
    free(t->eidx.slots);
    free(t->lidx.slots);
    free(t->stack);
    free(t->spans);
    free(t);
}

void
ep_tracer_free(ep_tracer *tr)
{
    ep_tr_thread *t;
    int gil;

    if (tr == NULL) {
        return;
    }
    if (!ep_tracehook_forget(tr, &gil)) {
        /* Python is finalizing and we may not take the GIL: a thread
         * may still be in a hook with tr (see ep_tracehook_forget). */
        ep_log(EP_LOG_INFO, "tracer: freed without the GIL while Python "
                            "finalizes: its tables stay allocated");
        return;
    }
    t = atomic_load(&tr->threads);
    while (t != NULL) {
        ep_tr_thread *n = t->next;
        uint32_t nf = atomic_load(&t->funcs.n);
        ep_tr_func *fs = atomic_load(&t->funcs.data);
        void **codes = nf ? malloc(nf * sizeof(void *)) : NULL;
        uint32_t nc = 0;

        for (uint32_t i = 0; codes != NULL && i < nf; i++) {
            if (fs[i].kind == EP_TR_PY) {
                codes[nc++] = fs[i].key;
            }
        }
        if (codes != NULL) {
            ep_tracehook_release_codes(codes, nc);
        }
        free(codes);
        thread_free(t);
        t = n;
    }
    for (uint32_t i = 0; i < tr->nsyms; i++) {
        free(tr->syms[i].name);
    }
    free(tr->syms);
    free(tr->lines_spec);
    pthread_mutex_destroy(&tr->sym_lock);
    free(tr);
    ep_tracehook_forget_done(gil);
}

/* ---- snapshot ---- */

/* String-keyed index for merging by label. */
typedef struct label_map {
    uint32_t *slots;
    uint32_t mask;
} label_map;

static uint64_t
str_hash(const char *s, uint64_t h)
{
    while (*s) {
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    }
    return h;
}

static uint64_t
label_hash(const char *file, const char *name, int line)
{
    return str_hash(name, str_hash(file, 1469598103934665603ULL)) ^
           (uint64_t)(unsigned)line * 0x9E3779B97F4A7C15ULL;
}

/* Merged index of a label, adding a function (taking file and name). */
static int
merge_label(ep_tr_snapshot *s, label_map *m, uint32_t *cap, char *file,
            char *name, int line, const ep_tr_func *src, uint32_t *out)
{
    uint32_t i = (uint32_t)label_hash(file, name, line) & m->mask;

    for (;;) {
        uint32_t slot = m->slots[i];

        if (slot == 0) {
            break;
        }
        ep_tr_mfunc *f = &s->funcs[slot - 1];

        if (f->line == line && strcmp(f->name, name) == 0 &&
            strcmp(f->file, file) == 0) {
            free(file);
            free(name);
            *out = slot - 1;
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    if (s->nfuncs == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 256;
        ep_tr_mfunc *nf = realloc(s->funcs, nc * sizeof(*nf));

        if (nf == NULL) {
            free(file);
            free(name);
            return -1;
        }
        s->funcs = nf;
        *cap = nc;
    }
    if ((s->nfuncs + 1) * 2 > m->mask + 1) {
        uint32_t size = (m->mask + 1) * 2;
        uint32_t *ns = calloc(size, sizeof(uint32_t));

        if (ns == NULL) {
            free(file);
            free(name);
            return -1;
        }
        for (uint32_t k = 0; k < s->nfuncs; k++) {
            ep_tr_mfunc *f = &s->funcs[k];
            uint32_t j =
                (uint32_t)label_hash(f->file, f->name, f->line) & (size - 1);

            while (ns[j] != 0) {
                j = (j + 1) & (size - 1);
            }
            ns[j] = k + 1;
        }
        free(m->slots);
        m->slots = ns;
        m->mask = size - 1;
        i = (uint32_t)label_hash(file, name, line) & m->mask;
        while (m->slots[i] != 0) {
            i = (i + 1) & m->mask;
        }
    }
    ep_tr_mfunc *f = &s->funcs[s->nfuncs];

    memset(f, 0, sizeof(*f));
    f->key = src->key;
    f->kind = src->kind;
    f->sym = src->sym;
    f->file = file;
    f->name = name;
    f->line = line;
    m->slots[i] = ++s->nfuncs;
    *out = s->nfuncs - 1;
    return 0;
}

/* Label of a thread's function: malloc'd file and name. */
static int
func_label(ep_tracer *tr, const ep_tr_func *f, char **file, char **name,
           int *line)
{
    if (f->kind == EP_TR_BUILTIN) {
        const char *n = "<built-in>";

        pthread_mutex_lock(&tr->sym_lock);
        if (f->sym < tr->nsyms) {
            n = tr->syms[f->sym].name;
        }
        *name = strdup(n);
        pthread_mutex_unlock(&tr->sym_lock);
        *file = strdup("~");
        *line = 0;
        return (*name && *file) ? 0 : -1;
    }
    return ep_tracehook_code_label(f->key, file, name, line);
}

/* Copies of one thread's published prefixes. */
typedef struct thread_copy {
    ep_tr_func *funcs;
    uint32_t nf;
    ep_tr_edge *edges;
    uint32_t ne;
    ep_tr_lineent *lines;
    uint32_t nl;
} thread_copy;

/* Reads racing the owner on aligned words, by design (see tracer.h). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EP_NO_TSAN __attribute__((no_sanitize("thread")))
#endif
#endif
#if !defined(EP_NO_TSAN) && defined(__SANITIZE_THREAD__)
#define EP_NO_TSAN __attribute__((no_sanitize_thread))
#endif
#ifndef EP_NO_TSAN
#define EP_NO_TSAN
#endif

static void *copy_prefix(const ep_tr_arr *a, size_t elem,
                         uint32_t *n) EP_NO_TSAN;

static void *
copy_prefix(const ep_tr_arr *a, size_t elem, uint32_t *n)
{
    uint32_t cnt = atomic_load_explicit(&a->n, memory_order_acquire);
    void *d = atomic_load_explicit(&a->data, memory_order_acquire);
    void *c;

    *n = 0;
    if (cnt == 0 || d == NULL) {
        return NULL;
    }
    c = malloc((size_t)cnt * elem);
    if (c == NULL) {
        return NULL;
    }
    memcpy(c, d, (size_t)cnt * elem);
    *n = cnt;
    return c;
}

void
ep_tr_snapshot_free(ep_tr_snapshot *s)
{
    for (uint32_t i = 0; i < s->nfuncs; i++) {
        free(s->funcs[i].file);
        free(s->funcs[i].name);
    }
    free(s->funcs);
    free(s->edges);
    free(s->lines);
    for (uint32_t i = 0; i < s->nthreads; i++) {
        free(s->threads[i].spans);
    }
    free(s->threads);
    memset(s, 0, sizeof(*s));
}

/* Finds or adds the merged edge (caller, callee). */
static ep_tr_medge *
medge_get(ep_tr_snapshot *s, uint32_t *cap, label_map *m, uint32_t caller,
          uint32_t callee)
{
    uint64_t k = ((uint64_t)caller << 32) | callee;
    uint32_t i = ep_tr_hash_ptr(k) & m->mask;

    while (m->slots[i] != 0) {
        ep_tr_medge *e = &s->edges[m->slots[i] - 1];

        if (e->caller == caller && e->callee == callee) {
            return e;
        }
        i = (i + 1) & m->mask;
    }
    if (s->nedges == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 256;
        ep_tr_medge *ne = realloc(s->edges, nc * sizeof(*ne));

        if (ne == NULL) {
            return NULL;
        }
        s->edges = ne;
        *cap = nc;
    }
    if ((s->nedges + 1) * 2 > m->mask + 1) {
        uint32_t size = (m->mask + 1) * 2;
        uint32_t *ns = calloc(size, sizeof(uint32_t));

        if (ns == NULL) {
            return NULL;
        }
        for (uint32_t j = 0; j < s->nedges; j++) {
            uint64_t kk =
                ((uint64_t)s->edges[j].caller << 32) | s->edges[j].callee;
            uint32_t x = ep_tr_hash_ptr(kk) & (size - 1);

            while (ns[x] != 0) {
                x = (x + 1) & (size - 1);
            }
            ns[x] = j + 1;
        }
        free(m->slots);
        m->slots = ns;
        m->mask = size - 1;
        i = ep_tr_hash_ptr(k) & m->mask;
        while (m->slots[i] != 0) {
            i = (i + 1) & m->mask;
        }
    }
    ep_tr_medge *e = &s->edges[s->nedges];

    memset(e, 0, sizeof(*e));
    e->caller = caller;
    e->callee = callee;
    m->slots[i] = ++s->nedges;
    return e;
}

int
ep_tr_snapshot_take(struct embprof *ep, ep_tr_snapshot *s)
{
    ep_tracer *tr = ep->tracer;
    label_map fm = {0}, em = {0};
    uint32_t fcap = 0, ecap = 0, lcap = 0, tcap = 0;
    double tps;
    int rc = EMBPROF_OK;

    memset(s, 0, sizeof(*s));
    if (tr == NULL || !tr->ever) {
        return ep_error(EMBPROF_ENODATA, "the tracer has not run (start it "
                                         "first: start tracer)");
    }
    tps = ep_tr_ticks_per_sec(tr);
    s->ticks_per_sec = tps;
    s->tsc0 = tr->tsc0;
    s->clock = tr->o.clock;
    s->mechanism = tr->mechanism;
    s->events_lost = atomic_load(&tr->events_lost);
    fm.mask = 1023;
    em.mask = 1023;
    fm.slots = calloc(fm.mask + 1, sizeof(uint32_t));
    em.slots = calloc(em.mask + 1, sizeof(uint32_t));
    if (fm.slots == NULL || em.slots == NULL) {
        rc = ep_error(EMBPROF_ENOMEM, "export: out of memory");
        goto out;
    }
    for (ep_tr_thread *t = atomic_load(&tr->threads); t != NULL; t = t->next) {
        thread_copy c;
        uint32_t *map;
        /* Read before the functions: every span in this prefix is of a
         * function published before it (a reset may restart the prefix
         * under us, hence the bound check at the remap as well). */
        uint32_t ns = atomic_load_explicit(&t->nspans, memory_order_acquire);

        memset(&c, 0, sizeof(c));
        c.funcs = copy_prefix(&t->funcs, sizeof(ep_tr_func), &c.nf);
        c.edges = copy_prefix(&t->edges, sizeof(ep_tr_edge), &c.ne);
        c.lines = copy_prefix(&t->lines, sizeof(ep_tr_lineent), &c.nl);
        s->events_lost += t->oom;
        map = c.nf ? malloc(c.nf * sizeof(uint32_t)) : NULL;
        if (c.nf && map == NULL) {
            rc = ep_error(EMBPROF_ENOMEM, "export: out of memory");
        }
        for (uint32_t i = 0; rc == EMBPROF_OK && i < c.nf; i++) {
            const ep_tr_func *f = &c.funcs[i];
            char *file = NULL, *name = NULL;
            int line = 0;
            ep_tr_mfunc *m;

            if (func_label(tr, f, &file, &name, &line) != 0 ||
                merge_label(s, &fm, &fcap, file, name, line, f, &map[i]) !=
                    0) {
                rc = ep_error(EMBPROF_ENOMEM, "export: out of memory");
                break;
            }
            m = &s->funcs[map[i]];
            m->nc += f->nc;
            m->cc += f->nc - f->recc;
            m->tt += (double)f->it / tps;
            m->ct += (double)f->tt / tps;
            m->wt += (double)f->wt / tps;
        }
        for (uint32_t i = 0; rc == EMBPROF_OK && i < c.ne; i++) {
            const ep_tr_edge *e = &c.edges[i];
            ep_tr_medge *m;

            if (e->caller >= c.nf || e->callee >= c.nf || e->nc == 0) {
                continue; /* published after this copy of funcs */
            }
            m = medge_get(s, &ecap, &em, map[e->caller], map[e->callee]);
            if (m == NULL) {
                rc = ep_error(EMBPROF_ENOMEM, "export: out of memory");
                break;
            }
            m->nc += e->nc;
            m->cc += e->nc - e->recc;
            m->tt += (double)e->it / tps;
            m->ct += (double)e->tt / tps;
        }
        for (uint32_t i = 0; rc == EMBPROF_OK && i < c.nl; i++) {
            const ep_tr_lineent *l = &c.lines[i];
            ep_tr_mline *m = NULL;

            if (l->func >= c.nf) {
                continue;
            }
            for (uint32_t k = 0; k < s->nlines; k++) { /* few lines */
                if (s->lines[k].func == map[l->func] &&
                    s->lines[k].line == l->line) {
                    m = &s->lines[k];
                    break;
                }
            }
            if (m == NULL) {
                if (s->nlines == lcap) {
                    uint32_t nc = lcap ? lcap * 2 : 64;
                    ep_tr_mline *nl = realloc(s->lines, nc * sizeof(*nl));

                    if (nl == NULL) {
                        rc = ep_error(EMBPROF_ENOMEM, "export: out of memory");
                        break;
                    }
                    s->lines = nl;
                    lcap = nc;
                }
                m = &s->lines[s->nlines++];
                memset(m, 0, sizeof(*m));
                m->func = map[l->func];
                m->line = l->line;
            }
            m->hits += l->hits;
            m->time += (double)l->time / tps;
        }
        if (rc == EMBPROF_OK) {
            if (s->nthreads == tcap) {
                uint32_t nc = tcap ? tcap * 2 : 16;
                ep_tr_mthread *nt = realloc(s->threads, nc * sizeof(*nt));

                if (nt == NULL) {
                    rc = ep_error(EMBPROF_ENOMEM, "export: out of memory");
                }
                s->threads = nt ? nt : s->threads;
                tcap = nt ? nc : tcap;
            }
        }
        if (rc == EMBPROF_OK) {
            ep_tr_mthread *mt = &s->threads[s->nthreads++];

            memset(mt, 0, sizeof(*mt));
            mt->ident = t->ident;
            mt->tid = t->tid;
            mt->dropped = t->spans_dropped;
            if (ns > 0 && t->spans != NULL) {
                mt->spans = malloc(ns * sizeof(ep_tr_span));
                if (mt->spans != NULL) {
                    memcpy(mt->spans, t->spans, ns * sizeof(ep_tr_span));
                    for (uint32_t k = 0; k < ns; k++) {
                        uint32_t f = mt->spans[k].func;

                        if (f >= c.nf) { /* published after the copy */
                            mt->dropped++;
                            continue;
                        }
                        mt->spans[mt->nspans] = mt->spans[k];
                        mt->spans[mt->nspans++].func = map[f];
                    }
                }
            }
        }
        free(map);
        free(c.funcs);
        free(c.edges);
        free(c.lines);
        if (rc != EMBPROF_OK) {
            break;
        }
    }
out:
    free(fm.slots);
    free(em.slots);
    if (rc != EMBPROF_OK) {
        ep_tr_snapshot_free(s);
    }
    return rc;
}

/* ---- the probe row ---- */

static void tp_reset(struct embprof *ep);

static int
tp_init(struct embprof *ep)
{
    return ep_tracer_new(ep, &ep->tracer);
}

static void
tp_destroy(struct embprof *ep)
{
    ep_tracer_free(ep->tracer);
    ep->tracer = NULL;
}

static int
tp_start(struct embprof *ep, const struct embprof_config *cfg)
{
    ep_tracer *tr = ep->tracer;
    const char *spec = ep_cfg_str(cfg, EP_OPT_TRACER_LINES);
    char *copy;
    int rc;

    if (tr->installed || atomic_load(&tr->active)) {
        return ep_error(EMBPROF_ESTATE, "tracer: already running");
    }
    copy = strdup(spec);
    if (copy == NULL) {
        return ep_error(EMBPROF_ENOMEM, "out of memory");
    }
    if (tr->ever && (int)ep_cfg_int(cfg, EP_OPT_TRACER_CLOCK) != tr->o.clock) {
        /* Times of another clock do not add up: start afresh (in place:
         * threads may still be inside calls). */
        tp_reset(ep);
    }
    free(tr->lines_spec);
    tr->lines_spec = copy;
    tr->o.clock = (int)ep_cfg_int(cfg, EP_OPT_TRACER_CLOCK);
    tr->o.builtins = ep_cfg_bool(cfg, EP_OPT_TRACER_BUILTINS);
    tr->o.timeline = ep_cfg_bool(cfg, EP_OPT_TRACER_TIMELINE);
    tr->o.timeline_max = (uint32_t)ep_cfg_int(cfg, EP_OPT_TRACER_TIMELINE_MAX);
    tr->o.lines = tr->lines_spec;
    if (!tr->ever) {
        calibrate(tr);
        tr->tsc0 = ep_tr_ticks(tr);
        tr->mono0 = ep_clock_now_ns();
        tr->real0_ns = ep_clock_realtime_ns();
    }
    tr->cpu_gap = (int64_t)(EP_TR_CPU_GAP_NS * tr->ticks_per_ns);
    tr->cpu_period = (int64_t)(EP_TR_CPU_PERIOD_NS * tr->ticks_per_ns);
    tr->tsc_stop = 0;
    atomic_fetch_add(&tr->gen, 1);
    atomic_store(&tr->active, true);
    rc = ep_tracehook_request(tr, true);
    if (rc != EMBPROF_OK) {
        atomic_store(&tr->active, false);
        return rc;
    }
    tr->ever = true;
    if (ep->refresh_names != NULL) {
        ep->refresh_names(ep);
    }
    ep_log(EP_LOG_INFO, "tracer started: %s clock, %s%s%s%s",
           tr->o.clock == EP_TR_CPU ? "cpu" : "wall", tr->mechanism,
           tr->o.builtins ? ", builtins" : "",
           tr->o.lines[0] ? ", lines " : "", tr->o.lines);
    return EMBPROF_OK;
}

static int
tp_stop(struct embprof *ep)
{
    ep_tracer *tr = ep->tracer;

    if (!atomic_load(&tr->active)) {
        return ep_error(EMBPROF_ESTATE, "tracer: not running");
    }
    atomic_store(&tr->active, false);
    tr->tsc_stop = ep_tr_ticks(tr);
    tr->mono_stop = ep_clock_now_ns();
    if (ep->refresh_names != NULL) {
        ep->refresh_names(ep);
    }
    return ep_tracehook_request(tr, false);
}

static bool
tp_running(struct embprof *ep)
{
    return ep->tracer != NULL && atomic_load(&ep->tracer->active);
}

static void
tp_reset(struct embprof *ep)
{
    ep_tracer *tr = ep->tracer;

    /* Counters go to zero in place; keys, open calls and recursion levels
     * stay (threads may be inside calls). */
    for (ep_tr_thread *t = atomic_load(&tr->threads); t != NULL; t = t->next) {
        uint32_t nf = atomic_load(&t->funcs.n), ne = atomic_load(&t->edges.n);
        uint32_t nl = atomic_load(&t->lines.n);
        ep_tr_func *fs = atomic_load(&t->funcs.data);
        ep_tr_edge *es = atomic_load(&t->edges.data);
        ep_tr_lineent *ls = atomic_load(&t->lines.data);

        for (uint32_t i = 0; i < nf; i++) {
            fs[i].nc = fs[i].recc = 0;
            fs[i].tt = fs[i].it = fs[i].wt = 0;
        }
        for (uint32_t i = 0; i < ne; i++) {
            es[i].nc = es[i].recc = 0;
            es[i].tt = es[i].it = 0;
        }
        for (uint32_t i = 0; i < nl; i++) {
            ls[i].hits = 0;
            ls[i].time = 0;
        }
        atomic_store(&t->nspans, 0);
        t->spans_dropped = 0;
    }
    if (!atomic_load(&tr->active)) {
        tr->ever = false;
    }
}

static void
tp_describe(struct embprof *ep, FILE *out)
{
    ep_tracer *tr = ep->tracer;

    fprintf(out, "\"clock\":\"%s\",\"mechanism\":",
            tr->o.clock == EP_TR_CPU ? "cpu" : "wall");
    ep_json_string(out, tr->mechanism);
    fprintf(out, ",\"builtins\":%s,\"timeline\":%s,\"lines\":",
            tr->o.builtins ? "true" : "false",
            tr->o.timeline ? "true" : "false");
    ep_json_string(out, tr->o.lines ? tr->o.lines : "");
}

static void
tp_after_fork(struct embprof *ep)
{
    /* Only the forking thread survives; its table stays valid. Other
     * threads' tables stay readable (their data is the parent's). */
    pthread_mutex_init(&ep->tracer->sym_lock, NULL);
}

const ep_probe ep_probe_tracer = {
    .name = "tracer",
    .needs_python = true,
    .doc = "deterministic tracer: exact calls, tottime, cumtime, callers "
           "(cProfile), lines (line_profiler)",
    .init = tp_init,
    .destroy = tp_destroy,
    .start = tp_start,
    .stop = tp_stop,
    .running = tp_running,
    .reset = tp_reset,
    .describe = tp_describe,
    .after_fork = tp_after_fork,
};

/*
 * store.c -- interning and aggregation. Every table is an array plus an
 * ep_hindex over it; ids are array indices.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "../error.h"

/* Grows *arr (element size esz) to hold need elements. */
static int
grow(void **arr, uint32_t *cap, size_t esz, size_t need)
{
    size_t n;
    void *p;

    if (need <= *cap) {
        return 0;
    }
    n = *cap ? (size_t)*cap * 2 : 64;
    while (n < need) {
        n *= 2;
    }
    if (n > UINT32_MAX / 2) {
        return -1;
    }
    p = realloc(*arr, n * esz);
    if (p == NULL) {
        return -1;
    }
    *arr = p;
    *cap = (uint32_t)n;
    return 0;
}

int
ep_store_init(ep_store *s)
{
    memset(s, 0, sizeof(*s));
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        return ep_error(EMBPROF_EINTERNAL, "store: mutex init failed");
    }
    /* String 0 is "": a valid id for unknown names. */
    if (ep_store_str(s, "", 0) == UINT32_MAX) {
        ep_store_free(s);
        return ep_error(EMBPROF_ENOMEM, "store: out of memory");
    }
    return EMBPROF_OK;
}

void
ep_store_free(ep_store *s)
{
    free(s->strbuf);
    free(s->str_off);
    ep_hindex_free(&s->str_idx);
    free(s->funcs);
    ep_hindex_free(&s->func_idx);
    free(s->frames);
    ep_hindex_free(&s->frame_idx);
    free(s->threads);
    free(s->stacks);
    ep_hindex_free(&s->stack_idx);
    free(s->stack_frames);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof(*s));
}

void
ep_store_reset(ep_store *s)
{
    s->nstacks = 0;
    s->nstack_frames = 0;
    ep_hindex_clear(&s->stack_idx);
    memset(&s->total, 0, sizeof(s->total));
    s->start_ns = 0;
    s->end_ns = 0;
}

/* --- strings ----------------------------------------------------------- */

typedef struct {
    const ep_store *s;
    const char *str;
    size_t len;
} str_key;

static bool
str_eq(const void *ctx, uint32_t id)
{
    const str_key *k = ctx;
    const char *have = k->s->strbuf + k->s->str_off[id];

    return strncmp(have, k->str, k->len) == 0 && have[k->len] == '\0';
}

uint32_t
ep_store_str(ep_store *s, const char *str, size_t len)
{
    str_key k = {s, str, len};
    uint32_t h = ep_hash_bytes(str, len, EP_HASH_SEED);
    uint32_t id = ep_hindex_find(&s->str_idx, h, str_eq, &k);

    if (id != UINT32_MAX) {
        return id;
    }
    if (s->strbuf_len + len + 1 > s->strbuf_cap) {
        size_t cap = s->strbuf_cap ? s->strbuf_cap * 2 : 4096;
        char *p;

        while (cap < s->strbuf_len + len + 1) {
            cap *= 2;
        }
        if (cap > UINT32_MAX) {
            s->oom++;
            return UINT32_MAX;
        }
        p = realloc(s->strbuf, cap);
        if (p == NULL) {
            s->oom++;
            return UINT32_MAX;
        }
        s->strbuf = p;
        s->strbuf_cap = cap;
    }
    if (grow((void **)&s->str_off, &s->str_cap, sizeof(*s->str_off),
             (size_t)s->nstr + 1) != 0) {
        s->oom++;
        return UINT32_MAX;
    }
    id = s->nstr;
    s->str_off[id] = (uint32_t)s->strbuf_len;
    memcpy(s->strbuf + s->strbuf_len, str, len);
    s->strbuf[s->strbuf_len + len] = '\0';
    if (ep_hindex_insert(&s->str_idx, h, id) != 0) {
        s->oom++;
        return UINT32_MAX;
    }
    s->strbuf_len += len + 1;
    s->nstr++;
    return id;
}

/* --- functions and frames ---------------------------------------------- */

typedef struct {
    const ep_store *s;
    ep_func f;
} func_key;

static bool
func_eq(const void *ctx, uint32_t id)
{
    const func_key *k = ctx;
    const ep_func *f = &k->s->funcs[id];

    return f->file == k->f.file && f->name == k->f.name &&
           f->firstline == k->f.firstline;
}

uint32_t
ep_store_func(ep_store *s, uint32_t file, uint32_t name, int32_t firstline)
{
    func_key k = {s, {file, name, firstline}};
    uint32_t h = ep_hash_bytes(&k.f, sizeof(k.f), EP_HASH_SEED);
    uint32_t id = ep_hindex_find(&s->func_idx, h, func_eq, &k);

    if (id != UINT32_MAX) {
        return id;
    }
    if (grow((void **)&s->funcs, &s->funcs_cap, sizeof(*s->funcs),
             (size_t)s->nfuncs + 1) != 0 ||
        ep_hindex_insert(&s->func_idx, h, s->nfuncs) != 0) {
        s->oom++;
        return UINT32_MAX;
    }
    s->funcs[s->nfuncs] = k.f;
    return s->nfuncs++;
}

typedef struct {
    const ep_store *s;
    ep_frame f;
} frame_key;

static bool
frame_eq(const void *ctx, uint32_t id)
{
    const frame_key *k = ctx;

    return k->s->frames[id].func == k->f.func &&
           k->s->frames[id].line == k->f.line;
}

uint32_t
ep_store_frame(ep_store *s, uint32_t func, int32_t line)
{
    frame_key k = {s, {func, line}};
    uint32_t h = ep_hash_bytes(&k.f, sizeof(k.f), EP_HASH_SEED);
    uint32_t id = ep_hindex_find(&s->frame_idx, h, frame_eq, &k);

    if (id != UINT32_MAX) {
        return id;
    }
    if (grow((void **)&s->frames, &s->frames_cap, sizeof(*s->frames),
             (size_t)s->nframes + 1) != 0 ||
        ep_hindex_insert(&s->frame_idx, h, s->nframes) != 0) {
        s->oom++;
        return UINT32_MAX;
    }
    s->frames[s->nframes] = k.f;
    return s->nframes++;
}

/* --- threads ----------------------------------------------------------- */

uint32_t
ep_store_thread(ep_store *s, uint64_t ident, int32_t tid, int kind,
                const char *name)
{
    uint32_t i;

    /* Few threads, looked up once per thread per tick by the sampler, which
     * caches the index: a linear scan is enough. */
    for (i = 0; i < s->nthreads; i++) {
        if (s->threads[i].ident == ident && s->threads[i].tid == tid) {
            break;
        }
    }
    if (i == s->nthreads) {
        if (grow((void **)&s->threads, &s->threads_cap, sizeof(*s->threads),
                 (size_t)s->nthreads + 1) != 0) {
            s->oom++;
            return UINT32_MAX;
        }
        memset(&s->threads[i], 0, sizeof(s->threads[i]));
        s->threads[i].ident = ident;
        s->threads[i].tid = tid;
        s->nthreads++;
    }
    s->threads[i].kind = (uint8_t)kind;
    if (name != NULL && name[0] != '\0') {
        strncpy(s->threads[i].name, name, sizeof(s->threads[i].name) - 1);
        s->threads[i].name[sizeof(s->threads[i].name) - 1] = '\0';
    }
    return i;
}

/* --- stacks ------------------------------------------------------------ */

typedef struct {
    const ep_store *s;
    uint32_t thread;
    const uint32_t *frames;
    uint32_t depth;
} stack_key;

static bool
stack_eq(const void *ctx, uint32_t id)
{
    const stack_key *k = ctx;
    const ep_stack *st = &k->s->stacks[id];

    return st->thread == k->thread && st->depth == k->depth &&
           (k->depth == 0 || memcmp(k->s->stack_frames + st->off, k->frames,
                                    k->depth * sizeof(uint32_t)) == 0);
}

static void
add_weights(ep_weights *dst, const ep_weights *w)
{
    dst->samples += w->samples;
    dst->samples_gil += w->samples_gil;
    dst->wall_ns += w->wall_ns;
    dst->cpu_ns += w->cpu_ns;
}

int
ep_store_add(ep_store *s, uint32_t thread, const uint32_t *frames,
             uint32_t depth, const ep_weights *w, uint64_t now_ns)
{
    stack_key k = {s, thread, frames, depth};
    uint32_t h =
        ep_hash_bytes(frames, depth * sizeof(uint32_t), ep_hash_u64(thread));
    uint32_t id = ep_hindex_find(&s->stack_idx, h, stack_eq, &k);

    if (id == UINT32_MAX) {
        uint32_t fcap =
            (uint32_t)(s->stack_frames_cap > UINT32_MAX ? UINT32_MAX
                                                        : s->stack_frames_cap);

        if (grow((void **)&s->stacks, &s->stacks_cap, sizeof(*s->stacks),
                 (size_t)s->nstacks + 1) != 0 ||
            grow((void **)&s->stack_frames, &fcap, sizeof(uint32_t),
                 s->nstack_frames + depth) != 0) {
            s->oom++;
            return -1;
        }
        s->stack_frames_cap = fcap;
        id = s->nstacks;
        memset(&s->stacks[id], 0, sizeof(s->stacks[id]));
        s->stacks[id].thread = thread;
        s->stacks[id].depth = depth;
        s->stacks[id].off = (uint32_t)s->nstack_frames;
        s->stacks[id].hash = h;
        /* A thread with no Python frame yet has an empty stack, and the
         * frame array may still be NULL then. */
        if (depth > 0) {
            memcpy(s->stack_frames + s->nstack_frames, frames,
                   depth * sizeof(uint32_t));
        }
        if (ep_hindex_insert(&s->stack_idx, h, id) != 0) {
            s->oom++;
            return -1;
        }
        s->nstack_frames += depth;
        s->nstacks++;
    }
    add_weights(&s->stacks[id].w, w);
    add_weights(&s->total, w);
    if (s->start_ns == 0) {
        s->start_ns = now_ns;
    }
    s->end_ns = now_ns;
    return 0;
}

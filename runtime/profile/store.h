/*
 * store.h -- the profile store: interned strings, functions, frames,
 * threads and aggregated stacks with their weights.
 *
 * A symbol is copied in when first seen, so exports never read a code
 * object and never need the GIL.
 *
 * Locking: one mutex, `lock`. Writers (the sampler thread, once per tick)
 * and readers (exporters on the controller) hold it; nothing else touches
 * the store. Ids are indices, stable until ep_store_free (ep_store_reset
 * clears stacks and threads' weights, never symbols).
 */
#ifndef EP_STORE_H
#define EP_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hindex.h"

typedef struct ep_func {
    uint32_t file; /* string id */
    uint32_t name; /* string id: the qualified name */
    int32_t firstline;
} ep_func;

typedef struct ep_frame {
    uint32_t func; /* function id */
    int32_t line;  /* 0 if unknown */
} ep_frame;

enum { EP_THREAD_PYTHON, EP_THREAD_HOST };

typedef struct ep_thread {
    uint64_t ident; /* threading.get_ident() (pthread_t) */
    int32_t tid;    /* kernel thread id, 0 if unknown */
    uint8_t kind;   /* EP_THREAD_PYTHON or EP_THREAD_HOST */
    char name[64];
} ep_thread;

typedef struct ep_weights {
    uint64_t samples;
    uint64_t samples_gil; /* samples in which the thread held the GIL */
    uint64_t wall_ns;
    uint64_t cpu_ns;
} ep_weights;

typedef struct ep_stack {
    uint32_t thread; /* thread index */
    uint32_t depth;
    uint32_t off; /* first frame id in ep_store.stack_frames */
    uint32_t hash;
    ep_weights w;
} ep_stack;

typedef struct ep_store {
    pthread_mutex_t lock;

    char *strbuf; /* NUL-terminated strings, back to back */
    size_t strbuf_len, strbuf_cap;
    uint32_t *str_off; /* string id -> offset in strbuf */
    uint32_t nstr, str_cap;
    ep_hindex str_idx;

    ep_func *funcs;
    uint32_t nfuncs, funcs_cap;
    ep_hindex func_idx;

    ep_frame *frames;
    uint32_t nframes, frames_cap;
    ep_hindex frame_idx;

    ep_thread *threads;
    uint32_t nthreads, threads_cap;

    ep_stack *stacks;
    uint32_t nstacks, stacks_cap;
    ep_hindex stack_idx;
    uint32_t *stack_frames; /* frame ids, root first */
    size_t nstack_frames, stack_frames_cap;

    ep_weights total;
    uint64_t start_ns; /* monotonic time of the first sample or reset */
    uint64_t end_ns;   /* monotonic time of the last sample */
    uint64_t oom;      /* insertions dropped for lack of memory */
} ep_store;

int ep_store_init(ep_store *s);
void ep_store_free(ep_store *s);
/* Drops stacks and weights; keeps symbols and threads. Caller holds lock. */
void ep_store_reset(ep_store *s);

/* All below: caller holds s->lock. They return UINT32_MAX on no memory. */
uint32_t ep_store_str(ep_store *s, const char *str, size_t len);
static inline const char *
ep_store_strget(const ep_store *s, uint32_t id)
{
    return s->strbuf + s->str_off[id];
}
uint32_t ep_store_func(ep_store *s, uint32_t file, uint32_t name,
                       int32_t firstline);
uint32_t ep_store_frame(ep_store *s, uint32_t func, int32_t line);
/* Finds or adds the thread (ident, tid); updates its name if name is not
 * NULL and not empty. */
uint32_t ep_store_thread(ep_store *s, uint64_t ident, int32_t tid, int kind,
                         const char *name);
/* Adds weights to the stack (thread, frames[0..depth), root first). */
int ep_store_add(ep_store *s, uint32_t thread, const uint32_t *frames,
                 uint32_t depth, const ep_weights *w, uint64_t now_ns);

static inline const uint32_t *
ep_store_stack_frames(const ep_store *s, const ep_stack *st)
{
    return s->stack_frames + st->off;
}

#endif

/*
 * obsq.c -- bounded MPSC ring with per-cell sequence numbers.
 */
#include "obsq.h"

#include <stdlib.h>

#include "error.h"

int
ep_obsq_init(ep_obsq *q, size_t capacity)
{
    size_t cap = 16;

    while (cap < capacity) {
        cap *= 2;
    }
    q->cells = calloc(cap, sizeof(*q->cells));
    if (q->cells == NULL) {
        return ep_error(EMBPROF_ENOMEM, "observation queue: out of memory");
    }
    for (size_t i = 0; i < cap; i++) {
        atomic_init(&q->cells[i].seq, i);
    }
    q->mask = cap - 1;
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    atomic_init(&q->pushed, 0);
    atomic_init(&q->dropped, 0);
    return EMBPROF_OK;
}

void
ep_obsq_free(ep_obsq *q)
{
    free(q->cells);
    q->cells = NULL;
}

bool
ep_obsq_push(ep_obsq *q, const char *name, double value, uint64_t t)
{
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);

    for (;;) {
        ep_obsq_cell *c = &q->cells[pos & q->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;

        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->obs.name = name;
                c->obs.value = value;
                c->obs.t_ns = t;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
                return true;
            }
        } else if (dif < 0) {
            atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
            return false;
        } else {
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        }
    }
}

bool
ep_obsq_pop(ep_obsq *q, ep_obs *out)
{
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    ep_obsq_cell *c = &q->cells[pos & q->mask];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);

    if ((intptr_t)seq - (intptr_t)(pos + 1) < 0) {
        return false;
    }
    *out = c->obs;
    atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
    atomic_store_explicit(&q->tail, pos + 1, memory_order_relaxed);
    return true;
}

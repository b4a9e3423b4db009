/*
 * obsq.h -- the observation queue behind embprof_observe: a bounded
 * multi-producer, single-consumer ring (Vyukov's bounded queue). Producers
 * are host threads and must never block or allocate: a full queue counts a
 * drop. The consumer is the policy engine (a later issue); until it runs,
 * new observations are dropped and counted when it is full.
 */
#ifndef EP_OBSQ_H
#define EP_OBSQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ep_obs {
    const char *name; /* static string from the host */
    double value;
    uint64_t t_ns; /* monotonic time of the observation */
} ep_obs;

typedef struct ep_obsq_cell {
    _Atomic size_t seq;
    ep_obs obs;
} ep_obsq_cell;

typedef struct ep_obsq {
    ep_obsq_cell *cells;
    size_t mask;
    _Atomic size_t head; /* next slot to write (producers) */
    _Atomic size_t tail; /* next slot to read (consumer) */
    _Atomic uint64_t pushed, dropped;
} ep_obsq;

/* capacity: rounded up to a power of two. */
int ep_obsq_init(ep_obsq *q, size_t capacity);
void ep_obsq_free(ep_obsq *q);
/* Any thread, lock-free, never blocks. false if full (counted). */
bool ep_obsq_push(ep_obsq *q, const char *name, double value, uint64_t t);
/* The single consumer. false if empty. */
bool ep_obsq_pop(ep_obsq *q, ep_obs *out);

#endif

/* The observation queue: FIFO order, capacity rounding, a full queue that
 * refuses and counts the drop, wrap-around over many laps, and four
 * producer threads against one consumer thread with every value accounted
 * for: each popped value was pushed once, each producer's values come out
 * in the order pushed, and pushed + dropped equals the attempts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "embprof.h"
#include "obsq.h"

static void
order_and_full(void **state)
{
    ep_obsq q;
    ep_obs o;

    (void)state;
    assert_int_equal(ep_obsq_init(&q, 16), EMBPROF_OK);
    assert_false(ep_obsq_pop(&q, &o)); /* empty */
    for (int i = 0; i < 16; i++) {
        assert_true(ep_obsq_push(&q, i % 2 ? "odd" : "even", i * 1.5,
                                 (uint64_t)i + 1000));
    }
    assert_false(ep_obsq_push(&q, "m", 99, 0));
    assert_false(ep_obsq_push(&q, "m", 98, 0));
    assert_int_equal(atomic_load(&q.dropped), 2);
    assert_int_equal(atomic_load(&q.pushed), 16);
    for (int i = 0; i < 16; i++) {
        assert_true(ep_obsq_pop(&q, &o));
        assert_true(o.value == i * 1.5);
        assert_int_equal(o.t_ns, (uint64_t)i + 1000);
        assert_string_equal(o.name, i % 2 ? "odd" : "even");
    }
    assert_false(ep_obsq_pop(&q, &o));
    /* One slot freed is one push accepted. */
    assert_true(ep_obsq_push(&q, "m", 1, 0));
    assert_true(ep_obsq_pop(&q, &o));
    assert_true(o.value == 1);
    assert_int_equal(atomic_load(&q.dropped), 2);
    ep_obsq_free(&q);
    ep_obsq_free(&q); /* twice is harmless */
}

static void
capacity_rounds_up(void **state)
{
    static const size_t asked[] = {0, 1, 10, 16, 17, 1000};
    static const size_t got[] = {16, 16, 16, 16, 32, 1024};

    (void)state;
    for (size_t k = 0; k < sizeof(asked) / sizeof(asked[0]); k++) {
        ep_obsq q;
        size_t n = 0;

        assert_int_equal(ep_obsq_init(&q, asked[k]), EMBPROF_OK);
        while (ep_obsq_push(&q, "c", (double)n, 0)) {
            n++;
        }
        assert_int_equal(n, got[k]);
        assert_int_equal(q.mask + 1, got[k]);
        ep_obsq_free(&q);
    }
}

/* Many laps around the ring, with the queue partly full each time. */
static void
wraps_around(void **state)
{
    ep_obsq q;
    ep_obs o;
    long next_in = 0, next_out = 0;

    (void)state;
    assert_int_equal(ep_obsq_init(&q, 16), EMBPROF_OK);
    for (int lap = 0; lap < 5000; lap++) {
        int push = 1 + lap % 16, pop = 1 + (lap * 7) % 16;

        for (int i = 0; i < push; i++) {
            if (ep_obsq_push(&q, "w", (double)next_in, 0)) {
                next_in++;
            }
        }
        for (int i = 0; i < pop && ep_obsq_pop(&q, &o); i++) {
            assert_true(o.value == (double)next_out);
            next_out++;
        }
    }
    while (ep_obsq_pop(&q, &o)) {
        assert_true(o.value == (double)next_out);
        next_out++;
    }
    assert_int_equal(next_in, next_out);
    assert_int_equal(atomic_load(&q.pushed), (uint64_t)next_in);
    assert_true(next_in > 16 * 100); /* many laps */
    ep_obsq_free(&q);
}

#define PRODUCERS 4
#define PER_PRODUCER 100000

typedef struct producer_arg {
    ep_obsq *q;
    long id;
    uint64_t refused; /* pushes that returned false */
} producer_arg;

typedef struct consumer_arg {
    ep_obsq *q;
    atomic_int *producers_done;
    long next[PRODUCERS]; /* the next sequence number expected */
    uint64_t popped[PRODUCERS];
    uint64_t total; /* every successful pop */
    uint64_t bad;   /* values out of order, duplicated or invented */
} consumer_arg;

static const char *const producer_names[PRODUCERS] = {"p0", "p1", "p2", "p3"};

static void *
producer(void *p)
{
    producer_arg *a = p;

    for (long i = 0; i < PER_PRODUCER; i++) {
        /* value = sequence number; t_ns carries the producer id. */
        if (!ep_obsq_push(a->q, producer_names[a->id], (double)i,
                          (uint64_t)a->id)) {
            a->refused++;
        }
        if (i % 1024 == 0) {
            sched_yield(); /* let the consumer in on one CPU too */
        }
    }
    return NULL;
}

static void
account(consumer_arg *c, const ep_obs *o)
{
    uint64_t id = o->t_ns;
    long seq = (long)o->value;

    if (id >= PRODUCERS || o->name != producer_names[id] ||
        (double)seq != o->value || seq < c->next[id] || seq >= PER_PRODUCER) {
        c->bad++;
        return;
    }
    /* Drops leave gaps, but a producer's values never go backwards. */
    c->next[id] = seq + 1;
    c->popped[id]++;
}

/* Pops one observation into the accounts; false when the queue is empty
 * or has given back more than was ever pushed (a broken queue must fail
 * the test, not spin forever). */
static bool
pop_one(consumer_arg *c)
{
    ep_obs o;

    if (!ep_obsq_pop(c->q, &o)) {
        return false;
    }
    if (++c->total > (uint64_t)PRODUCERS * PER_PRODUCER) {
        c->bad++;
        return false;
    }
    account(c, &o);
    return true;
}

static void *
consumer(void *p)
{
    consumer_arg *c = p;

    for (;;) {
        if (c->bad > 0) {
            return NULL;
        }
        if (!pop_one(c) && atomic_load(c->producers_done) == PRODUCERS) {
            /* Every push finished before the flag: drain what is left. */
            while (pop_one(c)) {
            }
            return NULL;
        }
    }
}

static void
run_producers_and_consumer(size_t capacity, bool roomy)
{
    ep_obsq q;
    atomic_int done;
    pthread_t pt[PRODUCERS], ct;
    producer_arg pa[PRODUCERS];
    consumer_arg ca;
    uint64_t popped = 0, refused = 0;

    assert_int_equal(ep_obsq_init(&q, capacity), EMBPROF_OK);
    atomic_init(&done, 0);
    memset(&ca, 0, sizeof(ca));
    ca.q = &q;
    ca.producers_done = &done;
    assert_int_equal(pthread_create(&ct, NULL, consumer, &ca), 0);
    for (long i = 0; i < PRODUCERS; i++) {
        pa[i].q = &q;
        pa[i].id = i;
        pa[i].refused = 0;
        assert_int_equal(pthread_create(&pt[i], NULL, producer, &pa[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(pthread_join(pt[i], NULL), 0);
        atomic_fetch_add(&done, 1);
    }
    assert_int_equal(pthread_join(ct, NULL), 0);

    assert_int_equal(ca.bad, 0);
    for (int i = 0; i < PRODUCERS; i++) {
        /* Each producer's accepted pushes all came out. */
        assert_int_equal(ca.popped[i] + pa[i].refused, PER_PRODUCER);
        if (roomy) {
            assert_int_equal(pa[i].refused, 0);
        }
        popped += ca.popped[i];
        refused += pa[i].refused;
    }
    assert_int_equal(atomic_load(&q.pushed), popped);
    assert_int_equal(atomic_load(&q.dropped), refused);
    assert_int_equal(atomic_load(&q.pushed) + atomic_load(&q.dropped),
                     (uint64_t)PRODUCERS * PER_PRODUCER);
    ep_obsq_free(&q);
}

/* A small queue: drops are likely. */
static void
producers_and_consumer_small(void **state)
{
    (void)state;
    run_producers_and_consumer(64, false);
}

/* A queue that holds every push: nothing may be dropped. */
static void
producers_and_consumer_roomy(void **state)
{
    (void)state;
    run_producers_and_consumer((size_t)PRODUCERS * PER_PRODUCER, true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_and_full),
        cmocka_unit_test(capacity_rounds_up),
        cmocka_unit_test(wraps_around),
        cmocka_unit_test(producers_and_consumer_small),
        cmocka_unit_test(producers_and_consumer_roomy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The observation queue: order, drops when full, and four producers
 * against one consumer with every value accounted for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "embprof.h"
#include "obsq.h"

static void
order_and_full(void **state)
{
    ep_obsq q;
    ep_obs o;

    (void)state;
    assert_int_equal(ep_obsq_init(&q, 16), EMBPROF_OK);
    for (int i = 0; i < 16; i++) {
        assert_true(ep_obsq_push(&q, "m", i, (uint64_t)i));
    }
    assert_false(ep_obsq_push(&q, "m", 99, 0));
    assert_int_equal(atomic_load(&q.dropped), 1);
    for (int i = 0; i < 16; i++) {
        assert_true(ep_obsq_pop(&q, &o));
        assert_true(o.value == i);
        assert_string_equal(o.name, "m");
    }
    assert_false(ep_obsq_pop(&q, &o));
    assert_true(ep_obsq_push(&q, "m", 1, 0)); /* space again */
    ep_obsq_free(&q);
}

#define PRODUCERS 4
#define PER_PRODUCER 100000

static ep_obsq shared;
static atomic_int producers_done;

static void *
producer(void *arg)
{
    long id = (long)arg;

    for (long i = 0; i < PER_PRODUCER; i++) {
        ep_obsq_push(&shared, "p", (double)(id * PER_PRODUCER + i), 0);
    }
    atomic_fetch_add(&producers_done, 1);
    return NULL;
}

static void
producers_and_consumer(void **state)
{
    pthread_t t[PRODUCERS];
    uint64_t popped = 0;
    double sum = 0;
    ep_obs o;

    (void)state;
    assert_int_equal(ep_obsq_init(&shared, 1024), EMBPROF_OK);
    for (long i = 0; i < PRODUCERS; i++) {
        pthread_create(&t[i], NULL, producer, (void *)i);
    }
    for (;;) {
        if (ep_obsq_pop(&shared, &o)) {
            popped++;
            sum += o.value;
        } else if (atomic_load(&producers_done) == PRODUCERS) {
            break;
        }
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(t[i], NULL);
    }
    while (ep_obsq_pop(&shared, &o)) {
        popped++;
    }
    assert_int_equal(popped + atomic_load(&shared.dropped),
                     (uint64_t)PRODUCERS * PER_PRODUCER);
    assert_int_equal(atomic_load(&shared.pushed), popped);
    assert_true(sum >= 0);
    ep_obsq_free(&shared);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_and_full),
        cmocka_unit_test(producers_and_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

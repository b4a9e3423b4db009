/*
 * test_tracer_snapshot -- the tracer's tables and export merge.
 *
 * The merge against a thread table
 * whose published timeline is ahead of the copy of its functions. That is
 * what an export sees when the owner meets a new function between the copy
 * of its functions and the read of its span count, and publishes a span of
 * it: the span's function index is past the copy. The state is built by
 * hand (builtins only, so no Python is needed): a real owner thread would
 * make it only in a race.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "probes/tracer.h"
#include "runtime.h"

static ep_tracer *
tracer_with_timeline(struct embprof *ep)
{
    ep_tracer *tr = NULL;

    assert_int_equal(ep_tracer_new(ep, &tr), 0);
    ep->tracer = tr;
    tr->ever = true; /* as after a start */
    tr->o.timeline = true;
    tr->o.timeline_max = 16;
    tr->ticks_per_ns = 1.0;
    return tr;
}

static void
span(ep_tr_thread *t, uint32_t func, int64_t t0, int64_t t1)
{
    uint32_t n = atomic_load(&t->nspans);

    assert_true(n < t->spans_cap);
    t->spans[n].func = func;
    t->spans[n].depth = 0;
    t->spans[n].t0 = t0;
    t->spans[n].t1 = t1;
    atomic_store(&t->nspans, n + 1);
}

/* No function published yet (the copy is empty, so is its index map), but
 * a span already is: the merge used to index a NULL map. */
static void
test_span_before_any_function(void **state)
{
    struct embprof ep;
    ep_tr_snapshot s;
    ep_tracer *tr;
    ep_tr_thread *t;

    (void)state;
    memset(&ep, 0, sizeof(ep));
    tr = tracer_with_timeline(&ep);
    t = ep_tr_thread_get_slow(tr);
    assert_non_null(t);
    assert_non_null(t->spans);
    span(t, 0, 10, 20);
    assert_int_equal(ep_tr_snapshot_take(&ep, &s), 0);
    assert_int_equal(s.nthreads, 1);
    assert_int_equal(s.threads[0].nspans, 0);
    ep_tr_snapshot_free(&s);
    ep_tracer_free(tr);
}

/* Two functions copied, a span of a third: the third is dropped, the
 * others keep their order and point at the merged functions. */
static void
test_span_past_the_copy(void **state)
{
    struct embprof ep;
    ep_tr_snapshot s;
    ep_tracer *tr;
    ep_tr_thread *t;
    static int k0, k1;
    uint32_t s0, s1;

    (void)state;
    memset(&ep, 0, sizeof(ep));
    tr = tracer_with_timeline(&ep);
    t = ep_tr_thread_get_slow(tr);
    assert_non_null(t);
    s0 = ep_tr_sym_add(tr, &k0, "<built-in method zero>");
    s1 = ep_tr_sym_add(tr, &k1, "<built-in method one>");
    assert_int_equal(ep_tr_func_add(t, &k0, EP_TR_BUILTIN, s0, 0), 0);
    assert_int_equal(ep_tr_func_add(t, &k1, EP_TR_BUILTIN, s1, 0), 1);
    span(t, 1, 10, 20);
    span(t, 1000000, 20, 30); /* far past the copy */
    span(t, 2, 30, 40);       /* the next function, not yet copied */
    span(t, 0, 40, 50);
    assert_int_equal(ep_tr_snapshot_take(&ep, &s), 0);
    assert_int_equal(s.nfuncs, 2);
    assert_int_equal(s.nthreads, 1);
    assert_int_equal(s.threads[0].nspans, 2);
    assert_string_equal(s.funcs[s.threads[0].spans[0].func].name,
                        "<built-in method one>");
    assert_int_equal(s.threads[0].spans[0].t0, 10);
    assert_string_equal(s.funcs[s.threads[0].spans[1].func].name,
                        "<built-in method zero>");
    assert_int_equal(s.threads[0].spans[1].t0, 40);
    ep_tr_snapshot_free(&s);
    ep_tracer_free(tr);
}

/* An array at 2^31 entries cannot double in a uint32_t capacity: the
 * insert fails and counts a lost event (the doubling loop used to wrap
 * the capacity to 0 and spin forever). The table is faked: 2^31 real
 * entries would take ~100 GB; the growth gives up before touching them. */
static void
test_array_growth_limit(void **state)
{
    struct embprof ep;
    ep_tracer *tr;
    ep_tr_thread *t;
    static int k;

    (void)state;
    memset(&ep, 0, sizeof(ep));
    tr = tracer_with_timeline(&ep);
    t = ep_tr_thread_get_slow(tr);
    assert_non_null(t);
    atomic_store(&t->funcs.n, 1u << 31);
    t->funcs.cap = 1u << 31;
    assert_int_equal(ep_tr_func_add(t, &k, EP_TR_BUILTIN, 0, 0), UINT32_MAX);
    assert_int_equal(t->oom, 1);
    atomic_store(&t->edges.n, 1u << 31);
    t->edges.cap = 1u << 31;
    assert_int_equal(ep_tr_edge_add(t, 0, 0), UINT32_MAX);
    assert_int_equal(t->oom, 2);
    atomic_store(&t->lines.n, 1u << 31);
    t->lines.cap = 1u << 31;
    assert_int_equal(ep_tr_line_add(t, 0, 1), UINT32_MAX);
    assert_int_equal(t->oom, 3);
    atomic_store(&t->funcs.n, 0);
    atomic_store(&t->edges.n, 0);
    atomic_store(&t->lines.n, 0);
    ep_tracer_free(tr);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_span_before_any_function),
        cmocka_unit_test(test_span_past_the_copy),
        cmocka_unit_test(test_array_growth_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

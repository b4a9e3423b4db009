/* Sliding windows (scripting/window.c): buckets are contiguous and ordered,
 * count/sum/min/max are exact, percentiles of known distributions come
 * within one bucket width of the exact nearest-rank value, old slots
 * expire, out-of-window and NaN observations are ignored, empty windows
 * answer 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "../../scripting/window.h"

#define S 1000000000ull /* one second in ns */

static ep_window *
make(double seconds)
{
    ep_window *w = malloc(sizeof(*w));

    assert_non_null(w);
    ep_window_init(w, seconds);
    return w;
}

/* Exact nearest-rank quantile of sorted v[n]. */
static double
exact(const double *v, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n);

    return v[rank ? rank - 1 : 0];
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void
bins(void **state)
{
    double prev_hi = 0;

    (void)state;
    assert_int_equal(ep_window_bin(0), 0);
    assert_int_equal(ep_window_bin(-5), 0);
    assert_int_equal(ep_window_bin(INFINITY), EP_WINDOW_BINS - 1);
    assert_int_equal(ep_window_bin(1e300), EP_WINDOW_BINS - 1);
    for (int b = 1; b < EP_WINDOW_BINS; b++) {
        double lo, hi;

        ep_window_bin_bounds(b, &lo, &hi);
        assert_true(lo < hi);
        if (b > 1) {
            assert_true(lo == prev_hi); /* contiguous */
        }
        assert_true((hi - lo) / lo <= 1.0 / EP_WINDOW_SUB + 1e-12);
        /* The bounds land in their own bucket. */
        assert_int_equal(ep_window_bin(lo), b);
        assert_int_equal(ep_window_bin(lo + (hi - lo) / 2), b);
        prev_hi = hi;
    }
}

static void
exact_figures(void **state)
{
    ep_window *w = make(10);
    ep_window_stats st;

    (void)state;
    ep_window_stats_at(w, 5 * S, &st);
    assert_int_equal(st.count, 0);
    assert_true(ep_window_quantile(w, 5 * S, 0.99) == 0.0);
    for (int i = 1; i <= 100; i++) {
        ep_window_add(w, 5 * S + (uint64_t)i, (double)i);
    }
    ep_window_add(w, 5 * S, NAN);
    ep_window_stats_at(w, 6 * S, &st);
    assert_int_equal(st.count, 100);
    assert_true(st.sum == 5050.0);
    assert_true(st.min == 1.0 && st.max == 100.0);
    assert_int_equal(w->ignored, 1);
    assert_true(ep_window_quantile(w, 6 * S, 1.0) == 100.0);
    assert_true(ep_window_quantile(w, 6 * S, 0.0) == 1.0);
    free(w);
}

static void
check_distribution(double *v, size_t n)
{
    static const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999};
    ep_window *w = make(60);

    for (size_t i = 0; i < n; i++) {
        ep_window_add(w, 100 * S + i, v[i]);
    }
    qsort(v, n, sizeof(*v), cmp);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        double want = exact(v, n, qs[i]);
        double got = ep_window_quantile(w, 101 * S, qs[i]);

        if (fabs(got - want) > want / EP_WINDOW_SUB + 1e-9) {
            fail_msg("q=%g: got %g, exact %g", qs[i], got, want);
        }
    }
    free(w);
}

static void
percentiles(void **state)
{
    enum { N = 20000 };
    double *v = malloc(N * sizeof(*v));

    (void)state;
    assert_non_null(v);
    srand(7);
    for (int i = 0; i < N; i++) { /* uniform 1..1000 */
        v[i] = 1.0 + (double)(i % 1000);
    }
    check_distribution(v, N);
    for (int i = 0; i < N; i++) { /* log-normal-ish latencies */
        double u = ((double)rand() + 1) / ((double)RAND_MAX + 2);

        v[i] = exp(3.0 + 1.5 * sqrt(-2 * log(u)));
    }
    check_distribution(v, N);
    for (int i = 0; i < N; i++) { /* 99 % fast, 1 % very slow */
        v[i] = i % 100 == 0 ? 250.0 + i % 7 : 5.0;
    }
    check_distribution(v, N);
    /* Tiny, zero and negative values. */
    for (int i = 0; i < N; i++) {
        v[i] = (double)(i % 50) * 1e-3;
    }
    check_distribution(v, N);
    free(v);
}

static void
expiry(void **state)
{
    ep_window *w = make(10); /* slots of 0.625 s */
    ep_window_stats st;

    (void)state;
    ep_window_add(w, 100 * S, 500.0); /* the spike */
    for (int i = 1; i <= 9; i++) {
        ep_window_add(w, (100 + (uint64_t)i) * S, 1.0);
    }
    ep_window_stats_at(w, 109 * S, &st);
    assert_int_equal(st.count, 10);
    assert_true(st.max == 500.0);
    assert_true(ep_window_quantile(w, 109 * S, 0.99) == 500.0);
    /* 11 s later the spike is out, the rest partly. */
    ep_window_stats_at(w, 111 * S, &st);
    assert_true(st.max == 1.0);
    assert_int_equal(st.count, 9 - 1);
    /* Far later: empty. */
    ep_window_stats_at(w, 200 * S, &st);
    assert_int_equal(st.count, 0);
    assert_true(ep_window_quantile(w, 200 * S, 0.5) == 0.0);
    /* An observation older than what a slot holds is ignored. */
    ep_window_add(w, 300 * S, 2.0);
    ep_window_add(w, 300 * S - 10 * S, 3.0);
    assert_int_equal(w->ignored, 1);
    /* A window is never shorter than 1 ms. */
    ep_window_init(w, 0);
    assert_true(w->span_ns >= 1000000u);
    free(w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bins),
        cmocka_unit_test(exact_figures),
        cmocka_unit_test(percentiles),
        cmocka_unit_test(expiry),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

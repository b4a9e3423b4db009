/* The profile store: interning, aggregation, reset, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "embprof.h"
#include "profile/store.h"

static void
interning(void **state)
{
    ep_store s;
    uint32_t a, b, c, f1, f2, fr1, fr2;

    (void)state;
    assert_int_equal(ep_store_init(&s), EMBPROF_OK);
    a = ep_store_str(&s, "spin", 4);
    b = ep_store_str(&s, "spinning", 4); /* same 4 bytes */
    c = ep_store_str(&s, "spinning", 8);
    assert_int_equal(a, b);
    assert_int_not_equal(a, c);
    assert_string_equal(ep_store_strget(&s, c), "spinning");
    assert_int_equal(ep_store_str(&s, "", 0), 0);
    f1 = ep_store_func(&s, a, c, 10);
    f2 = ep_store_func(&s, a, c, 11);
    assert_int_not_equal(f1, f2);
    assert_int_equal(ep_store_func(&s, a, c, 10), f1);
    fr1 = ep_store_frame(&s, f1, 12);
    fr2 = ep_store_frame(&s, f1, 13);
    assert_int_not_equal(fr1, fr2);
    assert_int_equal(ep_store_frame(&s, f1, 12), fr1);
    ep_store_free(&s);
}

static void
aggregation_and_reset(void **state)
{
    ep_store s;
    uint32_t t1, t2, frames[3] = {0, 1, 2};
    ep_weights w = {1, 1, 10, 5};

    (void)state;
    ep_store_init(&s);
    t1 = ep_store_thread(&s, 111, 11, EP_THREAD_PYTHON, "main");
    t2 = ep_store_thread(&s, 222, 22, EP_THREAD_HOST, "worker");
    assert_int_equal(ep_store_thread(&s, 111, 11, EP_THREAD_PYTHON, NULL), t1);
    ep_store_thread(&s, 222, 22, EP_THREAD_HOST, "renamed");
    assert_string_equal(s.threads[t2].name, "renamed");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ep_store_add(&s, t1, frames, 3, &w, 100 + i), 0);
    }
    assert_int_equal(ep_store_add(&s, t2, frames, 3, &w, 200), 0);
    assert_int_equal(ep_store_add(&s, t1, frames, 2, &w, 300), 0);
    assert_int_equal(s.nstacks, 3);
    assert_int_equal(s.stacks[0].w.samples, 3);
    assert_int_equal(s.stacks[0].w.wall_ns, 30);
    assert_int_equal(s.total.samples, 5);
    assert_int_equal(s.total.cpu_ns, 25);
    assert_int_equal(s.start_ns, 100);
    assert_int_equal(s.end_ns, 300);
    ep_store_reset(&s);
    assert_int_equal(s.nstacks, 0);
    assert_int_equal(s.total.samples, 0);
    assert_int_equal(s.nthreads, 2); /* symbols and threads stay */
    assert_int_equal(ep_store_add(&s, t1, frames, 3, &w, 400), 0);
    assert_int_equal(s.nstacks, 1);
    assert_int_equal(s.stacks[0].w.samples, 1);
    ep_store_free(&s);
}

/* A thread with no Python frame yet: an empty stack, before any other
 * stack exists (the frame array is still NULL). UBSan caught this. */
static void
empty_stack_first(void **state)
{
    ep_store s;
    ep_weights w = {1, 0, 10, 0};

    (void)state;
    ep_store_init(&s);
    assert_int_equal(ep_store_add(&s, 0, NULL, 0, &w, 1), 0);
    assert_int_equal(ep_store_add(&s, 0, NULL, 0, &w, 2), 0);
    assert_int_equal(s.nstacks, 1);
    assert_int_equal(s.stacks[0].w.samples, 2);
    ep_store_free(&s);
}

static void
growth(void **state)
{
    ep_store s;
    ep_weights w = {1, 0, 1, 0};

    (void)state;
    ep_store_init(&s);
    for (uint32_t i = 0; i < 20000; i++) {
        uint32_t frames[2] = {i, i / 2};
        char name[32];
        int n = snprintf(name, sizeof(name), "f%u", i);

        assert_int_equal(ep_store_str(&s, name, (size_t)n), i + 1);
        assert_int_equal(ep_store_add(&s, 0, frames, 2, &w, 1), 0);
    }
    assert_int_equal(s.nstacks, 20000);
    for (uint32_t i = 0; i < 20000; i += 997) {
        uint32_t frames[2] = {i, i / 2};

        ep_store_add(&s, 0, frames, 2, &w, 2);
        assert_int_equal(s.stacks[i].w.samples, 2);
    }
    assert_int_equal(s.nstacks, 20000);
    assert_int_equal(s.oom, 0);
    ep_store_free(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(interning),
        cmocka_unit_test(aggregation_and_reset),
        cmocka_unit_test(empty_stack_first),
        cmocka_unit_test(growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

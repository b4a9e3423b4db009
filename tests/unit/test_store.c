/* The profile store: interning of strings, functions and frames; stacks
 * aggregated per (thread, frames); weights summed into the total; reset
 * that keeps symbols; growth well past the hash indexes' first sizes;
 * threads found by (ident, tid) and renamed; keys whose hashes collide. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embprof.h"
#include "profile/store.h"

static void
strings(void **state)
{
    ep_store s;
    uint32_t a, b, c, d;

    (void)state;
    assert_int_equal(ep_store_init(&s), EMBPROF_OK);
    assert_int_equal(s.nstr, 1); /* "" is id 0 */
    assert_int_equal(ep_store_str(&s, "", 0), 0);
    a = ep_store_str(&s, "spin", 4);
    assert_int_equal(ep_store_str(&s, "spin", 4), a);
    b = ep_store_str(&s, "spinning", 4); /* the same 4 bytes */
    assert_int_equal(a, b);
    c = ep_store_str(&s, "spinning", 8);
    d = ep_store_str(&s, "spin\0ning", 4); /* not NUL-terminated at len */
    assert_int_not_equal(a, c);
    assert_int_equal(d, a);
    assert_int_equal(s.nstr, 3);
    assert_string_equal(ep_store_strget(&s, a), "spin");
    assert_string_equal(ep_store_strget(&s, c), "spinning");
    assert_string_equal(ep_store_strget(&s, 0), "");
    /* A prefix of a stored string is a different string. */
    assert_int_not_equal(ep_store_str(&s, "spi", 3), a);
    ep_store_free(&s);
}

static void
functions_and_frames(void **state)
{
    ep_store s;
    uint32_t file, name, other, f1, f2, f3, fr1, fr2, fr3;

    (void)state;
    ep_store_init(&s);
    file = ep_store_str(&s, "a.py", 4);
    name = ep_store_str(&s, "work", 4);
    other = ep_store_str(&s, "b.py", 4);
    f1 = ep_store_func(&s, file, name, 10);
    f2 = ep_store_func(&s, file, name, 11);
    f3 = ep_store_func(&s, other, name, 10);
    assert_int_not_equal(f1, f2);
    assert_int_not_equal(f1, f3);
    assert_int_not_equal(f2, f3);
    assert_int_equal(ep_store_func(&s, file, name, 10), f1);
    assert_int_equal(ep_store_func(&s, other, name, 10), f3);
    assert_int_equal(s.nfuncs, 3);
    assert_int_equal(s.funcs[f1].file, file);
    assert_int_equal(s.funcs[f1].name, name);
    assert_int_equal(s.funcs[f2].firstline, 11);

    fr1 = ep_store_frame(&s, f1, 12);
    fr2 = ep_store_frame(&s, f1, 13);
    fr3 = ep_store_frame(&s, f2, 12);
    assert_int_not_equal(fr1, fr2);
    assert_int_not_equal(fr1, fr3);
    assert_int_equal(ep_store_frame(&s, f1, 12), fr1);
    assert_int_equal(ep_store_frame(&s, f2, 12), fr3);
    assert_int_equal(ep_store_frame(&s, f1, 0), 3); /* unknown line */
    assert_int_equal(s.nframes, 4);
    assert_int_equal(s.frames[fr2].func, f1);
    assert_int_equal(s.frames[fr2].line, 13);
    ep_store_free(&s);
}

static void
threads(void **state)
{
    ep_store s;
    uint32_t t1, t2, t3;
    char longname[100];

    (void)state;
    ep_store_init(&s);
    t1 = ep_store_thread(&s, 111, 11, EP_THREAD_PYTHON, "main");
    t2 = ep_store_thread(&s, 222, 22, EP_THREAD_HOST, "worker");
    /* Same ident, another kernel thread (ident reused): a new thread. */
    t3 = ep_store_thread(&s, 111, 33, EP_THREAD_PYTHON, NULL);
    assert_int_equal(s.nthreads, 3);
    assert_int_not_equal(t1, t3);
    assert_int_equal(ep_store_thread(&s, 111, 11, EP_THREAD_PYTHON, NULL), t1);
    assert_string_equal(s.threads[t1].name, "main"); /* NULL keeps it */
    assert_int_equal(ep_store_thread(&s, 111, 11, EP_THREAD_PYTHON, ""), t1);
    assert_string_equal(s.threads[t1].name, "main"); /* "" keeps it */
    assert_string_equal(s.threads[t3].name, "");
    assert_int_equal(ep_store_thread(&s, 222, 22, EP_THREAD_HOST, "renamed"),
                     t2);
    assert_string_equal(s.threads[t2].name, "renamed");
    assert_int_equal(s.threads[t2].kind, EP_THREAD_HOST);
    assert_int_equal(s.threads[t2].ident, 222);
    assert_int_equal(s.threads[t2].tid, 22);
    /* Names are cut to 63 bytes. */
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ep_store_thread(&s, 222, 22, EP_THREAD_HOST, longname);
    assert_int_equal(strlen(s.threads[t2].name), 63);
    assert_int_equal(s.nthreads, 3);
    ep_store_free(&s);
}

static void
aggregation(void **state)
{
    ep_store s;
    uint32_t t1, t2, frames[3] = {0, 1, 2}, other[3] = {0, 2, 1};
    ep_weights w = {1, 1, 10, 5}, w2 = {2, 0, 7, 3};

    (void)state;
    ep_store_init(&s);
    t1 = ep_store_thread(&s, 111, 11, EP_THREAD_PYTHON, "main");
    t2 = ep_store_thread(&s, 222, 22, EP_THREAD_HOST, "worker");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ep_store_add(&s, t1, frames, 3, &w, 100 + i), 0);
    }
    /* The same frames on another thread: a stack of its own. */
    assert_int_equal(ep_store_add(&s, t2, frames, 3, &w2, 200), 0);
    /* A prefix and a permutation of the frames: other stacks. */
    assert_int_equal(ep_store_add(&s, t1, frames, 2, &w, 300), 0);
    assert_int_equal(ep_store_add(&s, t1, other, 3, &w, 301), 0);
    assert_int_equal(ep_store_add(&s, t1, frames, 3, &w2, 302), 0);
    assert_int_equal(s.nstacks, 4);

    assert_int_equal(s.stacks[0].thread, t1);
    assert_int_equal(s.stacks[0].depth, 3);
    assert_int_equal(s.stacks[0].w.samples, 5);
    assert_int_equal(s.stacks[0].w.samples_gil, 3);
    assert_int_equal(s.stacks[0].w.wall_ns, 37);
    assert_int_equal(s.stacks[0].w.cpu_ns, 18);
    assert_memory_equal(ep_store_stack_frames(&s, &s.stacks[0]), frames,
                        sizeof(frames));
    assert_int_equal(s.stacks[1].thread, t2);
    assert_int_equal(s.stacks[1].w.samples, 2);
    assert_int_equal(s.stacks[1].w.wall_ns, 7);
    assert_memory_equal(ep_store_stack_frames(&s, &s.stacks[1]), frames,
                        sizeof(frames));
    assert_int_equal(s.stacks[2].depth, 2);
    assert_memory_equal(ep_store_stack_frames(&s, &s.stacks[3]), other,
                        sizeof(other));

    /* total = the sum over every add. */
    assert_int_equal(s.total.samples, 3 + 2 + 1 + 1 + 2);
    assert_int_equal(s.total.samples_gil, 3 + 0 + 1 + 1 + 0);
    assert_int_equal(s.total.wall_ns, 30 + 7 + 10 + 10 + 7);
    assert_int_equal(s.total.cpu_ns, 15 + 3 + 5 + 5 + 3);
    {
        ep_weights sum = {0, 0, 0, 0};

        for (uint32_t i = 0; i < s.nstacks; i++) {
            sum.samples += s.stacks[i].w.samples;
            sum.wall_ns += s.stacks[i].w.wall_ns;
        }
        assert_int_equal(sum.samples, s.total.samples);
        assert_int_equal(sum.wall_ns, s.total.wall_ns);
    }
    assert_int_equal(s.start_ns, 100);
    assert_int_equal(s.end_ns, 302);
    ep_store_free(&s);
}

static void
reset_keeps_symbols(void **state)
{
    ep_store s;
    uint32_t t1, file, name, fn, fr[2];
    ep_weights w = {1, 0, 10, 0};

    (void)state;
    ep_store_init(&s);
    file = ep_store_str(&s, "a.py", 4);
    name = ep_store_str(&s, "f", 1);
    fn = ep_store_func(&s, file, name, 1);
    fr[0] = ep_store_frame(&s, fn, 2);
    fr[1] = ep_store_frame(&s, fn, 3);
    t1 = ep_store_thread(&s, 1, 1, EP_THREAD_PYTHON, "main");
    ep_store_add(&s, t1, fr, 2, &w, 50);
    ep_store_add(&s, t1, fr, 1, &w, 60);
    assert_int_equal(s.nstacks, 2);

    ep_store_reset(&s);
    assert_int_equal(s.nstacks, 0);
    assert_int_equal(s.nstack_frames, 0);
    assert_int_equal(s.total.samples, 0);
    assert_int_equal(s.total.wall_ns, 0);
    assert_int_equal(s.start_ns, 0);
    assert_int_equal(s.end_ns, 0);
    /* Symbols and threads stay, with the same ids. */
    assert_int_equal(s.nstr, 3);
    assert_int_equal(s.nfuncs, 1);
    assert_int_equal(s.nframes, 2);
    assert_int_equal(s.nthreads, 1);
    assert_int_equal(ep_store_str(&s, "a.py", 4), file);
    assert_string_equal(ep_store_strget(&s, name), "f");
    assert_int_equal(ep_store_func(&s, file, name, 1), fn);
    assert_int_equal(ep_store_frame(&s, fn, 3), fr[1]);
    assert_int_equal(ep_store_thread(&s, 1, 1, EP_THREAD_PYTHON, NULL), t1);
    assert_string_equal(s.threads[t1].name, "main");

    /* Stacks seen before the reset start from nothing. */
    assert_int_equal(ep_store_add(&s, t1, fr, 2, &w, 70), 0);
    assert_int_equal(ep_store_add(&s, t1, fr, 2, &w, 80), 0);
    assert_int_equal(s.nstacks, 1);
    assert_int_equal(s.stacks[0].w.samples, 2);
    assert_int_equal(s.total.samples, 2);
    assert_int_equal(s.start_ns, 70);
    ep_store_free(&s);
}

/* A thread with no Python frame yet: an empty stack, before any other
 * stack exists (the frame array is still NULL). */
static void
empty_stack(void **state)
{
    ep_store s;
    ep_weights w = {1, 0, 10, 0};
    uint32_t fr = 5;

    (void)state;
    ep_store_init(&s);
    assert_int_equal(ep_store_add(&s, 0, NULL, 0, &w, 1), 0);
    assert_int_equal(ep_store_add(&s, 0, NULL, 0, &w, 2), 0);
    assert_int_equal(ep_store_add(&s, 1, NULL, 0, &w, 2), 0);
    assert_int_equal(ep_store_add(&s, 0, &fr, 1, &w, 3), 0);
    assert_int_equal(s.nstacks, 3);
    assert_int_equal(s.stacks[0].w.samples, 2);
    assert_int_equal(s.stacks[0].depth, 0);
    ep_store_free(&s);
}

/* 20000 distinct strings, functions, frames and stacks: every table and
 * every hash index grows many times, and every old entry is still found
 * under its id. */
static void
growth(void **state)
{
    enum { N = 20000 };
    ep_store s;
    ep_weights w = {1, 0, 1, 0};
    uint32_t t;

    (void)state;
    ep_store_init(&s);
    t = ep_store_thread(&s, 9, 9, EP_THREAD_PYTHON, "t");
    for (uint32_t i = 0; i < N; i++) {
        uint32_t frames[3] = {i, i / 2, 7};
        char name[32];
        int n = snprintf(name, sizeof(name), "f%u", i);
        uint32_t sid = ep_store_str(&s, name, (size_t)n);

        assert_int_equal(sid, i + 1);
        assert_int_equal(ep_store_func(&s, sid, sid, (int32_t)i), i);
        assert_int_equal(ep_store_frame(&s, i, (int32_t)i), i);
        assert_int_equal(ep_store_add(&s, t, frames, 3, &w, 1), 0);
    }
    assert_int_equal(s.nstacks, N);
    assert_int_equal(s.nstr, N + 1);
    assert_true(s.stack_idx.cap >= 2 * N);
    for (uint32_t i = 0; i < N; i += 7) {
        uint32_t frames[3] = {i, i / 2, 7};
        char name[32];
        int n = snprintf(name, sizeof(name), "f%u", i);

        assert_int_equal(ep_store_str(&s, name, (size_t)n), i + 1);
        assert_string_equal(ep_store_strget(&s, i + 1), name);
        assert_int_equal(ep_store_func(&s, i + 1, i + 1, (int32_t)i), i);
        assert_int_equal(ep_store_frame(&s, i, (int32_t)i), i);
        assert_int_equal(ep_store_add(&s, t, frames, 3, &w, 2), 0);
        assert_int_equal(s.stacks[i].w.samples, 2);
        assert_memory_equal(ep_store_stack_frames(&s, &s.stacks[i]), frames,
                            sizeof(frames));
    }
    assert_int_equal(s.nstacks, N);
    assert_int_equal(s.nfuncs, N);
    assert_int_equal(s.nframes, N);
    assert_int_equal(s.total.samples, N + (N + 6) / 7);
    assert_int_equal(s.oom, 0);
    ep_store_free(&s);
}

/* ---- hash collisions ----------------------------------------------------
 *
 * Keys that differ must stay apart even when their 32-bit hashes are equal:
 * the hash index hands every same-hash candidate to the table's own
 * comparison. Colliding keys are found here by a birthday search with the
 * same hash the store computes (hindex.h's functions, composed as store.c
 * composes them); if the store ever hashes differently the keys may no
 * longer collide, and the checks still hold, only with less power. */

typedef struct hv {
    uint32_t hash, value;
} hv;

static int
cmp_hv(const void *a, const void *b)
{
    const hv *x = a, *y = b;

    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    return x->value < y->value ? -1 : x->value > y->value;
}

/* Two 32-bit values with the same hash, among 2^19 spread over the whole
 * range (FNV-1a keeps small, similar keys apart, so they would not collide);
 * false if there are none. */
static bool
find_collision(uint32_t (*hash)(uint32_t), uint32_t *a, uint32_t *b)
{
    enum { N = 1 << 19 };
    hv *v = malloc(N * sizeof(*v));
    bool found = false;

    assert_non_null(v);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t x = i * 0x9E3779B1u; /* odd: a bijection */

        v[i].hash = hash(x);
        v[i].value = x;
    }
    qsort(v, N, sizeof(*v), cmp_hv);
    for (uint32_t i = 1; i < N && !found; i++) {
        if (v[i].hash == v[i - 1].hash) {
            *a = v[i - 1].value;
            *b = v[i].value;
            found = true;
        }
    }
    free(v);
    return found;
}

static uint32_t
stack_hash(uint32_t thread, const uint32_t *frames, uint32_t depth)
{
    return ep_hash_bytes(frames, depth * sizeof(uint32_t),
                         ep_hash_u64(thread));
}

static uint32_t
hash_frame_value(uint32_t v) /* stack [v] on thread 3 */
{
    return stack_hash(3, &v, 1);
}

static uint32_t
hash_thread_value(uint32_t t) /* stack [7] on thread t */
{
    static const uint32_t seven = 7;

    return stack_hash(t, &seven, 1);
}

static uint32_t
hash_firstline(uint32_t line)
{
    ep_func f = {1, 2, (int32_t)line};

    return ep_hash_bytes(&f, sizeof(f), EP_HASH_SEED);
}

static uint32_t
hash_line(uint32_t line)
{
    ep_frame f = {4, (int32_t)line};

    return ep_hash_bytes(&f, sizeof(f), EP_HASH_SEED);
}

static uint32_t
hash_string(uint32_t v)
{
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "k%08x", v);

    return ep_hash_bytes(buf, (size_t)n, EP_HASH_SEED);
}

static void
collisions_stay_apart(void **state)
{
    ep_store s;
    ep_weights w = {1, 0, 1, 0}, w2 = {2, 0, 2, 0};
    uint32_t a, b;

    (void)state;
    ep_store_init(&s);

    /* Same thread and depth, other frames. */
    assert_true(find_collision(hash_frame_value, &a, &b));
    assert_int_equal(ep_store_add(&s, 3, &a, 1, &w, 1), 0);
    assert_int_equal(ep_store_add(&s, 3, &b, 1, &w2, 1), 0);
    assert_int_equal(s.nstacks, 2);
    assert_int_equal(ep_store_stack_frames(&s, &s.stacks[0])[0], a);
    assert_int_equal(ep_store_stack_frames(&s, &s.stacks[1])[0], b);
    assert_int_equal(s.stacks[0].w.samples, 1);
    assert_int_equal(s.stacks[1].w.samples, 2);

    /* Same frames, other threads. */
    assert_true(find_collision(hash_thread_value, &a, &b));
    {
        static const uint32_t seven = 7;

        assert_int_equal(ep_store_add(&s, a, &seven, 1, &w, 1), 0);
        assert_int_equal(ep_store_add(&s, b, &seven, 1, &w2, 1), 0);
        assert_int_equal(ep_store_add(&s, a, &seven, 1, &w, 1), 0);
    }
    assert_int_equal(s.nstacks, 4);
    assert_int_equal(s.stacks[2].thread, a);
    assert_int_equal(s.stacks[3].thread, b);
    assert_int_equal(s.stacks[2].w.samples, 2);
    assert_int_equal(s.stacks[3].w.samples, 2);

    /* A stack and its prefixes: thread 0's hash seed is 0 and zero bytes
     * keep FNV-1a at 0, so [], [0], [0,0] and [0,0,0] all hash alike. */
    {
        static const uint32_t zeros[3] = {0, 0, 0};

        for (uint32_t d = 0; d <= 3; d++) {
            assert_int_equal(ep_store_add(&s, 0, zeros, d, &w, 1), 0);
        }
        for (uint32_t d = 0; d <= 3; d++) {
            assert_int_equal(ep_store_add(&s, 0, zeros, d, &w, 1), 0);
        }
        assert_int_equal(s.nstacks, 8);
        for (uint32_t i = 4; i < 8; i++) {
            assert_int_equal(s.stacks[i].depth, i - 4);
            assert_int_equal(s.stacks[i].w.samples, 2);
        }
    }

    /* Functions that differ only in their first line, frames only in
     * their line, strings of the same length. */
    assert_true(find_collision(hash_firstline, &a, &b));
    assert_int_not_equal(ep_store_func(&s, 1, 2, (int32_t)a),
                         ep_store_func(&s, 1, 2, (int32_t)b));
    assert_int_equal(s.nfuncs, 2);
    assert_true(find_collision(hash_line, &a, &b));
    assert_int_not_equal(ep_store_frame(&s, 4, (int32_t)a),
                         ep_store_frame(&s, 4, (int32_t)b));
    assert_int_equal(s.nframes, 2);
    assert_true(find_collision(hash_string, &a, &b));
    {
        char sa[16], sb[16];
        int na = snprintf(sa, sizeof(sa), "k%08x", a);
        int nb = snprintf(sb, sizeof(sb), "k%08x", b);
        uint32_t ia = ep_store_str(&s, sa, (size_t)na);
        uint32_t ib = ep_store_str(&s, sb, (size_t)nb);

        assert_int_not_equal(ia, ib);
        assert_string_equal(ep_store_strget(&s, ia), sa);
        assert_string_equal(ep_store_strget(&s, ib), sb);
        assert_int_equal(ep_store_str(&s, sb, (size_t)nb), ib);
    }
    ep_store_free(&s);
}

/* The hash index on its own, with colliding hashes. */
static uint32_t keys[300];

static bool
key_eq(const void *ctx, uint32_t elem)
{
    return keys[elem] == *(const uint32_t *)ctx;
}

static void
hindex_collisions(void **state)
{
    ep_hindex h;

    (void)state;
    memset(&h, 0, sizeof(h));
    for (uint32_t i = 0; i < 300; i++) {
        keys[i] = i * 31 + 1;
        /* Only four distinct hashes: long probe chains. */
        assert_int_equal(ep_hindex_insert(&h, i % 4, i), 0);
    }
    for (uint32_t i = 0; i < 300; i++) {
        uint32_t k = i * 31 + 1, missing = 5;

        assert_int_equal(ep_hindex_find(&h, i % 4, key_eq, &k), i);
        assert_int_equal(ep_hindex_find(&h, i % 4, key_eq, &missing),
                         UINT32_MAX);
    }
    ep_hindex_clear(&h);
    {
        uint32_t k = 1;

        assert_int_equal(ep_hindex_find(&h, 0, key_eq, &k), UINT32_MAX);
    }
    ep_hindex_free(&h);
    ep_hindex_free(&h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings),
        cmocka_unit_test(functions_and_frames),
        cmocka_unit_test(threads),
        cmocka_unit_test(aggregation),
        cmocka_unit_test(reset_keeps_symbols),
        cmocka_unit_test(empty_stack),
        cmocka_unit_test(growth),
        cmocka_unit_test(collisions_stay_apart),
        cmocka_unit_test(hindex_collisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

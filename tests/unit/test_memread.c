/* Safe reads, with both methods: good memory is copied exactly; address 0,
 * address 1, an unmapped page and a range that runs from a mapped page
 * into an unmapped one fail with -1 and no fault; the reader stays usable
 * (the pipe holds no stale bytes); vectored reads report how many leading
 * ranges were read, across more ranges than one system call takes; large
 * reads through the pipe are chunked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "embprof.h"
#include "memread.h"

static const int methods[] = {EP_MEMREAD_VM, EP_MEMREAD_PIPE};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* Two pages, the second unmapped again: returns the first, filled with
 * 0xAB. */
static unsigned char *
page_then_hole(size_t *pg)
{
    unsigned char *p;

    *pg = (size_t)sysconf(_SC_PAGESIZE);
    p = mmap(NULL, 2 * *pg, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0xAB, *pg);
    assert_int_equal(munmap(p + *pg, *pg), 0);
    return p;
}

static void
open_both(ep_reader *r, int method)
{
    assert_int_equal(ep_memread_open(r, method), EMBPROF_OK);
    assert_int_equal(r->method, method);
    assert_string_equal(ep_memread_name(r), method == EP_MEMREAD_PIPE
                                                ? "pipe"
                                                : "process_vm_readv");
}

static void
copies_good_memory(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMETHODS; m++) {
        ep_reader r;
        unsigned char src[257], dst[257];

        for (size_t i = 0; i < sizeof(src); i++) {
            src[i] = (unsigned char)(i * 13 + 1);
        }
        open_both(&r, methods[m]);
        memset(dst, 0, sizeof(dst));
        assert_int_equal(ep_memread(&r, dst, (uintptr_t)src, sizeof(src)), 0);
        assert_memory_equal(dst, src, sizeof(src));
        /* Odd lengths and offsets; zero bytes is a success. */
        memset(dst, 0, sizeof(dst));
        assert_int_equal(ep_memread(&r, dst, (uintptr_t)(src + 3), 1), 0);
        assert_int_equal(dst[0], src[3]);
        assert_int_equal(dst[1], 0);
        assert_int_equal(ep_memread(&r, dst, (uintptr_t)src, 0), 0);
        assert_int_equal(r.faults, 0);
        ep_memread_close(&r);
    }
}

static void
bad_addresses_fail_without_faulting(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMETHODS; m++) {
        ep_reader r;
        size_t pg;
        unsigned char *p = page_then_hole(&pg), buf[64];
        unsigned char *gone;
        char good[] = "still readable afterwards";
        char out[sizeof(good)];

        /* A page that was mapped and written, then unmapped. */
        gone = mmap(NULL, pg, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(gone != MAP_FAILED);
        memset(gone, 0x5A, pg);
        assert_int_equal(munmap(gone, pg), 0);

        open_both(&r, methods[m]);
        memset(buf, 0xEE, sizeof(buf));
        assert_int_equal(ep_memread(&r, buf, 0, 8), -1);
        assert_int_equal(ep_memread(&r, buf, 1, 8), -1);
        assert_int_equal(ep_memread(&r, buf, (uintptr_t)gone, 8), -1);
        assert_int_equal(ep_memread(&r, buf, (uintptr_t)gone, pg), -1);
        assert_int_equal(ep_memread(&r, buf, (uintptr_t)(p + pg), 8), -1);
        /* A range that wraps around the address space. */
        assert_int_equal(ep_memread(&r, buf, UINTPTR_MAX - 3, 8), -1);
        /* Straddling from the mapped page into the hole fails as a whole,
         * for a short range and for one of several pipe chunks. */
        assert_int_equal(
            ep_memread(&r, buf, (uintptr_t)(p + pg - 16), sizeof(buf)), -1);
        assert_int_equal(ep_memread(&r, buf, (uintptr_t)(p + pg - 16), 17),
                         -1);
        {
            unsigned char *big = malloc(pg + 1);

            assert_int_equal(ep_memread(&r, big, (uintptr_t)p, pg + 1), -1);
            free(big);
        }
        assert_true(r.faults >= 9);
        /* The part before the hole reads fine. */
        memset(buf, 0, sizeof(buf));
        assert_int_equal(ep_memread(&r, buf, (uintptr_t)(p + pg - 16), 16), 0);
        for (int i = 0; i < 16; i++) {
            assert_int_equal(buf[i], 0xAB);
        }
        /* After a partial pipe write the next read gets its own bytes, not
         * what was left of the failed one. */
        assert_int_equal(
            ep_memread(&r, buf, (uintptr_t)(p + pg - 16), sizeof(buf)), -1);
        memset(out, 0, sizeof(out));
        assert_int_equal(ep_memread(&r, out, (uintptr_t)good, sizeof(good)),
                         0);
        assert_string_equal(out, good);
        munmap(p, pg);
        ep_memread_close(&r);
    }
}

/* A page mapped without read permission faults like an unmapped one. */
static void
unreadable_page(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMETHODS; m++) {
        ep_reader r;
        size_t pg = (size_t)sysconf(_SC_PAGESIZE);
        unsigned char *p =
            mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        unsigned char buf[8];

        assert_true(p != MAP_FAILED);
        open_both(&r, methods[m]);
        assert_int_equal(ep_memread(&r, buf, (uintptr_t)p, sizeof(buf)), -1);
        ep_memread_close(&r);
        munmap(p, pg);
    }
}

static void
vectored_stops_at_first_fault(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMETHODS; m++) {
        ep_reader r;
        size_t pg;
        unsigned char *p = page_then_hole(&pg);
        unsigned char a[8], b[8], c[8];
        struct iovec l[3] = {{a, 8}, {b, 8}, {c, 8}};
        struct iovec rr[3] = {{p, 8}, {p + pg, 8}, {p + 8, 8}};

        for (int i = 0; i < 24; i++) {
            p[i] = (unsigned char)i;
        }
        open_both(&r, methods[m]);
        assert_int_equal(ep_memread_v(&r, l, rr, 3), 1);
        assert_int_equal(a[0], 0);
        assert_int_equal(a[7], 7);
        /* The first range bad: none. */
        rr[0].iov_base = p + pg;
        rr[1].iov_base = p + 16;
        assert_int_equal(ep_memread_v(&r, l, rr, 3), 0);
        /* The last range straddles into the hole: two. */
        rr[0].iov_base = p;
        rr[2].iov_base = p + pg - 4;
        assert_int_equal(ep_memread_v(&r, l, rr, 3), 2);
        /* All good: three, every byte in place. */
        rr[2].iov_base = p + 8;
        memset(a, 0, 8);
        memset(b, 0, 8);
        memset(c, 0, 8);
        assert_int_equal(ep_memread_v(&r, l, rr, 3), 3);
        assert_int_equal(a[3], 3);
        assert_int_equal(b[3], 19);
        assert_int_equal(c[3], 11);
        assert_int_equal(ep_memread_v(&r, l, rr, 0), 0);
        munmap(p, pg);
        ep_memread_close(&r);
    }
}

/* More ranges than process_vm_readv takes at once (IOV_MAX). */
static void
vectored_many_ranges(void **state)
{
    enum { N = 3 * IOV_MAX + 5 };

    (void)state;
    for (size_t m = 0; m < NMETHODS; m++) {
        ep_reader r;
        uint32_t *src = malloc(N * sizeof(*src));
        uint32_t *dst = calloc(N, sizeof(*dst));
        struct iovec *l = malloc(N * sizeof(*l));
        struct iovec *rr = malloc(N * sizeof(*rr));
        size_t pg;
        unsigned char *p = page_then_hole(&pg);

        for (size_t i = 0; i < N; i++) {
            src[i] = (uint32_t)(i * 2654435761u);
            l[i].iov_base = &dst[i];
            l[i].iov_len = sizeof(uint32_t);
            rr[i].iov_base = &src[N - 1 - i]; /* reversed */
            rr[i].iov_len = sizeof(uint32_t);
        }
        open_both(&r, methods[m]);
        assert_int_equal(ep_memread_v(&r, l, rr, N), N);
        for (size_t i = 0; i < N; i++) {
            assert_int_equal(dst[i], src[N - 1 - i]);
        }
        /* A fault in the third batch. */
        rr[2 * IOV_MAX + 7].iov_base = p + pg;
        assert_int_equal(ep_memread_v(&r, l, rr, N), 2 * IOV_MAX + 7);
        munmap(p, pg);
        ep_memread_close(&r);
        free(src);
        free(dst);
        free(l);
        free(rr);
    }
}

static void
large_reads_are_chunked(void **state)
{
    size_t n = 100 * 1024;
    unsigned char *src = malloc(n), *dst = malloc(n);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        src[i] = (unsigned char)(i * 7 + (i >> 12));
    }
    for (size_t m = 0; m < NMETHODS; m++) {
        ep_reader r;

        open_both(&r, methods[m]);
        memset(dst, 0, n);
        assert_int_equal(ep_memread(&r, dst, (uintptr_t)src, n), 0);
        assert_memory_equal(src, dst, n);
        if (methods[m] == EP_MEMREAD_PIPE) {
            assert_true(r.reads >= 2); /* more than one chunk */
        }
        /* Unaligned start and length. */
        memset(dst, 0, n);
        assert_int_equal(ep_memread(&r, dst, (uintptr_t)(src + 1), n - 3), 0);
        assert_memory_equal(src + 1, dst, n - 3);
        ep_memread_close(&r);
    }
    free(src);
    free(dst);
}

static void
auto_picks_a_method_and_close_is_idempotent(void **state)
{
    ep_reader r;
    int x = 42, y = 0;

    (void)state;
    assert_int_equal(ep_memread_open(&r, EP_MEMREAD_AUTO), EMBPROF_OK);
    assert_true(r.method == EP_MEMREAD_VM || r.method == EP_MEMREAD_PIPE);
    assert_int_equal(ep_memread(&r, &y, (uintptr_t)&x, sizeof(x)), 0);
    assert_int_equal(y, 42);
    ep_memread_close(&r);
    ep_memread_close(&r);
    assert_int_equal(r.pipefd[0], -1);
}

/* A pipe smaller than the usual chunk (one page, as the kernel hands out
 * once fs.pipe-user-pages-soft is used up) still reads large ranges. */
static void
small_pipe_reads_large_ranges(void **state)
{
    size_t n = 100000;
    unsigned char *src = malloc(n), *dst = malloc(n);
    ep_reader r;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        src[i] = (unsigned char)(i * 7 + 3);
    }
    open_both(&r, EP_MEMREAD_PIPE);
    assert_true(fcntl(r.pipefd[1], F_SETPIPE_SZ, 4096) >= 4096);
    ep_memread_fit_pipe(&r);
    assert_true(r.chunk <= (size_t)fcntl(r.pipefd[1], F_GETPIPE_SZ));
    memset(dst, 0, n);
    assert_int_equal(ep_memread(&r, dst, (uintptr_t)src, n), 0);
    assert_memory_equal(dst, src, n);
    ep_memread_close(&r);
    free(src);
    free(dst);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copies_good_memory),
        cmocka_unit_test(bad_addresses_fail_without_faulting),
        cmocka_unit_test(unreadable_page),
        cmocka_unit_test(vectored_stops_at_first_fault),
        cmocka_unit_test(vectored_many_ranges),
        cmocka_unit_test(large_reads_are_chunked),
        cmocka_unit_test(small_pipe_reads_large_ranges),
        cmocka_unit_test(auto_picks_a_method_and_close_is_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

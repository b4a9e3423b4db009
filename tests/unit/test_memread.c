/* Safe reads: both methods copy good memory and fail, without faulting,
 * on NULL, unmapped pages and ranges that run into one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "embprof.h"
#include "memread.h"

static const int methods[] = {EP_MEMREAD_VM, EP_MEMREAD_PIPE};

/* Two pages, the second unmapped: returns the first. */
static unsigned char *
page_then_hole(size_t *pg)
{
    unsigned char *p;

    *pg = (size_t)sysconf(_SC_PAGESIZE);
    p = mmap(NULL, 2 * *pg, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0xAB, *pg);
    munmap(p + *pg, *pg);
    return p;
}

static void
reads_and_faults(void **state)
{
    (void)state;
    for (size_t m = 0; m < 2; m++) {
        ep_reader r;
        char src[64] = "the quick brown fox", dst[64];
        size_t pg;
        unsigned char *p = page_then_hole(&pg), buf[32];

        assert_int_equal(ep_memread_open(&r, methods[m]), EMBPROF_OK);
        memset(dst, 0, sizeof(dst));
        assert_int_equal(ep_memread(&r, dst, (uintptr_t)src, sizeof(src)), 0);
        assert_string_equal(dst, src);
        assert_int_equal(ep_memread(&r, buf, 0, 8), -1);
        assert_int_equal(ep_memread(&r, buf, 1, 8), -1);
        assert_int_equal(ep_memread(&r, buf, (uintptr_t)(p + pg), 8), -1);
        /* Straddling into the hole fails as a whole. */
        assert_int_equal(
            ep_memread(&r, buf, (uintptr_t)(p + pg - 16), sizeof(buf)), -1);
        assert_int_equal(ep_memread(&r, buf, (uintptr_t)(p + pg - 16), 16), 0);
        assert_int_equal(buf[0], 0xAB);
        assert_true(r.faults >= 4);
        /* The reader still works after faults (pipe drained). */
        assert_int_equal(ep_memread(&r, dst, (uintptr_t)src, 8), 0);
        munmap(p, pg);
        ep_memread_close(&r);
    }
}

static void
vectored_stops_at_first_fault(void **state)
{
    (void)state;
    for (size_t m = 0; m < 2; m++) {
        ep_reader r;
        size_t pg;
        unsigned char *p = page_then_hole(&pg);
        char a[8], b[8], c[8];
        struct iovec l[3] = {{a, 8}, {b, 8}, {c, 8}};
        struct iovec rr[3] = {{p, 8}, {p + pg, 8}, {p + 8, 8}};

        assert_int_equal(ep_memread_open(&r, methods[m]), EMBPROF_OK);
        assert_int_equal(ep_memread_v(&r, l, rr, 3), 1);
        rr[1].iov_base = p + 16;
        assert_int_equal(ep_memread_v(&r, l, rr, 3), 3);
        munmap(p, pg);
        ep_memread_close(&r);
    }
}

static void
large_pipe_reads_are_chunked(void **state)
{
    ep_reader r;
    size_t n = 100 * 1024;
    unsigned char *src = malloc(n), *dst = malloc(n);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        src[i] = (unsigned char)(i * 7);
    }
    assert_int_equal(ep_memread_open(&r, EP_MEMREAD_PIPE), EMBPROF_OK);
    assert_string_equal(ep_memread_name(&r), "pipe");
    assert_int_equal(ep_memread(&r, dst, (uintptr_t)src, n), 0);
    assert_memory_equal(src, dst, n);
    ep_memread_close(&r);
    assert_int_equal(ep_memread_open(&r, EP_MEMREAD_AUTO), EMBPROF_OK);
    assert_int_equal(ep_memread(&r, dst, (uintptr_t)src, n), 0);
    ep_memread_close(&r);
    free(src);
    free(dst);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_and_faults),
        cmocka_unit_test(vectored_stops_at_first_fault),
        cmocka_unit_test(large_pipe_reads_are_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

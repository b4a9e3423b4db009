/* Line tables. Hand-built tables in both formats: every 3.11 entry code
 * (0-9 short form, 10-12 one-line form, 13 no columns, 14 long form, 15 no
 * location, after Objects/locations.md), multi-byte varints, negative
 * deltas, zero-width 3.10 entries and "no line" markers; every prefix of a
 * table and random bytes decode without reading past the copy (each table
 * sits in a heap block of its exact size, so ASan sees any overread); and
 * a real check against co_lines() of every code object of a long function
 * compiled by the CPython the build uses. */
#include <Python.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embprof.h"
#include "py/layout.h"
#include "py/linetable.h"

#if PY_VERSION_HEX < 0x030B0000
#define KIND_OF_THIS_PYTHON EP_LINETABLE_310
#else
#define KIND_OF_THIS_PYTHON EP_LINETABLE_311
#endif

typedef struct span {
    int start, end; /* byte offsets, [start, end) */
    int line;       /* 0: no line */
} span;

/* A heap copy of exactly n bytes (at least 1 allocated byte, unused). */
static uint8_t *
exact_copy(const uint8_t *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);

    assert_non_null(p);
    if (n > 0) {
        memcpy(p, src, n);
    }
    return p;
}

static int
line_at(int kind, const uint8_t *tab, size_t len, int first, int off)
{
    uint8_t *copy = exact_copy(tab, len);
    int line = ep_linetable_line(kind, copy, len, first, off);

    free(copy);
    return line;
}

static void
check_spans(int kind, const uint8_t *tab, size_t len, int first,
            const span *sp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int off = sp[i].start; off < sp[i].end; off += 2) {
            int got = line_at(kind, tab, len, first, off);

            if (got != sp[i].line) {
                fail_msg("kind %d offset %d: line %d, expected %d", kind, off,
                         got, sp[i].line);
            }
        }
    }
    /* Past the last entry there is no line. */
    assert_int_equal(line_at(kind, tab, len, first, sp[n - 1].end), 0);
    assert_int_equal(line_at(kind, tab, len, first, sp[n - 1].end + 100), 0);
    /* A negative offset (a frame not started) is the first line. */
    assert_int_equal(line_at(kind, tab, len, first, -1), first);
    assert_int_equal(line_at(kind, tab, len, first, -2), first);
}

/* First byte of a 3.11 entry: bit 7, code in bits 3-6, units-1 in 0-2. */
#define E(code, units) (uint8_t)(0x80 | ((code) << 3) | ((units)-1))

/* firstlineno 100. */
/* clang-format off */
static const uint8_t tab311[] = {
    E(0, 1), 0x05,                   /* short, col group 0      [0,2)   100 */
    E(5, 2), 0x12,                   /* short                   [2,6)   100 */
    E(9, 8), 0x00,                   /* short, 8 units         [6,22)   100 */
    E(10, 1), 0x04, 0x08,            /* one-line +0           [22,24)   100 */
    E(11, 3), 0x01, 0x02,            /* one-line +1           [24,30)   101 */
    E(12, 1), 0x00, 0x03,            /* one-line +2           [30,32)   103 */
    E(13, 2), 0x07,                  /* no columns, -3        [32,36)   100 */
    E(13, 1), 0x00,                  /* no columns, +0        [36,38)   100 */
    E(14, 1), 0x04, 0x01, 0x05, 0x0A, /* long, +2            [38,40)   102 */
    E(15, 2),                        /* no location           [40,44)     0 */
    E(1, 1), 0x00,                   /* short: line kept      [44,46)   102 */
    E(13, 1), 0x58, 0x09,            /* +300 (varint 600)     [46,48)   402 */
    E(14, 1), 0x5B, 0x09, 0x00, 0x00, 0x00, /* -301 (603)     [48,50)   101 */
    E(13, 1), 0x50, 0x5C, 0x02,      /* +5000 (10000)         [50,52)  5101 */
    E(14, 2), 0x00, 0x00, 0x65, 0x01, 0x49, 0x03, /* cols 100-200 [52,56) */
};
/* clang-format on */
static const span spans311[] = {
    {0, 22, 100},  {22, 24, 100}, {24, 30, 101},  {30, 32, 103},
    {32, 38, 100}, {38, 40, 102}, {40, 44, 0},    {44, 46, 102},
    {46, 48, 402}, {48, 50, 101}, {50, 52, 5101}, {52, 56, 5101},
};
/* Where each entry of tab311 starts and ends in the table, and the byte
 * offsets of code it covers. */
static const struct {
    size_t tab_start, tab_end;
    int start, end;
} entries311[] = {
    {0, 2, 0, 2},     {2, 4, 2, 6},     {4, 6, 6, 22},    {6, 9, 22, 24},
    {9, 12, 24, 30},  {12, 15, 30, 32}, {15, 17, 32, 36}, {17, 19, 36, 38},
    {19, 24, 38, 40}, {24, 25, 40, 44}, {25, 27, 44, 46}, {27, 30, 46, 48},
    {30, 36, 48, 50}, {36, 40, 50, 52}, {40, 47, 52, 56},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void
every_311_entry_kind(void **state)
{
    (void)state;
    assert_int_equal(entries311[COUNT(entries311) - 1].tab_end,
                     sizeof(tab311));
    check_spans(EP_LINETABLE_311, tab311, sizeof(tab311), 100, spans311,
                COUNT(spans311));
    /* Another first line shifts every line by the same amount. */
    assert_int_equal(line_at(EP_LINETABLE_311, tab311, sizeof(tab311), 1, 30),
                     4);
    /* No table: only a negative offset has a line. */
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, NULL, 0, 7, -1), 7);
    assert_int_equal(line_at(EP_LINETABLE_311, tab311, 0, 7, 0), 0);
}

/* PEP 626 pairs (sdelta bytes, ldelta): -128 is "no line", zero-width
 * entries carry line jumps beyond one byte. firstlineno 10. */
static const uint8_t tab310[] = {
    6,   1,           /* [0,6)      11 */
    4,   0,           /* [6,10)     11 */
    2,   0x80,        /* [10,12)    no line */
    0,   127,         /* zero width: +127 */
    4,   10,          /* [12,16)   148 */
    2,   (uint8_t)-5, /* [16,18)   143 */
    254, 0,           /* [18,272)  143 */
    2,   0x80,        /* [272,274) no line; the line is kept */
    2,   1,           /* [274,276) 144 */
};
static const span spans310[] = {
    {0, 10, 11},    {10, 12, 0},   {12, 16, 148},   {16, 18, 143},
    {18, 272, 143}, {272, 274, 0}, {274, 276, 144},
};

static void
every_310_entry_kind(void **state)
{
    (void)state;
    check_spans(EP_LINETABLE_310, tab310, sizeof(tab310), 10, spans310,
                COUNT(spans310));
    assert_int_equal(ep_linetable_line(EP_LINETABLE_310, NULL, 0, 7, -1), 7);
}

/* Every prefix of tab311: an offset whose entry is whole in the prefix has
 * its line; one whose entry is missing entirely has none (0); one whose
 * entry is cut has 0 or its line, never anything else. */
static void
truncated_311_tables(void **state)
{
    (void)state;
    for (size_t k = 0; k <= sizeof(tab311); k++) {
        for (size_t e = 0; e < COUNT(entries311); e++) {
            for (int off = entries311[e].start; off < entries311[e].end;
                 off += 2) {
                int full = line_at(EP_LINETABLE_311, tab311, sizeof(tab311),
                                   100, off);
                int got = line_at(EP_LINETABLE_311, tab311, k, 100, off);

                if (entries311[e].tab_end <= k) {
                    assert_int_equal(got, full);
                } else if (entries311[e].tab_start >= k) {
                    if (got != 0) {
                        fail_msg("prefix %zu, offset %d: line %d past the "
                                 "end of the table",
                                 k, off, got);
                    }
                } else if (got != 0 && got != full) {
                    fail_msg("prefix %zu, offset %d: line %d, not 0 or %d", k,
                             off, got, full);
                }
            }
        }
    }
}

static void
truncated_and_corrupt(void **state)
{
    static const uint8_t open_varint[] = {E(13, 1), 0xC0};     /* never ends */
    static const uint8_t open_long[] = {E(14, 1), 0x04, 0x01}; /* 2 of 4 */
    static const uint8_t endless[] = {E(13, 1), 0x7F, 0x7F, 0x7F, 0x7F,
                                      0x7F,     0x7F, 0x7F, 0x01};
    static const uint8_t no_start_bit[] = {0x12, 0x34, E(0, 1), 0x00};
    static const uint8_t out_of_step[] = {E(0, 1), 0x00, 0x05, E(0, 1), 0};
    static const uint8_t odd310[] = {6, 1, 4};

    (void)state;
    assert_int_equal(line_at(EP_LINETABLE_311, open_varint, 1, 7, 0), 0);
    assert_int_equal(line_at(EP_LINETABLE_311, open_varint, 2, 7, 0), 0);
    assert_int_equal(line_at(EP_LINETABLE_311, open_long, 3, 7, 0), 0);
    /* A varint longer than 32 bits is corrupt, not a huge delta. */
    assert_int_equal(line_at(EP_LINETABLE_311, endless, sizeof(endless), 7, 0),
                     0);
    assert_int_equal(line_at(EP_LINETABLE_311, no_start_bit, 4, 7, 0), 0);
    {
        /* Line deltas that would overflow an int (UBSan flags the sum):
         * each code-13 entry adds 2^29 - 1 lines, the fifth passes
         * INT_MAX. */
        static const uint8_t huge[] = {
            E(13, 1), 0x7E, 0x7F,     0x7F, 0x7F,     0x3F, /* +(2^29 - 1) */
            E(13, 1), 0x7E, 0x7F,     0x7F, 0x7F,     0x3F, E(13, 1), 0x7E,
            0x7F,     0x7F, 0x7F,     0x3F, E(13, 1), 0x7E, 0x7F,     0x7F,
            0x7F,     0x3F, E(13, 1), 0x7E, 0x7F,     0x7F, 0x7F,     0x3F,
        };

        assert_int_equal(line_at(EP_LINETABLE_311, huge, sizeof(huge), 7, 8),
                         0);
    }
    /* Entries after a byte that is not an entry start are not trusted. */
    assert_int_equal(line_at(EP_LINETABLE_311, out_of_step, 5, 7, 0), 7);
    assert_int_equal(line_at(EP_LINETABLE_311, out_of_step, 5, 7, 2), 0);
    /* 3.10: a last pair cut in half is not decoded. */
    assert_int_equal(line_at(EP_LINETABLE_310, odd310, 3, 7, 2), 8);
    assert_int_equal(line_at(EP_LINETABLE_310, odd310, 3, 7, 6), 0);
    assert_int_equal(line_at(EP_LINETABLE_310, odd310, 1, 7, 0), 0);
    for (size_t k = 0; k < sizeof(tab310); k++) {
        for (int off = 0; off < 280; off += 2) {
            int got = line_at(EP_LINETABLE_310, tab310, k, 10, off);
            int full =
                line_at(EP_LINETABLE_310, tab310, sizeof(tab310), 10, off);

            assert_true(got == 0 || got == full);
        }
    }
}

/* Random bytes: never a crash or an overread (run under ASan). */
static void
random_tables(void **state)
{
    unsigned int seed = 12345;

    (void)state;
    for (int round = 0; round < 3000; round++) {
        uint8_t raw[64];
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof(raw));

        for (size_t i = 0; i < len; i++) {
            raw[i] = (uint8_t)rand_r(&seed);
            if (round % 2 == 0 && rand_r(&seed) % 3 == 0) {
                raw[i] |= 0x80;
            }
        }
        for (int off = -2; off < 600; off += 14) {
            (void)line_at(EP_LINETABLE_311, raw, len, 1, off);
            (void)line_at(EP_LINETABLE_310, raw, len, 1, off);
        }
    }
}

/* ---- the real thing ---------------------------------------------------- */

static char *
long_source(void)
{
    size_t cap = 1 << 17, n = 0;
    char *src = malloc(cap);

#define ADD(...) n += (size_t)snprintf(src + n, cap - n, __VA_ARGS__)
    assert_non_null(src);
    ADD("def f(x):\n    y = 0\n");
    for (int i = 0; i < 150; i++) {
        ADD("    for i in range(x):\n        y += i * %d\n", i);
    }
    /* A call over several lines (the call goes back to its first line),
     * exception handlers and cleanup code (no-location entries), a with
     * block, a comprehension and a lambda (code objects of their own). */
    ADD("    y = max(\n        y,\n        x,\n    )\n");
    ADD("    try:\n        y = y // x\n    except ZeroDivisionError as e:\n"
        "        y = -1\n    finally:\n        y += 1\n");
    ADD("    with open(x) as fh:\n        y += len(fh.read())\n");
    ADD("    z = [j * y\n         for j in range(3)\n         if j]\n");
    ADD("    g = lambda a: (a +\n                   1)\n");
    for (int i = 0; i < 300; i++) {
        ADD("\n");
    }
    ADD("    def inner(q):\n        return q + 1\n");
    ADD("    return (y,\n            x, z, g, inner)\n");
    assert_true(n < cap - 1);
#undef ADD
    return src;
}

/* Compares every instruction offset of code (and, recursively, of the code
 * objects among its constants) with co_lines(). Returns the number of
 * co_lines() entries of code itself in *entries and the largest line jump
 * between consecutive entries in *jump. */
static long
check_code(PyObject *code, long *entries, long *jump)
{
    PyObject *tab = PyObject_GetAttrString(code, "co_linetable");
    PyObject *first_o = PyObject_GetAttrString(code, "co_firstlineno");
    PyObject *lines = PyObject_CallMethod(code, "co_lines", NULL);
    PyObject *it = lines ? PyObject_GetIter(lines) : NULL;
    PyObject *consts = PyObject_GetAttrString(code, "co_consts");
    PyObject *item;
    long checked = 0, prev = -1, last_end = 0;
    int first;

    assert_non_null(tab);
    assert_non_null(first_o);
    assert_non_null(it);
    assert_non_null(consts);
    assert_true(PyBytes_Check(tab));
    first = (int)PyLong_AsLong(first_o);
    *entries = 0;
    *jump = 0;
    while ((item = PyIter_Next(it)) != NULL) {
        long start = PyLong_AsLong(PyTuple_GetItem(item, 0));
        long end = PyLong_AsLong(PyTuple_GetItem(item, 1));
        PyObject *ln = PyTuple_GetItem(item, 2);
        long want = ln == Py_None ? 0 : PyLong_AsLong(ln);

        for (long off = start; off < end; off += 2) {
            int got = line_at(KIND_OF_THIS_PYTHON,
                              (const uint8_t *)PyBytes_AS_STRING(tab),
                              (size_t)PyBytes_GET_SIZE(tab), first, (int)off);

            if (got != want) {
                fail_msg("%s offset %ld: line %d, co_lines says %ld",
                         PyUnicode_AsUTF8(PyObject_Str(code)), off, got, want);
            }
            checked++;
        }
        if (want != 0) {
            if (prev > 0 && labs(want - prev) > *jump) {
                *jump = labs(want - prev);
            }
            prev = want;
        }
        if (end > last_end) {
            last_end = end;
        }
        (*entries)++;
        Py_DECREF(item);
    }
    assert_null(PyErr_Occurred());
    /* Nothing past the end of the code. */
    assert_int_equal(
        line_at(KIND_OF_THIS_PYTHON, (const uint8_t *)PyBytes_AS_STRING(tab),
                (size_t)PyBytes_GET_SIZE(tab), first, (int)last_end),
        0);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(consts); i++) {
        PyObject *c = PyTuple_GET_ITEM(consts, i);

        if (PyCode_Check(c)) {
            long e, j;

            checked += check_code(c, &e, &j);
        }
    }
    Py_DECREF(consts);
    Py_DECREF(it);
    Py_DECREF(lines);
    Py_DECREF(first_o);
    Py_DECREF(tab);
    return checked;
}

static void
matches_co_lines(void **state)
{
    PyObject *g, *r, *fn, *code;
    char *src = long_source();
    long checked, entries, jump;

    (void)state;
    /* The layout agrees with the headers on the format. */
    assert_int_equal(ep_py_layout_get()->linetable_kind, KIND_OF_THIS_PYTHON);
    {
        /* Without site: .pth files of installed packages (zope's
         * namespace hooks) run code whose memory LeakSanitizer reports. */
        PyConfig pc;
        PyStatus st;

        PyConfig_InitPythonConfig(&pc);
        pc.site_import = 0;
        st = Py_InitializeFromConfig(&pc);
        PyConfig_Clear(&pc);
        assert_false(PyStatus_Exception(st));
    }
    g = PyDict_New();
    r = PyRun_String(src, Py_file_input, g, g);
    if (r == NULL) {
        PyErr_Print();
        fail_msg("the test's Python source did not compile");
    }
    Py_DECREF(r);
    fn = PyDict_GetItemString(g, "f"); /* borrowed */
    assert_non_null(fn);
    code = PyObject_GetAttrString(fn, "__code__");
    assert_non_null(code);
    checked = check_code(code, &entries, &jump);
    assert_true(entries > 256);
    assert_true(jump >= 300);
    assert_true(checked > 1000);
    Py_DECREF(code);
    Py_DECREF(g);
    free(src);
    assert_int_equal(Py_FinalizeEx(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_311_entry_kind),
        cmocka_unit_test(every_310_entry_kind),
        cmocka_unit_test(truncated_311_tables),
        cmocka_unit_test(truncated_and_corrupt),
        cmocka_unit_test(random_tables),
        cmocka_unit_test(matches_co_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

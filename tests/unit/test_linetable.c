/* Line tables: hand-built 3.11+ entries of every kind, truncated tables,
 * and a real check against co_lines() of the CPython the build uses. */
#include <Python.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "embprof.h"
#include "py/layout.h"
#include "py/linetable.h"

static void
every_311_entry_kind(void **state)
{
    static const uint8_t t[] = {
        0xE8, 0x04,       /* 13 no columns, 1 unit, +2      [0,2)  */
        0xD1, 0x01, 0x02, /* 10 one-line +0, 2 units        [2,6)  */
        0xE0, 0x01, 0x02, /* 12 one-line +2, 1 unit         [6,8)  */
        0xF8,             /* 15 no location, 1 unit        [8,10)  */
        0xF0, 0x07, 0x00, 0x01, 0x01, /* 14 long, -3             [10,12) */
        0x80, 0x05,       /* 0 short form, 1 unit          [12,14) */
        0xE8, 0x58, 0x09, /* 13, +300 (two varint bytes)   [14,16) */
    };
    (void)state;
    assert_int_equal(
        ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, -1), 100);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, 0),
                     102);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, 4),
                     102);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, 6),
                     104);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, 8),
                     0);
    assert_int_equal(
        ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, 10), 101);
    assert_int_equal(
        ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, 12), 101);
    assert_int_equal(
        ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, 14), 401);
    assert_int_equal(
        ep_linetable_line(EP_LINETABLE_311, t, sizeof(t), 100, 40), 0);
}

static void
truncated_tables_do_not_overrun(void **state)
{
    static const uint8_t t[] = {0xE8, 0xC0};   /* varint never ends */
    static const uint8_t bad[] = {0x12, 0x34}; /* no entry start bit */
    static const uint8_t t310[] = {6, 1, 4};   /* odd length */

    (void)state;
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, t, 1, 7, 0), 0);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, t, 2, 7, 0), 0);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, bad, 2, 7, 0), 0);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_310, t310, 3, 7, 2), 8);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_310, t310, 3, 7, 6), 0);
    assert_int_equal(ep_linetable_line(EP_LINETABLE_311, NULL, 0, 7, 3), 7);
}

/* Compares with co_lines() for every instruction of a real function. */
static void
matches_co_lines(void **state)
{
    const ep_py_layout *L = ep_py_layout_get();
    PyObject *g, *fn, *code, *tab, *lines, *it, *item;
    int checked = 0;
    char *src = malloc(1 << 16);
    size_t n = 0;

    (void)state;
    Py_Initialize();
    /* Many lines, a 300-line gap, loops and calls: > 256 entries. */
    n += (size_t)snprintf(src + n, 1 << 16, "def f(x):\n    y = 0\n");
    for (int i = 0; i < 150; i++) {
        n += (size_t)snprintf(src + n, (1 << 16) - n,
                              "    for i in range(x):\n"
                              "        y += i * %d\n",
                              i);
    }
    for (int i = 0; i < 300; i++) {
        n += (size_t)snprintf(src + n, (1 << 16) - n, "\n");
    }
    n += (size_t)snprintf(src + n, (1 << 16) - n,
                          "    return (y,\n            x)\n");
    g = PyDict_New();
    assert_non_null(PyRun_String(src, Py_file_input, g, g));
    fn = PyDict_GetItemString(g, "f");
    code = PyObject_GetAttrString(fn, "__code__");
    tab = PyObject_GetAttrString(code, "co_linetable");
    lines = PyObject_CallMethod(code, "co_lines", NULL);
    it = PyObject_GetIter(lines);
    assert_non_null(it);
    {
        long first =
            PyLong_AsLong(PyObject_GetAttrString(code, "co_firstlineno"));

        while ((item = PyIter_Next(it)) != NULL) {
            long start = PyLong_AsLong(PyTuple_GetItem(item, 0));
            long end = PyLong_AsLong(PyTuple_GetItem(item, 1));
            PyObject *ln = PyTuple_GetItem(item, 2);
            long want = ln == Py_None ? 0 : PyLong_AsLong(ln);

            for (long off = start; off < end; off += 2) {
                int got = ep_linetable_line(
                    L->linetable_kind, (const uint8_t *)PyBytes_AsString(tab),
                    (size_t)PyBytes_Size(tab), (int)first, (int)off);

                if (got != want) {
                    fail_msg("offset %ld: line %d, co_lines says %ld", off,
                             got, want);
                }
                checked++;
            }
            Py_DECREF(item);
        }
    }
    assert_true(checked > 1000);
    Py_DECREF(it);
    Py_DECREF(lines);
    Py_DECREF(tab);
    Py_DECREF(code);
    Py_DECREF(g);
    free(src);
    Py_FinalizeEx();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_311_entry_kind),
        cmocka_unit_test(truncated_tables_do_not_overrun),
        cmocka_unit_test(matches_co_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

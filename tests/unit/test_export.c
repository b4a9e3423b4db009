/* Exporters: exact bytes for a small hand-made store, name sanitising,
 * format by extension, atomic writes and their failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embprof.h"
#include "export/export.h"
#include "probes/sampler.h"

static ep_store store;

/* Two threads, two functions, three frames, three stacks. */
static int
setup(void **state)
{
    ep_store *s = &store;
    uint32_t file, mod, work, f0, f1, fr0, fr1, fr2, t0, t1;
    ep_weights w0 = {3, 3, 30, 3000}, w1 = {1, 0, 10, 0},
               w2 = {2, 0, 20, 1500};

    (void)state;
    ep_store_init(s);
    file = ep_store_str(s, "a.py", 4);
    mod = ep_store_str(s, "<module>", 8);
    work = ep_store_str(s, "work", 4);
    f0 = ep_store_func(s, file, mod, 1);
    f1 = ep_store_func(s, file, work, 5);
    fr0 = ep_store_frame(s, f0, 3);
    fr1 = ep_store_frame(s, f1, 7);
    fr2 = ep_store_frame(s, f1, 8);
    t0 = ep_store_thread(s, 1, 11, EP_THREAD_PYTHON, "MainThread");
    t1 = ep_store_thread(s, 2, 22, EP_THREAD_HOST, "w;x\ny");
    {
        uint32_t a[2] = {fr0, fr1}, b[1] = {fr0}, c[2] = {fr0, fr2};

        ep_store_add(s, t0, a, 2, &w0, 1);
        ep_store_add(s, t0, b, 1, &w1, 2);
        ep_store_add(s, t1, c, 2, &w2, 3);
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    ep_store_free(&store);
    return 0;
}

static char *
render(ep_export_fn fn, int mode)
{
    ep_export_info info;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    memset(&info, 0, sizeof(info));
    info.store = &store;
    info.mode = mode;
    info.rate = 100;
    info.python_version = "3.11.2";
    assert_int_equal(fn(f, &info), 0);
    fclose(f);
    return buf;
}

static void
collapsed_exact(void **state)
{
    char *wall = render(ep_export_collapsed, EP_SAMPLER_WALL);
    char *cpu = render(ep_export_collapsed, EP_SAMPLER_CPU);

    (void)state;
    assert_string_equal(
        wall, "MainThread (tid 11);<module> (a.py:3);work (a.py:7) 3\n"
              "MainThread (tid 11);<module> (a.py:3) 1\n"
              "w:x y (tid 22);<module> (a.py:3);work (a.py:8) 2\n");
    /* cpu: microseconds, rounded; a stack with no CPU is left out. */
    assert_string_equal(
        cpu, "MainThread (tid 11);<module> (a.py:3);work (a.py:7) 3\n"
             "w:x y (tid 22);<module> (a.py:3);work (a.py:8) 2\n");
    free(wall);
    free(cpu);
}

static void
speedscope_exact(void **state)
{
    char *got = render(ep_export_speedscope, EP_SAMPLER_WALL);

    (void)state;
    assert_string_equal(
        got,
        "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
        "\"exporter\":\"embprof@" EMBPROF_VERSION_STRING "\","
        "\"name\":\"embprof wall mode, 100 Hz, CPython 3.11.2: 0 samples, "
        "sampler 0.000% of one CPU, 0 walk errors, 0 truncated\","
        "\"activeProfileIndex\":0,\"shared\":{\"frames\":["
        "{\"name\":\"<module>\",\"file\":\"a.py\",\"line\":3},"
        "{\"name\":\"work\",\"file\":\"a.py\",\"line\":7},"
        "{\"name\":\"work\",\"file\":\"a.py\",\"line\":8}]},"
        "\"profiles\":["
        "{\"type\":\"sampled\",\"name\":\"MainThread (tid 11)\","
        "\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":40,"
        "\"samples\":[[0,1],[0]],\"weights\":[30,10]},"
        "{\"type\":\"sampled\",\"name\":\"w;x\\ny (tid 22)\","
        "\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":20,"
        "\"samples\":[[0,2]],\"weights\":[20]}]}\n");
    free(got);
}

static void
top_rows(void **state)
{
    char *got = render(ep_export_top, EP_SAMPLER_WALL);
    char *work, *mod;

    (void)state;
    assert_non_null(strstr(got, "embprof top: wall mode, 100 Hz"));
    work = strstr(got, " 83.33%  83.33% ");
    mod = strstr(got, " 16.67% 100.00% ");
    assert_non_null(work);
    assert_non_null(mod);
    assert_true(work < mod); /* sorted by own time */
    assert_non_null(strstr(work, "work (a.py:5)"));
    assert_non_null(strstr(mod, "<module> (a.py:1)"));
    free(got);
}

static void
format_by_extension(void **state)
{
    (void)state;
    assert_string_equal(ep_export_for_path("x.speedscope.json")->name,
                        "speedscope");
    assert_string_equal(ep_export_for_path("x.json")->name, "speedscope");
    assert_string_equal(ep_export_for_path("a/b/x.folded")->name, "collapsed");
    assert_string_equal(ep_export_for_path("x.collapsed")->name, "collapsed");
    assert_string_equal(ep_export_for_path("x.txt")->name, "top");
    assert_string_equal(ep_export_for_path("x.dump")->name, "dump");
    assert_null(ep_export_for_path("x.bin"));
    assert_null(ep_export_for_path(".folded2"));
    assert_null(ep_export_find("bogus"));
}

static int
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.' || strstr(e->d_name, ".tmp.") != NULL;
    }
    closedir(d);
    return n;
}

static void
atomic_writes(void **state)
{
    char dir[] = "/tmp/embprof-unit-XXXXXX", path[256], buf[64];
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/p.folded", dir);
    assert_int_equal(ep_export_write_file(path, "old\n", 4), EMBPROF_OK);
    assert_int_equal(ep_export_write_file(path, "new data\n", 9), EMBPROF_OK);
    f = fopen(path, "r");
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "new data\n");
    assert_int_equal(count_entries(dir), 1); /* no temporary file left */

    assert_int_equal(ep_export_write_file("/nonexistent-dir/p.folded", "x", 1),
                     EMBPROF_EIO);
    assert_non_null(strstr(embprof_last_error(), "/nonexistent-dir"));
    snprintf(path, sizeof(path), "%s/", dir);
    assert_int_equal(ep_export_write_file(path, "x", 1), EMBPROF_EINVAL);
    if (geteuid() != 0) { /* root writes anywhere */
        chmod(dir, 0500);
        snprintf(path, sizeof(path), "%s/q.folded", dir);
        assert_int_equal(ep_export_write_file(path, "x", 1), EMBPROF_EIO);
        chmod(dir, 0700);
    }
    /* /dev/full: every write fails with ENOSPC; the target is untouched. */
    assert_int_equal(count_entries(dir), 1);
    snprintf(path, sizeof(path), "%s/p.folded", dir);
    unlink(path);
    rmdir(dir);
}

static void
relative_paths(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(ep_export_path("/out", "p.folded", out, sizeof(out)),
                     EMBPROF_OK);
    assert_string_equal(out, "/out/p.folded");
    assert_int_equal(ep_export_path("/out", "/abs/p.folded", out, sizeof(out)),
                     EMBPROF_OK);
    assert_string_equal(out, "/abs/p.folded");
    assert_int_equal(ep_export_path("", "p.folded", out, sizeof(out)),
                     EMBPROF_OK);
    assert_string_equal(out, "p.folded");
    assert_int_equal(ep_export_path("/out", "", out, sizeof(out)),
                     EMBPROF_EINVAL);
    assert_int_equal(ep_export_path("/a-very-long-directory-name-here",
                                    "and-a-long-file-name.folded", out, 40),
                     EMBPROF_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(collapsed_exact),
        cmocka_unit_test(speedscope_exact),
        cmocka_unit_test(top_rows),
        cmocka_unit_test(format_by_extension),
        cmocka_unit_test(atomic_writes),
        cmocka_unit_test(relative_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

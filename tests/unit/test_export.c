/* Exporters: the exact bytes of collapsed, speedscope and top for a small
 * store built by hand (2 threads, 3 functions, 4 stacks, known weights) in
 * both modes; names with ';', newlines and JSON specials; an empty store;
 * the format chosen by extension; the atomic file writer: replacement,
 * failures that leave no temporary file, read-only directories. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embprof.h"
#include "export/export.h"
#include "probes/sampler.h"

/* ---- the store ---------------------------------------------------------
 *
 * functions (file app.py): main (firstline 1), work (10), helper (20)
 * frames, in id order: 0 main:5, 1 work:12, 2 helper:22, 3 work:14,
 *                      4 helper:0 (line unknown, in no stack)
 * threads: 0 MainThread (ident 1, tid 101), 1 worker (ident 2, tid 102)
 * stacks (root first)           samples  wall ns      cpu ns
 *   0  MainThread 0,1              6      60 000 000   30 000 000
 *   1  MainThread 0,1,2            3      30 000 000   29 999 500
 *   2  worker     0,3              1      10 000 000            0
 *   3  worker     0                2      20 000 000        1 500
 */
static ep_store store;

static void
add(ep_store *s, uint32_t thread, const uint32_t *fr, uint32_t depth,
    uint64_t samples, uint64_t wall, uint64_t cpu)
{
    ep_weights w = {samples, samples, wall, cpu};

    assert_int_equal(ep_store_add(s, thread, fr, depth, &w, 1), 0);
}

static int
setup(void **state)
{
    ep_store *s = &store;
    uint32_t file, fmain, fwork, fhelp, t0, t1;

    (void)state;
    if (ep_store_init(s) != EMBPROF_OK) {
        return -1;
    }
    file = ep_store_str(s, "app.py", 6);
    fmain = ep_store_func(s, file, ep_store_str(s, "main", 4), 1);
    fwork = ep_store_func(s, file, ep_store_str(s, "work", 4), 10);
    fhelp = ep_store_func(s, file, ep_store_str(s, "helper", 6), 20);
    if (ep_store_frame(s, fmain, 5) != 0 ||
        ep_store_frame(s, fwork, 12) != 1 ||
        ep_store_frame(s, fhelp, 22) != 2 ||
        ep_store_frame(s, fwork, 14) != 3 ||
        ep_store_frame(s, fhelp, 0) != 4) {
        return -1;
    }
    t0 = ep_store_thread(s, 1, 101, EP_THREAD_PYTHON, "MainThread");
    t1 = ep_store_thread(s, 2, 102, EP_THREAD_HOST, "worker");
    {
        static const uint32_t a[] = {0, 1}, b[] = {0, 1, 2}, c[] = {0, 3},
                              d[] = {0};

        add(s, t0, a, 2, 6, 60000000, 30000000);
        add(s, t0, b, 3, 3, 30000000, 29999500);
        add(s, t1, c, 2, 1, 10000000, 0);
        add(s, t1, d, 1, 2, 20000000, 1500);
    }
    return s->nstacks == 4 && s->nfuncs == 3 && s->nthreads == 2 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    ep_store_free(&store);
    return 0;
}

static ep_export_info
info_for(const ep_store *s, int mode)
{
    ep_export_info info;

    memset(&info, 0, sizeof(info));
    info.store = s;
    info.mode = mode;
    info.rate = 100;
    info.python_version = "3.11.2";
    info.stats.samples = 12;
    info.stats.sampler_cpu_ns = 5000000; /* 0.5% of ... */
    info.stats.wall_ns = 1000000000;     /* ... one second */
    info.stats.walk_errors = 1;
    return info;
}

/* Runs an exporter into a memory stream; caller frees the text. */
static char *
render_store(const ep_store *s, ep_export_fn fn, int mode)
{
    ep_export_info info = info_for(s, mode);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    assert_int_equal(fn(f, &info), 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(strlen(buf), len); /* no NUL inside */
    return buf;
}

static char *
render(ep_export_fn fn, int mode)
{
    return render_store(&store, fn, mode);
}

/* ---- collapsed ---------------------------------------------------------- */

static void
collapsed_wall_exact(void **state)
{
    char *got = render(ep_export_collapsed, EP_SAMPLER_WALL);

    (void)state;
    assert_string_equal(
        got, "MainThread (tid 101);main (app.py:5);work (app.py:12) 6\n"
             "MainThread (tid 101);main (app.py:5);work (app.py:12);"
             "helper (app.py:22) 3\n"
             "worker (tid 102);main (app.py:5);work (app.py:14) 1\n"
             "worker (tid 102);main (app.py:5) 2\n");
    free(got);
}

/* cpu mode: CPU microseconds, rounded to nearest; a stack that used no
 * CPU is left out. */
static void
collapsed_cpu_exact(void **state)
{
    char *got = render(ep_export_collapsed, EP_SAMPLER_CPU);

    (void)state;
    assert_string_equal(
        got, "MainThread (tid 101);main (app.py:5);work (app.py:12) 30000\n"
             "MainThread (tid 101);main (app.py:5);work (app.py:12);"
             "helper (app.py:22) 30000\n"
             "worker (tid 102);main (app.py:5) 2\n");
    free(got);
}

/* ---- speedscope --------------------------------------------------------- */

#define SS_HEAD(mode)                                                         \
    "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","    \
    "\"exporter\":\"embprof@" EMBPROF_VERSION_STRING "\","                    \
    "\"name\":\"embprof " mode " mode, 100 Hz, CPython 3.11.2: 12 samples, "  \
    "sampler 0.500% of one CPU, 1 walk errors, 0 truncated\","                \
    "\"activeProfileIndex\":0,"
#define SS_FRAMES                                                             \
    "\"shared\":{\"frames\":["                                                \
    "{\"name\":\"main\",\"file\":\"app.py\",\"line\":5},"                     \
    "{\"name\":\"work\",\"file\":\"app.py\",\"line\":12},"                    \
    "{\"name\":\"helper\",\"file\":\"app.py\",\"line\":22},"                  \
    "{\"name\":\"work\",\"file\":\"app.py\",\"line\":14},"                    \
    "{\"name\":\"helper\",\"file\":\"app.py\"}]},"

static void
speedscope_wall_exact(void **state)
{
    char *got = render(ep_export_speedscope, EP_SAMPLER_WALL);

    (void)state;
    assert_string_equal(
        got, SS_HEAD("wall") SS_FRAMES
        "\"profiles\":["
        "{\"type\":\"sampled\",\"name\":\"MainThread (tid 101)\","
        "\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":90000000,"
        "\"samples\":[[0,1],[0,1,2]],\"weights\":[60000000,30000000]},"
        "{\"type\":\"sampled\",\"name\":\"worker (tid 102)\","
        "\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":30000000,"
        "\"samples\":[[0,3],[0]],\"weights\":[10000000,20000000]}]}\n");
    free(got);
}

static void
speedscope_cpu_exact(void **state)
{
    char *got = render(ep_export_speedscope, EP_SAMPLER_CPU);

    (void)state;
    assert_string_equal(
        got, SS_HEAD("cpu") SS_FRAMES
        "\"profiles\":["
        "{\"type\":\"sampled\",\"name\":\"MainThread (tid 101)\","
        "\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":59999500,"
        "\"samples\":[[0,1],[0,1,2]],\"weights\":[30000000,29999500]},"
        "{\"type\":\"sampled\",\"name\":\"worker (tid 102)\","
        "\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":1500,"
        "\"samples\":[[0]],\"weights\":[1500]}]}\n");
    free(got);
}

/* ---- top ---------------------------------------------------------------- */

#define TOP_HEAD(mode)                                                        \
    "embprof top: " mode " mode, 100 Hz, 12 samples of 2 threads, 1.00 s "    \
    "sampled, CPython 3.11.2\n"                                               \
    "sampler: 0.500% of one CPU (5.0 ms), 0 idle skipped, 1 walk errors, 0 "  \
    "truncated, 0 missed ticks\n"                                             \
    "\n"                                                                      \
    "  %Own  %Total   OwnTime TotalTime  Function (filename:line)\n"

/* Own time: work 60+10, helper 30, main 20 of 120 ms; total: main in every
 * stack, work in three, helper in one. Rows by own time. */
#define TOP_WALL_ROWS                                                         \
    " 58.33%  83.33%    70.0ms   100.0ms  work (app.py:10)\n"                 \
    " 25.00%  25.00%    30.0ms    30.0ms  helper (app.py:20)\n"               \
    " 16.67% 100.00%    20.0ms   120.0ms  main (app.py:1)\n"

static void
top_wall_exact(void **state)
{
    static const char want[] = TOP_HEAD("wall") TOP_WALL_ROWS;
    char *got = render(ep_export_top, EP_SAMPLER_WALL);

    (void)state;
    assert_string_equal(got, want);
    free(got);
}

/* cpu, of 60.001 ms: own work 30 ms (the worker's work used none), helper
 * 29.9995 ms, main 0.0015 ms; total work 59.9995 ms (99.9975%, printed
 * as 100.00), main everything. */
static void
top_cpu_rows(void **state)
{
    char *got = render(ep_export_top, EP_SAMPLER_CPU);
    char *work, *helper, *mainrow;

    (void)state;
    assert_true(strncmp(got,
                        "embprof top: cpu mode, 100 Hz, 12 samples of "
                        "2 threads",
                        strlen("embprof top: cpu mode, 100 Hz, 12 samples "
                               "of 2 threads")) == 0);
    work =
        strstr(got, " 50.00% 100.00%    30.0ms    60.0ms  work (app.py:10)\n");
    helper = strstr(
        got, " 50.00%  50.00%    30.0ms    30.0ms  helper (app.py:20)\n");
    mainrow =
        strstr(got, "  0.00% 100.00%     0.0ms    60.0ms  main (app.py:1)\n");
    if (work == NULL || helper == NULL || mainrow == NULL) {
        fail_msg("unexpected rows:\n%s", got);
    }
    assert_true(work < helper);
    assert_true(helper < mainrow);
    free(got);
}

/* Recursion: a function is counted once per stack in its total. */
static void
top_counts_recursion_once(void **state)
{
    ep_store s;
    ep_export_info info;
    ep_top_row *rows;
    uint32_t n, f, fr[2];
    uint64_t grand;

    (void)state;
    ep_store_init(&s);
    f = ep_store_func(&s, ep_store_str(&s, "r.py", 4),
                      ep_store_str(&s, "rec", 3), 1);
    fr[0] = ep_store_frame(&s, f, 2);
    fr[1] = ep_store_frame(&s, f, 3);
    {
        uint32_t deep[4] = {fr[0], fr[1], fr[1], fr[1]};

        add(&s, 0, deep, 4, 1, 40, 0);
        add(&s, 0, fr, 1, 1, 10, 0);
        add(&s, 0, NULL, 0, 1, 50, 0); /* no frame: only the grand total */
    }
    info = info_for(&s, EP_SAMPLER_WALL);
    assert_int_equal(ep_top_rows(&info, &rows, &n, &grand), 0);
    assert_int_equal(n, 1);
    assert_int_equal(grand, 100);
    assert_int_equal(rows[0].func, f);
    assert_int_equal(rows[0].own, 50);
    assert_int_equal(rows[0].total, 50);
    free(rows);
    ep_store_free(&s);
}

/* ---- names -------------------------------------------------------------- */

static void
names_are_sanitised(void **state)
{
    ep_store s;
    uint32_t f, fr, t;
    char *c, *j;

    (void)state;
    ep_store_init(&s);
    f = ep_store_func(&s, ep_store_str(&s, "x;y\r.py", 7),
                      ep_store_str(&s, "a;b\nc\"d\\", 9), 1);
    fr = ep_store_frame(&s, f, 3);
    t = ep_store_thread(&s, 5, 7, EP_THREAD_HOST, "w;x\ny");
    add(&s, t, &fr, 1, 1, 10, 10);
    c = render_store(&s, ep_export_collapsed, EP_SAMPLER_WALL);
    /* One line, one ';' per frame, the count after the last space. */
    assert_string_equal(c, "w:x y (tid 7);a:b c\"d\\ (x:y .py:3) 1\n");
    j = render_store(&s, ep_export_speedscope, EP_SAMPLER_WALL);
    assert_non_null(strstr(j, "{\"name\":\"a;b\\nc\\\"d\\\\\","
                              "\"file\":\"x;y\\r.py\",\"line\":3}"));
    assert_non_null(strstr(j, "\"name\":\"w;x\\ny (tid 7)\""));
    assert_null(strchr(j, '\r'));
    assert_int_equal(strchr(j, '\n') - j, (long)strlen(j) - 1);
    free(c);
    free(j);
    ep_store_free(&s);
}

static void
json_strings(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    ep_json_string(f, "q\"b\\n\nr\rt\t\x01\x1f\x7f\xc3\xa9");
    ep_json_string(f, "");
    fclose(f);
    assert_string_equal(buf, "\"q\\\"b\\\\n\\nr\\rt\\t\\u0001\\u001f\x7f"
                             "\xc3\xa9\"\"\"");
    free(buf);
}

static void
thread_labels(void **state)
{
    ep_thread t;
    char buf[128];

    (void)state;
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "MainThread");
    t.ident = 140000000000123ull;
    t.tid = 0;
    ep_export_thread_label(&t, buf, sizeof(buf));
    assert_string_equal(buf, "MainThread (ident 140000000000123)");
    t.tid = 4242;
    ep_export_thread_label(&t, buf, sizeof(buf));
    assert_string_equal(buf, "MainThread (tid 4242)");
}

static void
empty_store(void **state)
{
    ep_store s;
    char *c, *j, *t;

    (void)state;
    ep_store_init(&s);
    c = render_store(&s, ep_export_collapsed, EP_SAMPLER_WALL);
    j = render_store(&s, ep_export_speedscope, EP_SAMPLER_WALL);
    t = render_store(&s, ep_export_top, EP_SAMPLER_WALL);
    assert_string_equal(c, "");
    assert_string_equal(j, SS_HEAD("wall") "\"shared\":{\"frames\":[]},"
                                           "\"profiles\":[]}\n");
    assert_non_null(strstr(t, "Function (filename:line)\n"));
    assert_string_equal(strstr(t, "Function (filename:line)\n"),
                        "Function (filename:line)\n");
    free(c);
    free(j);
    free(t);
    ep_store_free(&s);
}

/* ---- formats by name and extension -------------------------------------- */

static void
format_by_extension(void **state)
{
    (void)state;
    assert_string_equal(ep_export_for_path("x.speedscope.json")->name,
                        "speedscope");
    assert_string_equal(ep_export_for_path("x.json")->name, "speedscope");
    assert_string_equal(ep_export_for_path("x.folded")->name, "collapsed");
    assert_string_equal(ep_export_for_path("/a/b.c/x.folded")->name,
                        "collapsed");
    assert_string_equal(ep_export_for_path("x.collapsed")->name, "collapsed");
    assert_string_equal(ep_export_for_path("x.txt")->name, "top");
    assert_string_equal(ep_export_for_path("x.dump")->name, "dump");
    assert_null(ep_export_for_path("x.bin"));
    assert_null(ep_export_for_path("x.folded2"));
    assert_null(ep_export_for_path("x"));
    assert_null(ep_export_for_path(""));
    assert_null(ep_export_for_path(".folded")); /* only an extension */
    assert_null(ep_export_for_path(NULL));
    for (size_t i = 0; i < ep_exporters_count; i++) {
        assert_ptr_equal(ep_export_find(ep_exporters[i].name),
                         &ep_exporters[i]);
        assert_non_null(strstr(ep_export_names(), ep_exporters[i].name));
    }
    assert_null(ep_export_find("bogus"));
    assert_null(ep_export_find(NULL));
}

/* ---- the atomic writer -------------------------------------------------- */

/* Entries in dir other than "." and "..", temporary files included. */
static int
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static void
read_all(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void
write_replaces_atomically(void **state)
{
    char dir[] = "/tmp/embprof-unit-XXXXXX", path[256], buf[64];
    struct stat before, after;
    int old_fd;
    ssize_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/p.folded", dir);
    assert_int_equal(ep_export_write_file(path, "old\n", 4), EMBPROF_OK);
    read_all(path, buf, sizeof(buf));
    assert_string_equal(buf, "old\n");
    assert_int_equal(stat(path, &before), 0);
    old_fd = open(path, O_RDONLY);
    assert_true(old_fd >= 0);

    assert_int_equal(ep_export_write_file(path, "new data\n", 9), EMBPROF_OK);
    read_all(path, buf, sizeof(buf));
    assert_string_equal(buf, "new data\n");
    /* A new file renamed over the old one: a reader of the old file still
     * has all of it, never a mix. */
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    {
        mode_t mask = umask(0);

        umask(mask);
        assert_int_equal(after.st_mode & 0777, 0644 & ~mask);
    }
    n = read(old_fd, buf, sizeof(buf) - 1);
    assert_int_equal(n, 4);
    buf[n] = '\0';
    assert_string_equal(buf, "old\n");
    close(old_fd);
    assert_int_equal(count_entries(dir), 1); /* no temporary file left */

    /* Empty data makes an empty file. */
    assert_int_equal(ep_export_write_file(path, "", 0), EMBPROF_OK);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_size, 0);
    unlink(path);
    rmdir(dir);
}

static void
write_relative_path(void **state)
{
    char dir[] = "/tmp/embprof-unit-XXXXXX", cwd[4096], buf[32];

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(ep_export_write_file("rel.txt", "rel", 3), EMBPROF_OK);
    read_all("rel.txt", buf, sizeof(buf));
    assert_string_equal(buf, "rel");
    assert_int_equal(count_entries("."), 1);
    unlink("rel.txt");
    assert_int_equal(chdir(cwd), 0);
    rmdir(dir);
}

static void
write_failures_leave_nothing(void **state)
{
    char dir[] = "/tmp/embprof-unit-XXXXXX", path[256], sub[256], inner[300];

    (void)state;
    assert_non_null(mkdtemp(dir));

    /* The directory does not exist. */
    snprintf(path, sizeof(path), "%s/missing/p.folded", dir);
    assert_int_equal(ep_export_write_file(path, "x", 1), EMBPROF_EIO);
    assert_non_null(strstr(embprof_last_error(), path));
    assert_int_equal(count_entries(dir), 0);
    assert_int_equal(
        ep_export_write_file("/nonexistent-embprof/p.folded", "x", 1),
        EMBPROF_EIO);
    assert_non_null(strstr(embprof_last_error(), "/nonexistent-embprof"));

    /* The path names a directory. */
    snprintf(path, sizeof(path), "%s/", dir);
    assert_int_equal(ep_export_write_file(path, "x", 1), EMBPROF_EINVAL);
    assert_int_equal(count_entries(dir), 0);

    /* The rename fails (the target is a non-empty directory) after the
     * temporary file was written: it is removed, the target untouched. */
    snprintf(sub, sizeof(sub), "%s/p.folded", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(inner, sizeof(inner), "%s/keep", sub);
    assert_int_equal(ep_export_write_file(inner, "k", 1), EMBPROF_OK);
    assert_int_equal(ep_export_write_file(sub, "data", 4), EMBPROF_EIO);
    assert_non_null(strstr(embprof_last_error(), sub));
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(count_entries(sub), 1);
    unlink(inner);
    rmdir(sub);
    rmdir(dir);
}

/* Tries to write into dir (mode 0555) as the caller is: the child's exit
 * status is 0 if it failed cleanly with EMBPROF_EIO. */
static int
write_into_readonly(const char *dir)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/q.folded", dir);
    return ep_export_write_file(path, "x", 1) == EMBPROF_EIO &&
                   strstr(embprof_last_error(), path) != NULL
               ? 0
               : 1;
}

static void
write_into_readonly_directory(void **state)
{
    char dir[] = "/tmp/embprof-unit-XXXXXX";
    int status = -1;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0555), 0);
    if (geteuid() != 0) {
        assert_int_equal(write_into_readonly(dir), 0);
    } else {
        /* Root ignores permissions: try as an unprivileged user in a
         * child, or skip if that is not possible here. */
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0) {
                _exit(77);
            }
            _exit(write_into_readonly(dir));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
    }
    assert_int_equal(count_entries(dir), 0); /* no temporary file */
    chmod(dir, 0700);
    rmdir(dir);
    if (status != -1) {
        if (WEXITSTATUS(status) == 77) {
            skip(); /* running as root and cannot drop privileges */
        }
        assert_int_equal(WEXITSTATUS(status), 0);
    }
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
    assert_int_equal(ep_export_path(NULL, "p.folded", out, sizeof(out)),
                     EMBPROF_OK);
    assert_string_equal(out, "p.folded");
    assert_int_equal(ep_export_path("/out", "", out, sizeof(out)),
                     EMBPROF_EINVAL);
    assert_int_equal(ep_export_path("/out", NULL, out, sizeof(out)),
                     EMBPROF_EINVAL);
    assert_int_equal(ep_export_path("/a-very-long-directory-name-here",
                                    "and-a-long-file-name.folded", out, 40),
                     EMBPROF_EINVAL);
    /* Exactly fitting. */
    assert_int_equal(ep_export_path("/d", "f", out, 5), EMBPROF_OK);
    assert_string_equal(out, "/d/f");
    assert_int_equal(ep_export_path("/d", "fg", out, 5), EMBPROF_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(collapsed_wall_exact),
        cmocka_unit_test(collapsed_cpu_exact),
        cmocka_unit_test(speedscope_wall_exact),
        cmocka_unit_test(speedscope_cpu_exact),
        cmocka_unit_test(top_wall_exact),
        cmocka_unit_test(top_cpu_rows),
        cmocka_unit_test(top_counts_recursion_once),
        cmocka_unit_test(names_are_sanitised),
        cmocka_unit_test(json_strings),
        cmocka_unit_test(thread_labels),
        cmocka_unit_test(empty_store),
        cmocka_unit_test(format_by_extension),
        cmocka_unit_test(write_replaces_atomically),
        cmocka_unit_test(write_relative_path),
        cmocka_unit_test(write_failures_leave_nothing),
        cmocka_unit_test(write_into_readonly_directory),
        cmocka_unit_test(relative_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

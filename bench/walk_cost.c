/*
 * walk_cost.c -- what one walk of a deep Python stack costs the sampler.
 *
 * Build (from the repo root, after building build-bench; see
 * bench/README.md, or use bench/CMakeLists.txt):
 *
 *   cc -O2 -D_GNU_SOURCE -Iinclude -Iruntime \
 *      $(/usr/bin/python3.11-config --includes) bench/walk_cost.c \
 *      build-bench/libembprof.a \
 *      $(/usr/bin/python3.11-config --ldflags --embed) \
 *      -lpthread -ldl -lm -o build-bench/walk_cost
 *   build-bench/walk_cost [-n WALKS] [-b BATCHES] [-d DEPTH] [-m auto|vm|pipe]
 *
 * Use the python3.11-config of the CPython the library was built against
 * (/usr/bin/...): a pyenv shim first on PATH would link another libpython.
 *
 * It starts CPython, starts a Python thread that recurses until its stack
 * is DEPTH frames deep (default 50) and spins there holding the GIL, then
 * releases the GIL and, from a plain pthread CPython knows nothing about
 * (as the sampler is), opens an ep_walker and times WALKS (default 20000)
 * walks of that thread, BATCHES (default 5) times; each figure is the
 * median batch's ns per walk (min and max too). Measured paths:
 *
 *   full     ep_walker_threads + ep_walker_stack + ep_walker_resolve into
 *            an ep_store under its lock (what the brief calls a walk)
 *   tick     full + the wall-mode "is it running" pread of
 *            /proc/self/task/TID/stat + ep_store_add: one sampler tick's
 *            work for one thread, minus the sleep
 *   threads  ep_walker_threads alone
 *   stack    ep_walker_stack alone (thread list read once)
 *   resolve  ep_walker_resolve alone (stack walked once)
 *
 * and for each the memory-read system calls per walk (w.mr.reads delta),
 * failed walks, and the CPU time of the measuring thread per walk. The
 * target (from the issue): a 50-frame walk in <= 10 us.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memread.h"
#include "profile/store.h"
#include "py/layout.h"
#include "py/walker.h"

#define MAX_THREADS 64
#define MAX_DEPTH 512 /* sampler.max_depth's default */

static long n_walks = 20000;
static int n_batches = 5;
static int depth_want = 50;
static int method = EP_MEMREAD_AUTO;
static uint64_t target_ident;
static pid_t target_tid;
static int failed;

static const char py_src[] = "import sys, threading\n"
                             "ready = threading.Event()\n"
                             "stop = False\n"
                             "ident = 0\n"
                             "tid = 0\n"
                             "def depth():\n"
                             "    f = sys._getframe(1)\n"
                             "    n = 0\n"
                             "    while f is not None:\n"
                             "        n += 1\n"
                             "        f = f.f_back\n"
                             "    return n\n"
                             "def leaf():\n"
                             "    global ident, tid\n"
                             "    ident = threading.get_ident()\n"
                             "    tid = threading.get_native_id()\n"
                             "    ready.set()\n"
                             "    x = 0\n"
                             "    while not stop:\n"
                             "        x += 1\n"
                             "def down(target):\n"
                             "    if depth() < target - 1:\n"
                             "        return down(target)\n"
                             "    leaf()\n";

static uint64_t
now_ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

enum { P_FULL, P_TICK, P_THREADS, P_STACK, P_RESOLVE, P_COUNT };
static const char *path_name[P_COUNT] = {"full", "tick", "threads", "stack",
                                         "resolve"};

typedef struct bench {
    ep_walker w;
    ep_store s;
    ep_wthread th[MAX_THREADS];
    ep_wthread one; /* the target as listed once */
    uint32_t code_slot[MAX_DEPTH];
    int32_t offset[MAX_DEPTH];
    uint32_t frame_ids[MAX_DEPTH];
    uint32_t store_thread;
    int stat_fd;
    long errors;
    uint32_t last_depth;
} bench;

/* Lists the threads and returns the target's entry, or NULL. */
static ep_wthread *
find_target(bench *b)
{
    int n = ep_walker_threads(&b->w, b->th, MAX_THREADS);

    for (int i = 0; i < n; i++) {
        if (b->th[i].ident == target_ident) {
            b->th[i].code_slot = b->code_slot;
            b->th[i].offset = b->offset;
            return &b->th[i];
        }
    }
    return NULL;
}

static int
resolve_locked(bench *b, const ep_wthread *t)
{
    int d;

    pthread_mutex_lock(&b->s.lock);
    d = ep_walker_resolve(&b->w, &b->s, t, b->frame_ids);
    pthread_mutex_unlock(&b->s.lock);
    return d;
}

static bool
stat_says_running(bench *b)
{
    char buf[512];
    ssize_t n = pread(b->stat_fd, buf, sizeof(buf) - 1, 0);
    char *rp;

    if (n <= 0) {
        return true;
    }
    buf[n] = '\0';
    rp = strrchr(buf, ')');
    return rp == NULL || rp[1] == '\0' || rp[2] == 'R';
}

static void
one_walk(bench *b, int path)
{
    ep_wthread *t;
    ep_weights wt = {1, 0, 1000000, 0};

    switch (path) {
    case P_FULL:
    case P_TICK:
        t = find_target(b);
        if (t == NULL) {
            b->errors++;
            return;
        }
        if (path == P_TICK) {
            (void)stat_says_running(b); /* a spinning thread: always R */
        }
        if (ep_walker_stack(&b->w, t) != 0) {
            b->errors++;
            return;
        }
        b->last_depth = t->depth;
        if (path == P_FULL) {
            if (resolve_locked(b, t) < 0) {
                b->errors++;
            }
            return;
        }
        pthread_mutex_lock(&b->s.lock);
        if (ep_walker_resolve(&b->w, &b->s, t, b->frame_ids) < 0 ||
            ep_store_add(&b->s, b->store_thread, b->frame_ids, t->depth, &wt,
                         now_ns(CLOCK_MONOTONIC)) != 0) {
            b->errors++;
        }
        pthread_mutex_unlock(&b->s.lock);
        return;
    case P_THREADS:
        if (find_target(b) == NULL) {
            b->errors++;
        }
        return;
    case P_STACK:
        b->one.error = false;
        if (ep_walker_stack(&b->w, &b->one) != 0) {
            b->errors++;
        }
        return;
    case P_RESOLVE:
        if (resolve_locked(b, &b->one) < 0) {
            b->errors++;
        }
        return;
    }
}

static void *
bench_main(void *arg)
{
    bench *b = arg;
    ep_wthread *t = NULL;
    double median[P_COUNT];
    char path[64];
    int rc;

    rc = ep_walker_open(&b->w, method, MAX_DEPTH);
    if (rc != 0 || ep_store_init(&b->s) != 0) {
        fprintf(stderr, "walk_cost: cannot open the walker/store (%d)\n", rc);
        failed = 1;
        return NULL;
    }
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)target_tid);
    b->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
    pthread_mutex_lock(&b->s.lock);
    b->store_thread = ep_store_thread(&b->s, target_ident, target_tid,
                                      EP_THREAD_PYTHON, "target");
    pthread_mutex_unlock(&b->s.lock);
    /* Warm up: the first walk decodes every code object. */
    for (int tries = 0; tries < 1000; tries++) {
        t = find_target(b);
        if (t != NULL && ep_walker_stack(&b->w, t) == 0 &&
            resolve_locked(b, t) >= 0) {
            break;
        }
        t = NULL;
    }
    if (t == NULL) {
        fprintf(stderr, "walk_cost: the target thread cannot be walked\n");
        failed = 1;
        return NULL;
    }
    b->one = *t;
    b->last_depth = t->depth;
    printf("walk_cost: CPython %s, memory reads via %s, target depth %d, "
           "walked depth %u, %ld walks x %d batches\n",
           ep_py_layout_get()->version, ep_memread_name(&b->w.mr), depth_want,
           t->depth, n_walks, n_batches);
    printf("\n| path | ns/walk (median) | min | max | CPU ns/walk | "
           "reads/walk | failed |\n|---|---|---|---|---|---|---|\n");
    for (int p = 0; p < P_COUNT; p++) {
        double wall[64], cpu[64];
        uint64_t reads0;
        long err0;

        for (int k = 0; k < 200; k++) { /* settle */
            one_walk(b, p);
        }
        reads0 = b->w.mr.reads;
        err0 = b->errors;
        for (int bt = 0; bt < n_batches; bt++) {
            uint64_t w0 = now_ns(CLOCK_MONOTONIC);
            uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);

            for (long i = 0; i < n_walks; i++) {
                one_walk(b, p);
            }
            cpu[bt] = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) /
                      (double)n_walks;
            wall[bt] =
                (double)(now_ns(CLOCK_MONOTONIC) - w0) / (double)n_walks;
        }
        qsort(wall, (size_t)n_batches, sizeof(double), cmp_double);
        qsort(cpu, (size_t)n_batches, sizeof(double), cmp_double);
        median[p] = wall[n_batches / 2];
        printf("| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %ld |\n",
               path_name[p], wall[n_batches / 2], wall[0], wall[n_batches - 1],
               cpu[n_batches / 2],
               (double)(b->w.mr.reads - reads0) /
                   ((double)n_walks * n_batches),
               b->errors - err0);
        fflush(stdout);
    }
    printf("\ntarget: a %u-frame walk (full) in <= 10 us: %s (%.1f us)\n",
           b->last_depth, median[P_FULL] <= 10000.0 ? "PASS" : "MISS",
           median[P_FULL] / 1000.0);
    printf("walker: %llu frames copied one at a time, %llu code objects "
           "decoded; last walked depth %u\n",
           (unsigned long long)b->w.frames_read,
           (unsigned long long)b->w.codes_new, b->last_depth);
    if (b->stat_fd >= 0) {
        close(b->stat_fd);
    }
    ep_store_free(&b->s);
    ep_walker_close(&b->w);
    return NULL;
}

static void
usage(FILE *out)
{
    fprintf(out, "usage: walk_cost [-n WALKS] [-b BATCHES] [-d DEPTH] "
                 "[-m auto|vm|pipe]\n");
}

int
main(int argc, char **argv)
{
    char code[256];
    PyObject *m, *v;
    PyThreadState *ts;
    pthread_t th;
    bench *b;
    int opt;

    while ((opt = getopt(argc, argv, "n:b:d:m:h")) != -1) {
        switch (opt) {
        case 'n':
            n_walks = atol(optarg);
            break;
        case 'b':
            n_batches = atoi(optarg);
            break;
        case 'd':
            depth_want = atoi(optarg);
            break;
        case 'm':
            method = strcmp(optarg, "vm") == 0     ? EP_MEMREAD_VM
                     : strcmp(optarg, "pipe") == 0 ? EP_MEMREAD_PIPE
                                                   : EP_MEMREAD_AUTO;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (n_walks < 1 || n_batches < 1 || n_batches > 64 || depth_want < 8 ||
        depth_want > 400) {
        usage(stderr);
        return 2;
    }
    Py_InitializeEx(0);
    if (ep_py_layout_check() != 0) {
        fprintf(stderr, "walk_cost: libpython does not match the headers\n");
        return 1;
    }
    snprintf(code, sizeof(code),
             "sys.setrecursionlimit(%d)\n"
             "t = threading.Thread(target=down, args=(%d,), daemon=True)\n"
             "t.start()\n"
             "ready.wait()\n",
             depth_want + 100, depth_want);
    if (PyRun_SimpleString(py_src) != 0 || PyRun_SimpleString(code) != 0) {
        return 1;
    }
    m = PyImport_AddModule("__main__");
    v = PyObject_GetAttrString(m, "ident");
    target_ident = PyLong_AsUnsignedLongLong(v);
    Py_XDECREF(v);
    v = PyObject_GetAttrString(m, "tid");
    target_tid = (pid_t)PyLong_AsLong(v);
    Py_XDECREF(v);

    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return 1;
    }
    ts = PyEval_SaveThread(); /* the walker runs without the GIL */
    pthread_create(&th, NULL, bench_main, b);
    pthread_join(th, NULL);
    PyEval_RestoreThread(ts);
    PyRun_SimpleString("stop = True\nt.join()\n");
    free(b);
    if (Py_FinalizeEx() != 0) {
        return 1;
    }
    return failed;
}

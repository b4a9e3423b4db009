/*
 * gil_stress -- installs and removes the GIL probe CYCLES times (default
 * 1000) while 8 native threads contend for the GIL, half of them with a
 * new thread state per PyGILState_Ensure, half keeping theirs. Checks
 * every start and stop; prints each thread's own Ensure time so the
 * driver can check that nothing was over-counted and no wait was lost.
 *
 * Usage: gil_stress OUTDIR [CYCLES]. Writes OUTDIR/stress.json.
 */
#include <Python.h>

#include <embprof.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "host_check.h"

#define NTHREADS 8

static atomic_int stop;
static unsigned long long ensure_ns[NTHREADS];
static unsigned long long ensures[NTHREADS];

static unsigned long long
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull +
           (unsigned long long)ts.tv_nsec;
}

static void *
worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    char name[32];
    PyThreadState *keep = NULL;

    snprintf(name, sizeof(name), "stress-%d", id);
    embprof_thread_name(name);
    if (id % 2 == 1) { /* keeps one thread state for its whole life */
        PyGILState_STATE st = PyGILState_Ensure();

        (void)st;
        keep = PyEval_SaveThread();
    }
    while (!atomic_load(&stop)) {
        unsigned long long t0 = now_ns(), t1, end;
        PyGILState_STATE st = PyGILState_Ensure();
        PyObject *o;

        t1 = now_ns();
        ensure_ns[id] += t1 - t0;
        ensures[id]++;
        o = PyLong_FromLongLong((long long)t1); /* a little Python work */
        Py_XDECREF(o);
        end = now_ns() + 50000; /* 50 us with the GIL */
        while (now_ns() < end) {
        }
        PyGILState_Release(st);
    }
    if (keep != NULL) {
        PyEval_RestoreThread(keep);
        PyGILState_Release(PyGILState_UNLOCKED);
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    embprof_config *cfg;
    embprof *ep;
    pthread_t t[NTHREADS];
    PyThreadState *save;
    int cycles = argc > 2 ? atoi(argv[2]) : 1000;

    CHECK(argc >= 2 && cycles > 0);
    cfg = embprof_config_new();
    CHECK_RC(embprof_config_set(cfg, "output.dir", argv[1]), EMBPROF_OK);
    CHECK_RC(embprof_init(cfg, NULL, &ep), EMBPROF_OK);
    embprof_config_free(cfg);
    save = PyEval_SaveThread();
    for (int i = 0; i < NTHREADS; i++) {
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    }
    for (int c = 0; c < cycles; c++) {
        struct timespec ts = {0, 200000 + (c % 5) * 200000};

        CHECK_RC(embprof_start(ep, "gil", c % 2 ? "hold_rate=2000" : NULL),
                 EMBPROF_OK);
        nanosleep(&ts, NULL);
        if (c == cycles / 2) {
            CHECK_RC(embprof_reset(ep), EMBPROF_OK); /* while running */
        }
        CHECK_RC(embprof_stop(ep, "gil"), EMBPROF_OK);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
    }
    PyEval_RestoreThread(save);
    CHECK_RC(embprof_export(ep, "gil-json", "stress.json"), EMBPROF_OK);
    for (int i = 0; i < NTHREADS; i++) {
        printf("stress-%d ensure_ns=%llu ensures=%llu\n", i, ensure_ns[i],
               ensures[i]);
    }
    CHECK_RC(embprof_finalize(ep), EMBPROF_OK);
    printf("gil_stress: %d cycles ok\n", cycles);
    return 0;
}

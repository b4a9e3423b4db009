/*
 * gil_host -- ground truth for the GIL probe. A native thread takes the
 * GIL with embprof_gil_ensure and keeps it for a known time in C (a busy
 * loop that never releases it); another native thread measures its own
 * PyGILState_Ensure time while that hold lasts. The probe's reported
 * wait for the second thread must match what it measured.
 *
 * Usage: gil_host OUTDIR [attach]
 * Prints "waiter_ns=N waiter_count=C holds=H hold_ms=M"; writes
 * OUTDIR/gil.json and OUTDIR/gil.txt. attach: Python is initialised by
 * the host and embprof attaches to it.
 */
#include <Python.h>

#include <embprof.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host_check.h"

#define HOLDS 12
#define HOLD_MS 25

static embprof *ep;
static atomic_int holding;
static atomic_int done;
static unsigned long long waiter_ns;
static int waiter_count;

static unsigned long long
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull +
           (unsigned long long)ts.tv_nsec;
}

static void
sleep_ms(double ms)
{
    struct timespec ts = {0, (long)(ms * 1e6)};

    nanosleep(&ts, NULL);
}

static void *
holder(void *arg)
{
    (void)arg;
    embprof_thread_name("holder");
    for (int i = 0; i < HOLDS; i++) {
        PyGILState_STATE st = embprof_gil_ensure(ep, "gil_host.c:holder");
        unsigned long long end = now_ns() + HOLD_MS * 1000000ull;

        atomic_store(&holding, 1);
        while (now_ns() < end) { /* C code that keeps the GIL */
        }
        atomic_store(&holding, 0);
        embprof_gil_release(ep, st);
        sleep_ms(4);
    }
    atomic_store(&done, 1);
    return NULL;
}

static void *
waiter(void *arg)
{
    (void)arg;
    embprof_thread_name("waiter");
    while (!atomic_load(&done)) {
        unsigned long long t0, t1;
        PyGILState_STATE st;

        while (!atomic_load(&holding) && !atomic_load(&done)) {
            sleep_ms(0.1);
        }
        if (atomic_load(&done)) {
            break;
        }
        sleep_ms(2); /* start waiting in the middle of the hold */
        t0 = now_ns();
        st = embprof_gil_ensure(ep, "gil_host.c:waiter");
        t1 = now_ns();
        waiter_ns += t1 - t0;
        waiter_count++;
        embprof_gil_release(ep, st);
        while (atomic_load(&holding) && !atomic_load(&done)) {
            sleep_ms(0.1);
        }
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    embprof_config *cfg;
    pthread_t h, w;
    PyThreadState *save;
    int attach = argc > 2 && strcmp(argv[2], "attach") == 0;

    CHECK(argc >= 2);
    cfg = embprof_config_new();
    CHECK(cfg != NULL);
    CHECK_RC(embprof_config_set(cfg, "output.dir", argv[1]), EMBPROF_OK);
    if (attach) {
        Py_Initialize();
        CHECK_RC(embprof_attach(cfg, &ep), EMBPROF_OK);
    } else {
        CHECK_RC(embprof_init(cfg, NULL, &ep), EMBPROF_OK);
    }
    embprof_config_free(cfg);

    CHECK_RC(embprof_export(ep, "gil-json", "early.json"), EMBPROF_ENODATA);
    CHECK_RC(embprof_start(ep, "gil", "hold_rate=0"), EMBPROF_EINVAL);
    CHECK_RC(embprof_start(ep, "gil", NULL), EMBPROF_OK);
    CHECK_RC(embprof_start(ep, "gil", NULL), EMBPROF_ESTATE);
    CHECK(embprof_active(ep, "gil") == 1);

    save = PyEval_SaveThread();
    CHECK(pthread_create(&h, NULL, holder, NULL) == 0);
    CHECK(pthread_create(&w, NULL, waiter, NULL) == 0);
    pthread_join(h, NULL);
    pthread_join(w, NULL);
    PyEval_RestoreThread(save);

    CHECK_RC(embprof_stop(ep, "gil"), EMBPROF_OK);
    CHECK_RC(embprof_stop(ep, "gil"), EMBPROF_ESTATE);
    CHECK_RC(embprof_export(ep, "gil-json", "gil.json"), EMBPROF_OK);
    CHECK_RC(embprof_export(ep, "gil", "gil.txt"), EMBPROF_OK);
    printf("waiter_ns=%llu waiter_count=%d holds=%d hold_ms=%d\n", waiter_ns,
           waiter_count, HOLDS, HOLD_MS);
    CHECK_RC(embprof_finalize(ep), EMBPROF_OK);
    if (attach) {
        CHECK(Py_FinalizeEx() == 0);
    }
    return 0;
}

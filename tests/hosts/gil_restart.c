/*
 * gil_restart -- a wait that is open when the GIL probe stops must not
 * stay open. A native thread holds the GIL in C; another starts waiting
 * for it; the probe is stopped in the middle of that wait, the holder
 * lets go, the waiter takes the GIL, releases it and waits no more; then
 * the probe is started again without a reset. Every report (after the
 * stop, while running again, after the second stop) must count no open
 * wait: the waiter's one wait was closed at the stop.
 *
 * Usage: gil_restart OUTDIR
 */
#include <Python.h>

#include <embprof.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host_check.h"

static embprof *ep;
static atomic_int holding, release_gil, waiting, waiter_done, quit;

static void
sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms * 1e6) % 1000000000};

    nanosleep(&ts, NULL);
}

static void *
holder(void *arg)
{
    PyGILState_STATE st;

    (void)arg;
    embprof_thread_name("holder");
    st = PyGILState_Ensure();
    atomic_store(&holding, 1);
    while (!atomic_load(&release_gil)) { /* C code that keeps the GIL */
    }
    PyGILState_Release(st);
    return NULL;
}

static void *
waiter(void *arg)
{
    PyGILState_STATE st;

    (void)arg;
    embprof_thread_name("waiter");
    while (!atomic_load(&holding)) {
        sleep_ms(0.1);
    }
    atomic_store(&waiting, 1);
    st = PyGILState_Ensure(); /* waits: the holder keeps the GIL */
    PyGILState_Release(st);
    atomic_store(&waiter_done, 1);
    while (!atomic_load(&quit)) { /* alive, never waiting again */
        sleep_ms(1);
    }
    return NULL;
}

/* Checks that report `name` in dir counts no open wait and one wait. */
static void
check_report(const char *dir, const char *name)
{
    char path[4096], buf[65536];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    CHECK(f != NULL);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (strstr(buf, "\"waits_open\":0,") == NULL ||
        strstr(buf, "\"waits\":1,\"waits_closed\":1,") == NULL) {
        fprintf(stderr, "%s: wanted one wait, closed, none open:\n%s\n", name,
                buf);
        exit(1);
    }
}

int
main(int argc, char **argv)
{
    embprof_config *cfg;
    pthread_t h, w;
    PyThreadState *save;

    CHECK(argc >= 2);
    cfg = embprof_config_new();
    CHECK(cfg != NULL);
    CHECK_RC(embprof_config_set(cfg, "output.dir", argv[1]), EMBPROF_OK);
    CHECK_RC(embprof_init(cfg, NULL, &ep), EMBPROF_OK);
    embprof_config_free(cfg);
    CHECK_RC(embprof_start(ep, "gil", NULL), EMBPROF_OK);

    save = PyEval_SaveThread();
    CHECK(pthread_create(&h, NULL, holder, NULL) == 0);
    CHECK(pthread_create(&w, NULL, waiter, NULL) == 0);
    while (!atomic_load(&waiting)) {
        sleep_ms(0.1);
    }
    sleep_ms(30); /* several switch intervals into the wait */
    CHECK_RC(embprof_stop(ep, "gil"), EMBPROF_OK);
    CHECK_RC(embprof_export(ep, "gil-json", "stopped.json"), EMBPROF_OK);

    atomic_store(&release_gil, 1);
    while (!atomic_load(&waiter_done)) {
        sleep_ms(0.1);
    }
    CHECK_RC(embprof_start(ep, "gil", NULL), EMBPROF_OK); /* no reset */
    sleep_ms(20);
    CHECK_RC(embprof_export(ep, "gil-json", "restarted.json"), EMBPROF_OK);
    CHECK_RC(embprof_stop(ep, "gil"), EMBPROF_OK);
    CHECK_RC(embprof_export(ep, "gil-json", "final.json"), EMBPROF_OK);

    atomic_store(&quit, 1);
    pthread_join(h, NULL);
    pthread_join(w, NULL);
    PyEval_RestoreThread(save);
    check_report(argv[1], "stopped.json");
    check_report(argv[1], "restarted.json");
    check_report(argv[1], "final.json");
    CHECK_RC(embprof_finalize(ep), EMBPROF_OK);
    printf("gil_restart: ok\n");
    return 0;
}

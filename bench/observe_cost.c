/*
 * observe_cost.c -- what embprof_observe costs a host thread, and what the
 * policy engine costs the control thread at 100,000 observations/s.
 *
 * Build with bench/CMakeLists.txt (after building build-bench; see
 * bench/README.md), then:
 *
 *   build-bench/bench/observe_cost [-n CALLS] [-b BATCHES] [-s SECONDS]
 *
 * No Python runs: the runtime is created with ep_runtime_new, the control
 * thread with ep_control_start (policy.file set), exactly as embprof_init
 * would after Py_InitializeFromConfig.
 *
 *   single   one thread: embprof_observe into an empty queue, in batches
 *            that fit (32768), the queue drained between batches outside
 *            the timing. ns per call, median batch (min, max).
 *   span     the same for embprof_span_begin + embprof_span_end.
 *   threads  1, 2 and 4 producer threads pushing at once (rounds of
 *            32768 calls in all, started by a barrier, the queue
 *            drained between rounds): ns per call per thread, median
 *            round. On a 2-CPU machine 4 threads share 2 CPUs, so a
 *            thread's wall time includes time preempted.
 *   engine   one producer paced at 100,000 observations/s for SECONDS
 *            (default 5) with a policy holding a 10 s window on the
 *            metric (and, second run, also an `on` callback per
 *            observation): the control thread's CPU time per second of
 *            wall time, and drops.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "control/control.h"
#include "control/control_internal.h"
#include "embprof.h"
#include "options.h"
#include "runtime.h"

#define BATCH 32768

static long n_calls = 2000000;
static int n_batches = 9;
static double engine_s = 5;

static uint64_t
now_ns(void)
{
    return ep_clock_now_ns();
}

static void
drain(struct embprof *ep)
{
    ep_obs o;

    while (ep_obsq_pop(&ep->obs, &o)) {
    }
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void
single(struct embprof *ep, int span)
{
    uint64_t *per = calloc((size_t)n_batches, sizeof(*per));

    for (int b = 0; b < n_batches; b++) {
        uint64_t t0, t1;

        drain(ep);
        t0 = now_ns();
        if (span) {
            for (int i = 0; i < BATCH / 2; i++) {
                embprof_span s = embprof_span_begin(ep, "bench_span_ms");

                embprof_span_end(ep, s);
            }
        } else {
            for (int i = 0; i < BATCH; i++) {
                embprof_observe(ep, "bench_ms", (double)i);
            }
        }
        t1 = now_ns();
        per[b] = (t1 - t0) * 1000 / (span ? BATCH / 2 : BATCH);
    }
    qsort(per, (size_t)n_batches, sizeof(*per), cmp_u64);
    printf("%-8s %7.1f ns/call (min %.1f, max %.1f), 1 thread, %d "
           "batches of %d\n",
           span ? "span" : "single", (double)per[n_batches / 2] / 1000,
           (double)per[0] / 1000, (double)per[n_batches - 1] / 1000, n_batches,
           span ? BATCH / 2 : BATCH);
    free(per);
}

typedef struct producer {
    struct embprof *ep;
    pthread_barrier_t *start, *done;
    int rounds, per_round;
    uint64_t *ns; /* per round */
} producer;

/* Each round: wait for all, push per_round (the queue has room for every
 * thread's), report, wait while the main thread drains. */
static void *
produce(void *arg)
{
    producer *p = arg;

    for (int r = 0; r < p->rounds; r++) {
        uint64_t t0;

        pthread_barrier_wait(p->start);
        t0 = now_ns();
        for (int i = 0; i < p->per_round; i++) {
            embprof_observe(p->ep, "bench_ms", (double)i);
        }
        p->ns[r] = now_ns() - t0;
        pthread_barrier_wait(p->done);
    }
    return NULL;
}

static void
threads(struct embprof *ep, int n)
{
    pthread_t th[16];
    producer p[16];
    pthread_barrier_t start, done;
    uint64_t dropped0 = atomic_load(&ep->obs.dropped);
    uint64_t *all = calloc((size_t)(n * n_batches), sizeof(*all));
    int k = 0;

    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    pthread_barrier_init(&done, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        p[i].ep = ep;
        p[i].start = &start;
        p[i].done = &done;
        p[i].rounds = n_batches;
        p[i].per_round = BATCH / n;
        p[i].ns = calloc((size_t)n_batches, sizeof(uint64_t));
        pthread_create(&th[i], NULL, produce, &p[i]);
    }
    for (int r = 0; r < n_batches; r++) {
        drain(ep);
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        for (int r = 0; r < n_batches; r++) {
            all[k++] = p[i].ns[r] * 1000 / (uint64_t)p[i].per_round;
        }
        free(p[i].ns);
    }
    qsort(all, (size_t)k, sizeof(*all), cmp_u64);
    printf("threads  %7.1f ns/call per thread (min %.1f, max %.1f), %d "
           "threads at once, %d calls each per round, %llu dropped\n",
           (double)all[k / 2] / 1000, (double)all[0] / 1000,
           (double)all[k - 1] / 1000, n, BATCH / n,
           (unsigned long long)(atomic_load(&ep->obs.dropped) - dropped0));
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    free(all);
}

static uint64_t
thread_cpu(pthread_t t)
{
    clockid_t cid;
    struct timespec ts;

    if (pthread_getcpuclockid(t, &cid) != 0 || clock_gettime(cid, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
engine(const char *label, const char *policy_src, const char *dir)
{
    char path[4096];
    struct embprof_config cfg;
    struct embprof *ep;
    ep_control *ctl;
    FILE *f;
    uint64_t c0, t0, t, dropped0;
    long sent = 0;

    snprintf(path, sizeof(path), "%s/bench_policy.lua", dir);
    f = fopen(path, "w");
    fputs(policy_src, f);
    fclose(f);
    ep_opt_defaults(&cfg);
    ep_opt_set(&cfg, "policy.file", path);
    if (ep_runtime_new(&cfg, &ep) != EMBPROF_OK ||
        ep_control_start(ep, &ctl) != EMBPROF_OK) {
        fprintf(stderr, "engine: %s\n", embprof_last_error());
        exit(1);
    }
    ep_opt_release(&cfg);
    dropped0 = atomic_load(&ep->obs.dropped);
    c0 = thread_cpu(ctl->thread);
    t0 = now_ns();
    /* 100 observations every millisecond. */
    for (t = t0; t - t0 < (uint64_t)(engine_s * 1e9);) {
        struct timespec ts = {0, 1000000};

        for (int i = 0; i < 100; i++) {
            embprof_observe(ep, "request_ms", (double)(sent++ % 300));
        }
        nanosleep(&ts, NULL);
        t = now_ns();
        /* Catch up after an oversleep: the rate is what counts. */
        while ((double)sent < (double)(t - t0) * 1e-4) {
            embprof_observe(ep, "request_ms", (double)(sent++ % 300));
        }
    }
    {
        double wall = (double)(now_ns() - t0) / 1e9;
        double cpu = (double)(thread_cpu(ctl->thread) - c0) / 1e9;

        printf("engine   %-28s %.0f obs/s: control thread %.2f %% of one "
               "CPU (%.0f ns per observation), %llu dropped\n",
               label, (double)sent / wall, 100.0 * cpu / wall,
               cpu * 1e9 / (double)sent,
               (unsigned long long)(atomic_load(&ep->obs.dropped) - dropped0));
    }
    ep_control_stop(ctl);
    ep_runtime_free(ep);
    unlink(path);
}

int
main(int argc, char **argv)
{
    struct embprof *ep;
    struct embprof_config cfg;
    char dir[] = "/tmp/observe_cost.XXXXXX";
    int opt;

    while ((opt = getopt(argc, argv, "n:b:s:")) != -1) {
        switch (opt) {
        case 'n':
            n_calls = atol(optarg);
            break;
        case 'b':
            n_batches = atoi(optarg);
            break;
        case 's':
            engine_s = atof(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-n CALLS] [-b BATCHES] [-s SEC]\n",
                    argv[0]);
            return 2;
        }
    }
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    /* single and span: no consumer at all. */
    ep_opt_defaults(&cfg);
    if (ep_runtime_new(&cfg, &ep) != EMBPROF_OK) {
        fprintf(stderr, "%s\n", embprof_last_error());
        return 1;
    }
    for (int i = 0; i < BATCH; i++) { /* warm the cells */
        embprof_observe(ep, "warm", 0);
    }
    single(ep, 0);
    single(ep, 1);
    ep_runtime_free(ep);

    /* threads: rounds that fit the queue, drained between them. */
    if (ep_runtime_new(&cfg, &ep) != EMBPROF_OK) {
        fprintf(stderr, "%s\n", embprof_last_error());
        return 1;
    }
    threads(ep, 1);
    threads(ep, 2);
    threads(ep, 4);
    ep_runtime_free(ep);
    ep_opt_release(&cfg);

    engine("window",
           "local w = embprof.window('request_ms', 10)\n"
           "embprof.every(1000, function() local x = w:p99() "
           "end)\n",
           dir);
    engine("window + on() per obs",
           "local w = embprof.window('request_ms', 10)\n"
           "local n = 0\n"
           "embprof.on('request_ms', function(v) n = n + 1 end)\n"
           "embprof.every(1000, function() local x = w:p99() end)\n",
           dir);
    engine("no listener (drain only)", "embprof.window('other', 10)\n", dir);
    rmdir(dir);
    return 0;
}

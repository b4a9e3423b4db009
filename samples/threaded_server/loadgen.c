/*
 * loadgen.c -- the built-in load generator of the threaded_server sample.
 * Its client threads never touch Python; they only make the server busy.
 */
#include "loadgen.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
ts_mix_parse(ts_load *l, const char *spec, char *err, size_t size)
{
    const char *p = spec;

    l->nmix = 0;
    while (*p != '\0') {
        const char *end = strchr(p, ','), *colon;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        ts_mix *m;
        long w = 1;

        if (l->nmix == TS_MAX_MIX) {
            snprintf(err, size, "--mix: at most %d routes", TS_MAX_MIX);
            return -1;
        }
        m = &l->mix[l->nmix];
        colon = memchr(p, ':', len);
        if (colon != NULL) {
            char *wend;

            errno = 0;
            w = strtol(colon + 1, &wend, 10);
            if (errno != 0 || wend != p + len || w < 1 || w > 1000) {
                snprintf(err, size, "--mix: weight in '%.*s' is not 1..1000",
                         (int)len, p);
                return -1;
            }
            len = (size_t)(colon - p);
        }
        if (len == 0 || p[0] != '/' || len >= sizeof(m->target) ||
            memchr(p, ' ', len) != NULL) {
            snprintf(err, size,
                     "--mix: '%.*s' is not ROUTE[:WEIGHT] with ROUTE like "
                     "/cpu or /cpu?n=50000",
                     (int)(end ? (size_t)(end - p) : strlen(p)), p);
            return -1;
        }
        memcpy(m->target, p, len);
        m->target[len] = '\0';
        m->weight = (int)w;
        l->nmix++;
        p = end ? end + 1 : p + strlen(p);
    }
    if (l->nmix == 0) {
        snprintf(err, size, "--mix: no route given");
        return -1;
    }
    return 0;
}

/* Request i's mix entry: weighted round robin, the same every run. */
static int
pick(const ts_load *l, long i)
{
    long total = 0, at;
    int k;

    for (k = 0; k < l->nmix; k++) {
        total += l->mix[k].weight;
    }
    at = i % total;
    for (k = 0; k < l->nmix; k++) {
        if (at < l->mix[k].weight) {
            return k;
        }
        at -= l->mix[k].weight;
    }
    return 0;
}

/* One request; returns its HTTP status, or 0 if it failed. */
static int
request(const ts_load *l, const char *target)
{
    char buf[8192];
    int fd, n, status = 0;
    ssize_t got;

    fd = ts_connect(&l->addr);
    if (fd < 0) {
        return 0;
    }
    n = snprintf(buf, sizeof(buf),
                 "GET %s HTTP/1.0\r\nHost: localhost\r\n"
                 "User-Agent: threaded_server-load\r\n\r\n",
                 target);
    if (ts_write_all(fd, buf, (size_t)n) == 0) {
        got = ts_read_all(fd, buf, sizeof(buf) - 1);
        if (got > 0) {
            buf[got] = '\0';
            if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
                status = 0;
            }
            /* Drain a long body. */
            while ((size_t)got == sizeof(buf) - 1 &&
                   (got = ts_read_all(fd, buf, sizeof(buf) - 1)) > 0) {
            }
        }
    }
    close(fd);
    return status;
}

typedef struct client {
    ts_load *l;
    atomic_long *next;
    int index;
} client;

static void *
client_main(void *arg)
{
    client *c = arg;
    ts_load *l = c->l;
    char name[32];
    long i;

    snprintf(name, sizeof(name), "load-%d", c->index);
    pthread_setname_np(pthread_self(), name);
    while (!atomic_load(&l->stop) &&
           (i = atomic_fetch_add(c->next, 1)) < l->total) {
        int k = pick(l, i);
        double t0 = ts_now_ms();

        l->which[i] = (unsigned char)k;
        l->status[i] = (short)request(l, l->mix[k].target);
        l->latency_ms[i] = ts_now_ms() - t0;
    }
    return NULL;
}

long
ts_load_run(ts_load *l)
{
    pthread_t *t;
    client *c;
    atomic_long next = 0;
    long i, failed = 0;
    int k, started = 0;
    double t0;

    l->latency_ms = calloc((size_t)l->total, sizeof(*l->latency_ms));
    l->which = calloc((size_t)l->total, sizeof(*l->which));
    l->status = calloc((size_t)l->total, sizeof(*l->status));
    t = calloc((size_t)l->concurrency, sizeof(*t));
    c = calloc((size_t)l->concurrency, sizeof(*c));
    if (!l->latency_ms || !l->which || !l->status || !t || !c) {
        fprintf(stderr, "threaded_server: out of memory for %ld requests\n",
                l->total);
        free(t);
        free(c);
        return -1;
    }
    for (i = 0; i < l->total; i++) {
        l->status[i] = -1;
    }
    t0 = ts_now_ms();
    for (k = 0; k < l->concurrency; k++) {
        c[k].l = l;
        c[k].next = &next;
        c[k].index = k;
        if (pthread_create(&t[k], NULL, client_main, &c[k]) != 0) {
            fprintf(stderr, "threaded_server: started only %d load clients\n",
                    k);
            break;
        }
        started++;
    }
    for (k = 0; k < started; k++) {
        pthread_join(t[k], NULL);
    }
    l->elapsed_ms = ts_now_ms() - t0;
    free(t);
    free(c);
    if (started == 0) {
        return -1;
    }
    for (i = 0; i < l->total; i++) {
        failed += l->status[i] != 200 && l->status[i] != -1;
    }
    return failed;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

void
ts_load_report(const ts_load *l, FILE *out)
{
    double *v = malloc((size_t)l->total * sizeof(*v));
    long i, sent = 0, failed = 0;
    int k;

    for (i = 0; i < l->total; i++) {
        sent += l->status[i] != -1;
        failed += l->status[i] != 200 && l->status[i] != -1;
    }
    fprintf(out,
            "threaded_server: %ld requests, %d at a time, in %.2f s "
            "(%.0f/s), %ld failed%s\n",
            sent, l->concurrency, l->elapsed_ms / 1e3,
            l->elapsed_ms > 0 ? (double)sent * 1e3 / l->elapsed_ms : 0.0,
            failed, sent < l->total ? " (interrupted)" : "");
    if (v == NULL) {
        return;
    }
    fprintf(out, "  %-32s %8s %6s %9s %9s %9s\n", "route", "requests",
            "failed", "p50 ms", "p99 ms", "max ms");
    for (k = 0; k < l->nmix; k++) {
        long n = 0, bad = 0;

        for (i = 0; i < l->total; i++) {
            if (l->which[i] == k && l->status[i] != -1) {
                v[n++] = l->latency_ms[i];
                bad += l->status[i] != 200;
            }
        }
        if (n == 0) {
            continue;
        }
        qsort(v, (size_t)n, sizeof(*v), cmp_double);
        fprintf(out, "  %-32.32s %8ld %6ld %9.1f %9.1f %9.1f\n",
                l->mix[k].target, n, bad, v[(n - 1) / 2],
                v[(long)((double)(n - 1) * 0.99)], v[n - 1]);
    }
    free(v);
}

void
ts_load_free(ts_load *l)
{
    free(l->latency_ms);
    free(l->which);
    free(l->status);
    l->latency_ms = NULL;
    l->which = NULL;
    l->status = NULL;
}

/*
 * loadgen.h -- the threaded_server sample's built-in load generator:
 * `concurrency` client threads send `total` requests, spread over a
 * weighted mix of routes, and time each one from connect to the last
 * byte of the reply.
 */
#ifndef TS_LOADGEN_H
#define TS_LOADGEN_H

#include "net.h"

#include <stdatomic.h>
#include <stdio.h>

#define TS_MAX_MIX 16

typedef struct ts_mix {
    char target[256]; /* "/cpu?n=50000": path and optional query */
    int weight;       /* share of the requests, 1..1000 */
} ts_mix;

typedef struct ts_load {
    /* set by the caller */
    ts_addr addr;
    long total;
    int concurrency;
    ts_mix mix[TS_MAX_MIX];
    int nmix;
    atomic_int stop; /* set from any thread: send no more requests */
    /* results, one slot per request (each written by one client thread) */
    double *latency_ms;
    unsigned char *which; /* index into mix */
    short *status;        /* HTTP status, 0 if it failed, -1 if never sent */
    double elapsed_ms;
} ts_load;

/* Parses "ROUTE[:WEIGHT],..." ("/cpu?n=50000:3,/io:1") into l->mix.
 * Returns 0, or -1 with err filled. */
int ts_mix_parse(ts_load *l, const char *spec, char *err, size_t size);
/* Sends the requests; returns how many failed (non-200 or no reply), or
 * -1 if it could not start (printed). Requests not sent because stop was
 * set do not count as failed. */
long ts_load_run(ts_load *l);
/* Prints a per-route table: requests, failures, p50/p99/max latency. */
void ts_load_report(const ts_load *l, FILE *out);
/* Frees the result arrays. */
void ts_load_free(ts_load *l);

#endif

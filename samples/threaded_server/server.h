/*
 * server.h -- the threaded_server sample's request server: one acceptor
 * thread and a pool of named native worker threads. Each worker takes a
 * connection, reads one HTTP/1.0 request, calls the route's Python
 * handler (routes.h) and reports the request's latency to embprof.
 */
#ifndef TS_SERVER_H
#define TS_SERVER_H

#include "net.h"
#include "routes.h"

#include <pthread.h>

#define TS_MAX_WORKERS 64
#define TS_QUEUE 256

struct ts_server;

typedef struct ts_worker {
    struct ts_server *s;
    int index;
    pthread_t thread;
} ts_worker;

typedef struct ts_server {
    ts_addr addr;
    int listen_fd;
    int wake[2]; /* the acceptor polls wake[0]; stop writes wake[1] */
    int workers;
    ts_routes *routes;
    embprof *ep;
    pthread_t acceptor;
    int acceptor_running;
    ts_worker worker[TS_MAX_WORKERS];
    /* The connection queue: lock guards everything below it. */
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    int queue[TS_QUEUE];
    int head, len;
    int stopping;
} ts_server;

/* Listens on addr (port 0: any free port, then s->addr.port says which)
 * and starts the acceptor and `workers` worker threads. The caller must
 * not hold the GIL while the server runs. Returns 0, or -1 after printing
 * why. */
int ts_server_start(ts_server *s, const ts_addr *addr, int workers,
                    ts_routes *routes, embprof *ep);
/* Stops accepting, lets the workers finish the connections already
 * queued, joins every thread, closes (and for Unix unlinks) the socket. */
void ts_server_stop(ts_server *s);

#endif

/*
 * server.c -- acceptor and worker pool of the threaded_server sample.
 *
 * Threads: the acceptor accept()s and queues connections; each worker
 * pops one, serves one request on it and closes it (HTTP/1.0). Workers
 * run no Python of their own: they take the GIL only inside
 * ts_routes_call, through embprof_gil_ensure, like any host whose native
 * threads call Python.
 */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void
queue_push(ts_server *s, int fd)
{
    pthread_mutex_lock(&s->lock);
    while (s->len == TS_QUEUE && !s->stopping) {
        pthread_cond_wait(&s->nonfull, &s->lock);
    }
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        close(fd);
        return;
    }
    s->queue[(s->head + s->len++) % TS_QUEUE] = fd;
    pthread_cond_signal(&s->nonempty);
    pthread_mutex_unlock(&s->lock);
}

/* The next connection, or -1 once stopping and the queue is drained. */
static int
queue_pop(ts_server *s)
{
    int fd = -1;

    pthread_mutex_lock(&s->lock);
    while (s->len == 0 && !s->stopping) {
        pthread_cond_wait(&s->nonempty, &s->lock);
    }
    if (s->len > 0) {
        fd = s->queue[s->head];
        s->head = (s->head + 1) % TS_QUEUE;
        s->len--;
        pthread_cond_signal(&s->nonfull);
    }
    pthread_mutex_unlock(&s->lock);
    return fd;
}

static void *
acceptor_main(void *arg)
{
    ts_server *s = arg;
    struct pollfd p[2] = {{s->listen_fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};

    embprof_thread_name("acceptor");
    for (;;) {
        int fd;

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("threaded_server: poll");
            return NULL;
        }
        if (p[1].revents) {
            return NULL;
        }
        fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                usleep(10000); /* out of descriptors: let workers close */
            }
            continue;
        }
        queue_push(s, fd);
    }
}

static const char *
reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    default:
        return "Internal Server Error";
    }
}

static void
reply(int fd, int status, const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.0 %d %s\r\nContent-Type: text/plain; "
                     "charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason(status), len);

    if (ts_write_all(fd, head, (size_t)n) == 0 && len > 0) {
        ts_write_all(fd, body, len);
    }
}

/* Serves one request on fd: "GET /route?query HTTP/1.x". */
static void
serve(ts_server *s, int fd)
{
    char head[4096], method[8], target[1024], msg[1200];
    char *query, *body = NULL;
    size_t len = 0;
    ts_route *route;
    double t0;
    int status;
    struct timeval tv = {5, 0}; /* a client that sends nothing */

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (ts_read_head(fd, head, sizeof(head)) <= 0) {
        return;
    }
    t0 = ts_now_ms();
    if (sscanf(head, "%7s %1023s", method, target) != 2) {
        snprintf(msg, sizeof(msg), "expected: GET /route HTTP/1.0\n");
        reply(fd, 400, msg, strlen(msg));
        return;
    }
    if (strcmp(method, "GET") != 0) {
        snprintf(msg, sizeof(msg), "only GET is served\n");
        reply(fd, 405, msg, strlen(msg));
        return;
    }
    query = strchr(target, '?');
    if (query != NULL) {
        *query++ = '\0';
    } else {
        query = "";
    }
    route = ts_routes_find(s->routes, target);
    if (route == NULL) {
        int i, off;

        off = snprintf(msg, sizeof(msg), "no route %.200s; routes:", target);
        for (i = 0; i < s->routes->count && off < (int)sizeof(msg) - 70; i++) {
            off += snprintf(msg + off, sizeof(msg) - (size_t)off, " %s",
                            s->routes->route[i].path);
        }
        snprintf(msg + off, sizeof(msg) - (size_t)off, "\n");
        reply(fd, 404, msg, strlen(msg));
        return;
    }
    status = ts_routes_call(s->routes, route, query, &body, &len);
    reply(fd, status, body, len);
    free(body);
    /* The request's latency, for latency policies (request_ms) and per
     * route (request_ms.cpu). The names live as long as the routes. */
    embprof_observe(s->ep, "request_ms", ts_now_ms() - t0);
    embprof_observe(s->ep, route->metric, ts_now_ms() - t0);
}

static void *
worker_main(void *arg)
{
    ts_worker *w = arg;
    char name[32];
    int fd;

    snprintf(name, sizeof(name), "worker-%d", w->index);
    embprof_thread_name(name); /* shows in every profile */
    while ((fd = queue_pop(w->s)) >= 0) {
        serve(w->s, fd);
        close(fd);
    }
    return NULL;
}

int
ts_server_start(ts_server *s, const ts_addr *addr, int workers,
                ts_routes *routes, embprof *ep)
{
    char err[512];
    int i;

    memset(s, 0, sizeof(*s));
    s->addr = *addr;
    s->routes = routes;
    s->ep = ep;
    s->workers = workers;
    s->listen_fd = ts_listen(&s->addr, err, sizeof(err));
    if (s->listen_fd < 0) {
        fprintf(stderr, "threaded_server: %s\n", err);
        return -1;
    }
    if (pipe(s->wake) != 0) {
        perror("threaded_server: pipe");
        close(s->listen_fd);
        return -1;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->nonempty, NULL);
    pthread_cond_init(&s->nonfull, NULL);
    for (i = 0; i < workers; i++) {
        s->worker[i].s = s;
        s->worker[i].index = i;
        if (pthread_create(&s->worker[i].thread, NULL, worker_main,
                           &s->worker[i]) != 0) {
            fprintf(stderr, "threaded_server: cannot start worker %d\n", i);
            s->workers = i;
            ts_server_stop(s);
            return -1;
        }
    }
    if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
        fprintf(stderr, "threaded_server: cannot start the acceptor\n");
        ts_server_stop(s);
        return -1;
    }
    s->acceptor_running = 1;
    return 0;
}

void
ts_server_stop(ts_server *s)
{
    int i;

    if (s->acceptor_running) {
        if (write(s->wake[1], "x", 1) < 0) {
            perror("threaded_server: wake");
        }
        pthread_join(s->acceptor, NULL);
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->nonempty);
    pthread_cond_broadcast(&s->nonfull);
    pthread_mutex_unlock(&s->lock);
    for (i = 0; i < s->workers; i++) {
        pthread_join(s->worker[i].thread, NULL);
    }
    close(s->listen_fd);
    close(s->wake[0]);
    close(s->wake[1]);
    if (s->addr.is_unix) {
        unlink(s->addr.path);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->nonempty);
    pthread_cond_destroy(&s->nonfull);
}

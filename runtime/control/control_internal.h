/*
 * control_internal.h -- what server.c and commands.c share.
 *
 * Threads: everything here belongs to the control thread, except
 * `pending`/`stopping` (guarded by `lock`), which other threads fill
 * through the runtime's on_event hook and ep_control_stop.
 */
#ifndef EP_CONTROL_INTERNAL_H
#define EP_CONTROL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.h"
#include "protocol.h"

struct event_base;
struct event;
struct evconnlistener;
struct bufferevent;

typedef struct ep_conn {
    struct ep_control *c;
    struct bufferevent *bev;
    struct ep_conn *prev, *next;
    bool tcp;
    bool authed;        /* unix peers are, once their uid is checked */
    bool subscribed;
    bool closing;       /* free once the output has drained */
    bool dead;          /* free when the current callback returns */
    uid_t uid;
    pid_t pid;
} ep_conn;

struct ep_control {
    struct embprof *ep;
    struct event_base *base;
    struct evconnlistener *unix_l, *tcp_l;
    struct event *notify;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock;       /* guards pending, npending, stopping */
    char **pending;             /* event lines for subscribers */
    size_t npending;
    bool stopping;

    ep_conn *conns;
    int nconns;
    uint64_t started_ns;
    uint64_t cpu_ns;            /* the control thread's CPU time so far */
    unsigned export_counter;

    char path[108];             /* Unix socket path, "" if none */
    char listen_desc[128];
    int max_clients;
    double idle_timeout;
    size_t max_line;
    size_t max_output;
    uid_t allow_uids[32];
    int nallow;
    char token[256];            /* "" when no TCP listener */
};

/* Queues a reply line (buf, len, '\n'-terminated) on conn; a connection
 * whose queued output passes control.max_output is marked dead. Nothing
 * here frees a connection: the libevent callback that runs it does, when
 * it returns, so a conn stays valid through a whole dispatch. */
void ep_conn_send(ep_conn *conn, const char *buf, size_t len);
/* Replies with an error and, if close is set, closes after flushing. */
void ep_conn_error(ep_conn *conn, const char *code, const char *msg,
                   bool close);
/* Marks conn to close once its output has drained. */
void ep_conn_close_later(ep_conn *conn);

/* Runs one parsed request (commands.c). Control thread only. */
void ep_control_dispatch(ep_conn *conn, const ep_request *req);

#endif

/*
 * control_internal.h -- what server.c and commands.c share.
 *
 * Threads: everything here belongs to the control thread, except
 * `pending`, `npending` and `stopping`, which other threads fill through
 * the runtime's on_event hook and ep_control_stop under `lock`, then wake
 * the thread with event_active() (libevent is set up for threads). Lock
 * order: the runtime's ctl_lock may be held when `lock` is taken, never
 * the other way round.
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

/* What a session may do. A session can lower its own level (`level
 * read`), never raise it. */
typedef enum ep_level {
    EP_LEVEL_NONE = 0,  /* TCP before `auth`: only auth and quit */
    EP_LEVEL_READ = 1,  /* status, help, top, dump, config get, subscribe */
    EP_LEVEL_ADMIN = 2, /* start, stop, reset, export, config set */
} ep_level;

/* A connection's life: OPEN serves requests; CLOSING sends what is
 * queued and discards input; LINGER has shut its writing side and reads
 * (and drops) what the peer still sends for a moment, so the peer reads
 * our last reply instead of a reset; DEAD is freed when the current
 * callback returns. */
typedef enum ep_conn_state {
    EP_CONN_OPEN,
    EP_CONN_CLOSING,
    EP_CONN_LINGER,
    EP_CONN_DEAD,
} ep_conn_state;

typedef struct ep_conn {
    struct ep_control *c;
    struct bufferevent *bev;
    struct ep_conn *prev, *next;
    ep_conn_state state;
    ep_level level;
    bool tcp;
    bool subscribed;
    bool eof;               /* the peer shut its writing side */
    size_t discarded;       /* bytes dropped while CLOSING or LINGER */
    uint64_t linger_end_ns; /* LINGER ends then, whatever the peer sends */
    uint64_t id;            /* for the log */
    uid_t uid;              /* SO_PEERCRED (Unix peers) */
    pid_t pid;
} ep_conn;

#define EP_CONTROL_MAX_UIDS 32
#define EP_CONTROL_MAX_COMMANDS 32

struct ep_control {
    struct embprof *ep;
    struct event_base *base;
    struct evconnlistener *unix_l, *tcp_l;
    struct event *notify; /* woken by other threads */
    struct event *resume; /* re-enables listeners after EMFILE */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock; /* guards pending, npending, stopping */
    char **pending;       /* event lines for subscribers */
    size_t npending;
    bool stopping;

    ep_conn *conns;
    int nconns;
    uint64_t next_id;
    uint64_t started_ns;
    unsigned export_counter;
    uint64_t names_ns; /* last Python-name refresh asked by dump */
    pid_t pid;         /* getpid() is a system call: cached at start */
    /* Counters (control thread). */
    uint64_t accepted, refused_busy, refused_peer, dropped_slow;
    uint64_t events_dropped; /* under lock */
    uint64_t calls[EP_CONTROL_MAX_COMMANDS];

    char path[108];      /* Unix socket path, "" if none */
    dev_t sock_dev;      /* the socket file we created, so that */
    ino_t sock_ino;      /* finalize unlinks only our own */
    int unix_fd, tcp_fd; /* listening sockets, -1 if none */
    char listen_desc[128];
    int max_clients;
    double idle_timeout;
    size_t max_line;
    size_t max_output;
    struct {
        uid_t uid;
        ep_level level;
    } allow[EP_CONTROL_MAX_UIDS];
    int nallow;
    char token[256];          /* "" when no TCP listener */
    struct ep_policy *policy; /* the Lua policy engine (scripting/) */
};

/* Queues a reply line (buf, len, '\n'-terminated) on conn. A reply
 * larger than control.max_output is replaced by a too_large error; a
 * connection whose queued output would pass control.max_output (a client
 * that does not read) becomes DEAD. Nothing here frees a connection: the
 * libevent callback that runs it does when it returns, so conn stays
 * valid through a whole dispatch. Control thread only. */
void ep_conn_send(ep_conn *conn, const char *buf, size_t len);
/* Replies with an error; if close is set, closes after sending it.
 * Control thread only. */
void ep_conn_error(ep_conn *conn, const char *code, const char *msg,
                   bool close);
/* Stops serving conn; it closes once its queued output has gone out.
 * Control thread only. */
void ep_conn_close_later(ep_conn *conn);
/* Makes conn's reads never time out (subscribers wait quietly). */
void ep_conn_no_idle_timeout(ep_conn *conn);

/* Runs one parsed request (commands.c). Control thread only. */
void ep_control_dispatch(ep_conn *conn, const ep_request *req);

#endif

/*
 * server.c -- the control thread: listeners, connections, limits.
 *
 * Every socket is non-blocking and owned by libevent; a request runs to
 * completion on this thread and its reply is queued, never written
 * synchronously, so a slow, stalled or vanished client can only fill its
 * own output buffer (dropped past control.max_output) and never blocks
 * the thread, other clients or the host.
 */
#include "control_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "../clock.h"
#include "../error.h"
#include "../log.h"
#include "../options.h"
#include "../runtime.h"

#define EP_PENDING_MAX 1024

/* --- connections ------------------------------------------------------- */

static void
conn_free(ep_conn *conn)
{
    ep_control *c = conn->c;

    if (conn->prev != NULL) {
        conn->prev->next = conn->next;
    } else {
        c->conns = conn->next;
    }
    if (conn->next != NULL) {
        conn->next->prev = conn->prev;
    }
    c->nconns--;
    bufferevent_free(conn->bev);
    free(conn);
}

/* Frees conn if it is finished. Called last by every callback. */
static void
conn_settle(ep_conn *conn)
{
    if (conn->dead ||
        (conn->closing &&
         evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)) {
        conn_free(conn);
    }
}

void
ep_conn_close_later(ep_conn *conn)
{
    conn->closing = true;
    bufferevent_disable(conn->bev, EV_READ);
}

void
ep_conn_send(ep_conn *conn, const char *buf, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(conn->bev);

    if (conn->dead) {
        return;
    }
    if (evbuffer_get_length(out) + len > conn->c->max_output) {
        ep_log(EP_LOG_WARN,
               "control: dropping a client (pid %d) that does not read its "
               "replies (over control.max_output)",
               (int)conn->pid);
        conn->dead = true;
        bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
        return;
    }
    evbuffer_add(out, buf, len);
}

void
ep_conn_error(ep_conn *conn, const char *code, const char *msg, bool close)
{
    size_t len;
    char *line = ep_reply_error(code, msg, &len);

    if (line != NULL) {
        ep_conn_send(conn, line, len);
        free(line);
    }
    if (close) {
        ep_conn_close_later(conn);
    }
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
    ep_conn *conn = arg;
    ep_control *c = conn->c;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (!conn->closing && !conn->dead) {
        size_t n;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
        ep_request req;
        const char *why = NULL;

        if (line == NULL) {
            break;
        }
        if (n > 0 && line[n - 1] == '\r') {
            line[--n] = '\0';
        }
        if (n > c->max_line) {
            ep_conn_error(conn, "too_large",
                          "request longer than control.max_line", true);
        } else if (memchr(line, '\0', n) != NULL ||
                   ep_proto_parse(line, n, &req, &why) != 0) {
            ep_conn_error(conn, "bad_request",
                          why ? why : "NUL byte in request", true);
        } else if (req.argc > 0) {
            ep_control_dispatch(conn, &req);
        }
        free(line);
    }
    if (!conn->closing && !conn->dead &&
        evbuffer_get_length(in) > c->max_line) {
        ep_conn_error(conn, "too_large",
                      "request longer than control.max_line", true);
    }
    conn_settle(conn);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_settle(arg);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
    ep_conn *conn = arg;

    (void)bev;
    if (what & BEV_EVENT_TIMEOUT) {
        ep_conn_error(conn, "timeout", "idle for control.idle_timeout", true);
        bufferevent_enable(conn->bev, EV_WRITE);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        /* Replies already queued still go out if the peer only shut its
         * writing side; on a real error there is no one to send to. */
        if (what & BEV_EVENT_ERROR) {
            conn->dead = true;
        } else {
            ep_conn_close_later(conn);
        }
    }
    conn_settle(conn);
}

static bool
uid_allowed(ep_control *c, uid_t uid)
{
    if (uid == geteuid() || uid == 0) {
        return true;
    }
    for (int i = 0; i < c->nallow; i++) {
        if (c->allow_uids[i] == uid) {
            return true;
        }
    }
    return false;
}

static void
refuse_busy(int fd)
{
    static const char busy[] =
        "{\"ok\":false,\"error\":\"too many connections "
        "(control.max_clients)\",\"code\":\"busy\"}\n";

    (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
    ep_control *c = arg;
    ep_conn *conn;
    struct timeval tv;
    bool tcp = l == c->tcp_l;
    struct ucred cred = {0, 0, 0};

    (void)sa;
    (void)salen;
    if (!tcp) {
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            !uid_allowed(c, cred.uid)) {
            ep_log(EP_LOG_WARN,
                   "control: refused a client with uid %d (pid %d): not "
                   "this process's uid, root or in control.allow_uids",
                   (int)cred.uid, (int)cred.pid);
            close(fd);
            return;
        }
    }
    if (c->nconns >= c->max_clients) {
        refuse_busy(fd);
        return;
    }
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        close(fd);
        return;
    }
    conn->c = c;
    conn->tcp = tcp;
    conn->authed = !tcp;
    conn->uid = cred.uid;
    conn->pid = cred.pid;
    conn->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (conn->bev == NULL) {
        close(fd);
        free(conn);
        return;
    }
    conn->next = c->conns;
    if (c->conns != NULL) {
        c->conns->prev = conn;
    }
    c->conns = conn;
    c->nconns++;
    bufferevent_setcb(conn->bev, read_cb, write_cb, event_cb, conn);
    bufferevent_setwatermark(conn->bev, EV_READ, 0, c->max_line + 2);
    tv.tv_sec = (time_t)c->idle_timeout;
    tv.tv_usec = (suseconds_t)((c->idle_timeout - (double)tv.tv_sec) * 1e6);
    bufferevent_set_timeouts(conn->bev, &tv, &tv);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
}

/* --- events from other threads ------------------------------------------ */

static void
on_event(struct embprof *ep, const char *json)
{
    ep_control *c = ep->control;
    char *copy;

    if (c == NULL || (copy = strdup(json)) == NULL) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (c->npending == EP_PENDING_MAX) {
        free(c->pending[0]); /* a flood: keep the newest */
        memmove(c->pending, c->pending + 1,
                (EP_PENDING_MAX - 1) * sizeof(*c->pending));
        c->npending--;
    }
    c->pending[c->npending++] = copy;
    pthread_mutex_unlock(&c->lock);
    event_active(c->notify, EV_READ, 0);
}

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
    ep_control *c = arg;
    char **lines;
    size_t n;
    bool stop;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&c->lock);
    lines = c->pending;
    n = c->npending;
    c->pending = calloc(EP_PENDING_MAX, sizeof(*c->pending));
    c->npending = 0;
    stop = c->stopping;
    if (c->pending == NULL) { /* keep the old array; drop the lines */
        c->pending = lines;
        lines = NULL;
        for (size_t i = 0; i < n; i++) {
            free(c->pending[i]);
        }
        n = 0;
    }
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(lines[i]);

        for (ep_conn *conn = c->conns, *next; conn != NULL; conn = next) {
            next = conn->next;
            if (conn->subscribed && !conn->closing) {
                ep_conn_send(conn, lines[i], len);
                ep_conn_send(conn, "\n", 1);
                conn_settle(conn);
            }
        }
        free(lines[i]);
    }
    free(lines);
    if (stop) {
        event_base_loopbreak(c->base);
    }
}

/* --- listeners --------------------------------------------------------- */

static int
listen_unix(ep_control *c, const char *path)
{
    struct sockaddr_un sa;
    struct stat st;
    char tmp[sizeof(sa.sun_path)];
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path,
                         (int)getpid()) >= sizeof(tmp)) {
        return ep_error(EMBPROF_EINVAL,
                        "control.socket: path longer than %zu bytes: %s",
                        sizeof(sa.sun_path) - 16, path);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        int probe;

        if (!S_ISSOCK(st.st_mode)) {
            return ep_error(EMBPROF_EINVAL,
                            "control.socket: %s exists and is not a socket",
                            path);
        }
        /* A live socket belongs to a running process; a dead one (connect
         * refused) was left by a process that died: replace it. */
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 &&
            connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            return ep_error(EMBPROF_EBUSY,
                            "control.socket: %s is in use by a running "
                            "process",
                            path);
        }
        if (probe >= 0) {
            close(probe);
        }
        unlink(path);
    }
    /* Bind under a private name, restrict it, then move it into place: no
     * moment where the socket is reachable with looser permissions. */
    memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
    unlink(tmp);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(tmp, 0600) != 0 || rename(tmp, path) != 0 ||
        listen(fd, 16) != 0) {
        int err = errno;

        if (fd >= 0) {
            close(fd);
        }
        unlink(tmp);
        return ep_error(EMBPROF_EIO, "control.socket: cannot listen on %s: "
                                     "%s",
                        path, strerror(err));
    }
    c->unix_l = evconnlistener_new(c->base, accept_cb, c,
                                   LEV_OPT_CLOSE_ON_FREE |
                                       LEV_OPT_CLOSE_ON_EXEC,
                                   -1, fd);
    if (c->unix_l == NULL) {
        close(fd);
        unlink(path);
        return ep_error(EMBPROF_EIO, "control.socket: libevent listener "
                                     "failed");
    }
    snprintf(c->path, sizeof(c->path), "%s", path);
    return EMBPROF_OK;
}

static int
read_token(ep_control *c, const char *file)
{
    FILE *f;
    size_t n;

    if (file[0] == '\0') {
        return ep_error(EMBPROF_EINVAL,
                        "control.listen needs control.token_file (a file "
                        "holding the token clients send with 'auth')");
    }
    f = fopen(file, "re");
    if (f == NULL || fgets(c->token, sizeof(c->token), f) == NULL) {
        int err = errno;

        if (f != NULL) {
            fclose(f);
        }
        return ep_error(EMBPROF_EINVAL, "control.token_file: cannot read %s: "
                                        "%s",
                        file, f ? "empty file" : strerror(err));
    }
    fclose(f);
    n = strcspn(c->token, "\r\n");
    c->token[n] = '\0';
    if (n < 16) {
        return ep_error(EMBPROF_EINVAL,
                        "control.token_file: the token must be at least 16 "
                        "characters");
    }
    return EMBPROF_OK;
}

static int
listen_tcp(ep_control *c, const char *spec, bool any, const char *token)
{
    struct sockaddr_in sa;
    char host[64];
    const char *colon = strrchr(spec, ':');
    char *end;
    long port;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
        return ep_error(EMBPROF_EINVAL, "control.listen: expected HOST:PORT, "
                                        "got \"%s\"",
                        spec);
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        return ep_error(EMBPROF_EINVAL,
                        "control.listen: \"%s\" is not IPv4-ADDRESS:PORT",
                        spec);
    }
    if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127 && !any) {
        return ep_error(EMBPROF_EINVAL,
                        "control.listen: %s is not a loopback address; set "
                        "control.listen_any=true to expose the socket",
                        host);
    }
    if ((rc = read_token(c, token)) != EMBPROF_OK) {
        return rc;
    }
    sa.sin_port = htons((uint16_t)port);
    c->tcp_l = evconnlistener_new_bind(
        c->base, accept_cb, c,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 16,
        (struct sockaddr *)&sa, sizeof(sa));
    if (c->tcp_l == NULL) {
        return ep_error(EMBPROF_EIO, "control.listen: cannot listen on %s: "
                                     "%s",
                        spec, strerror(errno));
    }
    snprintf(c->listen_desc, sizeof(c->listen_desc), "%s", spec);
    return EMBPROF_OK;
}

static int
parse_uids(ep_control *c, const char *list)
{
    const char *p = list;

    while (*p != '\0') {
        char *end;
        long uid = strtol(p, &end, 10);

        if (end == p || uid < 0 || c->nallow == 32 ||
            (*end != ',' && *end != '\0')) {
            return ep_error(EMBPROF_EINVAL,
                            "control.allow_uids: expected up to 32 "
                            "comma-separated uids, got \"%s\"",
                            list);
        }
        c->allow_uids[c->nallow++] = (uid_t)uid;
        p = *end == ',' ? end + 1 : end;
    }
    return EMBPROF_OK;
}

/* --- the thread -------------------------------------------------------- */

static void *
control_main(void *arg)
{
    ep_control *c = arg;

    event_base_dispatch(c->base);
    c->cpu_ns = ep_clock_thread_cpu_ns();
    return NULL;
}

static void
control_free(ep_control *c)
{
    while (c->conns != NULL) {
        conn_free(c->conns);
    }
    if (c->unix_l != NULL) {
        evconnlistener_free(c->unix_l);
    }
    if (c->tcp_l != NULL) {
        evconnlistener_free(c->tcp_l);
    }
    if (c->path[0] != '\0') {
        unlink(c->path);
    }
    if (c->notify != NULL) {
        event_free(c->notify);
    }
    if (c->base != NULL) {
        event_base_free(c->base);
    }
    for (size_t i = 0; i < c->npending; i++) {
        free(c->pending[i]);
    }
    free(c->pending);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int
ep_control_start(struct embprof *ep, ep_control **out)
{
    static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
    const struct embprof_config *cfg = &ep->cfg;
    const char *path = ep_cfg_str(cfg, EP_OPT_CONTROL_SOCKET);
    const char *listen_spec = ep_cfg_str(cfg, EP_OPT_CONTROL_LISTEN);
    ep_control *c;
    sigset_t all, old;
    int rc;

    *out = NULL;
    if (path[0] == '\0' && listen_spec[0] == '\0') {
        return EMBPROF_OK;
    }
    pthread_once(&threads_once, (void (*)(void))evthread_use_pthreads);
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ep_error(EMBPROF_ENOMEM, "control: out of memory");
    }
    pthread_mutex_init(&c->lock, NULL);
    c->ep = ep;
    c->max_clients = (int)ep_cfg_int(cfg, EP_OPT_CONTROL_MAX_CLIENTS);
    c->idle_timeout = ep_cfg_double(cfg, EP_OPT_CONTROL_IDLE_TIMEOUT);
    c->max_line = (size_t)ep_cfg_int(cfg, EP_OPT_CONTROL_MAX_LINE);
    c->max_output = (size_t)ep_cfg_int(cfg, EP_OPT_CONTROL_MAX_OUTPUT);
    c->started_ns = ep_clock_now_ns();
    c->pending = calloc(EP_PENDING_MAX, sizeof(*c->pending));
    c->base = event_base_new();
    c->notify = c->base ? event_new(c->base, -1, 0, notify_cb, c) : NULL;
    if (c->pending == NULL || c->base == NULL || c->notify == NULL) {
        control_free(c);
        return ep_error(EMBPROF_ENOMEM, "control: cannot create the event "
                                        "loop");
    }
    rc = parse_uids(c, ep_cfg_str(cfg, EP_OPT_CONTROL_ALLOW_UIDS));
    if (rc == EMBPROF_OK && path[0] != '\0') {
        rc = listen_unix(c, path);
    }
    if (rc == EMBPROF_OK && listen_spec[0] != '\0') {
        rc = listen_tcp(c, listen_spec,
                        ep_cfg_bool(cfg, EP_OPT_CONTROL_LISTEN_ANY),
                        ep_cfg_str(cfg, EP_OPT_CONTROL_TOKEN_FILE));
    }
    if (rc != EMBPROF_OK) {
        control_free(c);
        return rc;
    }
    /* The host's signals stay the host's. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&c->thread, NULL, control_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        control_free(c);
        return ep_error(EMBPROF_EINTERNAL, "control: pthread_create: %s",
                        strerror(rc));
    }
    pthread_setname_np(c->thread, "embprof-control");
    c->thread_started = true;
    /* emit() reads these under ctl_lock. */
    pthread_mutex_lock(&ep->ctl_lock);
    ep->control = c;
    ep->on_event = on_event;
    pthread_mutex_unlock(&ep->ctl_lock);
    ep_log(EP_LOG_INFO, "control: listening on %s%s%s", c->path,
           c->listen_desc[0] ? " and " : "", c->listen_desc);
    *out = c;
    return EMBPROF_OK;
}

void
ep_control_stop(ep_control *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->ep->ctl_lock);
    c->ep->on_event = NULL;
    pthread_mutex_unlock(&c->ep->ctl_lock);
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_mutex_unlock(&c->lock);
    event_active(c->notify, EV_READ, 0);
    if (c->thread_started) {
        pthread_join(c->thread, NULL);
    }
    pthread_mutex_lock(&c->ep->ctl_lock);
    c->ep->control = NULL;
    pthread_mutex_unlock(&c->ep->ctl_lock);
    control_free(c);
}

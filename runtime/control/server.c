/*
 * server.c -- the control thread: listeners, connections, limits.
 *
 * Every socket is non-blocking and owned by libevent; a request runs to
 * completion on this thread and its reply is queued, never written
 * synchronously, so a slow, stalled or vanished client can only fill its
 * own output buffer (dropped past control.max_output, or when a write
 * makes no progress for control.idle_timeout) and never blocks the
 * thread, other clients or the host. Other threads talk to this one only
 * through `pending` + event_active (control_internal.h).
 */
#include "control_internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
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
#include "../../scripting/policy.h"

#define EP_PENDING_MAX 1024       /* event lines queued for subscribers */
#define EP_LINGER_SECONDS 2       /* reading after our last reply */
#define EP_LINGER_MAX (16u << 20) /* bytes we drop before giving up */
#define EP_PREAUTH_MAX_LINE 512   /* TCP lines before auth */
#define EP_BACKLOG 128

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
    bufferevent_free(conn->bev); /* closes the socket */
    free(conn);
}

/* Called last by every callback that ran conn: frees it if it is done,
 * or moves a CLOSING connection whose output has gone out to LINGER. */
static void
conn_settle(ep_conn *conn)
{
    struct timeval linger = {EP_LINGER_SECONDS, 0};

    if (conn->state == EP_CONN_DEAD) {
        conn_free(conn);
        return;
    }
    if (conn->state != EP_CONN_CLOSING ||
        evbuffer_get_length(bufferevent_get_output(conn->bev)) != 0) {
        return;
    }
    if (conn->eof) {
        conn_free(conn);
        return;
    }
    /* Closing a socket with unread input makes the kernel send a reset,
     * which can destroy our last reply before the peer reads it: shut our
     * side, then drop what the peer still sends for a moment. */
    shutdown(bufferevent_getfd(conn->bev), SHUT_WR);
    conn->state = EP_CONN_LINGER;
    conn->linger_end_ns =
        ep_clock_now_ns() + EP_LINGER_SECONDS * 1000000000ull;
    bufferevent_set_timeouts(conn->bev, &linger, NULL);
    bufferevent_enable(conn->bev, EV_READ);
}

void
ep_conn_close_later(ep_conn *conn)
{
    if (conn->state == EP_CONN_OPEN) {
        conn->state = EP_CONN_CLOSING;
        conn->subscribed = false;
    }
}

void
ep_conn_no_idle_timeout(ep_conn *conn)
{
    struct timeval tv;

    tv.tv_sec = (time_t)conn->c->idle_timeout;
    tv.tv_usec =
        (suseconds_t)((conn->c->idle_timeout - (double)tv.tv_sec) * 1e6);
    bufferevent_set_timeouts(conn->bev, NULL, &tv);
}

static void
conn_kill(ep_conn *conn, const char *why)
{
    ep_log(EP_LOG_WARN, "control: dropping client %llu (pid %d): %s",
           (unsigned long long)conn->id, (int)conn->pid, why);
    conn->state = EP_CONN_DEAD;
    bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
}

void
ep_conn_send(ep_conn *conn, const char *buf, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(conn->bev);
    ep_control *c = conn->c;

    if (conn->state == EP_CONN_DEAD || conn->state == EP_CONN_LINGER) {
        return;
    }
    if (len > c->max_output) {
        char msg[160];

        /* One reply bigger than the client may queue: say so instead. */
        snprintf(msg, sizeof(msg),
                 "reply of %zu bytes exceeds control.max_output (%zu); "
                 "use export to write it to a file",
                 len, c->max_output);
        ep_conn_error(conn, "too_large", msg, false);
        return;
    }
    if (evbuffer_get_length(out) + len > c->max_output) {
        c->dropped_slow++;
        conn_kill(conn, "it does not read its replies (control.max_output "
                        "queued)");
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

/* Drops input of a connection that no longer takes requests. */
static void
discard_input(ep_conn *conn, struct evbuffer *in)
{
    size_t n = evbuffer_get_length(in);

    evbuffer_drain(in, n);
    conn->discarded += n;
    /* A peer that trickles bytes would re-arm the read timeout forever:
     * the linger also ends at a fixed time. */
    if (conn->discarded > EP_LINGER_MAX ||
        (conn->state == EP_CONN_LINGER &&
         ep_clock_now_ns() > conn->linger_end_ns)) {
        conn->state = EP_CONN_DEAD;
    }
}

/* The line limit of conn: smaller before a TCP peer authenticates. */
static size_t
line_limit(const ep_conn *conn)
{
    size_t max = conn->c->max_line;

    return conn->level == EP_LEVEL_NONE && max > EP_PREAUTH_MAX_LINE
               ? EP_PREAUTH_MAX_LINE
               : max;
}

/* Runs one request line (n bytes, no newline; line[n] is writable). */
static void
serve_line(ep_conn *conn, char *line, size_t n)
{
    ep_request req;
    const char *why = NULL;

    if (n > 0 && line[n - 1] == '\r') {
        line[--n] = '\0';
    }
    if (n > line_limit(conn)) {
        ep_conn_error(conn, "too_large",
                      "request longer than control.max_line", true);
    } else if (ep_proto_parse(line, n, &req, &why) != 0) {
        ep_conn_error(conn, "bad_request", why, true);
    } else if (req.argc > 0) {
        ep_control_dispatch(conn, &req);
    }
}

/* Runs every complete line in the input, in order. */
static void
serve_lines(ep_conn *conn, struct evbuffer *in)
{
    while (conn->state == EP_CONN_OPEN) {
        size_t n;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);

        if (line == NULL) {
            break;
        }
        serve_line(conn, line, n);
        free(line);
    }
    if (conn->state == EP_CONN_OPEN &&
        evbuffer_get_length(in) > line_limit(conn)) {
        ep_conn_error(conn, "too_large",
                      "request longer than control.max_line", true);
    }
    if (conn->state == EP_CONN_CLOSING || conn->state == EP_CONN_LINGER) {
        discard_input(conn, in);
    }
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
    ep_conn *conn = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    if (conn->state == EP_CONN_OPEN) {
        serve_lines(conn, in);
    } else {
        discard_input(conn, in);
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
    struct evbuffer *in = bufferevent_get_input(bev);

    if (what & BEV_EVENT_ERROR) {
        conn->state = EP_CONN_DEAD; /* nobody left to send to */
    } else if (what & BEV_EVENT_EOF) {
        conn->eof = true;
        if (conn->state == EP_CONN_OPEN) {
            /* A last request without its newline ("printf status | nc")
             * still counts (serve_lines left it: it fits the limit); then
             * finish sending and close. The input's end is frozen outside
             * reads, so the line is taken out rather than completed. */
            size_t n = evbuffer_get_length(in);
            char *line = n > 0 ? malloc(n + 1) : NULL;

            if (line != NULL && evbuffer_remove(in, line, n) == (int)n) {
                line[n] = '\0';
                serve_line(conn, line, n);
            }
            free(line);
            ep_conn_close_later(conn);
        } else if (conn->state == EP_CONN_LINGER) {
            conn->state = EP_CONN_DEAD;
        }
    } else if (what & BEV_EVENT_TIMEOUT) {
        if (what & BEV_EVENT_WRITING) {
            conn->c->dropped_slow++;
            conn_kill(conn, "its replies made no progress for "
                            "control.idle_timeout");
        } else if (conn->state == EP_CONN_OPEN) {
            ep_conn_error(conn, "timeout",
                          "idle for control.idle_timeout seconds", true);
        } else if (conn->state == EP_CONN_LINGER) {
            conn->state = EP_CONN_DEAD;
        }
    }
    conn_settle(conn);
}

static ep_level
peer_level(ep_control *c, uid_t uid)
{
    if (uid == geteuid() || uid == 0) {
        return EP_LEVEL_ADMIN;
    }
    for (int i = 0; i < c->nallow; i++) {
        if (c->allow[i].uid == uid) {
            return c->allow[i].level;
        }
    }
    return EP_LEVEL_NONE;
}

/* Turns a connection away with one reply and no further reading. */
static void
refuse_busy(ep_control *c, int fd)
{
    static const char busy[] =
        "{\"ok\":false,\"error\":\"too many connections "
        "(control.max_clients)\",\"code\":\"busy\"}\n";

    c->refused_busy++;
    (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
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
    struct ucred cred = {0, (uid_t)-1, (gid_t)-1};
    ep_level level = EP_LEVEL_NONE;

    (void)sa;
    (void)salen;
    if (!tcp) {
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            level = peer_level(c, cred.uid);
        }
        if (level == EP_LEVEL_NONE) {
            /* Silently, as the JVM does: say nothing to a stranger. */
            c->refused_peer++;
            ep_log(EP_LOG_WARN,
                   "control: refused a client with uid %d (pid %d): not "
                   "this process's uid, root or in control.allow_uids",
                   (int)cred.uid, (int)cred.pid);
            close(fd);
            return;
        }
    }
    if (c->nconns >= c->max_clients) {
        refuse_busy(c, fd);
        return;
    }
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        close(fd);
        return;
    }
    conn->c = c;
    conn->tcp = tcp;
    conn->level = level;
    conn->uid = cred.uid;
    conn->pid = cred.pid;
    conn->id = ++c->next_id;
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
    c->accepted++;
    ep_log(EP_LOG_DEBUG,
           "control: client %llu connected (%s, uid %d, pid "
           "%d)",
           (unsigned long long)conn->id, tcp ? "tcp" : "unix", (int)cred.uid,
           (int)cred.pid);
    bufferevent_setcb(conn->bev, read_cb, write_cb, event_cb, conn);
    /* Read no further than one line past the limit: the callback sees
     * the overflow and closes. */
    bufferevent_setwatermark(conn->bev, EV_READ, 0, c->max_line + 2);
    tv.tv_sec = (time_t)c->idle_timeout;
    tv.tv_usec = (suseconds_t)((c->idle_timeout - (double)tv.tv_sec) * 1e6);
    bufferevent_set_timeouts(conn->bev, &tv, &tv);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
}

/* accept() failed. Out of descriptors leaves the listener readable, so
 * libevent would call us again at once, forever: pause accepting for a
 * moment instead. */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
    ep_control *c = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval pause = {0, 200000};

    ep_log(EP_LOG_WARN, "control: accept: %s%s", strerror(err),
           err == EMFILE || err == ENFILE ? "; pausing for 200 ms" : "");
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        evconnlistener_disable(l);
        event_add(c->resume, &pause);
    }
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
    ep_control *c = arg;

    (void)fd;
    (void)what;
    if (c->unix_l != NULL) {
        evconnlistener_enable(c->unix_l);
    }
    if (c->tcp_l != NULL) {
        evconnlistener_enable(c->tcp_l);
    }
}

/* --- events from other threads ------------------------------------------ */

/* The runtime's on_event hook: any thread, called under ctl_lock; copies
 * the line and wakes the control thread. Never blocks on a client. */
static void
on_event(struct embprof *ep, const char *json)
{
    ep_control *c = ep->control;
    size_t n = strlen(json);
    char *copy;

    if (c == NULL || (copy = malloc(n + 2)) == NULL) {
        return;
    }
    memcpy(copy, json, n);
    copy[n] = '\n';
    copy[n + 1] = '\0';
    pthread_mutex_lock(&c->lock);
    if (c->npending == EP_PENDING_MAX) {
        free(c->pending[0]); /* a flood: keep the newest */
        memmove(c->pending, c->pending + 1,
                (EP_PENDING_MAX - 1) * sizeof(*c->pending));
        c->npending--;
        c->events_dropped++;
    }
    c->pending[c->npending++] = copy;
    pthread_mutex_unlock(&c->lock);
    event_active(c->notify, EV_READ, 0);
}

/* Control thread: hands queued events to subscribers; stops the loop
 * when ep_control_stop asked. */
static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
    ep_control *c = arg;
    char *lines[EP_PENDING_MAX];
    size_t n;
    bool stop;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&c->lock);
    n = c->npending;
    memcpy(lines, c->pending, n * sizeof(*lines));
    c->npending = 0;
    stop = c->stopping;
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(lines[i]);

        for (ep_conn *conn = c->conns, *next; conn != NULL; conn = next) {
            next = conn->next;
            if (conn->subscribed && conn->state == EP_CONN_OPEN) {
                ep_conn_send(conn, lines[i], len);
                conn_settle(conn);
            }
        }
        free(lines[i]);
    }
    if (stop) {
        event_base_loopbreak(c->base);
    }
}

/* --- listeners --------------------------------------------------------- */

/* Makes path absolute (the working directory may change before finalize
 * unlinks it). */
static int
absolute_path(const char *path, char *out, size_t size)
{
    char cwd[PATH_MAX];
    int n;

    if (path[0] == '/') {
        n = snprintf(out, size, "%s", path);
    } else if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return ep_error(EMBPROF_EIO, "control.socket: getcwd: %s",
                        strerror(errno));
    } else {
        n = snprintf(out, size, "%s/%s", cwd, path);
    }
    if (n < 0 || (size_t)n >= size) {
        return ep_error(EMBPROF_EINVAL,
                        "control.socket: path longer than %zu bytes: %s",
                        size - 1, path);
    }
    return EMBPROF_OK;
}

static int
listen_unix(ep_control *c, const char *given)
{
    struct sockaddr_un sa;
    struct stat st;
    char path[sizeof(sa.sun_path)], tmp[sizeof(sa.sun_path)];
    int fd, rc, n;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if ((rc = absolute_path(given, path, sizeof(path))) != EMBPROF_OK) {
        return rc;
    }
    n = snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return ep_error(EMBPROF_EINVAL,
                        "control.socket: path longer than %zu bytes: %s",
                        sizeof(tmp) - 1 - 16, path);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        int probe, err = 0;

        if (!S_ISSOCK(st.st_mode)) {
            return ep_error(EMBPROF_EINVAL,
                            "control.socket: %s exists and is not a socket",
                            path);
        }
        /* A live socket belongs to a running process: an error. One that
         * refuses connections was left by a process that died: replace
         * it. Anything else (no permission) is not ours to remove. */
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            err = errno;
        } else if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            return ep_error(EMBPROF_EBUSY,
                            "control.socket: %s is in use by a running "
                            "process (another host, or this one started "
                            "twice); choose another path",
                            path);
        } else {
            err = errno;
            close(probe);
        }
        if (err != ECONNREFUSED) {
            return ep_error(EMBPROF_EIO,
                            "control.socket: %s exists and cannot be "
                            "checked (%s); remove it or choose another path",
                            path, strerror(err));
        }
        ep_log(EP_LOG_INFO, "control: replacing the stale socket %s", path);
        unlink(path);
    }
    {
        char dir[sizeof(path)];
        char *slash;

        snprintf(dir, sizeof(dir), "%s", path);
        slash = strrchr(dir, '/');
        slash[slash == dir ? 1 : 0] = '\0';
        if (stat(dir, &st) == 0 && (st.st_mode & 0022) != 0 &&
            (st.st_mode & S_ISVTX) == 0) {
            ep_log(EP_LOG_WARN,
                   "control.socket: %s is writable by other users, who "
                   "could replace the socket; use a directory only this "
                   "user can write",
                   dir);
        }
    }
    /* Bind under a private name, restrict it, then move it into place (the
     * JVM's sequence): the socket never appears under its name with looser
     * permissions, and the process umask, shared with the host's threads,
     * is left alone. Nobody can connect before listen() anyway. */
    memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
    unlink(tmp);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(tmp, 0600) != 0 || rename(tmp, path) != 0 ||
        lstat(path, &st) != 0 || listen(fd, EP_BACKLOG) != 0) {
        int err = errno;

        if (fd >= 0) {
            close(fd);
        }
        unlink(tmp);
        return ep_error(EMBPROF_EIO,
                        "control.socket: cannot listen on %s: "
                        "%s",
                        path, strerror(err));
    }
    c->sock_dev = st.st_dev;
    c->sock_ino = st.st_ino;
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->unix_l = evconnlistener_new(
        c->base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        0, fd);
    if (c->unix_l == NULL) {
        close(fd);
        return ep_error(EMBPROF_EIO, "control.socket: libevent listener "
                                     "failed");
    }
    evconnlistener_set_error_cb(c->unix_l, accept_error_cb);
    c->unix_fd = fd;
    return EMBPROF_OK;
}

/* Reads the token: the first line of the file, surrounding blanks
 * removed. */
static int
read_token(ep_control *c, const char *file)
{
    struct stat st;
    FILE *f;
    char *p;
    size_t n;

    if (file[0] == '\0') {
        return ep_error(EMBPROF_EINVAL,
                        "control.listen needs control.token_file (a file "
                        "whose first line is the token clients send with "
                        "'auth')");
    }
    f = fopen(file, "re");
    if (f == NULL) {
        return ep_error(EMBPROF_EINVAL,
                        "control.token_file: cannot read "
                        "%s: %s",
                        file, strerror(errno));
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0) {
        ep_log(EP_LOG_WARN,
               "control.token_file: %s can be read by other users "
               "(chmod 600 it)",
               file);
    }
    if (fgets(c->token, sizeof(c->token), f) == NULL) {
        c->token[0] = '\0';
    }
    fclose(f);
    p = c->token;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    n = strcspn(p, "\r\n");
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }
    memmove(c->token, p, n);
    c->token[n] = '\0';
    if (n < 16) {
        return ep_error(EMBPROF_EINVAL,
                        "control.token_file: the token in %s must be at "
                        "least 16 characters on its first line",
                        file);
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
        return ep_error(EMBPROF_EINVAL,
                        "control.listen: expected "
                        "IPv4-ADDRESS:PORT, got \"%s\"",
                        spec);
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 ||
        port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        return ep_error(EMBPROF_EINVAL,
                        "control.listen: \"%s\" is not IPv4-ADDRESS:PORT "
                        "(e.g. 127.0.0.1:7777)",
                        spec);
    }
    if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127 && !any) {
        return ep_error(EMBPROF_EINVAL,
                        "control.listen: %s is not a loopback address; set "
                        "control.listen_any=true to expose the control "
                        "socket to the network",
                        host);
    }
    if ((rc = read_token(c, token)) != EMBPROF_OK) {
        return rc;
    }
    sa.sin_port = htons((uint16_t)port);
    c->tcp_l = evconnlistener_new_bind(
        c->base, accept_cb, c,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
        EP_BACKLOG, (struct sockaddr *)&sa, sizeof(sa));
    if (c->tcp_l == NULL) {
        return ep_error(EMBPROF_EIO,
                        "control.listen: cannot listen on %s: "
                        "%s",
                        spec, strerror(errno));
    }
    evconnlistener_set_error_cb(c->tcp_l, accept_error_cb);
    c->tcp_fd = evconnlistener_get_fd(c->tcp_l);
    snprintf(c->listen_desc, sizeof(c->listen_desc), "%s", spec);
    return EMBPROF_OK;
}

/* control.allow_uids: "1001,1002:read" -- a uid alone gets admin, one
 * with ":read" only the read commands. */
static int
parse_uids(ep_control *c, const char *list)
{
    const char *p = list;

    while (*p != '\0') {
        char *end;
        long uid;
        ep_level level = EP_LEVEL_ADMIN;

        while (*p == ' ') {
            p++;
        }
        errno = 0;
        uid = strtol(p, &end, 10);
        if (errno == 0 && end != p && strncmp(end, ":read", 5) == 0) {
            level = EP_LEVEL_READ;
            end += 5;
        } else if (errno == 0 && end != p && strncmp(end, ":admin", 6) == 0) {
            end += 6;
        }
        while (*end == ' ') {
            end++;
        }
        if (errno != 0 || end == p || uid < 0 || uid > INT_MAX ||
            c->nallow == EP_CONTROL_MAX_UIDS ||
            (*end != ',' && *end != '\0')) {
            return ep_error(EMBPROF_EINVAL,
                            "control.allow_uids: expected up to %d "
                            "comma-separated uids, each optionally followed "
                            "by :read or :admin, got \"%s\"",
                            EP_CONTROL_MAX_UIDS, list);
        }
        c->allow[c->nallow].uid = (uid_t)uid;
        c->allow[c->nallow].level = level;
        c->nallow++;
        p = *end == ',' ? end + 1 : end;
    }
    return EMBPROF_OK;
}

/* --- the thread -------------------------------------------------------- */

static void *
control_main(void *arg)
{
    ep_control *c = arg;

    event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Frees everything; the thread is not running. Unlinks the socket file
 * only if it is still the one we created. */
static void
control_free(ep_control *c)
{
    struct stat st;

    /* The policy's timer lives on the base: it goes first. */
    ep_policy_free(c->policy);
    c->policy = NULL;
    while (c->conns != NULL) {
        conn_free(c->conns);
    }
    if (c->unix_l != NULL) {
        evconnlistener_free(c->unix_l);
    }
    if (c->tcp_l != NULL) {
        evconnlistener_free(c->tcp_l);
    }
    if (c->path[0] != '\0' && lstat(c->path, &st) == 0 &&
        st.st_dev == c->sock_dev && st.st_ino == c->sock_ino) {
        unlink(c->path);
    }
    if (c->notify != NULL) {
        event_free(c->notify);
    }
    if (c->resume != NULL) {
        event_free(c->resume);
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

static void
use_pthreads(void)
{
    evthread_use_pthreads();
}

int
ep_control_start(struct embprof *ep, ep_control **out)
{
    static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
    const struct embprof_config *cfg = &ep->cfg;
    const char *path = ep_cfg_str(cfg, EP_OPT_CONTROL_SOCKET);
    const char *listen_spec = ep_cfg_str(cfg, EP_OPT_CONTROL_LISTEN);
    const char *policy_file = ep_cfg_str(cfg, EP_OPT_POLICY_FILE);
    ep_control *c;
    sigset_t all, old;
    int rc;

    *out = NULL;
    /* The thread also runs for a policy alone: its timer lives here. */
    if (path[0] == '\0' && listen_spec[0] == '\0' && policy_file[0] == '\0') {
        return EMBPROF_OK;
    }
    /* Other threads wake the loop with event_active: libevent needs its
     * locks before the base exists. */
    pthread_once(&threads_once, use_pthreads);
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ep_error(EMBPROF_ENOMEM, "control: out of memory");
    }
    pthread_mutex_init(&c->lock, NULL);
    c->ep = ep;
    c->unix_fd = c->tcp_fd = -1;
    c->max_clients = (int)ep_cfg_int(cfg, EP_OPT_CONTROL_MAX_CLIENTS);
    c->idle_timeout = ep_cfg_double(cfg, EP_OPT_CONTROL_IDLE_TIMEOUT);
    c->max_line = (size_t)ep_cfg_int(cfg, EP_OPT_CONTROL_MAX_LINE);
    c->max_output = (size_t)ep_cfg_int(cfg, EP_OPT_CONTROL_MAX_OUTPUT);
    c->started_ns = ep_clock_now_ns();
    c->pid = getpid();
    c->pending = calloc(EP_PENDING_MAX, sizeof(*c->pending));
    c->base = event_base_new();
    c->notify = c->base ? event_new(c->base, -1, 0, notify_cb, c) : NULL;
    c->resume = c->base ? evtimer_new(c->base, resume_cb, c) : NULL;
    if (c->pending == NULL || c->base == NULL || c->notify == NULL ||
        c->resume == NULL) {
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
    if (rc == EMBPROF_OK) {
        rc = ep_policy_new(ep, c->base, &c->policy);
    }
    if (rc == EMBPROF_OK && policy_file[0] != '\0') {
        /* Loaded here, before the thread runs: a broken policy.file fails
         * init with its file:line, like any other bad setting. Through a
         * copy: the policy's main chunk may start a probe, and the
         * controller then replaces ep->cfg, policy_file's storage. */
        char pf[4096];

        snprintf(pf, sizeof(pf), "%s", policy_file);
        rc = ep_policy_load(c->policy, pf);
        if (rc != EMBPROF_OK) {
            rc = ep_error(rc, "policy.file: %s", embprof_last_error());
        }
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
    if (c->path[0] != '\0' || c->listen_desc[0] != '\0') {
        ep_log(EP_LOG_INFO, "control: listening on %s%s%s",
               c->path[0] ? c->path : "",
               c->path[0] && c->listen_desc[0] ? " and " : "", c->listen_desc);
    }
    *out = c;
    return EMBPROF_OK;
}

void
ep_control_stop(ep_control *c)
{
    struct embprof *ep;

    if (c == NULL) {
        return;
    }
    ep = c->ep;
    /* No new events from here on; then the loop stops at its next turn
     * (a request in progress finishes first). */
    pthread_mutex_lock(&ep->ctl_lock);
    ep->on_event = NULL;
    pthread_mutex_unlock(&ep->ctl_lock);
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_mutex_unlock(&c->lock);
    event_active(c->notify, EV_READ, 0);
    if (c->thread_started) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += EP_CONTROL_STOP_S;
        if (pthread_timedjoin_np(c->thread, NULL, &until) != 0) {
            ep_log(EP_LOG_ERROR,
                   "control: the control thread did not stop within %d s "
                   "(a policy callback stuck in one long C call, such as "
                   "a string pattern over a long string?); leaving it "
                   "behind so the host can exit",
                   EP_CONTROL_STOP_S);
            pthread_detach(c->thread);
            ep->control_stuck = true;
            return;
        }
    }
    pthread_mutex_lock(&ep->ctl_lock);
    ep->control = NULL;
    pthread_mutex_unlock(&ep->ctl_lock);
    control_free(c);
}

void
ep_control_after_fork(ep_control *c)
{
    if (c == NULL) {
        return;
    }
    /* The client list may have been mid-update in the thread that is
     * gone, so it is not trusted: the child's copies of the server's
     * sockets are found by what they are. A socket accepted from a
     * listener has the listener's own address as its local address (a
     * client socket, even one the host opened to its own server, has an
     * unnamed or ephemeral one). Closing them lets the parent's clients
     * see the end of a connection when the parent closes it, whatever
     * the child does next. */
    struct sockaddr_un ul;
    struct sockaddr_storage tl;
    socklen_t ulen = sizeof(ul), tlen = sizeof(tl);
    bool have_unix = false, have_tcp = false;
    DIR *d;

    /* (The Unix listener was bound under a temporary name and renamed:
     * its accepted sockets carry the bound name, so compare with what
     * the listener itself reports.) */
    if (c->unix_fd >= 0 &&
        getsockname(c->unix_fd, (struct sockaddr *)&ul, &ulen) == 0 &&
        ul.sun_family == AF_UNIX) {
        have_unix = true;
    }
    if (c->tcp_fd >= 0 &&
        getsockname(c->tcp_fd, (struct sockaddr *)&tl, &tlen) == 0 &&
        tl.ss_family == AF_INET) {
        have_tcp = true;
    }
    d = opendir("/proc/self/fd");
    while (d != NULL) {
        struct dirent *e = readdir(d);
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        struct stat st;
        bool ours = false;
        int fd;

        if (e == NULL) {
            break;
        }
        fd = atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d) ||
            fd == c->unix_fd || fd == c->tcp_fd || fstat(fd, &st) != 0 ||
            !S_ISSOCK(st.st_mode) ||
            getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
            continue;
        }
        if (sa.ss_family == AF_UNIX && have_unix) {
            const struct sockaddr_un *un = (const struct sockaddr_un *)&sa;

            ours = len == ulen && ul.sun_path[0] != '\0' &&
                   memcmp(un->sun_path, ul.sun_path,
                          ulen - offsetof(struct sockaddr_un, sun_path)) == 0;
        } else if (sa.ss_family == AF_INET && have_tcp) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&sa;
            const struct sockaddr_in *l = (const struct sockaddr_in *)&tl;

            ours = a->sin_port == l->sin_port &&
                   (l->sin_addr.s_addr == htonl(INADDR_ANY) ||
                    a->sin_addr.s_addr == l->sin_addr.s_addr);
        }
        if (ours) {
            close(fd);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    if (c->unix_fd >= 0) {
        close(c->unix_fd);
    }
    if (c->tcp_fd >= 0) {
        close(c->tcp_fd);
    }
}

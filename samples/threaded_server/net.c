/*
 * net.c -- socket helpers of the threaded_server sample. Plain POSIX
 * sockets: the sample shows an embedding host, not an event loop.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static socklen_t
fill_sockaddr(const ts_addr *addr, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (addr->is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;

        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof(un->sun_path), "%s", addr->path);
        return (socklen_t)sizeof(*un);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;

        in->sin_family = AF_INET;
        in->sin_port = htons((unsigned short)addr->port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return (socklen_t)sizeof(*in);
    }
}

/* A Unix socket path that exists: replace it only if nobody listens. */
static int
unix_path_free(const ts_addr *addr, char *errmsg, size_t size)
{
    struct stat st;
    int fd;

    if (lstat(addr->path, &st) != 0) {
        return 1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(errmsg, size, "%s exists and is not a socket", addr->path);
        return 0;
    }
    fd = ts_connect(addr);
    if (fd >= 0) {
        close(fd);
        snprintf(errmsg, size, "another server listens on %s", addr->path);
        return 0;
    }
    unlink(addr->path);
    return 1;
}

int
ts_listen(ts_addr *addr, char *errmsg, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = fill_sockaddr(addr, &ss);
    int fd, one = 1;

    if (addr->is_unix && strlen(addr->path) >= sizeof(addr->path)) {
        snprintf(errmsg, size, "Unix socket path too long: %s", addr->path);
        return -1;
    }
    if (addr->is_unix && !unix_path_free(addr, errmsg, size)) {
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errmsg, size, "socket: %s", strerror(errno));
        return -1;
    }
    if (!addr->is_unix) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        if (addr->is_unix) {
            snprintf(errmsg, size, "bind %s: %s", addr->path, strerror(errno));
        } else {
            snprintf(errmsg, size, "bind 127.0.0.1:%d: %s", addr->port,
                     strerror(errno));
        }
        close(fd);
        return -1;
    }
    if (listen(fd, 128) != 0) {
        snprintf(errmsg, size, "listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!addr->is_unix && addr->port == 0) {
        struct sockaddr_in in;
        socklen_t inlen = sizeof(in);

        if (getsockname(fd, (struct sockaddr *)&in, &inlen) == 0) {
            addr->port = ntohs(in.sin_port);
        }
    }
    return fd;
}

int
ts_connect(const ts_addr *addr)
{
    struct sockaddr_storage ss;
    socklen_t len = fill_sockaddr(addr, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    while (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        if (errno != EINTR) {
            int e = errno;

            close(fd);
            errno = e;
            return -1;
        }
    }
    if (!addr->is_unix) {
        int one = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

int
ts_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t
ts_read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

ssize_t
ts_read_head(int fd, char *buf, size_t size)
{
    size_t got = 0;

    while (got + 1 < size) {
        ssize_t n = read(fd, buf + got, size - 1 - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) {
            return (ssize_t)got;
        }
    }
    buf[got] = '\0';
    if (got + 1 >= size) {
        errno = EMSGSIZE;
        return -1;
    }
    return (ssize_t)got; /* EOF: what came is the head (0: nothing) */
}

double
ts_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

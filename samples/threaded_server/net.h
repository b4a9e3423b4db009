/*
 * net.h -- the threaded_server sample's socket helpers: one address type
 * for loopback TCP and Unix sockets, listen/connect, and whole reads and
 * writes that retry on EINTR and short transfers.
 */
#ifndef TS_NET_H
#define TS_NET_H

#include <stddef.h>
#include <sys/types.h>

typedef struct ts_addr {
    int is_unix;    /* 1: Unix socket at path; 0: TCP 127.0.0.1:port */
    int port;       /* TCP port; 0 asks the kernel for a free one */
    char path[108]; /* Unix socket path (sun_path's size) */
} ts_addr;

/* Binds and listens on addr. For TCP port 0, addr->port is set to the
 * port chosen. A Unix path that exists is refused unless it is a stale
 * socket nobody listens on. Returns the fd, or -1 with errmsg filled. */
int ts_listen(ts_addr *addr, char *errmsg, size_t size);
/* Connects to addr; returns the fd or -1 (errno set). */
int ts_connect(const ts_addr *addr);
/* Writes all of buf; 0 or -1 (errno set). */
int ts_write_all(int fd, const void *buf, size_t len);
/* Reads until the peer closes or buf is full; returns the bytes read or
 * -1 (errno set). buf is not NUL-terminated. */
ssize_t ts_read_all(int fd, char *buf, size_t size);
/* Reads an HTTP request head (up to a blank line or EOF) into buf and
 * NUL-terminates it; returns its length, 0 on EOF, -1 on error or when it
 * does not fit. */
ssize_t ts_read_head(int fd, char *buf, size_t size);
/* Monotonic clock in milliseconds. */
double ts_now_ms(void);

#endif

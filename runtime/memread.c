/*
 * memread.c -- fault-safe reads of our own address space.
 */
#include "memread.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

/* Bytes per write when the pipe holds at least that much. A pipe can be
 * smaller (fs.pipe-user-pages-soft exhausted gives one page): the chunk is
 * capped at the pipe's real capacity, or a large read would never fit. */
#define EP_PIPE_CHUNK 32768

static int
vm_works(void)
{
    static const char probe[8] = "embprof";
    char copy[8];
    struct iovec l = {copy, sizeof(copy)};
    struct iovec r = {(void *)probe, sizeof(probe)};

    return process_vm_readv(getpid(), &l, 1, &r, 1, 0) ==
               (ssize_t)sizeof(copy) &&
           memcmp(copy, probe, sizeof(copy)) == 0;
}

int
ep_memread_open(ep_reader *m, int method)
{
    memset(m, 0, sizeof(*m));
    m->pipefd[0] = m->pipefd[1] = -1;
    m->pid = getpid();
    if (method == EP_MEMREAD_AUTO) {
        method = vm_works() ? EP_MEMREAD_VM : EP_MEMREAD_PIPE;
    } else if (method == EP_MEMREAD_VM && !vm_works()) {
        return ep_error(EMBPROF_EUNSUPPORTED,
                        "sampler.memread=vm: process_vm_readv is not "
                        "permitted here (%s); use pipe or auto",
                        strerror(errno));
    }
    if (method == EP_MEMREAD_PIPE &&
        pipe2(m->pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        return ep_error(EMBPROF_EIO, "sampler.memread: pipe: %s",
                        strerror(errno));
    }
    m->method = method;
    if (method == EP_MEMREAD_PIPE) {
        ep_memread_fit_pipe(m);
    }
    return EMBPROF_OK;
}

void
ep_memread_fit_pipe(ep_reader *m)
{
    int cap = fcntl(m->pipefd[0], F_GETPIPE_SZ);

    m->chunk = cap > 0 && cap < EP_PIPE_CHUNK ? (size_t)cap : EP_PIPE_CHUNK;
}

void
ep_memread_close(ep_reader *m)
{
    if (m->pipefd[0] >= 0) {
        close(m->pipefd[0]);
        close(m->pipefd[1]);
    }
    m->pipefd[0] = m->pipefd[1] = -1;
}

const char *
ep_memread_name(const ep_reader *m)
{
    return m->method == EP_MEMREAD_PIPE ? "pipe" : "process_vm_readv";
}

static void
pipe_drain(ep_reader *m)
{
    char junk[4096];

    while (read(m->pipefd[0], junk, sizeof(junk)) > 0) {
    }
}

static int
pipe_read(ep_reader *m, void *dst, uintptr_t src, size_t n)
{
    char *d = dst;

    while (n > 0) {
        size_t chunk = n < m->chunk ? n : m->chunk;
        ssize_t w, r;

        m->reads++;
        w = write(m->pipefd[1], (const void *)src, chunk);
        if (w != (ssize_t)chunk) {
            if (w > 0) {
                pipe_drain(m);
            }
            return -1;
        }
        r = read(m->pipefd[0], d, chunk);
        if (r != (ssize_t)chunk) {
            pipe_drain(m);
            return -1;
        }
        d += chunk;
        src += chunk;
        n -= chunk;
    }
    return 0;
}

int
ep_memread(ep_reader *m, void *dst, uintptr_t src, size_t n)
{
    struct iovec l = {dst, n};
    struct iovec r = {(void *)src, n};

    if (n == 0) {
        return 0;
    }
    if (src < 4096 || src + n < src) {
        m->faults++;
        return -1;
    }
    if (m->method == EP_MEMREAD_PIPE) {
        if (pipe_read(m, dst, src, n) != 0) {
            m->faults++;
            return -1;
        }
        return 0;
    }
    m->reads++;
    if (process_vm_readv(m->pid, &l, 1, &r, 1, 0) != (ssize_t)n) {
        m->faults++;
        return -1;
    }
    return 0;
}

size_t
ep_memread_v(ep_reader *m, const struct iovec *local,
             const struct iovec *remote, size_t count)
{
    size_t done = 0;

    if (m->method == EP_MEMREAD_PIPE) {
        for (; done < count; done++) {
            if (ep_memread(m, local[done].iov_base,
                           (uintptr_t)remote[done].iov_base,
                           remote[done].iov_len) != 0) {
                break;
            }
        }
        return done;
    }
    while (done < count) {
        size_t batch = count - done;
        size_t want = 0, got, i;
        ssize_t r;

        if (batch > IOV_MAX) {
            batch = IOV_MAX;
        }
        for (i = 0; i < batch; i++) {
            want += remote[done + i].iov_len;
        }
        m->reads++;
        r = process_vm_readv(m->pid, local + done, batch, remote + done, batch,
                             0);
        if (r < 0) {
            m->faults++;
            return done;
        }
        /* A short read stops at the first range that faulted. */
        got = (size_t)r;
        for (i = 0; i < batch && got >= remote[done + i].iov_len; i++) {
            got -= remote[done + i].iov_len;
        }
        done += i;
        if ((size_t)r != want) {
            m->faults++;
            return done;
        }
    }
    return done;
}

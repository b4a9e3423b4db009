/*
 * threads.c -- thread-name registry.
 */
#include "threads.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EP_NAMES_MAX 8192

typedef struct ep_name {
    pid_t tid;
    uint64_t ident;
    bool host;
    char name[64];
} ep_name;

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static ep_name *names; /* guarded by names_lock */
static size_t nnames, names_cap;
static _Atomic uint64_t names_gen;

static bool
same(const ep_name *n, pid_t tid, uint64_t ident)
{
    if (tid != 0 && n->tid != 0) {
        return n->tid == tid;
    }
    return ident != 0 && n->ident == ident;
}

void
ep_names_set(pid_t tid, uint64_t ident, const char *name, bool host)
{
    size_t i;

    if (name == NULL || (tid == 0 && ident == 0)) {
        return;
    }
    pthread_mutex_lock(&names_lock);
    for (i = 0; i < nnames && !same(&names[i], tid, ident); i++) {
    }
    if (i == nnames) {
        if (nnames == names_cap) {
            size_t cap = names_cap ? names_cap * 2 : 64;
            ep_name *p =
                cap <= EP_NAMES_MAX ? realloc(names, cap * sizeof(*p)) : NULL;

            if (p == NULL) {
                /* Full: recycle the oldest entry. */
                memmove(names, names + 1, (nnames - 1) * sizeof(*names));
                i = --nnames;
            } else {
                names = p;
                names_cap = cap;
            }
        }
        nnames++;
        memset(&names[i], 0, sizeof(names[i]));
    }
    if (tid != 0) {
        names[i].tid = tid;
    }
    if (ident != 0) {
        names[i].ident = ident;
    }
    /* A host name wins over a Python name collected later. */
    if (host || !names[i].host) {
        names[i].host = names[i].host || host;
        snprintf(names[i].name, sizeof(names[i].name), "%s", name);
    }
    atomic_fetch_add(&names_gen, 1);
    pthread_mutex_unlock(&names_lock);
}

bool
ep_names_get(pid_t tid, uint64_t ident, char *buf, size_t size, bool *host)
{
    bool found = false;

    pthread_mutex_lock(&names_lock);
    for (size_t i = 0; i < nnames; i++) {
        if (same(&names[i], tid, ident)) {
            snprintf(buf, size, "%s", names[i].name);
            *host = names[i].host;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&names_lock);
    return found;
}

uint64_t
ep_names_generation(void)
{
    return atomic_load(&names_gen);
}

void
ep_names_clear(void)
{
    pthread_mutex_lock(&names_lock);
    nnames = 0;
    atomic_fetch_add(&names_gen, 1);
    pthread_mutex_unlock(&names_lock);
}

void
ep_names_resolve(pid_t tid, uint64_t ident, char *buf, size_t size, bool *host)
{
    *host = false;
    if (!ep_names_get(tid, ident, buf, size, host) &&
        (tid == 0 || !ep_names_os(tid, buf, size))) {
        snprintf(buf, size, "thread-%llu", (unsigned long long)ident);
    }
}

bool
ep_names_os(pid_t tid, char *buf, size_t size)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) {
        return false;
    }
    if (buf[n - 1] == '\n') {
        n--;
    }
    buf[n] = '\0';
    return n > 0;
}

#define EP_TID_SCAN                                                           \
    1024 /* bytes searched: less than sizeof(struct pthread),                 \
          * which ends where the thread's mapping ends */

typedef struct tid_probe {
    long offsets[16];
    int n;
} tid_probe;

/* Offsets in the calling thread's struct pthread holding its tid. */
static void
tid_candidates(tid_probe *p)
{
    const unsigned char *self = (const unsigned char *)pthread_self();
    pid_t tid = (pid_t)syscall(SYS_gettid);

    p->n = 0;
    for (long off = 0; off + (long)sizeof(pid_t) <= EP_TID_SCAN && p->n < 16;
         off += (long)sizeof(pid_t)) {
        pid_t v;

        memcpy(&v, self + off, sizeof(v));
        if (v == tid) {
            p->offsets[p->n++] = off;
        }
    }
}

static void *
tid_probe_thread(void *arg)
{
    tid_candidates(arg);
    return NULL;
}

static long tid_offset = -2;

static void
find_tid_offset(void)
{
    tid_probe mine, other;
    pthread_t t;

    tid_offset = -1;
    tid_candidates(&mine);
    if (mine.n == 0 ||
        pthread_create(&t, NULL, tid_probe_thread, &other) != 0) {
        return;
    }
    pthread_join(t, NULL);
    for (int i = 0; i < mine.n; i++) {
        for (int j = 0; j < other.n; j++) {
            if (mine.offsets[i] == other.offsets[j]) {
                tid_offset = mine.offsets[i];
                return;
            }
        }
    }
}

long
ep_pthread_tid_offset(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, find_tid_offset);
    return tid_offset;
}

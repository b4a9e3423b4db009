/*
 * threads.h -- the registry of thread names and kinds: names given with
 * embprof_thread_name (host threads) and Python thread names collected
 * with the GIL held (embed/ pushes them). The sampler reads it when it
 * first sees a thread and whenever its generation changes.
 *
 * Process-wide (a thread may be named before embprof_init): the one
 * documented static of this module. Guarded by a mutex; never taken on a
 * host hot path.
 */
#ifndef EP_THREADS_H
#define EP_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Records a name for the thread (tid, ident); either may be 0 (unknown).
 * host: the thread was named by the host (kind "host"). Any thread. */
void ep_names_set(pid_t tid, uint64_t ident, const char *name, bool host);
/* Finds the name of (tid, ident) into buf; returns true if found, and sets
 * *host. Any thread. */
bool ep_names_get(pid_t tid, uint64_t ident, char *buf, size_t size,
                  bool *host);
/* Changes whenever a name is set. */
uint64_t ep_names_generation(void);
/* Forgets every name (after fork, at finalize). */
void ep_names_clear(void);
/* The name to show for a thread: the registry's, else the OS name, else
 * "thread-IDENT". *host tells whether the host named it. Any thread. */
void ep_names_resolve(pid_t tid, uint64_t ident, char *buf, size_t size,
                      bool *host);
/* The OS name of a thread of this process (/proc/self/task/TID/comm). */
bool ep_names_os(pid_t tid, char *buf, size_t size);

/* glibc keeps each thread's kernel tid inside the struct pthread that a
 * pthread_t points to. Returns that offset (found once, by locating our
 * own tid in our own struct and confirming it on a second thread), or -1
 * if it cannot be found. Lets CPython 3.10, whose thread states have no
 * native id, be matched to kernel threads. */
long ep_pthread_tid_offset(void);

#endif

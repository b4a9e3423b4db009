/*
 * memread.h -- safe reads of this process's own memory. A read of an
 * unmapped or freed-and-unmapped address returns an error instead of
 * faulting: the sampler reads other threads' interpreter state without the
 * GIL, and that state can be freed under it.
 *
 * Two methods: process_vm_readv on our own pid (one system call, several
 * ranges at once), and, for hosts whose seccomp policy forbids it, a pipe:
 * write(2) from the source address fails with EFAULT on a bad address and
 * the bytes are read back from the other end.
 */
#ifndef EP_MEMREAD_H
#define EP_MEMREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum { EP_MEMREAD_AUTO, EP_MEMREAD_VM, EP_MEMREAD_PIPE };

typedef struct ep_reader {
    int method;      /* EP_MEMREAD_VM or EP_MEMREAD_PIPE once opened */
    int pipefd[2];   /* pipe method only */
    size_t chunk;    /* pipe method: bytes per write, <= the pipe's size */
    pid_t pid;       /* our pid, read once: getpid() is a system call */
    uint64_t reads;  /* system calls made */
    uint64_t faults; /* reads that failed */
} ep_reader;

/* Chooses a method (auto: vm if it works here, else pipe). Owner thread
 * only (the sampler, or a dump on the controller). */
int ep_memread_open(ep_reader *m, int method);
void ep_memread_close(ep_reader *m);
/* Copies n bytes from src into dst. 0 on success, -1 if any byte of the
 * range could not be read. */
int ep_memread(ep_reader *m, void *dst, uintptr_t src, size_t n);
/* Copies several ranges in as few calls as possible. Returns how many
 * leading ranges were read completely (all of them on success). */
size_t ep_memread_v(ep_reader *m, const struct iovec *local,
                    const struct iovec *remote, size_t count);
/* Pipe method: sizes the chunk to the pipe's capacity (done by open;
 * again after the pipe's size changed). */
void ep_memread_fit_pipe(ep_reader *m);
/* The method's name ("process_vm_readv" or "pipe"). */
const char *ep_memread_name(const ep_reader *m);

#endif

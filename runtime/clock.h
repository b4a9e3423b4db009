/*
 * clock.h -- the clocks embprof reads. Monotonic time is a vDSO call
 * (~30 ns); a thread's CPU clock is a real system call (~1.6 us on these
 * virtual machines), so callers read it only where it is needed.
 */
#ifndef EP_CLOCK_H
#define EP_CLOCK_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Monotonic nanoseconds. Any thread, async-signal-safe. */
uint64_t ep_clock_now_ns(void);
/* Realtime nanoseconds since the epoch. */
uint64_t ep_clock_realtime_ns(void);
/* The CPU clock of the calling thread, in ns. */
uint64_t ep_clock_thread_cpu_ns(void);
/* The CPU clock of any thread of this process given its kernel tid, built
 * as glibc does (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)); fails cleanly
 * (returns -1) once that thread has exited, unlike pthread_getcpuclockid. */
int ep_clock_tid_cpu_ns(pid_t tid, uint64_t *out);
/* The process's CPU time (all threads), in ns. */
uint64_t ep_clock_process_cpu_ns(void);
/* The calling thread's kernel tid. */
pid_t ep_gettid(void);

#endif

/*
 * clock.c -- monotonic, realtime and per-thread CPU clocks.
 */
#include "clock.h"

#include <sys/syscall.h>
#include <unistd.h>

static uint64_t
ts_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

uint64_t
ep_clock_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_ns(&ts);
}

uint64_t
ep_clock_realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts_ns(&ts);
}

uint64_t
ep_clock_thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) {
        return 0;
    }
    return ts_ns(&ts);
}

int
ep_clock_tid_cpu_ns(pid_t tid, uint64_t *out)
{
    /* Linux: a thread CPU clock id is ((~tid) << 3) | CPUCLOCK_SCHED(2) |
     * CPUCLOCK_PERTHREAD_MASK(4). */
    clockid_t id = (clockid_t)((~(unsigned int)tid) << 3) | 6;
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0) {
        return -1;
    }
    *out = ts_ns(&ts);
    return 0;
}

uint64_t
ep_clock_process_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
        return 0;
    }
    return ts_ns(&ts);
}

pid_t
ep_gettid(void)
{
    /* Not cached: a cached value would be wrong in a fork child. */
    return (pid_t)syscall(SYS_gettid);
}

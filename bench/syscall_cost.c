/*
 * syscall_cost.c -- the price list behind the sampler's per-tick cost: what
 * one of each system call the sampler makes costs on this machine.
 *
 * Build and run (no embprof or Python needed):
 *
 *   cc -O2 -D_GNU_SOURCE bench/syscall_cost.c -lpthread \
 *      -o build-bench/syscall_cost
 *   build-bench/syscall_cost [-n CALLS] [-b BATCHES] [-s FLOOR_SECONDS]
 *
 * Two helper threads stand for Python threads: one spins (on a CPU), one
 * sleeps. Every figure is the median over BATCHES (default 5) batches of
 * CALLS (default 50000) calls, in ns per call, wall clock of the measuring
 * thread (its CPU time is printed too).
 *
 *   syscall(SYS_getpid)                  the floor: entering the kernel
 *   clock_gettime(CLOCK_MONOTONIC)       vDSO, no system call
 *   process_vm_readv own pid, 8 B        one remote range (the walker's
 *                                        pointer reads)
 *   process_vm_readv own pid, 1 KB / 4 KB / 16 KB
 *                                        a thread state / data-stack chunk
 *   process_vm_readv 50 x 200 B ranges on 50 different pages
 *                                        the walker's batched re-read of
 *                                        the code objects of a 50-frame
 *                                        stack (5 x 200 B: the same with
 *                                        the 5 distinct code objects only)
 *   process_vm_readv 8 B + 4 KB          two ranges in one call
 *   pipe write+read 8 B                  sampler.memread=pipe
 *   pread /proc/self/task/TID/stat       wall mode's "is it running?"
 *                                        (spinning and sleeping thread)
 *   clock_gettime(thread CPU clock of TID)
 *                                        cpu mode, per thread per tick
 *                                        (spinning and sleeping thread)
 *   clock_gettime(CLOCK_THREAD_CPUTIME_ID)
 *                                        the caller's own CPU clock
 *   open+close /proc/self/task/TID/stat  a thread's first sighting
 *   futex(FUTEX_WAKE) with no waiter     what unlocking a mutex that
 *                                        pthread_cond_timedwait re-took
 *                                        costs (glibc marks it contended)
 *
 * Then the wake-up floor: a thread that does nothing but wake at 100 Hz
 * and 1 kHz for -s SECONDS (default 2), sleeping as the sampler does
 * (pthread_cond_timedwait on CLOCK_MONOTONIC, then the mutex unlock) and
 * with clock_nanosleep(TIMER_ABSTIME); its CPU time per wake-up is the
 * cost under any sampler tick before any work.
 */
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static long n_calls = 50000;
static double floor_s = 2.0;
static int n_batches = 5;
static atomic_int stop;
static pid_t spin_tid, sleep_tid;
static pid_t pid;
static int pipefd[2];
static int stat_fd;
static clockid_t tid_clock;
static char *pages; /* 50 pages, a 200-byte "code header" on each */
static char src_buf[16384];
static char dst_buf[16384];
static struct iovec iov_l[50], iov_r[50];
static size_t vm_len;
static volatile uint64_t sink;

static uint64_t
now_ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *
spinner(void *arg)
{
    (void)arg;
    spin_tid = (pid_t)syscall(SYS_gettid);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        sink++;
    }
    return NULL;
}

static void *
sleeper(void *arg)
{
    (void)arg;
    sleep_tid = (pid_t)syscall(SYS_gettid);
    while (!atomic_load(&stop)) {
        usleep(100000);
    }
    return NULL;
}

static clockid_t
clock_of(pid_t tid)
{
    /* Linux: ((~tid) << 3) | CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK, as
     * runtime/clock.c does. */
    return (clockid_t)((~(unsigned int)tid) << 3) | 6;
}

static int
open_stat(pid_t tid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* --- the calls ---------------------------------------------------------- */

static void
c_getpid(void)
{
    sink += (uint64_t)syscall(SYS_getpid);
}

static void
c_monotonic(void)
{
    sink += now_ns(CLOCK_MONOTONIC);
}

static void
c_vm(void)
{
    struct iovec l = {dst_buf, vm_len}, r = {src_buf, vm_len};

    if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)vm_len) {
        abort();
    }
}

static void
c_vm_scatter(void)
{
    if (process_vm_readv(pid, iov_l, 50, iov_r, 50, 0) != 50 * 200) {
        abort();
    }
}

static void
c_vm_scatter5(void)
{
    if (process_vm_readv(pid, iov_l, 5, iov_r, 5, 0) != 5 * 200) {
        abort();
    }
}

static void
c_vm_two(void)
{
    /* a pointer and a 4 KB block: e.g. a cframe and a data-stack chunk */
    struct iovec l[2] = {{dst_buf, 8}, {dst_buf + 64, 4096}};
    struct iovec r[2] = {{src_buf, 8}, {src_buf + 8192, 4096}};

    if (process_vm_readv(pid, l, 2, r, 2, 0) != 8 + 4096) {
        abort();
    }
}

static void
c_futex_wake(void)
{
    static int word;

    sink += (uint64_t)syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL,
                              NULL, 0);
}

static void
c_pipe(void)
{
    if (write(pipefd[1], src_buf, 8) != 8 ||
        read(pipefd[0], dst_buf, 8) != 8) {
        abort();
    }
}

static void
c_pread_stat(void)
{
    char buf[512];

    if (pread(stat_fd, buf, sizeof(buf) - 1, 0) <= 0) {
        abort();
    }
}

static void
c_tid_clock(void)
{
    sink += now_ns(tid_clock);
}

static void
c_self_cpu(void)
{
    sink += now_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void
c_open_close(void)
{
    int fd = open_stat(sleep_tid);

    if (fd < 0) {
        abort();
    }
    close(fd);
}

/* --- the wake-up floor --------------------------------------------------- */

typedef struct waker {
    long rate;
    int use_cond;
    uint64_t wakeups;
    uint64_t cpu_ns;
} waker;

static void *
waker_main(void *arg)
{
    waker *k = arg;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    pthread_condattr_t ca;
    uint64_t period = 1000000000u / (uint64_t)k->rate;
    uint64_t start = now_ns(CLOCK_MONOTONIC), next = start + period;
    uint64_t end = start + (uint64_t)(floor_s * 1e9);
    uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c, &ca);
    while (next < end) {
        struct timespec ts = {(time_t)(next / 1000000000u),
                              (long)(next % 1000000000u)};

        if (k->use_cond) {
            pthread_mutex_lock(&m);
            while (pthread_cond_timedwait(&c, &m, &ts) == 0) {
            }
            pthread_mutex_unlock(&m);
        } else {
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
                                   NULL) != 0) {
            }
        }
        k->wakeups++;
        next += period;
    }
    k->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    pthread_cond_destroy(&c);
    return NULL;
}

static void
wake_floor(long rate, int use_cond)
{
    waker k = {rate, use_cond, 0, 0};
    pthread_t t;

    pthread_create(&t, NULL, waker_main, &k);
    pthread_join(t, NULL);
    printf("| %ld Hz | %s | %.1f | %.2f %% |\n", rate,
           use_cond ? "pthread_cond_timedwait + unlock (the sampler's)"
                    : "clock_nanosleep(TIMER_ABSTIME)",
           k.wakeups ? (double)k.cpu_ns / (double)k.wakeups / 1000.0 : 0.0,
           100.0 * (double)k.cpu_ns / (floor_s * 1e9));
    fflush(stdout);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void
measure(const char *name, void (*fn)(void))
{
    double wall[64], cpu[64];

    for (long i = 0; i < n_calls / 10 + 1; i++) { /* warm up */
        fn();
    }
    for (int b = 0; b < n_batches; b++) {
        uint64_t w0 = now_ns(CLOCK_MONOTONIC);
        uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);

        for (long i = 0; i < n_calls; i++) {
            fn();
        }
        cpu[b] = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / n_calls;
        wall[b] = (double)(now_ns(CLOCK_MONOTONIC) - w0) / n_calls;
    }
    qsort(wall, (size_t)n_batches, sizeof(double), cmp_double);
    qsort(cpu, (size_t)n_batches, sizeof(double), cmp_double);
    printf("| %s | %.0f | %.0f | %.0f | %.0f |\n", name, wall[n_batches / 2],
           wall[0], wall[n_batches - 1], cpu[n_batches / 2]);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    pthread_t t1, t2;
    int opt;

    while ((opt = getopt(argc, argv, "n:b:s:h")) != -1) {
        switch (opt) {
        case 'n':
            n_calls = atol(optarg);
            break;
        case 'b':
            n_batches = atoi(optarg);
            break;
        case 's':
            floor_s = atof(optarg);
            break;
        default:
            fprintf(opt == 'h' ? stdout : stderr,
                    "usage: syscall_cost [-n CALLS] [-b BATCHES] "
                    "[-s FLOOR_SECONDS]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (n_calls < 1 || n_batches < 1 || n_batches > 64) {
        return 2;
    }
    pid = getpid();
    memset(src_buf, 'x', sizeof(src_buf));
    pages = aligned_alloc(4096, 50 * 4096);
    if (pages == NULL || pipe2(pipefd, O_CLOEXEC) != 0) {
        return 1;
    }
    memset(pages, 'c', 50 * 4096);
    for (int i = 0; i < 50; i++) {
        iov_l[i].iov_base = dst_buf + i * 200;
        iov_l[i].iov_len = 200;
        iov_r[i].iov_base = pages + (size_t)i * 4096 + 512;
        iov_r[i].iov_len = 200;
    }
    pthread_create(&t1, NULL, spinner, NULL);
    pthread_create(&t2, NULL, sleeper, NULL);
    while (spin_tid == 0 || sleep_tid == 0) {
        usleep(1000);
    }
    printf("syscall_cost: %ld calls x %d batches, ns per call\n\n", n_calls,
           n_batches);
    printf("| call | ns (median) | min | max | CPU ns |\n"
           "|---|---|---|---|---|\n");
    measure("syscall(SYS_getpid) (kernel entry floor)", c_getpid);
    measure("clock_gettime(CLOCK_MONOTONIC) (vDSO)", c_monotonic);
    vm_len = 8;
    measure("process_vm_readv 8 B", c_vm);
    vm_len = 1024;
    measure("process_vm_readv 1 KB", c_vm);
    vm_len = 4096;
    measure("process_vm_readv 4 KB", c_vm);
    vm_len = 16384;
    measure("process_vm_readv 16 KB", c_vm);
    measure("process_vm_readv 50 x 200 B on 50 pages", c_vm_scatter);
    measure("process_vm_readv 5 x 200 B on 5 pages", c_vm_scatter5);
    measure("process_vm_readv 2 ranges: 8 B + 4 KB", c_vm_two);
    measure("pipe write+read 8 B (memread=pipe)", c_pipe);
    stat_fd = open_stat(spin_tid);
    measure("pread /proc/self/task/TID/stat, spinning thread", c_pread_stat);
    close(stat_fd);
    stat_fd = open_stat(sleep_tid);
    measure("pread /proc/self/task/TID/stat, sleeping thread", c_pread_stat);
    close(stat_fd);
    tid_clock = clock_of(spin_tid);
    measure("clock_gettime(CPU clock of TID), spinning thread", c_tid_clock);
    tid_clock = clock_of(sleep_tid);
    measure("clock_gettime(CPU clock of TID), sleeping thread", c_tid_clock);
    measure("clock_gettime(CLOCK_THREAD_CPUTIME_ID) (own)", c_self_cpu);
    measure("open+close /proc/self/task/TID/stat", c_open_close);
    measure("futex(FUTEX_WAKE), nobody waiting", c_futex_wake);
    atomic_store(&stop, 1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    if (floor_s > 0) {
        printf("\nwake-up floor: a thread that only wakes, %.1f s each, CPU "
               "time per wake-up\n\n"
               "| rate | sleep | CPU us per wake-up | share of one CPU |\n"
               "|---|---|---|---|\n",
               floor_s);
        wake_floor(100, 1);
        wake_floor(100, 0);
        wake_floor(1000, 1);
        wake_floor(1000, 0);
    }
    return 0;
}

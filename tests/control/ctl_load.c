/* ctl_load -- load generator for the control socket benchmark
 * (bench_control.py): N clients, each on its own connection and thread,
 * send one request, wait for its reply line, and repeat, either as fast
 * as they can or every INTERVAL ms, for SECONDS. Prints one JSON object:
 * requests, errors, seconds, requests_per_s, p50_us, p99_us, max_us.
 *
 *   ctl_load SOCKET CLIENTS SECONDS INTERVAL_MS REQUEST
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

typedef struct client {
    pthread_t thread;
    const char *sock;
    const char *request;
    double seconds;
    long interval_ms;
    double *lat; /* microseconds, one per request */
    size_t n, cap;
    long errors;
} client;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads until a newline; 0 or -1. Replies longer than buf are skipped
 * over. */
static int
read_reply(int fd, char *buf, size_t size, int *ok)
{
    size_t len = 0;

    for (;;) {
        ssize_t r = recv(fd, buf + len, size - len, 0);
        char *nl;

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        nl = memchr(buf + len, '\n', (size_t)r);
        len += (size_t)r;
        if (nl != NULL) {
            *ok = strncmp(buf, "{\"ok\":true", 10) == 0;
            return 0;
        }
        if (len == size) {
            len = 0; /* only the newline matters here */
        }
    }
}

static void *
run(void *arg)
{
    client *c = arg;
    struct sockaddr_un sa;
    char buf[1 << 16];
    size_t reqlen = strlen(c->request);
    double start, end, next;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        c->errors++;
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    start = now_s();
    end = start + c->seconds;
    next = start;
    while (now_s() < end) {
        double t0 = now_s(), t1;
        int ok = 0;

        if (send(fd, c->request, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen ||
            read_reply(fd, buf, sizeof(buf), &ok) != 0) {
            c->errors++;
            break;
        }
        t1 = now_s();
        if (!ok) {
            c->errors++;
        }
        if (c->n == c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 4096;
            double *p = realloc(c->lat, cap * sizeof(*p));

            if (p == NULL) {
                break;
            }
            c->lat = p;
            c->cap = cap;
        }
        c->lat[c->n++] = (t1 - t0) * 1e6;
        if (c->interval_ms > 0) {
            double wait;

            next += (double)c->interval_ms / 1000.0;
            wait = next - now_s();
            if (wait > 0) {
                struct timespec ts = {
                    (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};

                nanosleep(&ts, NULL);
            }
        }
    }
    close(fd);
    return NULL;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    long nclients;
    client *cs;
    double *all, t0, elapsed;
    size_t total = 0, k = 0;
    long errors = 0;
    char req[512];

    if (argc != 6) {
        fprintf(stderr,
                "usage: %s SOCKET CLIENTS SECONDS INTERVAL_MS "
                "REQUEST\n",
                argv[0]);
        return 2;
    }
    nclients = strtol(argv[2], NULL, 10);
    if (nclients < 1 || nclients > 1000) {
        fprintf(stderr, "%s: CLIENTS must be 1..1000\n", argv[0]);
        return 2;
    }
    snprintf(req, sizeof(req), "%s\n", argv[5]);
    cs = calloc((size_t)nclients, sizeof(*cs));
    if (cs == NULL) {
        return 1;
    }
    t0 = now_s();
    for (long i = 0; i < nclients; i++) {
        cs[i].sock = argv[1];
        cs[i].request = req;
        cs[i].seconds = strtod(argv[3], NULL);
        cs[i].interval_ms = strtol(argv[4], NULL, 10);
        if (pthread_create(&cs[i].thread, NULL, run, &cs[i]) != 0) {
            fprintf(stderr, "%s: pthread_create failed\n", argv[0]);
            return 1;
        }
    }
    for (long i = 0; i < nclients; i++) {
        pthread_join(cs[i].thread, NULL);
        total += cs[i].n;
        errors += cs[i].errors;
    }
    elapsed = now_s() - t0;
    all = malloc((total ? total : 1) * sizeof(*all));
    if (all == NULL) {
        return 1;
    }
    for (long i = 0; i < nclients; i++) {
        memcpy(all + k, cs[i].lat, cs[i].n * sizeof(*all));
        k += cs[i].n;
        free(cs[i].lat);
    }
    qsort(all, total, sizeof(*all), cmp);
    printf("{\"requests\":%zu,\"errors\":%ld,\"seconds\":%.3f,"
           "\"requests_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"max_us\":%.1f}\n",
           total, errors, elapsed, (double)total / elapsed,
           total ? all[total / 2] : 0.0,
           total ? all[(size_t)((double)total * 0.99)] : 0.0,
           total ? all[total - 1] : 0.0);
    free(all);
    free(cs);
    return errors ? 1 : 0;
}

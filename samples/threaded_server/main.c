/*
 * threaded_server -- an embprof sample: a C request server whose native
 * worker threads answer each request with a Python handler (handlers.py),
 * profiled from inside the process by embprof.
 *
 *   threaded_server --load 400 --concurrency 8 -o out   # built-in load
 *   threaded_server --port 8080                          # then curl it
 *
 * See README.md next to this file; `threaded_server --help` lists every
 * option and the exit statuses.
 */
#include <Python.h>

#include <embprof.h>

#include "loadgen.h"
#include "routes.h"
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROG "threaded_server"
#define MAX_STARTS 8

/* Exit statuses (also in --help and README.md). */
enum {
    EXIT_OK = 0,      /* served; every load request answered 200 */
    EXIT_RUNTIME = 1, /* embprof, Python, the socket or an export failed */
    EXIT_USAGE = 2,   /* bad command line or setting */
    EXIT_REQUESTS = 3 /* --load: some requests failed (e.g. a handler
                         raised); the profiles are still written */
};

typedef struct opts {
    const char *outdir;
    int outdir_given;
    const char *handlers;
    long load; /* 0: serve until a signal or --duration */
    int concurrency;
    int workers;
    int port; /* -1: default */
    const char *unix_path;
    double duration;
    int sampler;
    const char *start[MAX_STARTS]; /* "PROBE" or "PROBE:OPTIONS" */
    int nstart;
    const char *mix;
} opts;

static void
usage(FILE *out)
{
    fprintf(
        out,
        "usage: " PROG " [options]\n"
        "\n"
        "A request server whose native worker threads call Python "
        "handlers\n(handlers.py) through embprof_gil_ensure, profiled by "
        "embprof. With --load\nit also runs its own load generator, then "
        "writes the profiles and exits.\n"
        "\n"
        "options:\n"
        "  -o, --output DIR        write profiles into DIR, created if "
        "missing\n"
        "                          (default: threaded_server-out)\n"
        "      --load N            send N requests with the built-in load "
        "generator,\n"
        "                          then stop (default: serve until SIGINT/"
        "SIGTERM)\n"
        "      --concurrency C     load generator connections at once "
        "(default 8)\n"
        "      --mix SPEC          routes the load generator requests, with "
        "weights:\n"
        "                          ROUTE[:WEIGHT],... (default "
        "\"/cpu:2,/io:1,/alloc:1\");\n"
        "                          a route may carry a query: "
        "\"/cpu?n=60000:3\"\n"
        "      --workers W         native worker threads (default 4, at "
        "most %d)\n"
        "      --port PORT         TCP port on 127.0.0.1 (default 8080; "
        "with --load\n"
        "                          any free port)\n"
        "      --unix PATH         listen on a Unix socket instead of TCP\n"
        "      --duration SEC      without --load: stop after SEC seconds\n"
        "      --handlers FILE     the Python handlers module (default: "
        "handlers.py\n"
        "                          next to the executable)\n"
        "      --no-sampler        do not start the sampler (a policy may "
        "start it)\n"
        "  -r, --rate HZ           sampler rate (sampler.rate)\n"
        "      --mode wall|cpu     sampler weighting (sampler.mode)\n"
        "      --start PROBE[:OPTS]  also start another probe of this "
        "build, e.g.\n"
        "                          --start gil or --start 'tracer:clock=cpu'"
        "\n"
        "      --set KEY=VALUE     any embprof setting, e.g. "
        "policy.file=latency.lua,\n"
        "                          log.file=out/embprof.log, "
        "control.socket=/tmp/ts.sock\n"
        "                          (`embprof-run --help` lists them all; "
        "EMBPROF_*\n"
        "                          environment variables work too)\n"
        "  -h, --help              print this help and exit\n"
        "\n"
        "routes (handlers.py): /cpu?n=N  /io?ms=MS  /alloc?n=N  /error\n"
        "\n"
        "outputs in DIR, when the probe collected data:\n"
        "  profile.folded            collapsed stacks (flamegraph.pl, "
        "inferno, speedscope)\n"
        "  profile.speedscope.json   speedscope, one profile per thread\n"
        "  top.txt                   functions by own time\n"
        "  gil.txt, gil.json         GIL report (when the gil probe ran)\n"
        "  trace.prof                pstats (when the tracer ran)\n"
        "\n"
        "exit status: 0 ok; 1 embprof, Python, the socket or an export "
        "failed;\n2 usage error; 3 --load: some requests failed (profiles "
        "still written).\n",
        TS_MAX_WORKERS);
}

static int
fail_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '" PROG " --help'.\n");
    return EXIT_USAGE;
}

/* A whole decimal number in [lo, hi]. */
static int
parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int
set_option(embprof_config *cfg, const char *key, const char *value)
{
    if (embprof_config_set(cfg, key, value) != EMBPROF_OK) {
        return fail_usage("%s", embprof_last_error());
    }
    return 0;
}

/* "--set KEY=VALUE" */
static int
set_pair(embprof_config *cfg, const char *pair)
{
    const char *eq = strchr(pair, '=');
    char key[128];

    if (eq == NULL || eq == pair || (size_t)(eq - pair) >= sizeof(key)) {
        return fail_usage("--set takes KEY=VALUE, not '%s'", pair);
    }
    memcpy(key, pair, (size_t)(eq - pair));
    key[eq - pair] = '\0';
    return set_option(cfg, key, eq + 1);
}

/* Matches "--name VALUE" / "--name=VALUE" / "-x VALUE"; returns the value
 * or NULL; *missing when the option came without one. */
static const char *
value_of(int argc, char **argv, int *i, const char *shrt, const char *lng,
         int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);

    if ((shrt && strcmp(a, shrt) == 0) || strcmp(a, lng) == 0) {
        if (*i + 1 >= argc) {
            *missing = 1;
            return NULL;
        }
        return argv[++*i];
    }
    if (strncmp(a, lng, n) == 0 && a[n] == '=') {
        return a + n + 1;
    }
    return NULL;
}

/* Parses argv into o and cfg. Returns -1 to go on, or an exit status. */
static int
parse_args(int argc, char **argv, opts *o, embprof_config *cfg)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0, r = 0;
        long n;

#define OPT(s, l) (!missing && (v = value_of(argc, argv, &i, s, l, &missing)))
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--no-sampler") == 0) {
            o->sampler = 0;
        } else if (OPT("-o", "--output")) {
            o->outdir = v;
            o->outdir_given = 1;
        } else if (OPT(NULL, "--load")) {
            if (parse_long(v, 1, 10000000, &o->load) != 0) {
                return fail_usage("--load takes 1..10000000, not '%s'", v);
            }
        } else if (OPT(NULL, "--concurrency")) {
            if (parse_long(v, 1, 1024, &n) != 0) {
                return fail_usage("--concurrency takes 1..1024, not '%s'", v);
            }
            o->concurrency = (int)n;
        } else if (OPT(NULL, "--workers")) {
            if (parse_long(v, 1, TS_MAX_WORKERS, &n) != 0) {
                return fail_usage("--workers takes 1..64, not '%s'", v);
            }
            o->workers = (int)n;
        } else if (OPT(NULL, "--port")) {
            if (parse_long(v, 0, 65535, &n) != 0) {
                return fail_usage("--port takes 0..65535, not '%s'", v);
            }
            o->port = (int)n;
        } else if (OPT(NULL, "--unix")) {
            if (strlen(v) >= sizeof(((ts_addr *)0)->path)) {
                return fail_usage("--unix: path too long: %s", v);
            }
            o->unix_path = v;
        } else if (OPT(NULL, "--duration")) {
            char *end;

            o->duration = strtod(v, &end);
            if (end == v || *end != '\0' || !(o->duration >= 0)) {
                return fail_usage("--duration takes seconds, not '%s'", v);
            }
        } else if (OPT(NULL, "--handlers")) {
            o->handlers = v;
        } else if (OPT(NULL, "--mix")) {
            o->mix = v;
        } else if (OPT("-r", "--rate")) {
            r = set_option(cfg, "sampler.rate", v);
        } else if (OPT(NULL, "--mode")) {
            r = set_option(cfg, "sampler.mode", v);
        } else if (OPT(NULL, "--start")) {
            if (o->nstart == MAX_STARTS) {
                return fail_usage("at most 8 --start options%s", "");
            }
            o->start[o->nstart++] = v;
        } else if (OPT(NULL, "--set")) {
            r = set_pair(cfg, v);
        } else if (missing) {
            return fail_usage("option %s needs a value", a);
        } else {
            return fail_usage("unknown option '%s'", a);
        }
#undef OPT
        if (r != 0) {
            return r;
        }
    }
    return -1;
}

/* mkdir -p */
static int
make_dirs(const char *path)
{
    char buf[PATH_MAX];
    char *p;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

/* handlers.py next to the executable (how the build and the install lay
 * it out), else next to the sources this binary was built from. */
static const char *
default_handlers(char buf[PATH_MAX], size_t size)
{
    char exe[PATH_MAX - 32]; /* room for "/handlers.py" in buf */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0';
            snprintf(buf, size, "%s/handlers.py", exe);
            if (access(buf, R_OK) == 0) {
                return buf;
            }
        }
    }
#ifdef TS_SOURCE_DIR
    snprintf(buf, size, "%s/handlers.py", TS_SOURCE_DIR);
    if (access(buf, R_OK) == 0) {
        return buf;
    }
#endif
    return NULL;
}

/* Each probe's outputs; a probe this build lacks is skipped. */
static const struct export_row {
    const char *probe, *format, *file;
} exports[] = {
    {"sampler", "collapsed", "profile.folded"},
    {"sampler", "speedscope", "profile.speedscope.json"},
    {"sampler", "top", "top.txt"},
    {"gil", "gil", "gil.txt"},
    {"gil", "gil-json", "gil.json"},
    {"tracer", "pstats", "trace.prof"},
};

static int
started_here(const opts *o, const char *probe)
{
    size_t n = strlen(probe);
    int i;

    for (i = 0; i < o->nstart; i++) {
        if (strncmp(o->start[i], probe, n) == 0 &&
            (o->start[i][n] == '\0' || o->start[i][n] == ':')) {
            return 1;
        }
    }
    return strcmp(probe, "sampler") == 0; /* a policy may have run it */
}

/* Stops the probes still running and writes every output that has data.
 * Returns the number of files written, or -1 if a write failed. */
static int
write_outputs(embprof *ep, const opts *o, const char *dir)
{
    size_t i, k;
    int written = 0, failed = 0;

    for (i = 0; i < sizeof(exports) / sizeof(exports[0]); i++) {
        const struct export_row *e = &exports[i];
        int rc, first = 1;

        for (k = 0; k < i; k++) {
            first &= strcmp(exports[k].probe, e->probe) != 0;
        }
        if (first && embprof_active(ep, e->probe) == 1) {
            embprof_stop(ep, e->probe);
        }
        if (!started_here(o, e->probe)) {
            continue;
        }
        rc = embprof_export(ep, e->format, e->file);
        if (rc == EMBPROF_OK) {
            printf("  %s/%s\n", dir, e->file);
            written++;
        } else if (rc != EMBPROF_ENODATA) {
            fprintf(stderr, PROG ": export %s to %s/%s: %s\n", e->format, dir,
                    e->file, embprof_last_error());
            failed = 1;
        }
    }
    return failed ? -1 : written;
}

static int
start_probes(embprof *ep, const opts *o)
{
    int i;

    for (i = 0; i < o->nstart; i++) {
        char probe[64];
        const char *colon = strchr(o->start[i], ':');
        size_t n = colon ? (size_t)(colon - o->start[i]) : strlen(o->start[i]);

        snprintf(probe, sizeof(probe), "%.*s", (int)n, o->start[i]);
        if (embprof_start(ep, probe, colon ? colon + 1 : NULL) != EMBPROF_OK) {
            fprintf(stderr, PROG ": --start %s: %s\n", o->start[i],
                    embprof_last_error());
            return -1;
        }
    }
    return 0;
}

static void
print_routes(const ts_routes *r)
{
    int i;

    printf(PROG ": requests handled per route (Python handler calls):\n");
    for (i = 0; i < r->count; i++) {
        const ts_route *rt = &r->route[i];

        printf("  %-10s %8lu calls %6lu raised\n", rt->path,
               (unsigned long)atomic_load(&rt->calls),
               (unsigned long)atomic_load(&rt->errors));
    }
}

/* Waits for SIGINT/SIGTERM, the end of --duration, or (load != NULL) the
 * end of the load; a signal stops the load early. */
static void
wait_until_done(const opts *o, const sigset_t *sigs, ts_load *load,
                pthread_t *load_thread)
{
    struct timespec tick = {0, 100 * 1000 * 1000};
    double end = o->duration > 0 ? ts_now_ms() + o->duration * 1e3 : 0;

    for (;;) {
        int sig = sigtimedwait(sigs, NULL, &tick);

        if (sig == SIGINT || sig == SIGTERM) {
            fprintf(stderr, PROG ": %s, stopping\n",
                    sig == SIGINT ? "interrupted" : "terminated");
            if (load != NULL) {
                atomic_store(&load->stop, 1);
            }
            break;
        }
        if (load != NULL && pthread_tryjoin_np(*load_thread, NULL) == 0) {
            return;
        }
        if (load == NULL && end > 0 && ts_now_ms() >= end) {
            break;
        }
    }
    if (load != NULL) {
        pthread_join(*load_thread, NULL);
    }
}

static void *
load_main(void *arg)
{
    ts_load *l = arg;

    embprof_thread_name("load");
    ts_load_run(l);
    return NULL;
}

int
main(int argc, char **argv)
{
    opts o = {"threaded_server-out",  0, NULL, 0, 8, 4, -1, NULL, 0, 1, {0}, 0,
              "/cpu:2,/io:1,/alloc:1"};
    static ts_routes routes; /* outlives embprof: metric names */
    static ts_server server;
    static ts_load load;
    char handlers[PATH_MAX], dir[PATH_MAX], err[256];
    embprof_config *cfg;
    embprof *ep;
    embprof_stats stats;
    PyThreadState *save;
    pthread_t load_thread;
    sigset_t sigs;
    ts_addr addr;
    int rc, status = EXIT_OK;

    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines show at once */
    if ((cfg = embprof_config_new()) == NULL) {
        fprintf(stderr, PROG ": %s\n", embprof_last_error());
        return EXIT_RUNTIME;
    }
    if (embprof_config_from_env(cfg) != EMBPROF_OK) {
        return fail_usage("%s", embprof_last_error());
    }
    if ((rc = parse_args(argc, argv, &o, cfg)) >= 0) {
        return rc;
    }
    /* --set output.dir=D or EMBPROF_OUTPUT_DIR=D, unless -o was given. */
    embprof_config_get(cfg, "output.dir", dir, sizeof(dir));
    if (!o.outdir_given && dir[0] != '\0') {
        o.outdir = dir;
    }
    if (make_dirs(o.outdir) != 0 || realpath(o.outdir, handlers) == NULL) {
        fprintf(stderr, PROG ": cannot create output directory %s: %s\n",
                o.outdir, strerror(errno));
        return EXIT_RUNTIME;
    }
    snprintf(dir, sizeof(dir), "%s", handlers);
    if ((rc = set_option(cfg, "output.dir", dir)) != 0) {
        return rc;
    }
    load.total = o.load;
    load.concurrency = o.concurrency;
    if (ts_mix_parse(&load, o.mix, err, sizeof(err)) != 0) {
        return fail_usage("%s", err);
    }
    if (o.handlers == NULL &&
        (o.handlers = default_handlers(handlers, sizeof(handlers))) == NULL) {
        return fail_usage("handlers.py not found next to the executable; "
                          "give --handlers FILE%s",
                          "");
    }
    if (o.sampler && (rc = set_option(cfg, "sampler.enabled", "true"))) {
        return rc;
    }
    if (embprof_config_validate(cfg) != EMBPROF_OK) {
        return fail_usage("%s", embprof_last_error());
    }

    /* Python and embprof come up together; we hold the GIL after this. */
    if (embprof_init(cfg, NULL, &ep) != EMBPROF_OK) {
        fprintf(stderr, PROG ": %s\n", embprof_last_error());
        embprof_config_free(cfg);
        return EXIT_RUNTIME;
    }
    embprof_config_free(cfg);
    embprof_thread_name("main");
    if (ts_routes_load(&routes, ep, o.handlers) != 0 ||
        start_probes(ep, &o) != 0) {
        embprof_finalize(ep);
        return EXIT_RUNTIME;
    }

    /* Signals are taken by sigtimedwait on this thread only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    memset(&addr, 0, sizeof(addr));
    if (o.unix_path != NULL) {
        addr.is_unix = 1;
        snprintf(addr.path, sizeof(addr.path), "%s", o.unix_path);
    } else {
        addr.port = o.port >= 0 ? o.port : (o.load > 0 ? 0 : 8080);
    }
    save = PyEval_SaveThread(); /* the workers need the GIL from here on */
    if (ts_server_start(&server, &addr, o.workers, &routes, ep) != 0) {
        PyEval_RestoreThread(save);
        ts_routes_free(&routes);
        embprof_finalize(ep);
        return EXIT_RUNTIME;
    }
    if (o.unix_path != NULL) {
        printf(PROG ": serving on unix:%s with %d workers\n", addr.path,
               o.workers);
    } else {
        printf(PROG ": serving on http://127.0.0.1:%d/ with %d workers\n",
               server.addr.port, o.workers);
    }
    fflush(stdout);
    if (o.load > 0) {
        load.addr = server.addr;
        if (pthread_create(&load_thread, NULL, load_main, &load) != 0) {
            fprintf(stderr, PROG ": cannot start the load generator\n");
            status = EXIT_RUNTIME;
        } else {
            wait_until_done(&o, &sigs, &load, &load_thread);
        }
    } else {
        wait_until_done(&o, &sigs, NULL, NULL);
    }
    ts_server_stop(&server);
    PyEval_RestoreThread(save);

    if (o.load > 0 && load.status != NULL) {
        long i, failed = 0;

        ts_load_report(&load, stdout);
        for (i = 0; i < load.total; i++) {
            failed += load.status[i] != 200 && load.status[i] != -1;
        }
        if (failed > 0 && status == EXIT_OK) {
            status = EXIT_REQUESTS;
        }
    }
    print_routes(&routes);
    embprof_get_stats(ep, &stats);
    printf(PROG ": sampler: %llu samples, %.2f%% of one CPU\n",
           (unsigned long long)stats.samples,
           stats.wall_ns
               ? 100.0 * (double)stats.sampler_cpu_ns / (double)stats.wall_ns
               : 0.0);
    printf(PROG ": outputs in %s:\n", dir);
    rc = write_outputs(ep, &o, dir);
    if (rc < 0) {
        status = EXIT_RUNTIME;
    } else if (rc == 0) {
        printf("  (none: no probe collected data)\n");
    }
    ts_routes_free(&routes);
    if (embprof_finalize(ep) != EMBPROF_OK) {
        fprintf(stderr, PROG ": %s\n", embprof_last_error());
        status = EXIT_RUNTIME;
    }
    ts_load_free(&load);
    return status;
}

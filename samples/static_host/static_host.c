/*
 * static_host -- an embprof sample: the minimal embedding host, linked
 * against the static libpython (Debian's libpython3.11.a) and embprof's
 * static library, so the executable carries CPython itself. It runs
 * Python on its main thread and on named native threads (through
 * embprof_gil_ensure) while the sampler profiles them, then writes the
 * profiles.
 *
 *   static_host -o out            # 2 s of work, profiles in out/
 *
 * See README.md next to this file.
 */
#include <Python.h>

#include <embprof.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROG "static_host"
#define MAX_THREADS 16
#define MAX_STARTS 8

/* The Python side: one function per kind of thread, so each shows up on
 * its own in the profile. */
static const char work_py[] = "import time\n"
                              "def spin(seconds):\n"
                              "    end, n = time.perf_counter() + seconds, 0\n"
                              "    while time.perf_counter() < end:\n"
                              "        n += sum(i * i for i in range(200))\n"
                              "    return n\n"
                              "def main_thread_work(seconds):\n"
                              "    return spin(seconds)\n"
                              "def native_thread_work(seconds):\n"
                              "    return spin(seconds)\n";

typedef struct worker {
    embprof *ep;
    PyObject *fn; /* native_thread_work; borrowed from the module */
    double seconds;
    int index;
    int failed;
    pthread_t thread;
} worker;

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [options]\n"
            "\n"
            "The minimal embedding host, linked with the static libpython: "
            "Python runs on\nthe main thread and on native threads (named "
            "native-N, calling Python through\nembprof_gil_ensure) while the "
            "sampler profiles them.\n"
            "\n"
            "options:\n"
            "  -o, --output DIR      write profiles into DIR, created if "
            "missing\n"
            "                        (default: static_host-out)\n"
            "  -s, --seconds SEC     how long each thread works (default 2)\n"
            "  -t, --threads N       native threads (default 2, at most %d)\n"
            "      --start PROBE     also start another probe of this build "
            "(e.g. gil)\n"
            "      --set KEY=VALUE   any embprof setting (`embprof-run "
            "--help` lists them)\n"
            "  -h, --help            print this help and exit\n"
            "\n"
            "outputs in DIR: profile.folded, profile.speedscope.json, "
            "top.txt;\n"
            "  with --start gil also gil.txt and gil.json (the GIL report)\n"
            "\n"
            "exit status: 0 ok; 1 embprof, Python or an export failed; 2 "
            "usage error.\n",
            MAX_THREADS);
}

static int
fail_usage(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s%s\nTry '" PROG " --help'.\n", what, arg);
    return 2;
}

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
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* A native host thread: named, then into Python through the GIL helper. */
static void *
worker_main(void *arg)
{
    worker *w = arg;
    char name[32];
    PyGILState_STATE st;
    PyObject *r;

    snprintf(name, sizeof(name), "native-%d", w->index);
    embprof_thread_name(name);
    st = embprof_gil_ensure(w->ep, "static_host.c:worker_main");
    r = PyObject_CallFunction(w->fn, "d", w->seconds);
    if (r == NULL) {
        PyErr_Print();
        w->failed = 1;
    }
    Py_XDECREF(r);
    embprof_gil_release(w->ep, st);
    return NULL;
}

/* Runs the work; the caller holds the GIL. Returns 0 or -1. */
static int
run(embprof *ep, double seconds, int nthreads)
{
    static worker workers[MAX_THREADS];
    PyObject *code, *mod, *main_fn, *r;
    PyThreadState *save;
    int i, started = 0, failed = 0;

    code = Py_CompileString(work_py, "static_host_work.py", Py_file_input);
    mod = code ? PyImport_ExecCodeModule("static_host_work", code) : NULL;
    Py_XDECREF(code);
    main_fn = mod ? PyObject_GetAttrString(mod, "main_thread_work") : NULL;
    for (i = 0; main_fn != NULL && i < nthreads; i++) {
        workers[i] = (worker){ep, NULL, seconds, i, 0, 0};
        workers[i].fn = PyObject_GetAttrString(mod, "native_thread_work");
        if (workers[i].fn == NULL) {
            break;
        }
    }
    if (main_fn == NULL || i < nthreads) {
        PyErr_Print();
        Py_XDECREF(mod);
        return -1;
    }
    save = PyEval_SaveThread();
    for (i = 0; i < nthreads; i++) {
        if (pthread_create(&workers[i].thread, NULL, worker_main,
                           &workers[i]) != 0) {
            fprintf(stderr, PROG ": cannot start thread %d\n", i);
            failed = 1;
            break;
        }
        started++;
    }
    PyEval_RestoreThread(save);
    r = PyObject_CallFunction(main_fn, "d", seconds); /* main's own work */
    if (r == NULL) {
        PyErr_Print();
        failed = 1;
    }
    Py_XDECREF(r);
    save = PyEval_SaveThread();
    for (i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        failed |= workers[i].failed;
    }
    PyEval_RestoreThread(save);
    for (i = 0; i < nthreads; i++) {
        Py_XDECREF(workers[i].fn);
    }
    Py_DECREF(main_fn);
    Py_DECREF(mod);
    return failed ? -1 : 0;
}

int
main(int argc, char **argv)
{
    /* probe, format, file: written when the probe ran */
    static const char *const outputs[][3] = {
        {"sampler", "collapsed", "profile.folded"},
        {"sampler", "speedscope", "profile.speedscope.json"},
        {"sampler", "top", "top.txt"},
        {"gil", "gil", "gil.txt"},
        {"gil", "gil-json", "gil.json"},
    };
    bool ran[2];
    const char *outdir = "static_host-out", *start[MAX_STARTS];
    char dir[PATH_MAX];
    double seconds = 2.0;
    int nthreads = 2, nstart = 0, i, status = 0;
    embprof_config *cfg = embprof_config_new();
    embprof *ep;

    if (cfg == NULL || embprof_config_from_env(cfg) != EMBPROF_OK) {
        return fail_usage("", embprof_last_error());
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            embprof_config_free(cfg);
            return 0;
        }
        if (v == NULL) {
            return fail_usage("unknown option or missing value: ", a);
        }
        i++;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            outdir = v;
        } else if (strcmp(a, "-s") == 0 || strcmp(a, "--seconds") == 0) {
            seconds = strtod(v, &end);
            if (end == v || *end != '\0' || !(seconds > 0 && seconds < 3600)) {
                return fail_usage("--seconds takes 0..3600, not ", v);
            }
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            long n = strtol(v, &end, 10);

            if (end == v || *end != '\0' || n < 0 || n > MAX_THREADS) {
                return fail_usage("--threads takes 0..16, not ", v);
            }
            nthreads = (int)n;
        } else if (strcmp(a, "--start") == 0 && nstart < MAX_STARTS) {
            start[nstart++] = v;
        } else if (strcmp(a, "--set") == 0) {
            char key[128];
            const char *eq = strchr(v, '=');

            if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof(key)) {
                return fail_usage("--set takes KEY=VALUE, not ", v);
            }
            snprintf(key, sizeof(key), "%.*s", (int)(eq - v), v);
            if (embprof_config_set(cfg, key, eq + 1) != EMBPROF_OK) {
                return fail_usage("", embprof_last_error());
            }
        } else {
            return fail_usage("unknown option ", a);
        }
    }
    if (make_dirs(outdir) != 0 || realpath(outdir, dir) == NULL) {
        fprintf(stderr, PROG ": cannot create output directory %s: %s\n",
                outdir, strerror(errno));
        return 1;
    }
    if (embprof_config_set(cfg, "output.dir", dir) != EMBPROF_OK ||
        embprof_config_set(cfg, "sampler.enabled", "true") != EMBPROF_OK ||
        embprof_config_validate(cfg) != EMBPROF_OK) {
        return fail_usage("", embprof_last_error());
    }
    if (embprof_init(cfg, NULL, &ep) != EMBPROF_OK) {
        fprintf(stderr, PROG ": %s\n", embprof_last_error());
        embprof_config_free(cfg);
        return 1;
    }
    embprof_config_free(cfg);
    printf(PROG ": embprof %s\n", embprof_version());
    embprof_thread_name("host-main");
    for (i = 0; i < nstart; i++) {
        if (embprof_start(ep, start[i], NULL) != EMBPROF_OK) {
            fprintf(stderr, PROG ": --start %s: %s\n", start[i],
                    embprof_last_error());
            status = 1;
        }
    }
    if (status == 0 && run(ep, seconds, nthreads) != 0) {
        status = 1;
    }
    ran[0] = embprof_active(ep, "sampler") == 1;
    ran[1] = embprof_active(ep, "gil") == 1;
    embprof_stop(ep, "sampler");
    if (ran[1]) {
        embprof_stop(ep, "gil");
    }
    printf(PROG ": outputs in %s:\n", dir);
    for (i = 0; i < (int)(sizeof(outputs) / sizeof(outputs[0])); i++) {
        int rc;

        if (!ran[strcmp(outputs[i][0], "gil") == 0]) {
            continue;
        }
        rc = embprof_export(ep, outputs[i][1], outputs[i][2]);
        if (rc == EMBPROF_OK) {
            printf("  %s/%s\n", dir, outputs[i][2]);
        } else if (rc != EMBPROF_ENODATA) {
            fprintf(stderr, PROG ": export %s: %s\n", outputs[i][2],
                    embprof_last_error());
            status = 1;
        }
    }
    if (embprof_finalize(ep) != EMBPROF_OK) {
        fprintf(stderr, PROG ": %s\n", embprof_last_error());
        status = 1;
    }
    return status;
}

/*
 * api_host -- drives the public API the way an embedding host does:
 * embprof_init, bad input, start/stop/export, a failed export that loses
 * nothing, the Python module, and named native threads calling Python
 * through embprof_gil_ensure. Usage: api_host OUTDIR
 */
#include <Python.h>

#include <embprof.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host_check.h"

static char outdir[1024];

static int
file_contains(const char *path, const char *needle)
{
    static char buf[1 << 20];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void
busy_python(double seconds)
{
    char code[512];

    snprintf(code, sizeof(code),
             "import time\n"
             "def api_busy_function(s):\n"
             "    end = time.perf_counter() + s\n"
             "    while time.perf_counter() < end: pass\n"
             "api_busy_function(%g)\n",
             seconds);
    CHECK(PyRun_SimpleString(code) == 0);
}

static void *
worker(void *arg)
{
    char name[32];
    embprof *ep = arg;
    PyGILState_STATE st;

    snprintf(name, sizeof(name), "worker-%d", 1);
    embprof_thread_name(name);
    st = embprof_gil_ensure(ep, "api_host.c:worker");
    CHECK(PyRun_SimpleString("import time\n"
                             "def native_worker_code():\n"
                             "    end = time.perf_counter() + 0.8\n"
                             "    while time.perf_counter() < end: pass\n"
                             "native_worker_code()\n") == 0);
    embprof_gil_release(ep, st);
    return NULL;
}

int
main(int argc, char **argv)
{
    embprof_config *cfg;
    embprof *ep;
    embprof_stats stats;
    char path[2048];
    pthread_t t;
    PyThreadState *save;

    CHECK(argc == 2);
    snprintf(outdir, sizeof(outdir), "%s", argv[1]);

    cfg = embprof_config_new();
    CHECK(cfg != NULL);
    /* Bad input: one clear line naming the key. */
    CHECK_RC(embprof_config_set(cfg, "sampler.rate", "0"), EMBPROF_EINVAL);
    CHECK(strstr(embprof_last_error(), "sampler.rate") != NULL);
    CHECK(strstr(embprof_last_error(), "1..10000") != NULL);
    CHECK_RC(embprof_config_set(cfg, "sampler.mode", "fast"), EMBPROF_EINVAL);
    CHECK(strstr(embprof_last_error(), "wall|cpu") != NULL);
    CHECK_RC(embprof_config_set(cfg, "no.such.key", "1"), EMBPROF_EINVAL);
    CHECK(strstr(embprof_last_error(), "no.such.key") != NULL);
    CHECK_RC(embprof_config_set(cfg, "output.dir", outdir), EMBPROF_OK);
    CHECK_RC(embprof_config_set(cfg, "sampler.rate", "500"), EMBPROF_OK);

    CHECK_RC(embprof_init(cfg, NULL, &ep), EMBPROF_OK);
    CHECK(PyGILState_Check()); /* the caller holds the GIL after init */
    {
        embprof *again = (embprof *)1;

        CHECK_RC(embprof_init(cfg, NULL, &again), EMBPROF_ESTATE);
        CHECK(again == NULL); /* *out is NULL on failure */
    }
    embprof_config_free(cfg);
    CHECK(strstr(embprof_version(), "CPython") != NULL);

    CHECK_RC(embprof_start(ep, "sampler", "rate=0"), EMBPROF_EINVAL);
    CHECK(embprof_active(ep, "sampler") == 0);
    CHECK_RC(embprof_start(ep, "nope", NULL), EMBPROF_EINVAL);
    CHECK_RC(embprof_export(ep, "collapsed", "early.folded"), EMBPROF_ENODATA);
    CHECK_RC(embprof_start(ep, "sampler", NULL), EMBPROF_OK);
    CHECK(embprof_active(ep, "sampler") == 1);
    CHECK_RC(embprof_start(ep, "sampler", NULL), EMBPROF_ESTATE);

    busy_python(1.0);

    /* Native host threads calling Python; main releases the GIL. */
    save = PyEval_SaveThread();
    CHECK(pthread_create(&t, NULL, worker, ep) == 0);
    pthread_join(t, NULL);
    PyEval_RestoreThread(save);

    /* dump: every thread's stack now, with the GIL held by us. */
    CHECK_RC(embprof_export(ep, "dump", "now.dump"), EMBPROF_OK);
    snprintf(path, sizeof(path), "%s/now.dump", outdir);
    CHECK(file_contains(path, "Thread "));

    CHECK_RC(embprof_stop(ep, "sampler"), EMBPROF_OK);
    CHECK_RC(embprof_stop(ep, "sampler"), EMBPROF_ESTATE);

    /* A failed export keeps the samples for a retry. */
    CHECK_RC(embprof_export(ep, "bogus", "x.folded"), EMBPROF_EINVAL);
    CHECK(strstr(embprof_last_error(), "collapsed") != NULL);
    CHECK_RC(embprof_export(ep, NULL, "x.unknown"), EMBPROF_EINVAL);
    CHECK_RC(embprof_export(ep, "collapsed", "/nonexistent-dir/x.folded"),
             EMBPROF_EIO);
    CHECK(strstr(embprof_last_error(), "/nonexistent-dir") != NULL);
    CHECK_RC(embprof_export(ep, "collapsed", "api.folded"), EMBPROF_OK);
    snprintf(path, sizeof(path), "%s/api.folded", outdir);
    CHECK(file_contains(path, "api_busy_function ("));
    CHECK(file_contains(path, "worker-1 (tid "));
    CHECK(file_contains(path, "native_worker_code ("));
    CHECK_RC(embprof_export(ep, NULL, "api.speedscope.json"), EMBPROF_OK);
    snprintf(path, sizeof(path), "%s/api.speedscope.json", outdir);
    CHECK(file_contains(path, "\"$schema\""));
    CHECK_RC(embprof_export(ep, NULL, "api.txt"), EMBPROF_OK);

    CHECK_RC(embprof_get_stats(ep, &stats), EMBPROF_OK);
    CHECK(stats.samples > 100);
    CHECK(stats.sampler_cpu_ns > 0);
    CHECK(stats.stacks > 0 && stats.functions > 0);

    /* The Python module goes through the same controller. */
    CHECK(PyRun_SimpleString(
              "import embprof\n"
              "assert embprof.active('sampler') is False\n"
              "embprof.start('sampler', 'rate=300 mode=cpu')\n"
              "assert embprof.active()\n"
              "try:\n"
              "    embprof.start('sampler')\n"
              "    raise SystemExit('second start did not fail')\n"
              "except embprof.Error as e:\n"
              "    assert 'already running' in str(e), e\n"
              "try:\n"
              "    embprof.start('sampler', 'rate=-5')\n"
              "except embprof.Error:\n"
              "    pass\n"
              "def py_module_busy():\n"
              "    import time\n"
              "    end = time.perf_counter() + 0.5\n"
              "    while time.perf_counter() < end: pass\n"
              "py_module_busy()\n"
              "embprof.stop()\n"
              "embprof.export('py.folded')\n"
              "try:\n"
              "    embprof.export('x.folded', format='nope')\n"
              "    raise SystemExit('bad format accepted')\n"
              "except ValueError as e:\n"
              "    assert 'collapsed' in str(e)\n"
              "embprof.observe('latency_ms', 12.5)\n"
              "s = embprof.stats()\n"
              "assert s['samples'] > 0 and s['observations'] == 1, s\n") == 0);
    snprintf(path, sizeof(path), "%s/py.folded", outdir);
    CHECK(file_contains(path, "py_module_busy ("));

    embprof_observe(ep, "frame_ms", 16.0);
    CHECK_RC(embprof_finalize(ep), EMBPROF_OK);
    CHECK(!Py_IsInitialized());
    printf("api_host: ok\n");
    return 0;
}

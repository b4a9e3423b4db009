/*
 * tracer_host -- the tracer on host threads that reach Python only through
 * PyGILState (embprof_gil_ensure), started and stopped from C by a thread
 * that does not hold the GIL, as an embedding host does it. The pstats
 * file must count every call each native thread made, name the caller, and
 * load in the host's own CPython. Usage: tracer_host OUTDIR
 */
#include <Python.h>

#include <embprof.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "host_check.h"

enum { NTHREADS = 4, CALLS = 250 };

static embprof *ep;

static void *
native_worker(void *arg)
{
    char name[32], code[256];
    PyGILState_STATE st;

    snprintf(name, sizeof(name), "native-%d", (int)(intptr_t)arg);
    embprof_thread_name(name);
    /* A fresh thread state: PyGILState creates it here, after the tracer
     * started. */
    st = embprof_gil_ensure(ep, "tracer_host.c:native_worker");
    snprintf(code, sizeof(code),
             "import hostmod\n"
             "for _ in range(%d):\n"
             "    hostmod.host_thread_entry()\n",
             CALLS);
    CHECK(PyRun_SimpleString(code) == 0);
    embprof_gil_release(ep, st);
    return NULL;
}

int
main(int argc, char **argv)
{
    embprof_config *cfg = embprof_config_new();
    pthread_t th[NTHREADS];
    PyThreadState *main_ts;
    char set[1200], check[2048];

    CHECK(argc == 2);
    snprintf(set, sizeof(set), "%s", argv[1]);
    CHECK_RC(embprof_config_set(cfg, "output.dir", set), EMBPROF_OK);
    CHECK_RC(embprof_init(cfg, NULL, &ep), EMBPROF_OK);
    embprof_config_free(cfg);

    /* A module the native threads call into: host_thread_entry calls
     * traced_leaf twice, so the counts and the caller edge are known. */
    CHECK(PyRun_SimpleString(
              "import sys, types\n"
              "m = types.ModuleType('hostmod')\n"
              "exec('def traced_leaf(x):\\n'\n"
              "     '    return x * 2\\n'\n"
              "     'def host_thread_entry():\\n'\n"
              "     '    return traced_leaf(1) + traced_leaf(2)\\n',\n"
              "     m.__dict__)\n"
              "sys.modules['hostmod'] = m\n") == 0);

    /* From here the main thread holds no GIL, like a host's control
     * thread: start and stop must not need it from the caller. */
    main_ts = PyEval_SaveThread();
    CHECK_RC(embprof_start(ep, "tracer", "clock=wall"), EMBPROF_OK);
    CHECK(embprof_active(ep, "tracer") == 1);
    CHECK_RC(embprof_start(ep, "tracer", NULL), EMBPROF_ESTATE);
    for (int i = 0; i < NTHREADS; i++) {
        CHECK(pthread_create(&th[i], NULL, native_worker,
                             (void *)(intptr_t)i) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }
    CHECK_RC(embprof_stop(ep, "tracer"), EMBPROF_OK);
    CHECK_RC(embprof_export(ep, "pstats", "host.prof"), EMBPROF_OK);
    PyEval_RestoreThread(main_ts);

    /* The host's own CPython reads the file (its path through a
     * variable, not pasted into the code). */
    {
        PyObject *mainmod = PyImport_AddModule("__main__");
        PyObject *d = PyModule_GetDict(mainmod);
        char path[1300];
        PyObject *p;

        snprintf(path, sizeof(path), "%s/host.prof", argv[1]);
        p = PyUnicode_FromString(path);
        CHECK(p != NULL && PyDict_SetItemString(d, "PROF", p) == 0);
        Py_DECREF(p);
    }
    snprintf(check, sizeof(check),
             "import pstats, io\n"
             "st = pstats.Stats(PROF)\n"
             "by = {k[2]: v for k, v in st.stats.items()}\n"
             "entry, leaf = by['host_thread_entry'], by['traced_leaf']\n"
             "n = %d * %d\n"
             "assert entry[0] == entry[1] == n, entry[:2]\n"
             "assert leaf[0] == leaf[1] == 2 * n, leaf[:2]\n"
             "callers = {k[2]: v for k, v in leaf[4].items()}\n"
             "assert callers['host_thread_entry'][1] == 2 * n, callers\n"
             "out = io.StringIO()\n"
             "pstats.Stats(PROF, stream=out).sort_stats('cumulative')"
             ".print_callers(5)\n"
             "assert 'traced_leaf' in out.getvalue(), out.getvalue()\n",
             NTHREADS, CALLS);
    CHECK(PyRun_SimpleString(check) == 0);
    CHECK_RC(embprof_finalize(ep), EMBPROF_OK);
    printf("tracer_host: ok (%d native threads x %d calls)\n", NTHREADS,
           CALLS);
    return 0;
}

/*
 * attach_host -- a host that initialises Python itself, then attaches
 * embprof, samples, exports, and finalizes embprof (which must leave the
 * interpreter running) before finalizing Python. Then it attaches again,
 * starts the tracer while Python threads call functions, and finalizes
 * embprof from a thread without the GIL while those threads keep running:
 * the tracer's hooks must be out of the interpreter afterwards (and its
 * memory freed without a thread still using it: the ASan leg). A third
 * attach runs the tracer again in the same interpreter.
 * Usage: attach_host OUTDIR
 */
#include <Python.h>

#include <embprof.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host_check.h"

int
main(int argc, char **argv)
{
    embprof_config *cfg;
    embprof *ep;
    char path[2048], line[4096];
    FILE *f;
    int found = 0;

    CHECK(argc == 2);
    CHECK_RC(embprof_attach(NULL, &ep), EMBPROF_ESTATE); /* no Python yet */
    Py_Initialize();
    cfg = embprof_config_new();
    CHECK_RC(embprof_config_set(cfg, "output.dir", argv[1]), EMBPROF_OK);
    CHECK_RC(embprof_attach(cfg, &ep), EMBPROF_OK);
    embprof_config_free(cfg);
    CHECK_RC(embprof_start(ep, "sampler", "rate=500"), EMBPROF_OK);
    CHECK(PyRun_SimpleString("import time, embprof\n"
                             "def attached_busy():\n"
                             "    end = time.perf_counter() + 1.0\n"
                             "    while time.perf_counter() < end: pass\n"
                             "attached_busy()\n") == 0);
    CHECK_RC(embprof_stop(ep, "sampler"), EMBPROF_OK);
    CHECK_RC(embprof_export(ep, "collapsed", "attach.folded"), EMBPROF_OK);
    snprintf(path, sizeof(path), "%s/attach.folded", argv[1]);
    f = fopen(path, "r");
    CHECK(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL) {
        found |= strstr(line, ";attached_busy (") != NULL;
    }
    fclose(f);
    CHECK(found);
    CHECK_RC(embprof_finalize(ep), EMBPROF_OK);
    CHECK(Py_IsInitialized()); /* attached: the interpreter is the host's */
    CHECK(PyRun_SimpleString("x = 1 + 1\n") == 0);

    /* The tracer on busy Python threads, embprof finalized without the
     * GIL while they run. */
    CHECK_RC(embprof_attach(NULL, &ep), EMBPROF_OK);
    CHECK_RC(embprof_start(ep, "tracer", "builtins=true"), EMBPROF_OK);
    CHECK(PyRun_SimpleString("import threading\n"
                             "spin_stop = False\n"
                             "def spin_leaf(i):\n"
                             "    return len([i])\n"
                             "def spin():\n"
                             "    while not spin_stop:\n"
                             "        for i in range(50):\n"
                             "            spin_leaf(i)\n"
                             "spinners = [threading.Thread(target=spin)\n"
                             "            for _ in range(2)]\n"
                             "for t in spinners:\n"
                             "    t.start()\n") == 0);
    {
        PyThreadState *main_ts = PyEval_SaveThread();

        usleep(100000);
        CHECK_RC(embprof_finalize(ep), EMBPROF_OK);
        usleep(100000); /* the threads keep running, through our hooks */
        PyEval_RestoreThread(main_ts);
    }
    CHECK(PyRun_SimpleString("spin_leaf(0)\n") == 0); /* pending calls */
#if PY_VERSION_HEX >= 0x030C0000
    CHECK(PyRun_SimpleString(
              "import sys\n"
              "for i in range(6):\n"
              "    assert sys.monitoring.get_tool(i) != 'embprof', i\n") == 0);
#else
    CHECK(_PyInterpreterState_GetEvalFrameFunc(PyInterpreterState_Main()) ==
          (_PyFrameEvalFunction)_PyEval_EvalFrameDefault);
#endif

    /* Again in the same interpreter, while the threads still run; this
     * time finalized with the GIL held. */
    CHECK_RC(embprof_attach(NULL, &ep), EMBPROF_OK);
    CHECK_RC(embprof_start(ep, "tracer", "builtins=true"), EMBPROF_OK);
    CHECK(PyRun_SimpleString("import time\n"
                             "time.sleep(0.1)\n"
                             "for i in range(100):\n"
                             "    spin_leaf(i)\n") == 0);
    CHECK_RC(embprof_stop(ep, "tracer"), EMBPROF_OK);
    CHECK_RC(embprof_finalize(ep), EMBPROF_OK);
    CHECK(PyRun_SimpleString("spin_stop = True\n"
                             "for t in spinners:\n"
                             "    t.join()\n") == 0);
    CHECK(Py_FinalizeEx() == 0);
    printf("attach_host: ok\n");
    return 0;
}

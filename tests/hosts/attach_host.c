/*
 * attach_host -- a host that initialises Python itself, then attaches
 * embprof, samples, exports, and finalizes embprof (which must leave the
 * interpreter running) before finalizing Python. Usage: attach_host OUTDIR
 */
#include <Python.h>

#include <embprof.h>

#include <stdio.h>
#include <string.h>

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
    CHECK(Py_FinalizeEx() == 0);
    printf("attach_host: ok\n");
    return 0;
}

/* An embedding host outside the embprof tree: initialises CPython through
 * embprof, samples a busy function, exports folded stacks and checks them.
 * Usage: host OUT.folded */
#include <Python.h>

#include <embprof.h>

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
    embprof_config *cfg = embprof_config_new();
    embprof *ep;
    char line[4096];
    FILE *f;
    int found = 0;

    if (argc != 2 || cfg == NULL || embprof_config_from_env(cfg) != 0 ||
        embprof_init(cfg, NULL, &ep) != EMBPROF_OK) {
        fprintf(stderr, "init: %s\n", embprof_last_error());
        return 1;
    }
    embprof_config_free(cfg);
    if (embprof_start(ep, "sampler", "rate=500") != EMBPROF_OK) {
        fprintf(stderr, "start: %s\n", embprof_last_error());
        return 1;
    }
    PyRun_SimpleString("import time\n"
                       "def external_busy():\n"
                       "    end = time.perf_counter() + 0.6\n"
                       "    while time.perf_counter() < end: pass\n"
                       "external_busy()\n");
    if (embprof_export(ep, "collapsed", argv[1]) != EMBPROF_OK) {
        fprintf(stderr, "export: %s\n", embprof_last_error());
        return 1;
    }
    embprof_finalize(ep);
    f = fopen(argv[1], "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        found |= strstr(line, "external_busy (") != NULL;
    }
    if (f != NULL) {
        fclose(f);
    }
    printf("%s\n", found ? "external host: ok" : "external host: MISSING");
    return found ? 0 : 1;
}

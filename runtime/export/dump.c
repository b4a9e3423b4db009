/*
 * dump.c -- every Python thread's stack now, innermost frame first, like
 * py-spy dump. Takes a fresh walk with its own walker; needs no samples.
 */
#include "export.h"

#include <stdlib.h>
#include <unistd.h>

#include "../threads.h"

int
ep_export_dump(FILE *out, const ep_export_info *info)
{
    ep_walker *w = info->walker;
    ep_wthread *threads = calloc(EP_WALK_MAX_THREADS, sizeof(*threads));
    uint32_t *slots = malloc(w->max_depth * sizeof(*slots));
    int32_t *offsets = malloc(w->max_depth * sizeof(*offsets));
    int n;

    if (threads == NULL || slots == NULL || offsets == NULL) {
        free(threads);
        free(slots);
        free(offsets);
        return -1;
    }
    n = ep_walker_threads(w, threads, EP_WALK_MAX_THREADS);
    fprintf(out,
            "Process %d: embprof dump, CPython %s, %d Python "
            "threads\n",
            (int)getpid(), info->python_version, n < 0 ? 0 : n);
    for (int i = 0; i < n; i++) {
        ep_wthread *t = &threads[i];
        char name[64];
        bool host;

        ep_names_resolve(t->tid, t->ident, name, sizeof(name), &host);
        t->code_slot = slots;
        t->offset = offsets;
        fprintf(out, "\nThread %d (%s)%s%s\n", (int)t->tid, name,
                host ? " [host]" : "", t->holds_gil ? " [holds GIL]" : "");
        if (ep_walker_stack(w, t) != 0) {
            fputs("    <stack changed while it was read; try again>\n", out);
            continue;
        }
        for (uint32_t d = 0; d < t->depth; d++) {
            const ep_codeinfo *c = &w->codes[t->code_slot[d]];

            fprintf(out, "    %s (%s:%d)\n", c->qualname_s, c->file,
                    ep_walker_line(w, t, d));
        }
        if (t->truncated) {
            fputs("    ... (deeper frames cut at sampler.max_depth)\n", out);
        }
    }
    free(threads);
    free(slots);
    free(offsets);
    return 0;
}

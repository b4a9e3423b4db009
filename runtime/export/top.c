/*
 * top.c -- functions by own time, like py-spy top: %own, %total, own and
 * total time, function (file:line). Own time is where a function is the
 * leaf; total time counts each stack once per function, so recursion is
 * not counted twice.
 */
#include "export.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../probes/sampler.h"

static int
cmp_rows(const void *a, const void *b)
{
    const ep_top_row *x = a, *y = b;

    if (x->own != y->own) {
        return x->own < y->own ? 1 : -1;
    }
    if (x->total != y->total) {
        return x->total < y->total ? 1 : -1;
    }
    return x->func < y->func ? -1 : x->func > y->func;
}

static void
put_time(FILE *out, uint64_t ns)
{
    if (ns >= 10000000000ull) {
        fprintf(out, "%8.1fs", (double)ns / 1e9);
    } else if (ns >= 1000000000ull) {
        fprintf(out, "%8.2fs", (double)ns / 1e9);
    } else {
        fprintf(out, "%7.1fms", (double)ns / 1e6);
    }
}

int
ep_top_rows(const ep_export_info *info, ep_top_row **out, uint32_t *n,
            uint64_t *grand_out)
{
    const ep_store *s = info->store;
    ep_top_row *rows = calloc(s->nfuncs ? s->nfuncs : 1, sizeof(*rows));
    uint32_t *last = calloc(s->nfuncs ? s->nfuncs : 1, sizeof(*last));
    uint64_t grand = 0;
    uint32_t used = 0;

    if (rows == NULL || last == NULL) {
        free(rows);
        free(last);
        return -1;
    }
    for (uint32_t f = 0; f < s->nfuncs; f++) {
        rows[f].func = f;
        last[f] = UINT32_MAX;
    }
    for (uint32_t i = 0; i < s->nstacks; i++) {
        const ep_stack *sk = &s->stacks[i];
        const uint32_t *fr = ep_store_stack_frames(s, sk);
        uint64_t w = ep_export_weight(info, sk);

        grand += w;
        for (uint32_t d = 0; d < sk->depth; d++) {
            uint32_t fn = s->frames[fr[d]].func;

            if (last[fn] != i) { /* once per stack */
                rows[fn].total += w;
                last[fn] = i;
            }
        }
        if (sk->depth > 0) {
            rows[s->frames[fr[sk->depth - 1]].func].own += w;
        }
    }
    free(last);
    qsort(rows, s->nfuncs, sizeof(*rows), cmp_rows);
    while (used < s->nfuncs && rows[used].total > 0) {
        used++;
    }
    *out = rows;
    *n = used;
    *grand_out = grand;
    return 0;
}

int
ep_export_top(FILE *out, const ep_export_info *info)
{
    const ep_store *s = info->store;
    const embprof_stats *st = &info->stats;
    ep_top_row *rows;
    uint32_t nrows;
    uint64_t grand;

    if (ep_top_rows(info, &rows, &nrows, &grand) != 0) {
        return -1;
    }
    fprintf(out,
            "embprof top: %s mode, %d Hz, %" PRIu64 " samples of %" PRIu32
            " threads, %.2f s sampled, CPython %s\n",
            info->mode == EP_SAMPLER_CPU ? "cpu" : "wall", info->rate,
            st->samples, s->nthreads, (double)st->wall_ns / 1e9,
            info->python_version);
    fprintf(out,
            "sampler: %.3f%% of one CPU (%.1f ms), %" PRIu64
            " idle skipped, %" PRIu64 " walk errors, %" PRIu64
            " truncated, %" PRIu64 " missed ticks\n\n",
            st->wall_ns
                ? 100.0 * (double)st->sampler_cpu_ns / (double)st->wall_ns
                : 0.0,
            (double)st->sampler_cpu_ns / 1e6, st->idle_skipped,
            st->walk_errors, st->truncated, st->missed_ticks);
    fprintf(out, "  %%Own  %%Total   OwnTime TotalTime  Function "
                 "(filename:line)\n");
    for (uint32_t r = 0; r < nrows; r++) {
        const ep_func *fn = &s->funcs[rows[r].func];

        fprintf(out, "%6.2f%% %6.2f%% ",
                grand ? 100.0 * (double)rows[r].own / (double)grand : 0.0,
                grand ? 100.0 * (double)rows[r].total / (double)grand : 0.0);
        put_time(out, rows[r].own);
        fputc(' ', out);
        put_time(out, rows[r].total);
        fprintf(out, "  %s (%s:%d)\n", ep_store_strget(s, fn->name),
                ep_store_strget(s, fn->file), (int)fn->firstline);
    }
    free(rows);
    return 0;
}

/*
 * tracer_text.c -- the tracer as text: "stats", like pstats print_stats
 * with a column that tells CPU-bound code from code that waits or
 * delegates, and "lines", like kernprof -lv (the source is read from the
 * file at export, outside any hot path).
 */
#include "export.h"

#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../probes/tracer.h"
#include "../runtime.h"

static const ep_tr_mfunc *sort_funcs;

static int
cmp_tottime(const void *a, const void *b)
{
    const ep_tr_mfunc *x = &sort_funcs[*(const uint32_t *)a];
    const ep_tr_mfunc *y = &sort_funcs[*(const uint32_t *)b];

    if (x->tt != y->tt) {
        return x->tt < y->tt ? 1 : -1;
    }
    return x->ct < y->ct ? 1 : x->ct > y->ct ? -1 : 0;
}

/* What a function's own share says: CPU-bound when its own time is most
 * of its cumulative time (and, with the cpu clock, of its own wall time
 * too); waiting/delegating when most of it is spent in callees or off
 * the CPU. */
static const char *
classify(const ep_tr_snapshot *s, const ep_tr_mfunc *f)
{
    double own = f->ct > 0 ? f->tt / f->ct : 1.0;

    if (s->clock == EP_TR_CPU && f->wt > 0 && f->tt / f->wt < 0.5) {
        return "waiting";
    }
    if (own >= 0.8) {
        return "cpu-bound";
    }
    if (own <= 0.2) {
        return "delegating";
    }
    return "mixed";
}

static void
func_label(FILE *out, const ep_tr_mfunc *f)
{
    if (strcmp(f->file, "~") == 0 && f->line == 0) {
        fprintf(out, "{%s}", f->name);
    } else {
        fprintf(out, "%s:%d(%s)", f->file, f->line, f->name);
    }
}

int
ep_export_stats(FILE *out, const ep_export_info *info)
{
    ep_tr_snapshot s;
    uint64_t nc = 0, cc = 0;
    double total = 0;
    uint32_t *order;
    int rc = ep_tr_snapshot_take(info->ep, &s);

    if (rc != EMBPROF_OK) {
        return rc;
    }
    order = malloc((s.nfuncs + 1) * sizeof(uint32_t));
    if (order == NULL) {
        ep_tr_snapshot_free(&s);
        return 1;
    }
    for (uint32_t i = 0; i < s.nfuncs; i++) {
        order[i] = i;
        nc += s.funcs[i].nc;
        cc += s.funcs[i].cc;
        total += s.funcs[i].tt;
    }
    sort_funcs = s.funcs; /* the controller serialises exports */
    qsort(order, s.nfuncs, sizeof(uint32_t), cmp_tottime);
    fprintf(out,
            "         %llu function calls (%llu primitive calls) in %.3f "
            "seconds\n\n",
            (unsigned long long)nc, (unsigned long long)cc, total);
    fprintf(out, "   Clock: %s; mechanism: %s; %u threads%s\n",
            s.clock == EP_TR_CPU ? "cpu (per-thread CPU time)" : "wall",
            s.mechanism ? s.mechanism : "?", s.nthreads,
            s.events_lost ? " (some events lost: out of memory)" : "");
    fprintf(out, "   Ordered by: internal time\n\n");
    fprintf(out, "   ncalls  tottime  percall  cumtime  percall  own%%  "
                 "kind        filename:lineno(function)\n");
    for (uint32_t k = 0; k < s.nfuncs; k++) {
        const ep_tr_mfunc *f = &s.funcs[order[k]];
        char calls[48];

        if (f->nc == 0) {
            continue;
        }
        if (f->nc != f->cc) {
            snprintf(calls, sizeof(calls), "%llu/%llu",
                     (unsigned long long)f->nc, (unsigned long long)f->cc);
        } else {
            snprintf(calls, sizeof(calls), "%llu", (unsigned long long)f->nc);
        }
        fprintf(out, "%9s %8.3f %8.3f %8.3f %8.3f %4.0f%%  %-10s  ", calls,
                f->tt, f->tt / (double)f->nc, f->ct,
                f->cc ? f->ct / (double)f->cc : 0.0,
                f->ct > 0 ? 100.0 * f->tt / f->ct : 100.0, classify(&s, f));
        func_label(out, f);
        fputc('\n', out);
    }
    free(order);
    ep_tr_snapshot_free(&s);
    return ferror(out) ? 1 : 0;
}

static int
cmp_line(const void *a, const void *b)
{
    const ep_tr_mline *x = a, *y = b;

    if (x->func != y->func) {
        return x->func < y->func ? -1 : 1;
    }
    return x->line < y->line ? -1 : x->line > y->line;
}

/* The text of lines first..last of path (NULL where unreadable). */
static char **
read_lines(const char *path, uint32_t first, uint32_t last)
{
    FILE *f = fopen(path, "r");
    char **v = calloc(last - first + 1, sizeof(char *));
    char *line = NULL;
    size_t cap = 0;
    uint32_t n = 0;

    if (f == NULL || v == NULL) {
        if (f != NULL) {
            fclose(f);
        }
        return v;
    }
    while (getline(&line, &cap, f) >= 0 && ++n <= last) {
        if (n >= first) {
            line[strcspn(line, "\r\n")] = '\0';
            v[n - first] = strdup(line);
        }
    }
    free(line);
    fclose(f);
    return v;
}

int
ep_export_lines(FILE *out, const ep_export_info *info)
{
    ep_tr_snapshot s;
    int rc = ep_tr_snapshot_take(info->ep, &s);
    uint32_t i = 0;

    if (rc != EMBPROF_OK) {
        return rc;
    }
    if (s.nlines == 0) {
        ep_tr_snapshot_free(&s);
        return ep_error(EMBPROF_ENODATA,
                        "export lines: no line was traced (start the tracer "
                        "with lines=module:function or a file glob)");
    }
    qsort(s.lines, s.nlines, sizeof(*s.lines), cmp_line);
    fprintf(out, "Timer unit: 1e-06 s\n\n");
    while (i < s.nlines) {
        const ep_tr_mfunc *f = &s.funcs[s.lines[i].func];
        uint32_t j = i, first = (uint32_t)(f->line > 0 ? f->line : 1), last;
        double total = 0;
        char **src;

        while (j < s.nlines && s.lines[j].func == s.lines[i].func) {
            total += s.lines[j].time;
            j++;
        }
        last = s.lines[j - 1].line;
        if (last < first) {
            last = first;
        }
        src = read_lines(f->file, first, last);
        fprintf(out, "Total time: %g s\nFile: %s\nFunction: %s at line %d\n\n",
                total, f->file, f->name, f->line);
        fprintf(out, "%-6s %9s %12s %8s %8s  %s\n", "Line #", "Hits", "Time",
                "Per Hit", "% Time", "Line Contents");
        fprintf(out, "=============================================="
                     "================\n");
        for (uint32_t ln = first, k = i; ln <= last; ln++) {
            const char *text = src && src[ln - first] ? src[ln - first] : "";

            while (k < j && s.lines[k].line < ln) {
                k++;
            }
            if (k < j && s.lines[k].line == ln && s.lines[k].hits > 0) {
                const ep_tr_mline *l = &s.lines[k];

                fprintf(out, "%6u %9llu %12.1f %8.1f %8.1f  %s\n", ln,
                        (unsigned long long)l->hits, l->time * 1e6,
                        l->time * 1e6 / (double)l->hits,
                        total > 0 ? 100.0 * l->time / total : 0.0, text);
            } else {
                fprintf(out, "%6u %9s %12s %8s %8s  %s\n", ln, "", "", "", "",
                        text);
            }
        }
        fputs("\n\n", out);
        for (uint32_t ln = first; src && ln <= last; ln++) {
            free(src[ln - first]);
        }
        free(src);
        i = j;
    }
    ep_tr_snapshot_free(&s);
    return ferror(out) ? 1 : 0;
}

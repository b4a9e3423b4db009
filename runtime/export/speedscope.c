/*
 * speedscope.c -- speedscope's file format (file-format-spec.ts): shared
 * frames, one "sampled" profile per thread, stacks root first, weights in
 * nanoseconds (wall time in wall mode, CPU time in cpu mode).
 */
#include "export.h"

#include <inttypes.h>
#include <stdlib.h>

#include "../probes/sampler.h"

int
ep_export_speedscope(FILE *out, const ep_export_info *info)
{
    const ep_store *s = info->store;
    bool first_profile = true;

    fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema."
          "json\",\"exporter\":\"embprof@" EMBPROF_VERSION_STRING "\",",
          out);
    /* The sampler's own figures travel with the profile. */
    fprintf(out,
            "\"name\":\"embprof %s mode, %d Hz, CPython %s: %" PRIu64
            " samples, sampler %.3f%% of one CPU, %" PRIu64
            " walk errors, %" PRIu64 " truncated\",",
            info->mode == EP_SAMPLER_CPU ? "cpu" : "wall", info->rate,
            info->python_version, info->stats.samples,
            info->stats.wall_ns ? 100.0 * (double)info->stats.sampler_cpu_ns /
                                      (double)info->stats.wall_ns
                                : 0.0,
            info->stats.walk_errors, info->stats.truncated);
    fputs("\"activeProfileIndex\":0,\"shared\":{\"frames\":[", out);
    for (uint32_t i = 0; i < s->nframes; i++) {
        const ep_frame *f = &s->frames[i];
        const ep_func *fn = &s->funcs[f->func];

        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        ep_json_string(out, ep_store_strget(s, fn->name));
        fputs(",\"file\":", out);
        ep_json_string(out, ep_store_strget(s, fn->file));
        if (f->line > 0) {
            fprintf(out, ",\"line\":%d", (int)f->line);
        }
        fputc('}', out);
    }
    fputs("]},\"profiles\":[", out);
    for (uint32_t t = 0; t < s->nthreads; t++) {
        uint64_t total = 0;
        bool any = false, first = true;
        char label[128];

        for (uint32_t i = 0; i < s->nstacks; i++) {
            if (s->stacks[i].thread == t &&
                ep_export_weight(info, &s->stacks[i]) > 0) {
                total += ep_export_weight(info, &s->stacks[i]);
                any = true;
            }
        }
        if (!any) {
            continue;
        }
        ep_export_thread_label(&s->threads[t], label, sizeof(label));
        fputs(first_profile ? "{" : ",{", out);
        first_profile = false;
        fputs("\"type\":\"sampled\",\"name\":", out);
        ep_json_string(out, label);
        fprintf(out,
                ",\"unit\":\"nanoseconds\",\"startValue\":0,"
                "\"endValue\":%" PRIu64 ",\"samples\":[",
                total);
        for (uint32_t i = 0; i < s->nstacks; i++) {
            const ep_stack *st = &s->stacks[i];
            const uint32_t *fr = ep_store_stack_frames(s, st);

            if (st->thread != t || ep_export_weight(info, st) == 0) {
                continue;
            }
            fputs(first ? "[" : ",[", out);
            first = false;
            for (uint32_t d = 0; d < st->depth; d++) {
                fprintf(out, d ? ",%u" : "%u", fr[d]);
            }
            fputc(']', out);
        }
        fputs("],\"weights\":[", out);
        first = true;
        for (uint32_t i = 0; i < s->nstacks; i++) {
            const ep_stack *st = &s->stacks[i];

            if (st->thread != t || ep_export_weight(info, st) == 0) {
                continue;
            }
            fprintf(out, first ? "%" PRIu64 : ",%" PRIu64,
                    ep_export_weight(info, st));
            first = false;
        }
        fputs("]}", out);
    }
    fputs("]}\n", out);
    return 0;
}

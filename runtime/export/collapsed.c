/*
 * collapsed.c -- folded stacks: "thread;root;...;leaf count", one line per
 * distinct stack, frames as "qualname (file:line)" like py-spy. The count
 * is samples in wall mode and CPU microseconds in cpu mode (each sample is
 * weighted by its CPU time there). ';' and newlines in names become ':'
 * and ' ', which flame-graph tools cannot take.
 */
#include "export.h"

#include "../probes/sampler.h"

static void
put_name(FILE *out, const char *s)
{
    for (; *s; s++) {
        char c = *s;

        fputc(c == ';' ? ':' : (c == '\n' || c == '\r') ? ' ' : c, out);
    }
}

int
ep_export_collapsed(FILE *out, const ep_export_info *info)
{
    const ep_store *s = info->store;

    for (uint32_t i = 0; i < s->nstacks; i++) {
        const ep_stack *st = &s->stacks[i];
        const uint32_t *fr = ep_store_stack_frames(s, st);
        uint64_t count;
        char label[128];

        if (info->mode == EP_SAMPLER_CPU) {
            count = (st->w.cpu_ns + 500) / 1000;
        } else {
            count = st->w.samples;
        }
        if (count == 0) {
            continue;
        }
        ep_export_thread_label(&s->threads[st->thread], label, sizeof(label));
        put_name(out, label);
        for (uint32_t d = 0; d < st->depth; d++) {
            const ep_frame *f = &s->frames[fr[d]];
            const ep_func *fn = &s->funcs[f->func];

            fputc(';', out);
            put_name(out, ep_store_strget(s, fn->name));
            fputs(" (", out);
            put_name(out, ep_store_strget(s, fn->file));
            fprintf(out, ":%d)", (int)f->line);
        }
        fprintf(out, " %llu\n", (unsigned long long)count);
    }
    return 0;
}

/*
 * chrome.c -- the tracer's timeline (tracer.timeline=true) as Chrome
 * trace events: {"traceEvents":[...]} with one complete event ("ph":"X",
 * ts and dur in microseconds) per call and thread_name metadata, which
 * Perfetto and chrome://tracing load. Calls past tracer.timeline_max per
 * thread are counted in otherData.dropped.
 */
#include "export.h"

#include <inttypes.h>
#include <unistd.h>

#include "../error.h"
#include "../probes/tracer.h"
#include "../runtime.h"
#include "../threads.h"

int
ep_export_chrome(FILE *out, const ep_export_info *info)
{
    ep_tr_snapshot s;
    uint64_t dropped = 0, events = 0;
    int pid = (int)getpid();
    bool first = true;
    int rc = ep_tr_snapshot_take(info->ep, &s);

    if (rc != EMBPROF_OK) {
        return rc;
    }
    for (uint32_t i = 0; i < s.nthreads; i++) {
        events += s.threads[i].nspans;
        dropped += s.threads[i].dropped;
    }
    if (events == 0) {
        ep_tr_snapshot_free(&s);
        return ep_error(EMBPROF_ENODATA,
                        "export chrome: no call on the timeline (start the "
                        "tracer with timeline=true)");
    }
    fputs("{\"traceEvents\":[\n", out);
    for (uint32_t i = 0; i < s.nthreads; i++) {
        const ep_tr_mthread *t = &s.threads[i];
        char name[128];
        bool host;

        if (t->nspans == 0) {
            continue;
        }
        ep_names_resolve(t->tid, t->ident, name, sizeof(name), &host);
        fprintf(out,
                "%s{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,"
                "\"tid\":%d,\"args\":{\"name\":",
                first ? "" : ",\n", pid, t->tid);
        ep_json_string(out, name);
        fputs("}}", out);
        first = false;
        for (uint32_t k = 0; k < t->nspans; k++) {
            const ep_tr_span *sp = &t->spans[k];
            const ep_tr_mfunc *f = &s.funcs[sp->func];
            double ts = (double)(sp->t0 - s.tsc0) * 1e6 / s.ticks_per_sec;
            double dur = (double)(sp->t1 - sp->t0) * 1e6 / s.ticks_per_sec;

            fputs(",\n{\"name\":", out);
            ep_json_string(out, f->name);
            fprintf(out,
                    ",\"cat\":\"python\",\"ph\":\"X\",\"ts\":%.3f,"
                    "\"dur\":%.3f,\"pid\":%d,\"tid\":%d,\"args\":{\"file\":",
                    ts, dur, pid, t->tid);
            ep_json_string(out, f->file);
            fprintf(out, ",\"line\":%d}}", f->line);
        }
    }
    fprintf(out,
            "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":"
            "\"embprof tracer\",\"dropped\":%" PRIu64 "}}\n",
            dropped);
    ep_tr_snapshot_free(&s);
    return ferror(out) ? 1 : 0;
}

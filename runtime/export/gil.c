/*
 * gil.c -- the GIL report: text for a person ("gil") and JSON for tools
 * ("gil-json"), with a diagnosis in plain words. Reads the GIL probe's
 * data through ep_gil_report_get (EP_EXPORT_PROBE: it locks what it
 * needs); also used by the control socket's `gil` command.
 */
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../runtime.h"
#include "export.h"

#define EP_DIAG_MAX 16
#define EP_DIAG_THREADS 8

typedef struct ep_diag {
    const char *kind;
    char text[4096];
    char remedy[512];
    size_t nthreads;
    const ep_gil_row *threads[EP_DIAG_THREADS];
} ep_diag;

static double
ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static bool
is_hog(const ep_gil_row *r)
{
    return r->held_pct >= 10.0;
}

/* A CPU-bound Python thread: holds the GIL a good share of the time, and
 * the holder samples show it in Python code. */
static bool
is_python_hog(const ep_gil_row *r)
{
    uint64_t py = 0, all = 0;

    for (size_t k = 0; k < r->nhold; k++) {
        all += r->hold_sites[k].count;
        if (r->hold_sites[k].text[0] != '(') {
            py += r->hold_sites[k].count;
        }
    }
    return is_hog(r) && all > 0 && 2 * py >= all;
}

static void
add_thread(ep_diag *d, const ep_gil_row *r)
{
    if (d->nthreads < EP_DIAG_THREADS) {
        d->threads[d->nthreads++] = r;
    }
}

/* Appends "a, b and c" of the hogs' names with their held % and top
 * stacks. */
static void
hogs_text(const ep_gil_report *rep, const ep_gil_row *skip, char *buf,
          size_t size, ep_diag *d)
{
    size_t o = 0, n = 0, total = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < rep->nrows; i++) {
        total += is_python_hog(&rep->rows[i]) && &rep->rows[i] != skip;
    }
    for (size_t i = 0; i < rep->nrows && o < size; i++) {
        const ep_gil_row *r = &rep->rows[i];
        int k;

        if (!is_python_hog(r) || r == skip) {
            continue;
        }
        n++;
        k = snprintf(buf + o, size - o, "%s%s (held %.0f%%%s%s)",
                     n == 1       ? ""
                     : n == total ? " and "
                                  : ", ",
                     r->name, r->held_pct, r->nhold ? ", in " : "",
                     r->nhold ? r->hold_sites[0].text : "");
        if (k < 0) {
            break;
        }
        o += (size_t)k;
        add_thread(d, r);
    }
}

static size_t
diagnose(const ep_gil_report *rep, ep_diag *out)
{
    size_t n = 0;
    uint64_t interval_ns = rep->interval_us * 1000u;
    double secs = (double)rep->duration_ns / 1e9;
    bool convoy = false;

    /* Convoy: a thread that holds the GIL little waits long and often
     * behind CPU-bound threads that hold it most of the time. */
    for (size_t i = 0; i < rep->nrows && n < EP_DIAG_MAX; i++) {
        const ep_gil_row *v = &rep->rows[i];
        char hogs[1536];
        ep_diag *d = &out[n];

        if (v->wait_count < 10 || is_hog(v) ||
            (v->waiting_pct < 5.0 && v->p50_ns < interval_ns / 4)) {
            continue;
        }
        memset(d, 0, sizeof(*d));
        add_thread(d, v);
        hogs_text(rep, v, hogs, sizeof(hogs), d);
        if (d->nthreads < 2) {
            continue;
        }
        d->kind = "convoy";
        snprintf(d->text, sizeof(d->text),
                 "convoy: %s waited for the GIL %llu times, %.2f ms "
                 "median, %.2f ms p99, %.2f ms at worst (%.1f%% of its "
                 "time), behind CPU-bound Python threads %s. Each time %s "
                 "gives the GIL up (sleep, I/O) it waits up to a switch "
                 "interval (%.1f ms) or longer to get it back.",
                 v->name, (unsigned long long)v->wait_count, ms(v->p50_ns),
                 ms(v->p99_ns), ms(v->max_ns), v->waiting_pct, hogs, v->name,
                 (double)rep->interval_us / 1000.0);
        snprintf(d->remedy, sizeof(d->remedy),
                 "move the CPU-bound work out of this interpreter "
                 "(multiprocessing or a process pool, or C code that "
                 "releases the GIL), or lower sys.setswitchinterval() "
                 "(now %g s) to shorten each wait at the price of more "
                 "switches",
                 (double)rep->interval_us / 1e6);
        convoy = true;
        n++;
    }

    /* Host threads serialised on the GIL. */
    if (n < EP_DIAG_MAX) {
        ep_diag *d = &out[n];
        size_t o = 0;
        double sum = 0;

        memset(d, 0, sizeof(*d));
        for (size_t i = 0; i < rep->nrows; i++) {
            const ep_gil_row *r = &rep->rows[i];

            if (r->host && r->wait_count >= 5 && r->waiting_pct >= 10.0) {
                int k =
                    snprintf(d->text + o, sizeof(d->text) - o,
                             "%s%s (%.0f%% waiting, %llu waits)",
                             d->nthreads ? ", " : "", r->name, r->waiting_pct,
                             (unsigned long long)r->wait_count);

                if (k > 0 && (size_t)k < sizeof(d->text) - o) {
                    o += (size_t)k;
                }
                sum += r->waiting_pct;
                add_thread(d, r);
            }
        }
        if (d->nthreads >= 2) {
            char who[sizeof(d->text)], tail[160];
            size_t w;

            snprintf(who, sizeof(who), "%s", d->text);
            snprintf(tail, sizeof(tail),
                     " spend on average %.0f%% of their time waiting for "
                     "it, so they run one at a time.",
                     sum / (double)d->nthreads);
            d->kind = "host_serialized";
            w = sizeof(d->text) - strlen(tail) - 64;
            who[w < sizeof(who) ? w : sizeof(who) - 1] = '\0';
            snprintf(d->text, sizeof(d->text),
                     "host threads serialise on the GIL: %.*s%s", (int)w, who,
                     tail);
            snprintf(d->remedy, sizeof(d->remedy),
                     "hold the GIL only around Python calls: release it "
                     "around native work (Py_BEGIN_ALLOW_THREADS or "
                     "PyEval_SaveThread), batch work into fewer calls, "
                     "keep one PyGILState_Ensure open per long-lived "
                     "thread; on 3.12+ sub-interpreters with their own "
                     "GIL run in parallel");
            n++;
        }
    }

    /* Long holds: the holder did not release the GIL when asked. */
    for (size_t i = 0; i < rep->nrows && n < EP_DIAG_MAX; i++) {
        const ep_gil_row *r = &rep->rows[i];
        ep_diag *d = &out[n];

        if (r->long_holds == 0) {
            continue;
        }
        memset(d, 0, sizeof(*d));
        d->kind = "native_hold";
        add_thread(d, r);
        snprintf(
            d->text, sizeof(d->text),
            "long GIL holds: %s held the GIL for up to %.1f ms at "
            "once (%llu times) while other threads waited, past the "
            "%.1f ms switch interval: native code (a C extension or "
            "the host) that runs without releasing the GIL%s%s.",
            r->name, ms(r->max_hold_ns), (unsigned long long)r->long_holds,
            (double)rep->interval_us / 1000.0, r->nhold ? "; holding in " : "",
            r->nhold ? r->hold_sites[0].text : "");
        snprintf(d->remedy, sizeof(d->remedy),
                 "release the GIL around long C work "
                 "(Py_BEGIN_ALLOW_THREADS ... Py_END_ALLOW_THREADS, or "
                 "PyEval_SaveThread/PyEval_RestoreThread) and never "
                 "sleep or block while holding it");
        n++;
    }

    /* The switch interval. */
    if (n < EP_DIAG_MAX && convoy && rep->interval_us >= 2000) {
        ep_diag *d = &out[n];

        memset(d, 0, sizeof(*d));
        d->kind = "switch_interval";
        add_thread(d, out[0].threads[0]);
        snprintf(d->text, sizeof(d->text),
                 "switch interval: at %.1f ms, a thread that needs the GIL "
                 "back after a short sleep or I/O waits about one interval "
                 "each time while CPU-bound threads run; %s's median wait "
                 "is %.2f ms.",
                 (double)rep->interval_us / 1000.0, out[0].threads[0]->name,
                 ms(out[0].threads[0]->p50_ns));
        snprintf(d->remedy, sizeof(d->remedy),
                 "sys.setswitchinterval(0.001) cuts such waits to about "
                 "1 ms; measure again, since more switches cost the "
                 "CPU-bound threads some throughput");
        n++;
    } else if (n < EP_DIAG_MAX && secs > 0.5 && rep->interval_us <= 1000 &&
               (double)rep->switches / secs > 2000.0) {
        ep_diag *d = &out[n];

        memset(d, 0, sizeof(*d));
        d->kind = "switch_interval";
        snprintf(d->text, sizeof(d->text),
                 "switch interval: at %.3f ms the GIL changed hands %.0f "
                 "times a second; every switch costs a context switch and "
                 "cold caches.",
                 (double)rep->interval_us / 1000.0,
                 (double)rep->switches / secs);
        snprintf(d->remedy, sizeof(d->remedy),
                 "raise it (sys.setswitchinterval(0.005) is the default) "
                 "unless a latency-sensitive thread needs it this short");
        n++;
    }
    return n;
}

static int
get_report(const ep_export_info *info, ep_gil_report *rep)
{
    if (info->ep == NULL || info->ep->gil == NULL) {
        return ep_error(EMBPROF_ENODATA, "gil: no data (no GIL probe)");
    }
    return ep_gil_report_get(info->ep->gil, rep);
}

/* --- JSON -------------------------------------------------------------- */

int
ep_gil_format_json(FILE *out, const ep_gil_report *rep,
                   const char *python_version)
{
    ep_diag diag[EP_DIAG_MAX];
    size_t nd = diagnose(rep, diag);

    fprintf(out,
            "{\"duration_ns\":%llu,\"switch_interval_us\":%llu,"
            "\"switches\":%llu,\"forced_switches\":%llu,\"running\":%s,"
            "\"python\":",
            (unsigned long long)rep->duration_ns,
            (unsigned long long)rep->interval_us,
            (unsigned long long)rep->switches, (unsigned long long)rep->forced,
            rep->running ? "true" : "false");
    ep_json_string(out, python_version ? python_version : "");
    fputs(",\"interposed_in\":", out);
    ep_json_string(out, rep->object);
    fprintf(out,
            ",\"probe\":{\"hook_calls\":%llu,\"waits\":%llu,"
            "\"waits_closed\":%llu,\"waits_open\":%llu,"
            "\"threads_dropped\":%llu,\"stack_read_failures\":%llu,"
            "\"repatches\":%llu,\"holder_samples\":%llu,"
            "\"held_samples\":%llu},\"threads\":[",
            (unsigned long long)rep->hook_calls,
            (unsigned long long)rep->episodes, (unsigned long long)rep->closed,
            (unsigned long long)rep->open,
            (unsigned long long)rep->threads_dropped,
            (unsigned long long)rep->stacks_failed,
            (unsigned long long)rep->repatches, (unsigned long long)rep->ticks,
            (unsigned long long)rep->held_ticks);
    for (size_t i = 0; i < rep->nrows; i++) {
        const ep_gil_row *r = &rep->rows[i];
        uint64_t behind_total = 0;

        fprintf(out, "%s{\"tid\":%d,\"name\":", i ? "," : "", (int)r->tid);
        ep_json_string(out, r->name);
        fprintf(out,
                ",\"kind\":\"%s\",\"wait_ns\":%llu,\"wait_count\":%llu,"
                "\"wait_p50_ns\":%llu,\"wait_p90_ns\":%llu,"
                "\"wait_p99_ns\":%llu,\"wait_max_ns\":%llu,"
                "\"wait_calls\":%llu,\"drop_requests\":%llu,"
                "\"held_pct\":%.2f,\"waiting_pct\":%.2f,"
                "\"running_pct\":%.2f,\"idle_pct\":%.2f,"
                "\"long_holds\":%llu,\"longest_hold_ns\":%llu,"
                "\"top_wait_sites\":[",
                r->host ? "host" : "python", (unsigned long long)r->wait_ns,
                (unsigned long long)r->wait_count,
                (unsigned long long)r->p50_ns, (unsigned long long)r->p90_ns,
                (unsigned long long)r->p99_ns, (unsigned long long)r->max_ns,
                (unsigned long long)r->calls, (unsigned long long)r->drops,
                r->held_pct, r->waiting_pct, r->running_pct, r->idle_pct,
                (unsigned long long)r->long_holds,
                (unsigned long long)r->max_hold_ns);
        for (size_t k = 0; k < r->nsites; k++) {
            fputs(k ? ",{\"site\":" : "{\"site\":", out);
            ep_json_string(out, r->sites[k].text);
            fprintf(out, ",\"count\":%llu,\"wait_ns\":%llu}",
                    (unsigned long long)r->sites[k].count,
                    (unsigned long long)r->sites[k].wait_ns);
        }
        fputs("],\"waited_behind\":[", out);
        for (size_t k = 0; k < r->nbehind; k++) {
            behind_total += r->behind[k].count;
        }
        for (size_t k = 0; k < r->nbehind; k++) {
            fprintf(out, "%s{\"tid\":%d,\"name\":", k ? "," : "",
                    (int)r->behind[k].tid);
            ep_json_string(out, r->behind[k].name);
            fprintf(out, ",\"samples\":%llu,\"pct\":%.1f}",
                    (unsigned long long)r->behind[k].count,
                    behind_total ? 100.0 * (double)r->behind[k].count /
                                       (double)behind_total
                                 : 0.0);
        }
        fputs("],\"top_hold_sites\":[", out);
        for (size_t k = 0; k < r->nhold; k++) {
            fputs(k ? ",{\"site\":" : "{\"site\":", out);
            ep_json_string(out, r->hold_sites[k].text);
            fprintf(out, ",\"samples\":%llu}",
                    (unsigned long long)r->hold_sites[k].count);
        }
        fputs("]}", out);
    }
    fputs("],\"diagnosis\":[", out);
    for (size_t i = 0; i < nd; i++) {
        fprintf(out, "%s{\"kind\":\"%s\",\"text\":", i ? "," : "",
                diag[i].kind);
        ep_json_string(out, diag[i].text);
        fputs(",\"remedy\":", out);
        ep_json_string(out, diag[i].remedy);
        fputs(",\"threads\":[", out);
        for (size_t k = 0; k < diag[i].nthreads; k++) {
            if (k) {
                fputc(',', out);
            }
            ep_json_string(out, diag[i].threads[k]->name);
        }
        fputs("],\"tids\":[", out);
        for (size_t k = 0; k < diag[i].nthreads; k++) {
            fprintf(out, "%s%d", k ? "," : "", (int)diag[i].threads[k]->tid);
        }
        fputs("]}", out);
    }
    fputs("]}\n", out);
    return ferror(out) ? 1 : 0;
}

/* --- text -------------------------------------------------------------- */

int
ep_gil_format_text(FILE *out, const ep_gil_report *rep)
{
    ep_diag diag[EP_DIAG_MAX];
    size_t nd = diagnose(rep, diag);
    double secs = (double)rep->duration_ns / 1e9;

    fprintf(out,
            "GIL report: %.2f s observed%s, switch interval %.1f ms\n"
            "switches: %llu (%.0f/s), forced by a waiter's drop request: "
            "%llu\n"
            "GIL held in %.0f%% of %llu holder samples; interposed in %s\n\n",
            secs, rep->running ? " (probe running)" : "",
            (double)rep->interval_us / 1000.0,
            (unsigned long long)rep->switches,
            secs > 0 ? (double)rep->switches / secs : 0.0,
            (unsigned long long)rep->forced,
            rep->ticks ? 100.0 * (double)rep->held_ticks / (double)rep->ticks
                       : 0.0,
            (unsigned long long)rep->ticks, rep->object);
    fprintf(out, "%-24s %8s %6s %10s %9s %9s %9s %9s %6s %6s %6s %6s\n",
            "thread", "tid", "kind", "waits", "wait ms", "p50 ms", "p99 ms",
            "max ms", "held%", "wait%", "run%", "idle%");
    for (size_t i = 0; i < rep->nrows; i++) {
        const ep_gil_row *r = &rep->rows[i];

        fprintf(out,
                "%-24.24s %8d %6s %10llu %9.2f %9.3f %9.3f %9.3f %6.1f "
                "%6.1f %6.1f %6.1f\n",
                r->name, (int)r->tid, r->host ? "host" : "python",
                (unsigned long long)r->wait_count, ms(r->wait_ns),
                ms(r->p50_ns), ms(r->p99_ns), ms(r->max_ns), r->held_pct,
                r->waiting_pct, r->running_pct, r->idle_pct);
    }
    for (size_t i = 0; i < rep->nrows; i++) {
        const ep_gil_row *r = &rep->rows[i];

        if (r->nsites == 0 && r->nhold == 0) {
            continue;
        }
        fprintf(out, "\n%s (tid %d)\n", r->name, (int)r->tid);
        for (size_t k = 0; k < r->nsites; k++) {
            fprintf(out, "  waited %6llu times %9.2f ms at %s\n",
                    (unsigned long long)r->sites[k].count,
                    ms(r->sites[k].wait_ns), r->sites[k].text);
        }
        for (size_t k = 0; k < r->nbehind; k++) {
            fprintf(out, "  behind %s (tid %d): %llu samples\n",
                    r->behind[k].name, (int)r->behind[k].tid,
                    (unsigned long long)r->behind[k].count);
        }
        for (size_t k = 0; k < r->nhold; k++) {
            fprintf(out, "  held   %6llu samples in %s\n",
                    (unsigned long long)r->hold_sites[k].count,
                    r->hold_sites[k].text);
        }
        if (r->long_holds > 0) {
            fprintf(out, "  long holds: %llu, longest %.1f ms\n",
                    (unsigned long long)r->long_holds, ms(r->max_hold_ns));
        }
    }
    fputs("\ndiagnosis:\n", out);
    if (nd == 0) {
        fputs("  nothing stands out: no thread waits much for the GIL.\n",
              out);
    }
    for (size_t i = 0; i < nd; i++) {
        fprintf(out, "  - %s\n    remedy: %s\n", diag[i].text, diag[i].remedy);
    }
    return ferror(out) ? 1 : 0;
}

int
ep_export_gil(FILE *out, const ep_export_info *info)
{
    ep_gil_report rep;
    int rc = get_report(info, &rep);

    if (rc != EMBPROF_OK) {
        return rc;
    }
    rc = ep_gil_format_text(out, &rep);
    ep_gil_report_free(&rep);
    return rc;
}

int
ep_export_gil_json(FILE *out, const ep_export_info *info)
{
    ep_gil_report rep;
    int rc = get_report(info, &rep);

    if (rc != EMBPROF_OK) {
        return rc;
    }
    rc = ep_gil_format_json(out, &rep, info->python_version);
    ep_gil_report_free(&rep);
    return rc;
}

/*
 * commands.c -- the control socket's command table. Adding a command is
 * adding a row; `help` is generated from the rows, and each row counts
 * its calls (shown by `status`). Every command that changes state goes
 * through the controller (ep_ctl_*), the same entry points as the C API,
 * the Python module and, later, the policies. Control thread only.
 */
#include "control_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "../error.h"
#include "../export/export.h"
#include "../log.h"
#include "../options.h"
#include "../probes/probe.h"
#include "../py/layout.h"
#include "../py/walker.h"
#include "../runtime.h"
#include "../threads.h"
#include "../../scripting/policy.h"

typedef void (*cmd_fn)(ep_conn *conn, const ep_request *req);

typedef struct ep_command {
    const char *name;
    int min_args; /* words after the command */
    int max_args;
    ep_level level; /* the least a session needs */
    const char *usage;
    const char *doc;
    cmd_fn fn;
} ep_command;

static const ep_command ep_commands[];

/* Settings a socket client may read but never set: they decide where
 * files are written, and the socket confines writes to output.dir. */
static const char *const ep_socket_fixed[] = {
    "output.dir",
    "output.file",
    "gil.output",
    "log.file",
};

/* True if probe option word w ("output=x" or "gil.output=x", for probe
 * `probe`) names one of ep_socket_fixed. */
static bool
start_word_fixed(const char *probe, const char *w, const char *eq)
{
    char key[128];
    const char *dot = memchr(w, '.', (size_t)(eq - w));

    if (dot != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(eq - w), w);
    } else {
        snprintf(key, sizeof(key), "%s.%.*s", probe, (int)(eq - w), w);
    }
    for (size_t i = 0;
         i < sizeof(ep_socket_fixed) / sizeof(ep_socket_fixed[0]); i++) {
        if (strcmp(key, ep_socket_fixed[i]) == 0) {
            return true;
        }
    }
    return false;
}

static const char *
level_name(ep_level level)
{
    return level == EP_LEVEL_ADMIN  ? "admin"
           : level == EP_LEVEL_READ ? "read"
                                    : "none";
}

/* --- replies ----------------------------------------------------------- */

/* Ends r and queues it on conn. */
static void
send_reply(ep_conn *conn, ep_reply *r)
{
    if (ep_reply_end(r) == 0) {
        ep_conn_send(conn, r->buf, r->len);
        free(r->buf);
    } else {
        ep_conn_error(conn, "internal", "out of memory", false);
    }
}

static void
send_ok(ep_conn *conn)
{
    ep_reply r;

    if (ep_reply_begin(&r, 1) == 0) {
        send_reply(conn, &r);
    }
}

/* Maps a status to a protocol error code; the message is the controller's
 * own (embprof_last_error), the same text the C API gives. */
static void
send_status(ep_conn *conn, int rc)
{
    static const struct {
        int status;
        const char *code;
    } map[] = {
        {EMBPROF_EINVAL, "bad_argument"},
        {EMBPROF_ENOTFOUND, "bad_argument"},
        {EMBPROF_ESTATE, "bad_state"},
        {EMBPROF_ENODATA, "no_data"},
        {EMBPROF_EIO, "io_error"},
        {EMBPROF_EUNSUPPORTED, "unsupported"},
        {EMBPROF_EBUSY, "busy"},
    };
    const char *code = "internal";

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].status == rc) {
            code = map[i].code;
        }
    }
    ep_conn_error(conn, code,
                  embprof_last_error()[0] ? embprof_last_error()
                                          : embprof_strerror(rc),
                  false);
}

/* Writes an option's current value as typed JSON (number, bool, string). */
static void
put_option(FILE *f, struct embprof *ep, int id)
{
    char val[4096];

    ep_ctl_config_get(ep, ep_options[id].key, val, sizeof(val));
    switch (ep_options[id].type) {
    case EP_OPT_INT:
    case EP_OPT_DOUBLE:
    case EP_OPT_BOOL:
        fputs(val, f);
        break;
    default:
        ep_proto_json_str(f, val);
    }
}

/* --- commands ---------------------------------------------------------- */

static void
cmd_help(ep_conn *conn, const ep_request *req)
{
    ep_reply r;
    char *list = NULL;
    size_t len = 0;
    FILE *f;

    (void)req;
    f = open_memstream(&list, &len);
    if (f == NULL) {
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    fputc('[', f);
    for (const ep_command *c = ep_commands; c->name != NULL; c++) {
        fputs(c == ep_commands ? "{\"name\":" : ",{\"name\":", f);
        ep_proto_json_str(f, c->name);
        fputs(",\"usage\":", f);
        ep_proto_json_str(f, c->usage);
        fputs(",\"level\":", f);
        ep_proto_json_str(f, c->level == EP_LEVEL_NONE ? "any"
                                                       : level_name(c->level));
        fputs(",\"doc\":", f);
        ep_proto_json_str(f, c->doc);
        fputc('}', f);
    }
    fputc(']', f);
    if (fclose(f) != 0 || ep_reply_begin(&r, 1) != 0) {
        free(list);
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    ep_reply_raw(&r, "commands", list);
    ep_reply_str(&r, "level", level_name(conn->level));
    free(list);
    send_reply(conn, &r);
}

static void
cmd_status(ep_conn *conn, const ep_request *req)
{
    ep_control *c = conn->c;
    struct embprof *ep = c->ep;
    embprof_stats st;
    uint64_t control_cpu = ep_clock_thread_cpu_ns(); /* this thread's */
    char *json = NULL, dir[4096], last[4096];
    size_t len = 0;
    FILE *f;
    ep_reply r;

    (void)req;
    ep_ctl_stats(ep, &st);
    ep_ctl_config_get(ep, "output.dir", dir, sizeof(dir));
    ep_ctl_last_export(ep, last, sizeof(last));
    f = open_memstream(&json, &len);
    if (f == NULL) {
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    /* Probes and their options, straight from the probe and option
     * tables. */
    fputc('{', f);
    for (size_t p = 0; p < ep_probe_count; p++) {
        const char *name = ep_probe_table[p]->name;
        size_t prefix = strlen(name);

        fprintf(f, "%s\"%s\":{\"active\":%s", p ? "," : "", name,
                ep_ctl_active(ep, name) == 1 ? "true" : "false");
        for (int i = 0; i < EP_OPT_COUNT; i++) {
            if (strncmp(ep_options[i].key, name, prefix) == 0 &&
                ep_options[i].key[prefix] == '.') {
                fputc(',', f);
                ep_proto_json_str(f, ep_options[i].key + prefix + 1);
                fputc(':', f);
                put_option(f, ep, i);
            }
        }
        fputc('}', f);
    }
    fputc('}', f);
    if (fclose(f) != 0 || ep_reply_begin(&r, 1) != 0) {
        free(json);
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    ep_reply_str(&r, "version", EMBPROF_VERSION_STRING);
    ep_reply_str(&r, "python", ep_py_layout_get()->version);
    ep_reply_int(&r, "pid", (long long)conn->c->pid);
    ep_reply_num(&r, "uptime_s",
                 (double)(ep_clock_now_ns() - ep->created_ns) / 1e9);
    ep_reply_raw(&r, "probes", json);
    free(json);
    ep_reply_int(&r, "samples", (long long)st.samples);
    ep_reply_int(&r, "ticks", (long long)st.ticks);
    ep_reply_int(&r, "idle_skipped", (long long)st.idle_skipped);
    ep_reply_int(&r, "stacks", (long long)st.stacks);
    ep_reply_int(&r, "functions", (long long)st.functions);
    ep_reply_int(&r, "threads_seen", (long long)st.threads_seen);
    /* What was lost, in one place. */
    {
        char drops[256];

        snprintf(drops, sizeof(drops),
                 "{\"walk_errors\":%llu,\"missed_ticks\":%llu,"
                 "\"truncated\":%llu,\"observations\":%llu,\"events\":%llu}",
                 (unsigned long long)st.walk_errors,
                 (unsigned long long)st.missed_ticks,
                 (unsigned long long)st.truncated,
                 (unsigned long long)st.observations_dropped,
                 (unsigned long long)c->events_dropped);
        ep_reply_raw(&r, "drops", drops);
    }
    ep_reply_int(&r, "walk_errors", (long long)st.walk_errors);
    ep_reply_int(&r, "missed_ticks", (long long)st.missed_ticks);
    ep_reply_int(&r, "truncated", (long long)st.truncated);
    ep_reply_int(&r, "observations", (long long)st.observations);
    ep_reply_int(&r, "observations_dropped",
                 (long long)st.observations_dropped);
    ep_reply_int(&r, "sampler_cpu_ns", (long long)st.sampler_cpu_ns);
    ep_reply_int(&r, "control_cpu_ns", (long long)control_cpu);
    ep_reply_int(&r, "embprof_cpu_ns",
                 (long long)(st.sampler_cpu_ns + control_cpu));
    ep_reply_int(&r, "process_cpu_ns", (long long)ep_clock_process_cpu_ns());
    ep_reply_int(&r, "clients", c->nconns);
    ep_reply_int(&r, "max_clients", c->max_clients);
    {
        char conns[256];

        snprintf(conns, sizeof(conns),
                 "{\"accepted\":%llu,\"refused_busy\":%llu,"
                 "\"refused_peer\":%llu,\"dropped_slow\":%llu}",
                 (unsigned long long)c->accepted,
                 (unsigned long long)c->refused_busy,
                 (unsigned long long)c->refused_peer,
                 (unsigned long long)c->dropped_slow);
        ep_reply_raw(&r, "connections", conns);
    }
    {
        char *calls = NULL;
        size_t clen = 0;
        FILE *cf = open_memstream(&calls, &clen);
        int i = 0;

        if (cf != NULL) {
            fputc('{', cf);
            for (const ep_command *cmd = ep_commands; cmd->name != NULL;
                 cmd++, i++) {
                fprintf(cf, "%s\"%s\":%llu", i ? "," : "", cmd->name,
                        (unsigned long long)c->calls[i]);
            }
            fputc('}', cf);
            if (fclose(cf) == 0) {
                ep_reply_raw(&r, "commands", calls);
            }
            free(calls);
        }
    }
    ep_reply_str(&r, "level", level_name(conn->level));
    ep_reply_str(&r, "output_dir", dir);
    ep_reply_str(&r, "last_export", last);
    send_reply(conn, &r);
}

static void
cmd_start(ep_conn *conn, const ep_request *req)
{
    const char *probe = req->argv[1];
    size_t plen = strlen(probe);
    char opts[EP_PROTO_MAX_LINE + 1];
    size_t o = 0;
    int rc, n;

    /* Only the probe's own options: "rate=997" or "sampler.rate=997".
     * Anything else (output.file=..., control.*) is not a probe option
     * and must not be settable behind the confinement of exports. */
    opts[0] = '\0';
    for (int i = 2; i < req->argc; i++) {
        const char *w = req->argv[i];
        const char *eq = strchr(w, '=');
        const char *dot = eq ? memchr(w, '.', (size_t)(eq - w)) : NULL;
        char msg[256];

        if (eq == NULL || eq == w) {
            snprintf(msg, sizeof(msg), "expected key=value, got \"%.100s\"",
                     w);
            ep_conn_error(conn, "bad_argument", msg, false);
            return;
        }
        if (dot != NULL &&
            !(strncmp(w, probe, plen) == 0 && w + plen == dot &&
              memchr(dot + 1, '.', (size_t)(eq - dot - 1)) == NULL)) {
            snprintf(msg, sizeof(msg),
                     "start %.40s: \"%.*s\" is not an option of the probe "
                     "(use config set for settings)",
                     probe, (int)(eq - w > 80 ? 80 : eq - w), w);
            ep_conn_error(conn, "bad_argument", msg, false);
            return;
        }
        if (start_word_fixed(probe, w, eq)) {
            snprintf(msg, sizeof(msg),
                     "start %.40s: \"%.*s\" cannot be set through the "
                     "control socket (it decides where files are written)",
                     probe, (int)(eq - w > 80 ? 80 : eq - w), w);
            ep_conn_error(conn, "forbidden", msg, false);
            return;
        }
        if (strpbrk(w, " \t") != NULL) {
            snprintf(msg, sizeof(msg),
                     "option values cannot hold blanks: "
                     "\"%.100s\"",
                     w);
            ep_conn_error(conn, "bad_argument", msg, false);
            return;
        }
        /* The words came from one line, so they fit; checked anyway. */
        n = snprintf(opts + o, sizeof(opts) - o, "%s%s", o ? " " : "", w);
        if (n < 0 || (size_t)n >= sizeof(opts) - o) {
            ep_conn_error(conn, "too_large", "start: options too long", false);
            return;
        }
        o += (size_t)n;
    }
    rc = ep_ctl_start(conn->c->ep, probe, opts);
    if (rc != EMBPROF_OK) {
        send_status(conn, rc);
        return;
    }
    send_ok(conn);
}

static void
cmd_stop(ep_conn *conn, const ep_request *req)
{
    int rc = ep_ctl_stop(conn->c->ep, req->argv[1]);

    if (rc != EMBPROF_OK) {
        send_status(conn, rc);
        return;
    }
    send_ok(conn);
}

static void
cmd_reset(ep_conn *conn, const ep_request *req)
{
    int rc;

    (void)req;
    rc = ep_ctl_reset(conn->c->ep);
    if (rc != EMBPROF_OK) {
        send_status(conn, rc);
        return;
    }
    send_ok(conn);
}

/* Reads an int setting under the controller's lock. */
static int64_t
cfg_int(struct embprof *ep, ep_opt_id id)
{
    int64_t v;

    pthread_mutex_lock(&ep->ctl_lock);
    v = ep_cfg_int(&ep->cfg, id);
    pthread_mutex_unlock(&ep->ctl_lock);
    return v;
}

/* Writes every thread's stack, taken now with a walker of our own (safe
 * reads, no GIL), as a JSON array into f. Returns the thread count or a
 * negative status. */
static int
dump_json(ep_control *c, FILE *f)
{
    struct embprof *ep = c->ep;
    ep_walker w;
    ep_wthread *threads;
    uint32_t *slots = NULL;
    int32_t *offsets = NULL;
    int n, rc;

    /* Python thread names are collected by the main thread when it next
     * runs bytecode (the embed layer schedules it; never waits): this
     * dump may still show OS names, the next one has them. At most once a
     * second, so that a client repeating dump cannot load the host. */
    if (ep_clock_now_ns() - c->names_ns > 1000000000u) {
        c->names_ns = ep_clock_now_ns();
        pthread_mutex_lock(&ep->ctl_lock);
        if (ep->refresh_names != NULL) {
            ep->refresh_names(ep);
        }
        pthread_mutex_unlock(&ep->ctl_lock);
    }
    rc = ep_walker_open(&w, (int)cfg_int(ep, EP_OPT_SAMPLER_MEMREAD),
                        (uint32_t)cfg_int(ep, EP_OPT_SAMPLER_MAX_DEPTH));
    if (rc != EMBPROF_OK) {
        return rc;
    }
    threads = calloc(EP_WALK_MAX_THREADS, sizeof(*threads));
    slots = malloc(w.max_depth * sizeof(*slots));
    offsets = malloc(w.max_depth * sizeof(*offsets));
    if (threads == NULL || slots == NULL || offsets == NULL) {
        rc = ep_error(EMBPROF_ENOMEM, "dump: out of memory");
        goto out;
    }
    n = ep_walker_threads(&w, threads, EP_WALK_MAX_THREADS);
    if (n < 0) {
        rc = ep_error(EMBPROF_EIO, "dump: the interpreter's thread list "
                                   "could not be read");
        goto out;
    }
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        ep_wthread *t = &threads[i];
        char name[64] = "";
        bool host = false;
        int ok;

        ep_names_resolve(t->tid, t->ident, name, sizeof(name), &host);
        t->code_slot = slots;
        t->offset = offsets;
        fprintf(f, "%s{\"tid\":%d,\"ident\":%llu,\"name\":", i ? "," : "",
                (int)t->tid, (unsigned long long)t->ident);
        ep_proto_json_str(f, name);
        fprintf(f, ",\"kind\":\"%s\",\"holds_gil\":%s,\"frames\":[",
                host ? "host" : "python", t->holds_gil ? "true" : "false");
        ok = ep_walker_stack(&w, t) == 0;
        for (uint32_t d = 0; ok && d < t->depth; d++) {
            const ep_codeinfo *ci = &w.codes[t->code_slot[d]];

            fputs(d ? ",{\"name\":" : "{\"name\":", f);
            ep_proto_json_str(f, ci->qualname_s);
            fputs(",\"file\":", f);
            ep_proto_json_str(f, ci->file);
            fprintf(f, ",\"line\":%d}", ep_walker_line(&w, t, d));
        }
        fprintf(f, "],\"complete\":%s,\"truncated\":%s}",
                ok && !t->truncated ? "true" : "false",
                t->truncated ? "true" : "false");
    }
    fputc(']', f);
    rc = n;
out:
    free(threads);
    free(slots);
    free(offsets);
    ep_walker_close(&w);
    return rc;
}

static void
cmd_dump(ep_conn *conn, const ep_request *req)
{
    char *json = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&json, &len);
    ep_reply r;
    int n;

    (void)req;
    if (f == NULL) {
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    n = dump_json(conn->c, f);
    if (fclose(f) != 0 && n >= 0) {
        n = ep_error(EMBPROF_ENOMEM, "dump: out of memory");
    }
    if (n < 0) {
        free(json);
        send_status(conn, n);
        return;
    }
    if (ep_reply_begin(&r, 1) == 0) {
        ep_reply_int(&r, "pid", (long long)conn->c->pid);
        ep_reply_str(&r, "python", ep_py_layout_get()->version);
        ep_reply_raw(&r, "threads", json);
        send_reply(conn, &r);
    }
    free(json);
}

/* Parses a count 1..max from text; -1 if it is not one. */
static long
parse_count(const char *text, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > max) {
        return -1;
    }
    return v;
}

static void
cmd_top(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    const char *ns = ep_proto_kv(req, 1, "n");
    long n = ns ? parse_count(ns, 10000) : 20;
    ep_export_info info;
    ep_top_row *rows = NULL;
    uint32_t nrows = 0;
    uint64_t grand = 0, samples;
    char *json = NULL;
    size_t len = 0;
    FILE *f;
    ep_reply r;
    int rc = 0;

    if (n < 0 || (req->argc > 1 && ns == NULL)) {
        ep_conn_error(conn, "bad_argument",
                      "top: usage: top [n=ROWS], ROWS 1..10000", false);
        return;
    }
    memset(&info, 0, sizeof(info));
    info.store = &ep->store;
    pthread_mutex_lock(&ep->ctl_lock);
    info.mode = ep->last_mode;
    info.rate = ep->last_rate;
    pthread_mutex_unlock(&ep->ctl_lock);
    f = open_memstream(&json, &len);
    if (f == NULL) {
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    fputc('[', f);
    /* A read of the store, like an exporter's: under its lock, which the
     * sampler holds only to add one tick's stacks. */
    pthread_mutex_lock(&ep->store.lock);
    samples = 0;
    for (uint32_t i = 0; i < ep->store.nstacks; i++) {
        samples += ep->store.stacks[i].w.samples;
    }
    if (ep_top_rows(&info, &rows, &nrows, &grand) == 0) {
        for (uint32_t i = 0; i < nrows && i < (uint32_t)n; i++) {
            const ep_func *fn = &ep->store.funcs[rows[i].func];

            fputs(i ? ",{\"function\":" : "{\"function\":", f);
            ep_proto_json_str(f, ep_store_strget(&ep->store, fn->name));
            fputs(",\"file\":", f);
            ep_proto_json_str(f, ep_store_strget(&ep->store, fn->file));
            fprintf(f,
                    ",\"line\":%d,\"own_pct\":%.2f,\"total_pct\":%.2f,"
                    "\"own_ns\":%llu,\"total_ns\":%llu}",
                    (int)fn->firstline,
                    grand ? 100.0 * (double)rows[i].own / (double)grand : 0,
                    grand ? 100.0 * (double)rows[i].total / (double)grand : 0,
                    (unsigned long long)rows[i].own,
                    (unsigned long long)rows[i].total);
        }
        free(rows);
    } else {
        rc = -1;
    }
    pthread_mutex_unlock(&ep->store.lock);
    fputc(']', f);
    if (fclose(f) != 0 || rc != 0) {
        free(json);
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    if (ep_reply_begin(&r, 1) == 0) {
        ep_reply_str(&r, "mode", info.mode ? "cpu" : "wall");
        ep_reply_int(&r, "rate", info.rate);
        ep_reply_bool(&r, "active", ep_ctl_active(ep, "sampler") == 1);
        ep_reply_int(&r, "samples", (long long)samples);
        ep_reply_int(&r, "total_ns", (long long)grand);
        ep_reply_raw(&r, "functions", json);
        send_reply(conn, &r);
    }
    free(json);
}

/* The GIL probe's report now: {"report": gil-json, "text": the text
 * report}. Under ctl_lock, like an export (no file is written). */
static void
cmd_gil(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    ep_gil_report rep;
    char *json = NULL, *text = NULL;
    size_t jlen = 0, tlen = 0;
    FILE *jf, *tf;
    ep_reply r;
    int rc;

    (void)req;
    if (ep->refresh_names != NULL) {
        ep->refresh_names(ep);
    }
    pthread_mutex_lock(&ep->ctl_lock);
    rc = ep_gil_report_get(ep->gil, &rep);
    if (rc != EMBPROF_OK) {
        pthread_mutex_unlock(&ep->ctl_lock);
        send_status(conn, rc);
        return;
    }
    jf = open_memstream(&json, &jlen);
    tf = open_memstream(&text, &tlen);
    if (jf != NULL && tf != NULL) {
        rc = ep_gil_format_json(jf, &rep, ep_py_layout_get()->version) |
             ep_gil_format_text(tf, &rep);
    }
    ep_gil_report_free(&rep);
    pthread_mutex_unlock(&ep->ctl_lock);
    if (jf == NULL || tf == NULL || fclose(jf) != 0 || fclose(tf) != 0 ||
        rc != 0) {
        free(json);
        free(text);
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    if (jlen > 0 && json[jlen - 1] == '\n') {
        json[--jlen] = '\0';
    }
    if (ep_reply_begin(&r, 1) == 0) {
        ep_reply_raw(&r, "report", json);
        ep_reply_str(&r, "text", text);
        send_reply(conn, &r);
    }
    free(json);
    free(text);
}

static void
cmd_export(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    const char *format = req->argv[1];
    const char *path = ep_proto_kv(req, 2, "path");
    const ep_exporter *ex = ep_export_find(format);
    char name[256], dir[4096], full[4096], written[4096];
    struct stat st;
    ep_reply r;
    int rc;

    if (ex == NULL) {
        char msg[200];

        snprintf(msg, sizeof(msg),
                 "unknown export format \"%.40s\" (accepts %s)", format,
                 ep_export_names());
        ep_conn_error(conn, "bad_argument", msg, false);
        return;
    }
    if (path == NULL && req->argc == 3 && strchr(req->argv[2], '=') == NULL) {
        path = req->argv[2]; /* export speedscope slow.speedscope.json */
    } else if (path == NULL && req->argc == 3) {
        ep_conn_error(conn, "bad_argument", "usage: export FORMAT [path=FILE]",
                      false);
        return;
    }
    if (path == NULL || path[0] == '\0') {
        char stamp[32], ext[32];
        time_t now = time(NULL);
        struct tm tm;
        const char *bar = strchr(ex->extensions, '|');

        localtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
        snprintf(ext, sizeof(ext), "%.*s",
                 bar ? (int)(bar - ex->extensions) : 31, ex->extensions);
        snprintf(name, sizeof(name), "embprof-%d-%s-%u%s", (int)conn->c->pid,
                 stamp, ++conn->c->export_counter, ext);
        path = name;
    }
    ep_ctl_config_get(ep, "output.dir", dir, sizeof(dir));
    rc = ep_proto_confine(dir, path, full, sizeof(full));
    if (rc == EP_CONFINE_FORBIDDEN) {
        char msg[300];

        snprintf(msg, sizeof(msg),
                 "export: %.200s is outside output.dir (the control socket "
                 "writes files only under it)",
                 path);
        ep_log(EP_LOG_WARN, "control: client %llu (pid %d): %s",
               (unsigned long long)conn->id, (int)conn->pid, msg);
        ep_conn_error(conn, "forbidden", msg, false);
        return;
    }
    if (rc == EMBPROF_OK) {
        rc = ep_ctl_export(ep, ex->name, full);
    }
    if (rc != EMBPROF_OK) {
        send_status(conn, rc);
        return;
    }
    ep_ctl_last_export(ep, written, sizeof(written));
    if (ep_reply_begin(&r, 1) == 0) {
        ep_reply_str(&r, "format", ex->name);
        ep_reply_str(&r, "file", written);
        if (stat(written, &st) == 0) {
            ep_reply_int(&r, "bytes", (long long)st.st_size);
        }
        send_reply(conn, &r);
    }
}

static void
cmd_config(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    const char *verb = req->argv[1];
    char val[4096];
    ep_reply r;
    int rc;

    if (strcmp(verb, "get") == 0 && req->argc <= 3) {
        char *all = NULL;
        size_t len = 0;
        FILE *f;

        if (req->argc == 3) {
            if (ep_ctl_config_get(ep, req->argv[2], val, sizeof(val)) !=
                EMBPROF_OK) {
                send_status(conn, EMBPROF_EINVAL);
                return;
            }
            if (ep_reply_begin(&r, 1) == 0) {
                ep_reply_str(&r, "key", req->argv[2]);
                ep_reply_str(&r, "value", val);
                send_reply(conn, &r);
            }
            return;
        }
        f = open_memstream(&all, &len);
        if (f == NULL) {
            ep_conn_error(conn, "internal", "out of memory", false);
            return;
        }
        fputc('{', f);
        for (int i = 0; i < EP_OPT_COUNT; i++) {
            ep_ctl_config_get(ep, ep_options[i].key, val, sizeof(val));
            fputs(i ? "," : "", f);
            ep_proto_json_str(f, ep_options[i].key);
            fputc(':', f);
            ep_proto_json_str(f, val);
        }
        fputc('}', f);
        if (fclose(f) != 0 || ep_reply_begin(&r, 1) != 0) {
            free(all);
            ep_conn_error(conn, "internal", "out of memory", false);
            return;
        }
        ep_reply_raw(&r, "config", all);
        free(all);
        send_reply(conn, &r);
        return;
    }
    if (strcmp(verb, "set") == 0 && req->argc >= 3) {
        const char *key = req->argv[2];
        const char *v = req->argc > 3 ? req->argv[3] : NULL;
        const char *eq = strchr(key, '=');
        char k[256];

        if (req->argc > 4 || (v == NULL && eq == NULL) ||
            (v != NULL && eq != NULL)) {
            ep_conn_error(conn, "bad_request",
                          "usage: config set KEY VALUE (or KEY=VALUE)", false);
            return;
        }
        if (v == NULL) {
            snprintf(k, sizeof(k), "%.*s", (int)(eq - key), key);
            key = k;
            v = eq + 1;
        }
        if (conn->level < EP_LEVEL_ADMIN) {
            ep_conn_error(conn, "forbidden",
                          "config set needs the admin level", false);
            return;
        }
        for (size_t i = 0;
             i < sizeof(ep_socket_fixed) / sizeof(ep_socket_fixed[0]); i++) {
            if (strcmp(key, ep_socket_fixed[i]) == 0) {
                char msg[200];

                snprintf(msg, sizeof(msg),
                         "%.64s cannot be set through the control socket (it "
                         "decides where files are written)",
                         key);
                ep_conn_error(conn, "forbidden", msg, false);
                return;
            }
        }
        rc = ep_ctl_config_set(ep, key, v);
        if (rc != EMBPROF_OK) {
            send_status(conn, rc);
            return;
        }
        ep_ctl_config_get(ep, key, val, sizeof(val));
        if (ep_reply_begin(&r, 1) == 0) {
            ep_reply_str(&r, "key", key);
            ep_reply_str(&r, "value", val);
            send_reply(conn, &r);
        }
        return;
    }
    ep_conn_error(conn, "bad_request",
                  "usage: config get [KEY] | config set KEY VALUE", false);
}

/* policy load FILE | reload | list | disable NAME */
static void
cmd_policy(ep_conn *conn, const ep_request *req)
{
    ep_policy *p = conn->c->policy;
    const char *verb = req->argv[1];
    char *json = NULL;
    size_t len = 0;
    FILE *f;
    ep_reply r;
    int rc;

    if (p == NULL) {
        ep_conn_error(conn, "internal", "no policy engine", false);
        return;
    }
    if (strcmp(verb, "list") == 0 && req->argc == 2) {
        /* read level: nothing changes */
    } else if ((strcmp(verb, "load") == 0 && req->argc == 3) ||
               (strcmp(verb, "reload") == 0 && req->argc == 2) ||
               (strcmp(verb, "disable") == 0 && req->argc == 3)) {
        if (conn->level < EP_LEVEL_ADMIN) {
            char msg[80];

            snprintf(msg, sizeof(msg), "policy %s needs the admin level",
                     verb);
            ep_conn_error(conn, "forbidden", msg, false);
            return;
        }
    } else {
        ep_conn_error(conn, "bad_request",
                      "usage: policy load FILE | reload | list | disable "
                      "NAME",
                      false);
        return;
    }
    if (strcmp(verb, "load") == 0) {
        const char *dir = ep_policy_dir(p);
        char full[4096];

        if (dir[0] != '\0') {
            rc = ep_proto_confine(dir, req->argv[2], full, sizeof(full));
            if (rc == EP_CONFINE_FORBIDDEN) {
                char msg[300];

                snprintf(msg, sizeof(msg),
                         "policy load: %.200s is outside policy.dir",
                         req->argv[2]);
                ep_conn_error(conn, "forbidden", msg, false);
                return;
            }
            if (rc != EMBPROF_OK) {
                send_status(conn, rc);
                return;
            }
        } else {
            snprintf(full, sizeof(full), "%s", req->argv[2]);
        }
        rc = ep_policy_load(p, full);
    } else if (strcmp(verb, "reload") == 0) {
        rc = ep_policy_reload(p);
    } else if (strcmp(verb, "disable") == 0) {
        rc = ep_policy_disable(p, req->argv[2]);
    } else {
        rc = EMBPROF_OK;
    }
    if (rc != EMBPROF_OK) {
        /* A policy that does not load is the script's fault, not a bad
         * argument: its own code, with file:line in the message. */
        if (rc == EMBPROF_EINVAL || rc == EMBPROF_ENOMEM) {
            ep_conn_error(conn, "policy_error", embprof_last_error(), false);
        } else {
            send_status(conn, rc);
        }
        return;
    }
    f = open_memstream(&json, &len);
    if (f == NULL) {
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    ep_policy_describe(p, f);
    if (fclose(f) != 0 || ep_reply_begin(&r, 1) != 0) {
        free(json);
        ep_conn_error(conn, "internal", "out of memory", false);
        return;
    }
    ep_reply_raw(&r, "policy", json);
    free(json);
    send_reply(conn, &r);
}

static void
cmd_subscribe(ep_conn *conn, const ep_request *req)
{
    ep_reply r;

    (void)req;
    conn->subscribed = true;
    ep_conn_no_idle_timeout(conn);
    if (ep_reply_begin(&r, 1) == 0) {
        ep_reply_bool(&r, "subscribed", 1);
        send_reply(conn, &r);
    }
}

static void
cmd_auth(ep_conn *conn, const ep_request *req)
{
    const char *want = conn->c->token;
    const char *got = req->argv[1];
    size_t n = strlen(want), m = strlen(got);
    unsigned char diff = (unsigned char)(n != m);

    if (!conn->tcp || conn->level != EP_LEVEL_NONE) {
        send_ok(conn); /* Unix peers are checked by uid; no-op */
        return;
    }
    /* Constant time over the expected token's length. */
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(want[i] ^ (i < m ? got[i] : 0));
    }
    if (diff != 0 || n == 0) {
        ep_log(EP_LOG_WARN, "control: client %llu (tcp): bad token",
               (unsigned long long)conn->id);
        ep_conn_error(conn, "forbidden", "bad token", true);
        return;
    }
    conn->level = EP_LEVEL_ADMIN;
    send_ok(conn);
}

static void
cmd_level(ep_conn *conn, const ep_request *req)
{
    ep_reply r;

    if (req->argc == 2) {
        ep_level want = strcmp(req->argv[1], "read") == 0    ? EP_LEVEL_READ
                        : strcmp(req->argv[1], "admin") == 0 ? EP_LEVEL_ADMIN
                                                             : EP_LEVEL_NONE;

        if (want == EP_LEVEL_NONE) {
            ep_conn_error(conn, "bad_argument", "usage: level [read|admin]",
                          false);
            return;
        }
        if (want > conn->level) {
            ep_conn_error(conn, "forbidden",
                          "a session can lower its level, never raise it",
                          false);
            return;
        }
        conn->level = want;
    }
    if (ep_reply_begin(&r, 1) == 0) {
        ep_reply_str(&r, "level", level_name(conn->level));
        send_reply(conn, &r);
    }
}

static void
cmd_quit(ep_conn *conn, const ep_request *req)
{
    (void)req;
    send_ok(conn);
    ep_conn_close_later(conn);
}

static const ep_command ep_commands[] = {
    {"help", 0, 0, EP_LEVEL_READ, "help",
     "the commands, their arguments and levels", cmd_help},
    {"status", 0, 0, EP_LEVEL_READ, "status",
     "version, Python, uptime, probes and their options, samples, drops, "
     "embprof's own CPU time",
     cmd_status},
    {"start", 1, EP_PROTO_MAX_ARGS - 2, EP_LEVEL_ADMIN,
     "start PROBE [key=value ...]",
     "start a probe (sampler) with its options, e.g. start sampler "
     "rate=997 mode=cpu",
     cmd_start},
    {"stop", 1, 1, EP_LEVEL_ADMIN, "stop PROBE",
     "stop a probe; its data stays for export", cmd_stop},
    {"reset", 0, 0, EP_LEVEL_ADMIN, "reset", "drop the collected samples",
     cmd_reset},
    {"dump", 0, 0, EP_LEVEL_READ, "dump",
     "every Python thread's stack now (no samples needed)", cmd_dump},
    {"gil", 0, 0, EP_LEVEL_READ, "gil",
     "the GIL probe's report now: waits per thread and site, holders, "
     "diagnosis (start gil first)",
     cmd_gil},
    {"top", 0, 1, EP_LEVEL_READ, "top [n=20]",
     "the hottest functions so far, by own time", cmd_top},
    {"export", 1, 2, EP_LEVEL_ADMIN, "export FORMAT [path=FILE]",
     "write a profile (collapsed, speedscope, top, dump) under output.dir; "
     "the reply names the file",
     cmd_export},
    {"config", 1, 3, EP_LEVEL_READ, "config get [KEY] | config set KEY VALUE",
     "read settings; set those that may change at run time (set: admin)",
     cmd_config},
    {"policy", 1, 2, EP_LEVEL_READ,
     "policy load FILE | reload | list | disable NAME",
     "the Lua policy: load or reload it (a failure keeps the old one), "
     "list its rules, disable a rule (load/reload/disable: admin)",
     cmd_policy},
    {"subscribe", 0, 0, EP_LEVEL_READ, "subscribe",
     "stream events as JSON lines: probe_started, probe_stopped, "
     "export_written, reset, config_set, policy_*",
     cmd_subscribe},
    {"level", 0, 1, EP_LEVEL_READ, "level [read|admin]",
     "show or lower this session's level", cmd_level},
    {"auth", 1, 1, EP_LEVEL_NONE, "auth TOKEN",
     "authenticate a TCP connection (the first line of "
     "control.token_file)",
     cmd_auth},
    {"quit", 0, 0, EP_LEVEL_NONE, "quit", "close this connection", cmd_quit},
    {NULL, 0, 0, EP_LEVEL_NONE, NULL, NULL, NULL},
};

void
ep_control_dispatch(ep_conn *conn, const ep_request *req)
{
    const ep_command *c;
    char msg[200];

    if (req->argc == 1 && strncmp(req->argv[0], "token=", 6) == 0) {
        /* "token=TOKEN" is the same as "auth TOKEN". */
        ep_request alt;

        alt.argc = 2;
        alt.argv[0] = "auth";
        alt.argv[1] = req->argv[0] + 6;
        ep_control_dispatch(conn, &alt);
        return;
    }
    for (c = ep_commands; c->name != NULL; c++) {
        if (strcmp(c->name, req->argv[0]) == 0) {
            break;
        }
    }
    if (c->name == NULL) {
        const char *code = "unknown_command";

        snprintf(msg, sizeof(msg), "unknown command \"%.40s\" (try help)",
                 req->argv[0]);
        if (conn->level == EP_LEVEL_NONE) {
            ep_conn_error(conn, "forbidden", "authenticate first: auth TOKEN",
                          true);
            return;
        }
        ep_conn_error(conn, code, msg, false);
        return;
    }
    if (c->level > conn->level) {
        if (conn->level == EP_LEVEL_NONE) {
            /* Before auth, anything but auth/quit ends the session. */
            ep_conn_error(conn, "forbidden", "authenticate first: auth TOKEN",
                          true);
            return;
        }
        snprintf(msg, sizeof(msg),
                 "%s needs the %s level (this session: "
                 "%s)",
                 c->name, level_name(c->level), level_name(conn->level));
        ep_conn_error(conn, "forbidden", msg, false);
        return;
    }
    if (req->argc - 1 < c->min_args || req->argc - 1 > c->max_args) {
        snprintf(msg, sizeof(msg), "usage: %s", c->usage);
        ep_conn_error(conn, "bad_request", msg, false);
        return;
    }
    if ((size_t)(c - ep_commands) < EP_CONTROL_MAX_COMMANDS) {
        conn->c->calls[c - ep_commands]++;
    }
    ep_error_clear();
    c->fn(conn, req);
}

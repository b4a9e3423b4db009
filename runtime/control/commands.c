/*
 * commands.c -- the control socket's command table. Adding a command is
 * adding a row; `help` is generated from the rows. Every command that
 * changes state goes through the controller (ep_ctl_*), the same entry
 * points as the C API, the Python module and the policies.
 */
#include "control_internal.h"

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
#include "../options.h"
#include "../py/layout.h"
#include "../py/walker.h"
#include "../runtime.h"
#include "../threads.h"

typedef void (*cmd_fn)(ep_conn *conn, const ep_request *req);

typedef struct ep_command {
    const char *name;
    int min_args;       /* words after the command */
    int max_args;
    bool needs_auth;
    const char *usage;
    const char *doc;
    cmd_fn fn;
} ep_command;

static const ep_command ep_commands[];

/* --- replies ----------------------------------------------------------- */

static void
send_reply(ep_conn *conn, ep_reply *r)
{
    if (ep_reply_end(r) == 0) {
        ep_conn_send(conn, r->buf, r->len);
        free(r->buf);
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

/* Maps a status to a protocol error code and replies. */
static void
send_status(ep_conn *conn, int rc)
{
    const char *code;

    switch (rc) {
    case EMBPROF_EINVAL:
        code = "bad_argument";
        break;
    case EMBPROF_ESTATE:
        code = "bad_state";
        break;
    case EMBPROF_ENODATA:
        code = "no_data";
        break;
    case EMBPROF_EIO:
        code = "io_error";
        break;
    case EMBPROF_EUNSUPPORTED:
        code = "unsupported";
        break;
    default:
        code = "internal";
    }
    ep_conn_error(conn, code,
                  embprof_last_error()[0] ? embprof_last_error()
                                          : embprof_strerror(rc),
                  false);
}

/* --- commands ---------------------------------------------------------- */

static void
cmd_help(ep_conn *conn, const ep_request *req)
{
    ep_reply r;
    char *list = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&list, &len);

    (void)req;
    if (f == NULL || ep_reply_begin(&r, 1) != 0) {
        if (f != NULL) {
            fclose(f);
            free(list);
        }
        return;
    }
    fputc('[', f);
    for (const ep_command *c = ep_commands; c->name != NULL; c++) {
        fputs(c == ep_commands ? "{\"name\":" : ",{\"name\":", f);
        ep_json_string(f, c->name);
        fputs(",\"usage\":", f);
        ep_json_string(f, c->usage);
        fputs(",\"doc\":", f);
        ep_json_string(f, c->doc);
        fputc('}', f);
    }
    fputc(']', f);
    fclose(f);
    ep_reply_raw(&r, "commands", list);
    free(list);
    send_reply(conn, &r);
}

static void
cmd_status(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    embprof_stats st;
    ep_reply r;
    char rate[32], mode[16], idle[8], gil[8], dir[4096], probe[512];

    (void)req;
    ep_ctl_stats(ep, &st);
    ep_ctl_config_get(ep, "sampler.rate", rate, sizeof(rate));
    ep_ctl_config_get(ep, "sampler.mode", mode, sizeof(mode));
    ep_ctl_config_get(ep, "sampler.idle", idle, sizeof(idle));
    ep_ctl_config_get(ep, "sampler.gil_only", gil, sizeof(gil));
    ep_ctl_config_get(ep, "output.dir", dir, sizeof(dir));
    snprintf(probe, sizeof(probe),
             "{\"sampler\":{\"active\":%s,\"rate\":%s,\"mode\":\"%s\","
             "\"idle\":%s,\"gil_only\":%s}}",
             ep_ctl_active(ep, "sampler") == 1 ? "true" : "false", rate,
             mode, idle, gil);
    if (ep_reply_begin(&r, 1) != 0) {
        return;
    }
    ep_reply_str(&r, "version", EMBPROF_VERSION_STRING);
    ep_reply_str(&r, "python", ep_py_layout_get()->version);
    ep_reply_int(&r, "pid", (long long)getpid());
    ep_reply_num(&r, "uptime_s",
                 (double)(ep_clock_now_ns() - ep->created_ns) / 1e9);
    ep_reply_raw(&r, "probes", probe);
    ep_reply_int(&r, "samples", (long long)st.samples);
    ep_reply_int(&r, "ticks", (long long)st.ticks);
    ep_reply_int(&r, "walk_errors", (long long)st.walk_errors);
    ep_reply_int(&r, "truncated", (long long)st.truncated);
    ep_reply_int(&r, "missed_ticks", (long long)st.missed_ticks);
    ep_reply_int(&r, "stacks", (long long)st.stacks);
    ep_reply_int(&r, "observations", (long long)st.observations);
    ep_reply_int(&r, "observations_dropped",
                 (long long)st.observations_dropped);
    ep_reply_int(&r, "sampler_cpu_ns", (long long)st.sampler_cpu_ns);
    ep_reply_int(&r, "control_cpu_ns",
                 (long long)ep_clock_thread_cpu_ns());
    ep_reply_int(&r, "embprof_cpu_ns",
                 (long long)(st.sampler_cpu_ns + ep_clock_thread_cpu_ns()));
    ep_reply_int(&r, "clients", conn->c->nconns);
    ep_reply_str(&r, "output_dir", dir);
    send_reply(conn, &r);
}

/* Joins key=value words back into an options string. */
static void
join_options(const ep_request *req, int from, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (int i = from; i < req->argc && o < size; i++) {
        o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? " " : "",
                              req->argv[i]);
    }
}

static void
cmd_start(ep_conn *conn, const ep_request *req)
{
    char opts[4096];
    int rc;

    join_options(req, 2, opts, sizeof(opts));
    rc = ep_ctl_start(conn->c->ep, req->argv[1], opts);
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
    (void)req;
    ep_ctl_reset(conn->c->ep);
    send_ok(conn);
}

static void
cmd_dump(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    ep_walker w;
    ep_wthread *threads = calloc(EP_WALK_MAX_THREADS, sizeof(*threads));
    uint32_t *slots;
    int32_t *offsets;
    char *json = NULL, depth_s[16], memread_s[16];
    size_t len = 0;
    FILE *f;
    ep_reply r;
    int n, rc;

    (void)req;
    ep_ctl_config_get(ep, "sampler.max_depth", depth_s, sizeof(depth_s));
    ep_ctl_config_get(ep, "sampler.memread", memread_s, sizeof(memread_s));
    rc = ep_walker_open(&w,
                        strcmp(memread_s, "pipe") == 0 ? EP_MEMREAD_PIPE
                        : strcmp(memread_s, "vm") == 0 ? EP_MEMREAD_VM
                                                       : EP_MEMREAD_AUTO,
                        (uint32_t)strtoul(depth_s, NULL, 10));
    if (rc != EMBPROF_OK || threads == NULL) {
        free(threads);
        if (rc == EMBPROF_OK) {
            ep_walker_close(&w);
        }
        send_status(conn, rc == EMBPROF_OK ? EMBPROF_ENOMEM : rc);
        return;
    }
    slots = malloc(w.max_depth * sizeof(*slots));
    offsets = malloc(w.max_depth * sizeof(*offsets));
    f = open_memstream(&json, &len);
    n = ep_walker_threads(&w, threads, EP_WALK_MAX_THREADS);
    fputc('[', f);
    for (int i = 0; i < n && slots && offsets; i++) {
        ep_wthread *t = &threads[i];
        char name[64] = "";
        bool host = false;

        if (!ep_names_get(t->tid, t->ident, name, sizeof(name), &host) &&
            (t->tid == 0 || !ep_names_os(t->tid, name, sizeof(name)))) {
            snprintf(name, sizeof(name), "thread-%llu",
                     (unsigned long long)t->ident);
        }
        t->code_slot = slots;
        t->offset = offsets;
        fprintf(f, "%s{\"tid\":%d,\"name\":", i ? "," : "", (int)t->tid);
        ep_json_string(f, name);
        fprintf(f, ",\"kind\":\"%s\",\"holds_gil\":%s,\"frames\":[",
                host ? "host" : "python", t->holds_gil ? "true" : "false");
        if (ep_walker_stack(&w, t) == 0) {
            for (uint32_t d = 0; d < t->depth; d++) {
                const ep_codeinfo *ci = &w.codes[t->code_slot[d]];

                fputs(d ? ",{\"name\":" : "{\"name\":", f);
                ep_json_string(f, ci->qualname_s);
                fputs(",\"file\":", f);
                ep_json_string(f, ci->file);
                fprintf(f, ",\"line\":%d}", ep_walker_line(&w, t, d));
            }
        }
        fprintf(f, "],\"complete\":%s}",
                t->error || t->truncated ? "false" : "true");
    }
    fputc(']', f);
    fclose(f);
    if (ep_reply_begin(&r, 1) == 0) {
        ep_reply_int(&r, "pid", (long long)getpid());
        ep_reply_raw(&r, "threads", json);
        send_reply(conn, &r);
    }
    free(json);
    free(slots);
    free(offsets);
    free(threads);
    ep_walker_close(&w);
}

static void
cmd_top(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    const char *ns = ep_proto_kv(req, 1, "n");
    long n = ns ? strtol(ns, NULL, 10) : 20;
    ep_export_info info;
    ep_top_row *rows = NULL;
    uint32_t nrows = 0;
    uint64_t grand = 0;
    char *json = NULL;
    size_t len = 0;
    FILE *f;
    ep_reply r;

    if (n < 1 || n > 10000) {
        ep_conn_error(conn, "bad_argument", "top: n must be 1..10000",
                      false);
        return;
    }
    memset(&info, 0, sizeof(info));
    info.store = &ep->store;
    pthread_mutex_lock(&ep->ctl_lock);
    info.mode = ep->last_mode;
    pthread_mutex_unlock(&ep->ctl_lock);
    f = open_memstream(&json, &len);
    if (f == NULL) {
        return;
    }
    fputc('[', f);
    pthread_mutex_lock(&ep->store.lock);
    if (ep_top_rows(&info, &rows, &nrows, &grand) == 0) {
        for (uint32_t i = 0; i < nrows && i < (uint32_t)n; i++) {
            const ep_func *fn = &ep->store.funcs[rows[i].func];

            fputs(i ? ",{\"function\":" : "{\"function\":", f);
            ep_json_string(f, ep_store_strget(&ep->store, fn->name));
            fputs(",\"file\":", f);
            ep_json_string(f, ep_store_strget(&ep->store, fn->file));
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
    }
    pthread_mutex_unlock(&ep->store.lock);
    fputc(']', f);
    fclose(f);
    if (ep_reply_begin(&r, 1) == 0) {
        ep_reply_str(&r, "mode", info.mode ? "cpu" : "wall");
        ep_reply_int(&r, "total_ns", (long long)grand);
        ep_reply_raw(&r, "functions", json);
        send_reply(conn, &r);
    }
    free(json);
}

/* Resolves an export path under output.dir (or the working directory):
 * no "..", and the real directory must lie inside the real output dir,
 * so a symlink cannot lead outside it either. */
static int
confine(struct embprof *ep, const char *path, char *out, size_t size)
{
    char dir[4096], real_dir[PATH_MAX], target[2 * PATH_MAX + 2];
    char parent[sizeof(target)];
    char *slash;
    size_t n;

    ep_ctl_config_get(ep, "output.dir", dir, sizeof(dir));
    if (realpath(dir[0] ? dir : ".", real_dir) == NULL) {
        return ep_error(EMBPROF_EIO, "output.dir %s does not exist",
                        dir[0] ? dir : ".");
    }
    if (strstr(path, "..") != NULL) {
        return -2;
    }
    if (strlen(path) >= PATH_MAX) {
        return ep_error(EMBPROF_EINVAL, "export: path too long");
    }
    if (path[0] == '/') {
        snprintf(target, sizeof(target), "%s", path);
    } else {
        snprintf(target, sizeof(target), "%s/%s", real_dir, path);
    }
    snprintf(parent, sizeof(parent), "%s", target);
    slash = strrchr(parent, '/');
    *slash = '\0';
    {
        char real_parent[PATH_MAX];

        if (realpath(parent[0] ? parent : "/", real_parent) == NULL) {
            return ep_error(EMBPROF_EIO, "export: directory %s does not "
                                         "exist",
                            parent);
        }
        n = strlen(real_dir);
        if (strncmp(real_parent, real_dir, n) != 0 ||
            (real_parent[n] != '/' && real_parent[n] != '\0')) {
            return -2;
        }
        if (strlen(real_parent) + strlen(slash + 1) + 2 > size) {
            return ep_error(EMBPROF_EINVAL, "export: path too long");
        }
        if ((size_t)snprintf(out, size, "%s/%s", real_parent, slash + 1) >=
            size) {
            return ep_error(EMBPROF_EINVAL, "export: path too long");
        }
    }
    return EMBPROF_OK;
}

static void
cmd_export(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    const char *format = req->argv[1];
    const char *path = ep_proto_kv(req, 2, "path");
    const ep_exporter *ex = ep_export_find(format);
    char name[256], full[4096], written[4096];
    ep_reply r;
    int rc;

    if (ex == NULL) {
        char msg[160];

        snprintf(msg, sizeof(msg), "unknown export format \"%s\" (accepts %s)",
                 format, ep_export_names());
        ep_conn_error(conn, "bad_argument", msg, false);
        return;
    }
    if (path == NULL || path[0] == '\0') {
        char stamp[32], ext[32];
        time_t now = time(NULL);
        struct tm tm;
        const char *bar;

        localtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
        bar = strchr(ex->extensions, '|');
        snprintf(ext, sizeof(ext), "%.*s",
                 bar ? (int)(bar - ex->extensions) : 31, ex->extensions);
        snprintf(name, sizeof(name), "embprof-%d-%s-%u%s", (int)getpid(),
                 stamp, ++conn->c->export_counter, ext);
        path = name;
    }
    rc = confine(ep, path, full, sizeof(full));
    if (rc == -2) {
        ep_conn_error(conn, "forbidden",
                      "export paths must stay under output.dir", false);
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
        send_reply(conn, &r);
    }
}

static void
cmd_gil(ep_conn *conn, const ep_request *req)
{
    (void)req;
    ep_conn_error(conn, "unsupported",
                  "the GIL probe is not in this build yet", false);
}

static void
cmd_config(ep_conn *conn, const ep_request *req)
{
    struct embprof *ep = conn->c->ep;
    const char *verb = req->argv[1];
    ep_reply r;
    int rc;

    if (strcmp(verb, "get") == 0) {
        char val[4096];

        if (ep_reply_begin(&r, 1) != 0) {
            return;
        }
        if (req->argc == 3) {
            if (ep_ctl_config_get(ep, req->argv[2], val, sizeof(val)) !=
                EMBPROF_OK) {
                fclose(r.f);
                free(r.buf);
                send_status(conn, EMBPROF_EINVAL);
                return;
            }
            ep_reply_str(&r, "key", req->argv[2]);
            ep_reply_str(&r, "value", val);
        } else {
            char *all = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&all, &len);

            fputc('{', f);
            for (int i = 0; i < EP_OPT_COUNT; i++) {
                ep_ctl_config_get(ep, ep_options[i].key, val, sizeof(val));
                if (i) {
                    fputc(',', f);
                }
                ep_json_string(f, ep_options[i].key);
                fputc(':', f);
                ep_json_string(f, val);
            }
            fputc('}', f);
            fclose(f);
            ep_reply_raw(&r, "config", all);
            free(all);
        }
        send_reply(conn, &r);
        return;
    }
    if (strcmp(verb, "set") == 0 && req->argc >= 3) {
        const char *key = req->argv[2], *val = req->argc > 3 ? req->argv[3]
                                                              : NULL;
        char k[256];
        const char *eq = strchr(key, '=');

        if (val == NULL && eq != NULL) { /* config set key=value */
            snprintf(k, sizeof(k), "%.*s", (int)(eq - key), key);
            key = k;
            val = eq + 1;
        }
        if (val == NULL) {
            ep_conn_error(conn, "bad_request",
                          "usage: config set KEY VALUE", false);
            return;
        }
        rc = ep_ctl_config_set(ep, key, val);
        if (rc != EMBPROF_OK) {
            send_status(conn, rc);
            return;
        }
        send_ok(conn);
        return;
    }
    ep_conn_error(conn, "bad_request",
                  "usage: config get [KEY] | config set KEY VALUE", false);
}

static void
cmd_subscribe(ep_conn *conn, const ep_request *req)
{
    ep_reply r;

    (void)req;
    conn->subscribed = true;
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

    if (!conn->tcp) {
        send_ok(conn); /* Unix peers are checked by uid */
        return;
    }
    /* Constant time over the expected token's length. */
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(want[i] ^ (i < m ? got[i] : 0));
    }
    if (diff != 0 || n == 0) {
        ep_conn_error(conn, "forbidden", "bad token", true);
        return;
    }
    conn->authed = true;
    send_ok(conn);
}

static void
cmd_quit(ep_conn *conn, const ep_request *req)
{
    (void)req;
    send_ok(conn);
    ep_conn_close_later(conn);
}

static const ep_command ep_commands[] = {
    {"help", 0, 0, true, "help", "this list", cmd_help},
    {"status", 0, 0, true, "status",
     "version, Python, uptime, probes and their options, samples, drops, "
     "embprof's own CPU time",
     cmd_status},
    {"start", 1, 30, true, "start PROBE [key=value ...]",
     "start a probe (sampler), e.g. start sampler rate=997 mode=cpu",
     cmd_start},
    {"stop", 1, 1, true, "stop PROBE", "stop a probe; its data stays",
     cmd_stop},
    {"reset", 0, 0, true, "reset", "drop collected samples", cmd_reset},
    {"dump", 0, 0, true, "dump", "every thread's stack now", cmd_dump},
    {"top", 0, 1, true, "top [n=20]", "hottest functions so far", cmd_top},
    {"export", 1, 2, true, "export FORMAT [path=FILE]",
     "write a profile under output.dir (collapsed, speedscope, top, dump)",
     cmd_export},
    {"gil", 0, 0, true, "gil", "the GIL report (needs the GIL probe)",
     cmd_gil},
    {"config", 1, 3, true, "config get [KEY] | config set KEY VALUE",
     "read settings; change those that may change at run time",
     cmd_config},
    {"subscribe", 0, 0, true, "subscribe",
     "stream events as JSON lines: probe started/stopped, export written, "
     "config set",
     cmd_subscribe},
    {"auth", 1, 1, false, "auth TOKEN",
     "authenticate a TCP connection (control.token_file)", cmd_auth},
    {"quit", 0, 0, false, "quit", "close this connection", cmd_quit},
    {NULL, 0, 0, false, NULL, NULL, NULL},
};

void
ep_control_dispatch(ep_conn *conn, const ep_request *req)
{
    const ep_command *c;

    for (c = ep_commands; c->name != NULL; c++) {
        if (strcmp(c->name, req->argv[0]) == 0) {
            break;
        }
    }
    if (c->name == NULL) {
        char msg[160];

        snprintf(msg, sizeof(msg), "unknown command \"%.40s\" (try help)",
                 req->argv[0]);
        ep_conn_error(conn, "unknown_command", msg, false);
        return;
    }
    if (c->needs_auth && !conn->authed) {
        ep_conn_error(conn, "forbidden", "authenticate first: auth TOKEN",
                      true);
        return;
    }
    if (req->argc - 1 < c->min_args || req->argc - 1 > c->max_args) {
        char msg[200];

        snprintf(msg, sizeof(msg), "usage: %s", c->usage);
        ep_conn_error(conn, "bad_request", msg, false);
        return;
    }
    ep_error_clear();
    c->fn(conn, req);
}

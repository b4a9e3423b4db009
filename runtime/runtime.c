/*
 * runtime.c -- the runtime object and the controller. See runtime.h for
 * the locking rules.
 */
#include "runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "control/control.h"
#include "error.h"
#include "export/export.h"
#include "log.h"
#include "memread.h"
#include "probes/probe.h"
#include "py/layout.h"
#include "py/walker.h"

#define EP_OBS_CAPACITY 65536

/* Tells listeners (the control socket's subscribers) what changed. */
static void emit(struct embprof *ep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
emit(struct embprof *ep, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (ep->on_event == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    ep->on_event(ep, line);
}

int
ep_runtime_new(const struct embprof_config *cfg, struct embprof **out)
{
    struct embprof *ep = calloc(1, sizeof(*ep));
    size_t n;
    int rc;

    *out = NULL;
    if (ep == NULL) {
        return ep_error(EMBPROF_ENOMEM, "out of memory");
    }
    rc = cfg ? ep_opt_copy(&ep->cfg, cfg) : ep_opt_defaults(&ep->cfg);
    if (rc != EMBPROF_OK) {
        free(ep);
        return rc;
    }
    pthread_mutex_init(&ep->ctl_lock, NULL);
    if ((rc = ep_store_init(&ep->store)) != EMBPROF_OK) {
        goto fail_store;
    }
    if ((rc = ep_obsq_init(&ep->obs, EP_OBS_CAPACITY)) != EMBPROF_OK) {
        goto fail_obs;
    }
    for (n = 0; n < ep_probe_count; n++) {
        const ep_probe *p = ep_probe_table[n];

        if (p->init != NULL && (rc = p->init(ep)) != EMBPROF_OK) {
            goto fail_probes;
        }
    }
    ep->created_ns = ep_clock_now_ns();
    ep->created_real_ns = ep_clock_realtime_ns();
    ep->last_mode = (int)ep_cfg_int(&ep->cfg, EP_OPT_SAMPLER_MODE);
    ep->last_rate = (int)ep_cfg_int(&ep->cfg, EP_OPT_SAMPLER_RATE);
    if (ep_log_configure((int)ep_cfg_int(&ep->cfg, EP_OPT_LOG_LEVEL),
                         ep_cfg_str(&ep->cfg, EP_OPT_LOG_FILE)) != 0) {
        ep_log(EP_LOG_WARN,
               "log.file %s cannot be opened; logging to "
               "standard error",
               ep_cfg_str(&ep->cfg, EP_OPT_LOG_FILE));
    }
    *out = ep;
    return EMBPROF_OK;

fail_probes:
    while (n-- > 0) {
        if (ep_probe_table[n]->destroy != NULL) {
            ep_probe_table[n]->destroy(ep);
        }
    }
    ep_obsq_free(&ep->obs);
fail_obs:
    ep_store_free(&ep->store);
fail_store:
    pthread_mutex_destroy(&ep->ctl_lock);
    ep_opt_release(&ep->cfg);
    free(ep);
    return rc;
}

void
ep_runtime_free(struct embprof *ep)
{
    if (ep == NULL) {
        return;
    }
    ep_ctl_stop_all(ep);
    for (size_t i = ep_probe_count; i-- > 0;) {
        if (ep_probe_table[i]->destroy != NULL) {
            ep_probe_table[i]->destroy(ep);
        }
    }
    ep_obsq_free(&ep->obs);
    ep_store_free(&ep->store);
    ep_opt_release(&ep->cfg);
    pthread_mutex_destroy(&ep->ctl_lock);
    free(ep);
}

static const ep_probe *
probe_get(const char *probe)
{
    const ep_probe *p = ep_probe_find(probe);

    if (p == NULL) {
        ep_error(EMBPROF_EINVAL, "unknown probe \"%s\" (this build has: %s)",
                 probe ? probe : "(null)", ep_probe_names());
    }
    return p;
}

/* Sends {"event":"probe_started","probe":NAME,...describe...}. */
static void
emit_started(struct embprof *ep, const ep_probe *p)
{
    char *line = NULL;
    size_t n = 0;
    FILE *f;

    if (ep->on_event == NULL || (f = open_memstream(&line, &n)) == NULL) {
        return;
    }
    fprintf(f, "{\"event\":\"probe_started\",\"probe\":\"%s\"", p->name);
    if (p->describe != NULL) {
        fputc(',', f);
        p->describe(ep, f);
    }
    fputc('}', f);
    if (fclose(f) == 0) {
        ep->on_event(ep, line);
    }
    free(line);
}

/* The GIL for a probe that hooks into the interpreter, taken before
 * ctl_lock (see python_enter in runtime.h). -1: nothing taken. */
static int
python_enter(struct embprof *ep, const ep_probe *p)
{
    return p->needs_python && ep->python_enter != NULL ? ep->python_enter(ep)
                                                       : -1;
}

static void
python_leave(struct embprof *ep, int token)
{
    if (token >= 0 && ep->python_leave != NULL) {
        ep->python_leave(ep, token);
    }
}

int
ep_ctl_start(struct embprof *ep, const char *probe, const char *options)
{
    const ep_probe *p = probe_get(probe);
    struct embprof_config next;
    int rc, gil;

    if (p == NULL) {
        return EMBPROF_EINVAL;
    }
    gil = python_enter(ep, p);
    pthread_mutex_lock(&ep->ctl_lock);
    if (p->running(ep)) {
        pthread_mutex_unlock(&ep->ctl_lock);
        python_leave(ep, gil);
        return ep_error(EMBPROF_ESTATE, "%s: already running (stop it first)",
                        p->name);
    }
    /* Validate on a copy: a bad option changes nothing. */
    rc = ep_opt_copy(&next, &ep->cfg);
    if (rc == EMBPROF_OK) {
        rc = ep_opt_apply_string(&next, p->name, options);
        if (rc != EMBPROF_OK) {
            ep_opt_release(&next);
        }
    }
    if (rc != EMBPROF_OK) {
        pthread_mutex_unlock(&ep->ctl_lock);
        python_leave(ep, gil);
        return rc;
    }
    rc = p->start(ep, &next);
    if (rc == EMBPROF_OK) {
        ep_opt_release(&ep->cfg);
        ep->cfg = next;
        emit_started(ep, p);
    } else {
        ep_opt_release(&next);
    }
    pthread_mutex_unlock(&ep->ctl_lock);
    python_leave(ep, gil);
    return rc;
}

int
ep_ctl_stop(struct embprof *ep, const char *probe)
{
    const ep_probe *p = probe_get(probe);
    int rc, gil;

    if (p == NULL) {
        return EMBPROF_EINVAL;
    }
    gil = python_enter(ep, p);
    pthread_mutex_lock(&ep->ctl_lock);
    rc = p->stop(ep);
    if (rc == EMBPROF_OK) {
        emit(ep, "{\"event\":\"probe_stopped\",\"probe\":\"%s\"}", p->name);
    }
    pthread_mutex_unlock(&ep->ctl_lock);
    python_leave(ep, gil);
    return rc;
}

int
ep_ctl_stop_all(struct embprof *ep)
{
    pthread_mutex_lock(&ep->ctl_lock);
    for (size_t i = ep_probe_count; i-- > 0;) {
        const ep_probe *p = ep_probe_table[i];
        bool owed = p->needs_stop ? p->needs_stop(ep) : p->running(ep);

        if (owed) {
            p->stop(ep);
            ep_error_clear();
        }
    }
    pthread_mutex_unlock(&ep->ctl_lock);
    return EMBPROF_OK;
}

int
ep_ctl_active(struct embprof *ep, const char *probe)
{
    const ep_probe *p = probe_get(probe);

    return p == NULL ? EMBPROF_EINVAL : (int)p->running(ep);
}

static void
stats_nolock(struct embprof *ep, embprof_stats *o)
{
    ep_sampler_counters *c = &ep->sampler.c;

    memset(o, 0, sizeof(*o));
    o->ticks = atomic_load(&c->ticks);
    o->samples = atomic_load(&c->samples);
    o->idle_skipped = atomic_load(&c->idle_skipped);
    o->walk_errors = atomic_load(&c->walk_errors);
    o->truncated = atomic_load(&c->truncated);
    o->missed_ticks = atomic_load(&c->missed_ticks);
    o->sampler_cpu_ns = atomic_load(&c->cpu_ns);
    o->wall_ns = atomic_load(&c->wall_ns);
    o->threads_seen = atomic_load(&c->threads_seen);
    o->observations = atomic_load(&ep->obs.pushed);
    o->observations_dropped = atomic_load(&ep->obs.dropped);
}

void
ep_ctl_stats(struct embprof *ep, embprof_stats *out)
{
    stats_nolock(ep, out);
    pthread_mutex_lock(&ep->store.lock);
    out->stacks = ep->store.nstacks;
    out->functions = ep->store.nfuncs;
    pthread_mutex_unlock(&ep->store.lock);
}

/* Formats with ex into a memory buffer. Sample formats run under the
 * store's lock; a probe's own formats take their own locks. */
static int
format(struct embprof *ep, const ep_exporter *ex, char **buf, size_t *len)
{
    ep_export_info info;
    ep_walker w;
    FILE *mem;
    int rc = EMBPROF_OK, frc;

    memset(&info, 0, sizeof(info));
    info.ep = ep;
    info.store = &ep->store;
    info.mode = ep->last_mode;
    info.rate = ep->last_rate;
    info.start_real_ns = ep->created_real_ns;
    info.python_version = ep_py_layout_get()->version;
    ep_ctl_stats(ep, &info.stats);
    if (ex->source == EP_EXPORT_WALK) {
        rc = ep_walker_open(
            &w, (int)ep_cfg_int(&ep->cfg, EP_OPT_SAMPLER_MEMREAD),
            (uint32_t)ep_cfg_int(&ep->cfg, EP_OPT_SAMPLER_MAX_DEPTH));
        if (rc != EMBPROF_OK) {
            return rc;
        }
        info.walker = &w;
    }
    mem = open_memstream(buf, len);
    if (mem == NULL) {
        if (ex->source == EP_EXPORT_WALK) {
            ep_walker_close(&w);
        }
        return ep_error(EMBPROF_ENOMEM, "export: out of memory");
    }
    if (ex->source == EP_EXPORT_SAMPLES) {
        pthread_mutex_lock(&ep->store.lock);
        if (ep->store.nstacks == 0) {
            rc = ep_error(EMBPROF_ENODATA,
                          "export %s: no samples collected yet (start the "
                          "sampler first)",
                          ex->name);
        } else {
            frc = ex->fn(mem, &info);
            if (frc != 0) {
                rc = ep_error(EMBPROF_ENOMEM, "export %s: out of memory",
                              ex->name);
            }
        }
        pthread_mutex_unlock(&ep->store.lock);
    } else {
        frc = ex->fn(mem, &info);
        if (ex->source == EP_EXPORT_WALK) {
            ep_walker_close(&w);
        }
        if (frc < 0 && ex->source == EP_EXPORT_PROBE) {
            rc = frc; /* the probe's exporter said why (ep_error) */
        } else if (frc != 0) {
            rc =
                ep_error(EMBPROF_ENOMEM, "export %s: out of memory", ex->name);
        }
    }
    if (fclose(mem) != 0 && rc == EMBPROF_OK) {
        rc = ep_error(EMBPROF_ENOMEM, "export: out of memory");
    }
    if (rc != EMBPROF_OK) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

static int
export_nolock(struct embprof *ep, const char *format_name, const char *path)
{
    const ep_exporter *ex;
    char full[4096];
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if (format_name != NULL && format_name[0] != '\0') {
        ex = ep_export_find(format_name);
        if (ex == NULL) {
            return ep_error(EMBPROF_EINVAL,
                            "unknown export format \"%s\" (accepts %s)",
                            format_name, ep_export_names());
        }
    } else {
        ex = ep_export_for_path(path);
        if (ex == NULL) {
            return ep_error(EMBPROF_EINVAL,
                            "export: cannot tell the format from \"%s\": "
                            "name one (%s) or use .folded, "
                            ".speedscope.json, .txt or .dump",
                            path ? path : "(null)", ep_export_names());
        }
    }
    rc = ep_export_path(ep_cfg_str(&ep->cfg, EP_OPT_OUTPUT_DIR), path, full,
                        sizeof(full));
    if (rc != EMBPROF_OK) {
        return rc;
    }
    if (ep->refresh_names != NULL) {
        ep->refresh_names(ep);
    }
    rc = format(ep, ex, &buf, &len);
    if (rc != EMBPROF_OK) {
        return rc;
    }
    rc = ep_export_write_file(full, buf, len);
    free(buf);
    if (rc == EMBPROF_OK) {
        embprof_stats st;

        snprintf(ep->last_export, sizeof(ep->last_export), "%s", full);
        if (ep->on_event != NULL) {
            char *line = NULL;
            size_t n = 0;
            FILE *f = open_memstream(&line, &n);

            if (f != NULL) {
                fprintf(f,
                        "{\"event\":\"export_written\",\"format\":"
                        "\"%s\",\"file\":",
                        ex->name);
                ep_json_string(f, full);
                fputc('}', f);
                if (fclose(f) == 0) {
                    ep->on_event(ep, line);
                }
                free(line);
            }
        }

        ep_ctl_stats(ep, &st);
        ep_log(EP_LOG_INFO,
               "wrote %s (%s): %llu samples, sampler CPU %.1f ms, %llu walk "
               "errors",
               full, ex->name, (unsigned long long)st.samples,
               (double)st.sampler_cpu_ns / 1e6,
               (unsigned long long)st.walk_errors);
    }
    return rc;
}

int
ep_ctl_export(struct embprof *ep, const char *format_name, const char *path)
{
    int rc;

    pthread_mutex_lock(&ep->ctl_lock);
    rc = export_nolock(ep, format_name, path);
    pthread_mutex_unlock(&ep->ctl_lock);
    return rc;
}

int
ep_ctl_reset(struct embprof *ep)
{
    pthread_mutex_lock(&ep->ctl_lock);
    for (size_t i = 0; i < ep_probe_count; i++) {
        if (ep_probe_table[i]->reset != NULL) {
            ep_probe_table[i]->reset(ep);
        }
    }
    emit(ep, "{\"event\":\"reset\"}");
    pthread_mutex_unlock(&ep->ctl_lock);
    return EMBPROF_OK;
}

int
ep_ctl_autostart(struct embprof *ep)
{
    bool on, tr, gil;
    int rc = EMBPROF_OK;

    /* Under the lock: the control thread may already be changing cfg. */
    pthread_mutex_lock(&ep->ctl_lock);
    on = ep_cfg_bool(&ep->cfg, EP_OPT_SAMPLER_ENABLED);
    tr = ep_cfg_bool(&ep->cfg, EP_OPT_TRACER_ENABLED);
    gil = ep_cfg_bool(&ep->cfg, EP_OPT_GIL_ENABLED);
    pthread_mutex_unlock(&ep->ctl_lock);
    if (on) {
        rc = ep_ctl_start(ep, "sampler", NULL);
    }
    if (rc == EMBPROF_OK && tr) {
        rc = ep_ctl_start(ep, "tracer", NULL);
    }
    if (rc == EMBPROF_OK && gil) {
        rc = ep_ctl_start(ep, "gil", NULL);
    }
    return rc;
}

/* The GIL report of gil.output, if set; its format from the extension. */
static int
flush_gil_nolock(struct embprof *ep)
{
    const char *file = ep_cfg_str(&ep->cfg, EP_OPT_GIL_OUTPUT);
    size_t n = strlen(file);
    int rc;

    if (n == 0) {
        return EMBPROF_OK;
    }
    rc = export_nolock(
        ep, n > 5 && strcmp(file + n - 5, ".json") == 0 ? "gil-json" : "gil",
        file);
    if (rc != EMBPROF_OK) {
        ep_log(EP_LOG_ERROR, "gil.output: %s", embprof_last_error());
    }
    return rc;
}

int
ep_ctl_flush(struct embprof *ep)
{
    const char *file;
    char fmt[32] = "";
    int rc = EMBPROF_OK, grc;

    pthread_mutex_lock(&ep->ctl_lock);
    file = ep_cfg_str(&ep->cfg, EP_OPT_OUTPUT_FILE);
    if (file[0] != '\0') {
        int64_t f = ep_cfg_int(&ep->cfg, EP_OPT_OUTPUT_FORMAT);

        if (f != 0) {
            ep_opt_choice(EP_OPT_OUTPUT_FORMAT, f, fmt, sizeof(fmt));
        }
        rc = export_nolock(ep, fmt, file);
        if (rc != EMBPROF_OK) {
            ep_log(EP_LOG_ERROR, "output.file: %s", embprof_last_error());
        }
    }
    grc = flush_gil_nolock(ep);
    if (rc == EMBPROF_OK) {
        rc = grc;
    }
    pthread_mutex_unlock(&ep->ctl_lock);
    return rc;
}

/* Settings that may change while the host runs: they take effect at the
 * next start (a probe's own settings, sampler.* ...) or the next export
 * (output.dir), or at once. */
static bool
runtime_settable(const char *key)
{
    for (size_t i = 0; i < ep_probe_count; i++) {
        size_t n = strlen(ep_probe_table[i]->name);

        if (strncmp(key, ep_probe_table[i]->name, n) == 0 && key[n] == '.') {
            return true;
        }
    }
    return strcmp(key, "output.dir") == 0 || strcmp(key, "output.file") == 0 ||
           strcmp(key, "gil.output") == 0 ||
           strcmp(key, "output.format") == 0 || strcmp(key, "log.level") == 0;
}

int
ep_ctl_config_set(struct embprof *ep, const char *key, const char *val)
{
    int rc;

    if (key == NULL || ep_opt_find(key) < 0) {
        return ep_error(EMBPROF_EINVAL, "unknown option \"%s\"",
                        key ? key : "(null)");
    }
    if (!runtime_settable(key)) {
        return ep_error(EMBPROF_EINVAL,
                        "%s cannot change while the host runs (set it at "
                        "start-up)",
                        key);
    }
    pthread_mutex_lock(&ep->ctl_lock);
    rc = ep_opt_set(&ep->cfg, key, val);
    if (rc == EMBPROF_OK && strcmp(key, "log.level") == 0) {
        ep_log_configure((int)ep_cfg_int(&ep->cfg, EP_OPT_LOG_LEVEL),
                         ep_cfg_str(&ep->cfg, EP_OPT_LOG_FILE));
    }
    if (rc == EMBPROF_OK && ep->on_event != NULL) {
        char *line = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&line, &n);

        if (f != NULL) {
            fputs("{\"event\":\"config_set\",\"key\":", f);
            ep_json_string(f, key);
            fputs(",\"value\":", f);
            ep_json_string(f, val);
            fputc('}', f);
            if (fclose(f) == 0) {
                ep->on_event(ep, line);
            }
            free(line);
        }
    }
    pthread_mutex_unlock(&ep->ctl_lock);
    return rc;
}

int
ep_ctl_config_get(struct embprof *ep, const char *key, char *buf, size_t size)
{
    int id = ep_opt_find(key);

    if (id < 0) {
        return ep_error(EMBPROF_EINVAL, "unknown option \"%s\"",
                        key ? key : "(null)");
    }
    pthread_mutex_lock(&ep->ctl_lock);
    ep_opt_format(id, &ep->cfg.v[id], buf, size);
    pthread_mutex_unlock(&ep->ctl_lock);
    return EMBPROF_OK;
}

void
ep_ctl_emit(struct embprof *ep, const char *json)
{
    pthread_mutex_lock(&ep->ctl_lock);
    if (ep->on_event != NULL) {
        ep->on_event(ep, json);
    }
    pthread_mutex_unlock(&ep->ctl_lock);
}

void
ep_ctl_last_export(struct embprof *ep, char *buf, size_t size)
{
    pthread_mutex_lock(&ep->ctl_lock);
    snprintf(buf, size, "%s", ep->last_export);
    pthread_mutex_unlock(&ep->ctl_lock);
}

void
ep_ctl_after_fork(struct embprof *ep)
{
    /* Only the forking thread survives: locks may be held by threads that
     * are gone. Re-create them; the sampler is not restarted. */
    pthread_mutex_init(&ep->ctl_lock, NULL);
    for (size_t i = 0; i < ep_probe_count; i++) {
        if (ep_probe_table[i]->after_fork != NULL) {
            ep_probe_table[i]->after_fork(ep);
        }
    }
    /* The control thread is gone too: close its listening sockets and
     * forget it; the socket file stays the parent's. */
    ep_control_after_fork(ep->control);
    ep->control = NULL;
    ep->on_event = NULL;
}

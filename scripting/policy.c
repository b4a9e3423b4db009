/*
 * policy.c -- the policy engine: loading, the timer that drains
 * observations and runs rules, failures, the action limits, events.
 * Control thread only (see policy.h).
 */
#include "policy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <lauxlib.h>

#include "../runtime/clock.h"
#include "../runtime/control/protocol.h"
#include "../runtime/error.h"
#include "../runtime/log.h"
#include "../runtime/options.h"
#include "../runtime/runtime.h"

/* --- events and log ------------------------------------------------------ */

void
ep_policy_emit(struct ep_policy *p, const char *json)
{
    ep_ctl_emit(p->ep, json);
}

/* {"event":EVENT,"policy":NAME,"rule":RULE [, extra]} where extra is raw
 * JSON text (",\"k\":v"). */
static void
emit_rule_event(ep_script *s, const char *event, const char *rule,
                const char *extra)
{
    char *line = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&line, &n);

    if (f == NULL) {
        return;
    }
    fputs("{\"event\":", f);
    ep_proto_json_str(f, event);
    fputs(",\"policy\":", f);
    ep_proto_json_str(f, s ? s->name : "");
    if (rule != NULL) {
        fputs(",\"rule\":", f);
        ep_proto_json_str(f, rule);
    }
    fputs(extra ? extra : "", f);
    fputc('}', f);
    if (fclose(f) == 0) {
        ep_policy_emit(s->engine, line);
    }
    free(line);
}

void
ep_policy_action_event(ep_script *s, const char *action, const char *what,
                       bool ok, const char *error)
{
    char *extra = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&extra, &n);

    if (f == NULL) {
        return;
    }
    fputs(",\"action\":", f);
    ep_proto_json_str(f, action);
    if (what != NULL) {
        fputs(",\"target\":", f);
        ep_proto_json_str(f, what);
    }
    fprintf(f, ",\"ok\":%s", ok ? "true" : "false");
    if (error != NULL) {
        fputs(",\"error\":", f);
        ep_proto_json_str(f, error);
    }
    if (fclose(f) == 0) {
        emit_rule_event(s, "policy_action",
                        s->running ? s->running->name : "(main chunk)", extra);
    }
    free(extra);
}

void
ep_policy_log(ep_script *s, const char *msg)
{
    ep_policy *p = s->engine;
    uint64_t second = ep_clock_now_ns() / 1000000000u;
    char *extra = NULL;
    size_t n = 0;
    FILE *f;

    if (second != p->log_second) {
        if (p->log_lines > EP_POLICY_LOG_PER_S) {
            ep_log(EP_LOG_WARN,
                   "policy %s: %llu log lines dropped (more "
                   "than %d a second)",
                   s->name,
                   (unsigned long long)(p->log_lines - EP_POLICY_LOG_PER_S),
                   EP_POLICY_LOG_PER_S);
        }
        p->log_second = second;
        p->log_lines = 0;
    }
    if (++p->log_lines > EP_POLICY_LOG_PER_S) {
        p->log_dropped++;
        return;
    }
    ep_log(EP_LOG_INFO, "policy %s: %s", s->name, msg);
    f = open_memstream(&extra, &n);
    if (f == NULL) {
        return;
    }
    fputs(",\"message\":", f);
    ep_proto_json_str(f, msg);
    if (fclose(f) == 0) {
        emit_rule_event(s, "policy_log", s->running ? s->running->name : NULL,
                        extra);
    }
    free(extra);
}

/* --- metrics, rules, limits ---------------------------------------------- */

int
ep_policy_metric(ep_script *s, const char *name)
{
    for (int i = 0; i < s->nmetrics; i++) {
        if (strcmp(s->metrics[i].name, name) == 0) {
            return i;
        }
    }
    if (s->nmetrics == EP_POLICY_MAX_METRICS) {
        return -1;
    }
    s->metrics[s->nmetrics].name = strdup(name);
    if (s->metrics[s->nmetrics].name == NULL) {
        return -1;
    }
    /* A new metric may be what a cached "nobody listens" pointer meant. */
    s->ncache = 0;
    return s->nmetrics++;
}

ep_rule *
ep_policy_add_rule(ep_script *s, lua_State *L, ep_rule_kind kind,
                   const char *name)
{
    ep_rule *r;
    char base[96];
    int dup = 1;

    if (s->nrules == EP_POLICY_MAX_RULES) {
        return NULL;
    }
    if (name != NULL) {
        snprintf(base, sizeof(base), "%s", name);
    } else {
        lua_Debug ar;

        /* Level 1: the Lua function that called embprof.on/every/after. */
        if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) &&
            ar.currentline > 0) {
            snprintf(base, sizeof(base), "%s:%d", ar.short_src,
                     ar.currentline);
        } else {
            snprintf(base, sizeof(base), "%.60s:rule%d", s->name,
                     s->nrules + 1);
        }
    }
    r = &s->rules[s->nrules];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", base);
    /* Names are unique: a rule registered twice from one line gets #2. */
    for (int i = 0; i < s->nrules; i++) {
        if (strcmp(s->rules[i].name, r->name) == 0) {
            snprintf(r->name, sizeof(r->name), "%.80s#%d", base, ++dup);
            i = -1;
        }
    }
    r->kind = kind;
    r->metric = -1;
    r->fn_ref = LUA_NOREF;
    r->enabled = true;
    s->nrules++;
    return r;
}

bool
ep_policy_allow(ep_script *s, const char *key, double cooldown_s, char *why,
                size_t whysize)
{
    ep_policy *p = s->engine;
    uint64_t now = ep_clock_now_ns();
    ep_cooldown *cd = NULL;
    int recent = 0;

    for (int i = 0; i < s->ncooldowns; i++) {
        if (strcmp(s->cooldowns[i].key, key) == 0) {
            cd = &s->cooldowns[i];
        }
    }
    if (cd != NULL && cooldown_s > 0 && cd->last_ns != 0 &&
        now - cd->last_ns < (uint64_t)(cooldown_s * 1e9)) {
        snprintf(why, whysize, "cooldown: %s ran %.1f s ago (cooldown %g s)",
                 key, (double)(now - cd->last_ns) / 1e9, cooldown_s);
    } else {
        for (int i = 0; i < p->naction; i++) {
            if (now - p->action_ns[i] < 60000000000ull) {
                recent++;
            }
        }
        if (recent < p->max_actions) {
            return true;
        }
        snprintf(why, whysize,
                 "rate limit: %d actions in the last minute "
                 "(policy.max_actions)",
                 recent);
    }
    p->refused++;
    if (cd == NULL && s->ncooldowns < EP_POLICY_MAX_COOLDOWNS) {
        cd = &s->cooldowns[s->ncooldowns++];
        snprintf(cd->key, sizeof(cd->key), "%s", key);
    }
    /* Say so at most once a second per key: a rule that asks at every
     * observation must not flood the log or the event stream. */
    if (cd == NULL || now - cd->reported_ns > 1000000000u) {
        if (cd != NULL) {
            cd->reported_ns = now;
        }
        ep_log(EP_LOG_INFO, "policy %s: %s refused: %s", s->name, key, why);
        ep_policy_action_event(s, key, NULL, false, why);
    }
    return false;
}

void
ep_policy_record(ep_script *s, const char *key, bool ok)
{
    ep_policy *p = s->engine;
    uint64_t now = ep_clock_now_ns();
    ep_cooldown *cd = NULL;

    /* Every attempt counts against the per-minute limit (a failing
     * action retried at each observation must not run unbounded); only a
     * success starts the cooldown. */
    if (p->naction < p->max_actions) {
        p->action_ns[p->naction++] = now;
    } else {
        int oldest = 0;

        for (int i = 1; i < p->naction; i++) {
            if (p->action_ns[i] < p->action_ns[oldest]) {
                oldest = i;
            }
        }
        p->action_ns[oldest] = now;
    }
    p->actions++;
    if (!ok) {
        return;
    }
    for (int i = 0; i < s->ncooldowns; i++) {
        if (strcmp(s->cooldowns[i].key, key) == 0) {
            cd = &s->cooldowns[i];
        }
    }
    if (cd == NULL && s->ncooldowns < EP_POLICY_MAX_COOLDOWNS) {
        cd = &s->cooldowns[s->ncooldowns++];
        snprintf(cd->key, sizeof(cd->key), "%s", key);
    }
    if (cd != NULL) {
        cd->last_ns = now;
    }
}

/* --- running rules ---------------------------------------------------------
 */

/* Records a rule's failure; disables it after policy.max_failures in a
 * row. */
static void
rule_failed(ep_script *s, ep_rule *r, const char *err)
{
    ep_policy *p = s->engine;
    char extra[600];
    char *json = NULL;
    size_t n = 0;
    FILE *f;

    r->errors++;
    r->failures++;
    snprintf(r->last_error, sizeof(r->last_error), "%.255s", err);
    ep_log(EP_LOG_WARN, "policy %s: rule %s failed (%u in a row): %s", s->name,
           r->name, r->failures, err);
    f = open_memstream(&json, &n);
    if (f != NULL) {
        fputs(",\"error\":", f);
        ep_proto_json_str(f, err);
        fprintf(f, ",\"failures\":%u", r->failures);
        if (fclose(f) == 0) {
            snprintf(extra, sizeof(extra), "%s", json);
            emit_rule_event(s, "policy_error", r->name, extra);
        }
        free(json);
    }
    if ((int)r->failures >= p->max_failures && r->enabled) {
        r->enabled = false;
        ep_log(EP_LOG_WARN,
               "policy %s: rule %s disabled after %u failures in a row "
               "(policy.max_failures)",
               s->name, r->name, r->failures);
        snprintf(extra, sizeof(extra), ",\"reason\":\"%u failures in a row\"",
                 r->failures);
        emit_rule_event(s, "policy_rule_disabled", r->name, extra);
    }
}

/* Calls rule r with nargs arguments already pushed above its function. */
static void
call_rule(ep_script *s, ep_rule *r, int nargs)
{
    char err[512];
    int rc;

    s->running = r;
    r->calls++;
    rc = ep_sandbox_call(&s->sb, nargs, err, sizeof(err));
    s->running = NULL;
    if (rc != EMBPROF_OK) {
        rule_failed(s, r, err);
    } else {
        r->failures = 0;
    }
}

static int
lookup_metric(ep_script *s, const char *ptr)
{
    int m = -1;

    for (int i = 0; i < s->ncache; i++) {
        if (s->cache[i].ptr == ptr) {
            return s->cache[i].metric;
        }
    }
    for (int i = 0; i < s->nmetrics; i++) {
        if (strcmp(s->metrics[i].name, ptr) == 0) {
            m = i;
            break;
        }
    }
    if (s->ncache < EP_POLICY_PTR_CACHE) {
        s->cache[s->ncache].ptr = ptr;
        s->cache[s->ncache].metric = m;
        s->ncache++;
    }
    return m;
}

static void
dispatch(ep_script *s, const ep_obs *o)
{
    int m = lookup_metric(s, o->name);
    ep_metric *mt;
    lua_State *L = s->sb.L;

    if (m < 0) {
        s->engine->unmatched++;
        return;
    }
    mt = &s->metrics[m];
    for (int i = 0; i < mt->nwindows; i++) {
        ep_window_add(s->windows[mt->windows[i]], o->t_ns, o->value);
    }
    for (int i = 0; i < mt->non; i++) {
        ep_rule *r = &s->rules[mt->on[i]];

        if (!r->enabled) {
            continue;
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->fn_ref);
        lua_pushnumber(L, o->value);
        lua_pushnumber(L, (lua_Number)o->t_ns / 1e9);
        call_rule(s, r, 2);
    }
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
    ep_policy *p = arg;
    ep_script *s = p->cur;
    ep_obs o;
    size_t budget;
    uint64_t now;

    (void)fd;
    (void)what;
    if (s == NULL) {
        return;
    }
    /* Drain what is there now, at most one queue's worth: producers that
     * outrun us must not keep this loop going forever. */
    budget = p->ep->obs.mask + 1;
    while (budget-- > 0 && ep_obsq_pop(&p->ep->obs, &o)) {
        p->drained++;
        dispatch(s, &o);
        if (p->cur != s) {
            return; /* a rule's action replaced the policy: not possible
                       today, but never touch a freed script */
        }
    }
    now = ep_clock_now_ns();
    for (int i = 0; i < s->nrules; i++) {
        ep_rule *r = &s->rules[i];

        if (r->kind == EP_RULE_ON || !r->enabled || r->done ||
            now < r->next_ns) {
            continue;
        }
        if (r->kind == EP_RULE_EVERY) {
            /* Next due one period on; a late tick does not bunch up. */
            r->next_ns += r->period_ns;
            if (r->next_ns <= now) {
                r->next_ns = now + r->period_ns;
            }
        } else {
            r->done = true;
        }
        lua_rawgeti(s->sb.L, LUA_REGISTRYINDEX, r->fn_ref);
        call_rule(s, r, 0);
    }
}

/* --- loading ---------------------------------------------------------------
 */

static void
script_free(ep_script *s)
{
    if (s == NULL) {
        return;
    }
    ep_sandbox_close(&s->sb);
    for (int i = 0; i < s->nmetrics; i++) {
        free(s->metrics[i].name);
        free(s->metrics[i].on);
    }
    for (int i = 0; i < s->nwindows; i++) {
        free(s->windows[i]);
    }
    free(s);
}

/* Reads a policy file: a regular file of at most EP_POLICY_MAX_FILE
 * bytes. Caller frees *buf. */
static int
read_file(const char *path, char **buf, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ssize_t got;
    size_t n = 0;

    if (fd < 0) {
        return ep_error(EMBPROF_EIO, "policy: cannot read %s: %s", path,
                        strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ep_error(EMBPROF_EINVAL, "policy: %s is not a regular file",
                        path);
    }
    if (st.st_size > (off_t)EP_POLICY_MAX_FILE) {
        close(fd);
        return ep_error(EMBPROF_EINVAL, "policy: %s is larger than %u bytes",
                        path, EP_POLICY_MAX_FILE);
    }
    *buf = malloc((size_t)st.st_size + 1);
    if (*buf == NULL) {
        close(fd);
        return ep_error(EMBPROF_ENOMEM, "policy: out of memory");
    }
    while (n < (size_t)st.st_size &&
           (got = read(fd, *buf + n, (size_t)st.st_size - n)) > 0) {
        n += (size_t)got;
    }
    close(fd);
    (*buf)[n] = '\0';
    *len = n;
    return EMBPROF_OK;
}

/* Builds a script from path: a fresh state, the API, the main chunk run
 * under the limits. */
static int
script_load(ep_policy *p, const char *path, ep_script **out)
{
    ep_script *s = calloc(1, sizeof(*s));
    const char *slash = strrchr(path, '/');
    char chunk[300], err[512];
    char *buf = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (s == NULL) {
        return ep_error(EMBPROF_ENOMEM, "policy: out of memory");
    }
    s->engine = p;
    snprintf(s->path, sizeof(s->path), "%s", path);
    snprintf(s->name, sizeof(s->name), "%s", slash ? slash + 1 : path);
    s->loaded_real_ns = ep_clock_realtime_ns();
    s->cpu_ns = ep_clock_process_cpu_ns();
    s->cpu_wall_ns = ep_clock_now_ns();
    if ((rc = read_file(path, &buf, &len)) != EMBPROF_OK) {
        free(s);
        return rc;
    }
    rc = ep_sandbox_open(&s->sb, p->max_memory, p->max_instructions,
                         p->max_call_ms);
    if (rc != EMBPROF_OK) {
        free(buf);
        free(s);
        return rc;
    }
    s->sb.owner = s;
    lua_pushcfunction(s->sb.L, ep_policy_api_open);
    if (ep_sandbox_call(&s->sb, 0, err, sizeof(err)) != EMBPROF_OK) {
        free(buf);
        script_free(s);
        return ep_error(EMBPROF_ENOMEM, "policy %.200s: %s", path, err);
    }
    snprintf(chunk, sizeof(chunk), "@%s", s->name);
    rc = ep_sandbox_load(&s->sb, buf, len, chunk, err, sizeof(err));
    free(buf);
    if (rc == EMBPROF_OK) {
        rc = ep_sandbox_call(&s->sb, 0, err, sizeof(err));
    }
    if (rc != EMBPROF_OK) {
        script_free(s);
        return ep_error(rc, "%s", err);
    }
    *out = s;
    return EMBPROF_OK;
}

static void
arm_timer(ep_policy *p)
{
    struct timeval tv;

    tv.tv_sec = p->period_ms / 1000;
    tv.tv_usec = (p->period_ms % 1000) * 1000;
    event_add(p->timer, &tv);
}

int
ep_policy_load(ep_policy *p, const char *path)
{
    ep_script *s, *old;
    char extra[4200];
    char *line = NULL;
    size_t n = 0;
    FILE *f;
    int rc;

    p->loads++;
    rc = script_load(p, path, &s);
    if (rc != EMBPROF_OK) {
        char msg[1024];

        snprintf(msg, sizeof(msg), "%s", embprof_last_error());
        p->load_errors++;
        ep_log(EP_LOG_ERROR, "policy: %s not loaded: %s%s", path, msg,
               p->cur ? " (the previous policy stays active)" : "");
        f = open_memstream(&line, &n);
        if (f != NULL) {
            fputs("{\"event\":\"policy_load_failed\",\"file\":", f);
            ep_proto_json_str(f, path);
            fputs(",\"error\":", f);
            ep_proto_json_str(f, msg);
            fprintf(f, ",\"kept\":%s}", p->cur ? "true" : "false");
            if (fclose(f) == 0) {
                ep_policy_emit(p, line);
            }
            free(line);
        }
        return ep_error(rc, "%s", msg);
    }
    old = p->cur;
    p->cur = s;
    snprintf(p->file, sizeof(p->file), "%s", path);
    script_free(old);
    ep_log(EP_LOG_INFO, "policy %s loaded: %d rules, %d windows, %zu bytes",
           s->name, s->nrules, s->nwindows, s->sb.used);
    snprintf(extra, sizeof(extra), ",\"rules\":%d", s->nrules);
    emit_rule_event(s, "policy_loaded", NULL, extra);
    if (!event_pending(p->timer, EV_TIMEOUT, NULL)) {
        arm_timer(p);
    }
    return EMBPROF_OK;
}

int
ep_policy_reload(ep_policy *p)
{
    char path[4096];

    if (p->file[0] == '\0') {
        return ep_error(EMBPROF_ESTATE, "policy reload: no policy is "
                                        "loaded (use policy load FILE)");
    }
    snprintf(path, sizeof(path), "%s", p->file);
    return ep_policy_load(p, path);
}

int
ep_policy_disable(ep_policy *p, const char *name)
{
    ep_script *s = p->cur;
    int hit = 0;

    if (s == NULL) {
        return ep_error(EMBPROF_ESTATE, "policy disable: no policy is "
                                        "loaded");
    }
    for (int i = 0; i < s->nrules; i++) {
        if (strcmp(name, "*") == 0 || strcmp(s->rules[i].name, name) == 0) {
            if (s->rules[i].enabled) {
                s->rules[i].enabled = false;
                emit_rule_event(s, "policy_rule_disabled", s->rules[i].name,
                                ",\"reason\":\"disabled by request\"");
            }
            hit++;
        }
    }
    if (hit == 0) {
        return ep_error(EMBPROF_ENOTFOUND,
                        "policy disable: no rule \"%.100s\" (policy list "
                        "names them)",
                        name);
    }
    ep_log(EP_LOG_INFO, "policy %s: disabled %s", s->name, name);
    return EMBPROF_OK;
}

static const char *
kind_name(ep_rule_kind k)
{
    return k == EP_RULE_ON ? "on" : k == EP_RULE_EVERY ? "every" : "after";
}

void
ep_policy_describe(ep_policy *p, FILE *f)
{
    ep_script *s = p->cur;

    fputs("{\"loaded\":", f);
    fputs(s ? "true" : "false", f);
    fputs(",\"file\":", f);
    ep_proto_json_str(f, p->file);
    if (s != NULL) {
        fputs(",\"name\":", f);
        ep_proto_json_str(f, s->name);
        fprintf(f,
                ",\"memory\":%zu,\"peak_memory\":%zu,\"max_memory\":%zu,"
                "\"windows\":%d,\"killed\":%llu",
                s->sb.used, s->sb.peak, s->sb.limit, s->nwindows,
                (unsigned long long)s->sb.kills);
    }
    fprintf(f,
            ",\"period_ms\":%d,\"max_instructions\":%lld,"
            "\"max_failures\":%d,\"max_actions\":%d,\"loads\":%llu,"
            "\"load_errors\":%llu,\"observations\":%llu,\"unmatched\":%llu,"
            "\"actions\":%llu,\"refused\":%llu,\"log_dropped\":%llu",
            p->period_ms, (long long)p->max_instructions, p->max_failures,
            p->max_actions, (unsigned long long)p->loads,
            (unsigned long long)p->load_errors, (unsigned long long)p->drained,
            (unsigned long long)p->unmatched, (unsigned long long)p->actions,
            (unsigned long long)p->refused,
            (unsigned long long)p->log_dropped);
    fputs(",\"rules\":[", f);
    for (int i = 0; s != NULL && i < s->nrules; i++) {
        ep_rule *r = &s->rules[i];

        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        ep_proto_json_str(f, r->name);
        fprintf(f, ",\"kind\":\"%s\"", kind_name(r->kind));
        if (r->kind == EP_RULE_ON) {
            fputs(",\"metric\":", f);
            ep_proto_json_str(f, s->metrics[r->metric].name);
        } else {
            fprintf(f, ",\"ms\":%.0f", (double)r->period_ns / 1e6);
        }
        fprintf(f,
                ",\"enabled\":%s,\"calls\":%llu,\"errors\":%llu,"
                "\"failures\":%u,\"last_error\":",
                r->enabled && !r->done ? "true" : "false",
                (unsigned long long)r->calls, (unsigned long long)r->errors,
                r->failures);
        ep_proto_json_str(f, r->last_error);
        fputc('}', f);
    }
    fputs("]}", f);
}

int
ep_policy_new(struct embprof *ep, struct event_base *base, ep_policy **out)
{
    ep_policy *p = calloc(1, sizeof(*p));
    const struct embprof_config *c = &ep->cfg;

    *out = NULL;
    if (p == NULL) {
        return ep_error(EMBPROF_ENOMEM, "policy: out of memory");
    }
    p->ep = ep;
    p->base = base;
    pthread_mutex_lock(&ep->ctl_lock);
    p->max_memory = (size_t)ep_cfg_int(c, EP_OPT_POLICY_MAX_MEMORY);
    p->max_instructions = ep_cfg_int(c, EP_OPT_POLICY_MAX_INSTRUCTIONS);
    p->max_call_ms = ep_cfg_double(c, EP_OPT_POLICY_MAX_CALL_MS);
    p->period_ms = (int)ep_cfg_int(c, EP_OPT_POLICY_PERIOD_MS);
    p->max_failures = (int)ep_cfg_int(c, EP_OPT_POLICY_MAX_FAILURES);
    p->max_actions = (int)ep_cfg_int(c, EP_OPT_POLICY_MAX_ACTIONS);
    snprintf(p->dir, sizeof(p->dir), "%s", ep_cfg_str(c, EP_OPT_POLICY_DIR));
    pthread_mutex_unlock(&ep->ctl_lock);
    p->action_ns = calloc((size_t)p->max_actions, sizeof(*p->action_ns));
    p->timer = event_new(base, -1, EV_PERSIST, tick, p);
    if (p->action_ns == NULL || p->timer == NULL) {
        ep_policy_free(p);
        return ep_error(EMBPROF_ENOMEM, "policy: out of memory");
    }
    *out = p;
    return EMBPROF_OK;
}

void
ep_policy_free(ep_policy *p)
{
    if (p == NULL) {
        return;
    }
    if (p->timer != NULL) {
        event_free(p->timer);
    }
    script_free(p->cur);
    free(p->action_ns);
    free(p);
}

const char *
ep_policy_dir(const ep_policy *p)
{
    return p->dir;
}

/*
 * api.c -- the `embprof` table a policy sees (reference: docs/POLICIES.md).
 * Every function runs on the control thread inside a sandboxed call; Lua
 * errors are raised only here, never across a held lock (actions call the
 * controller, which takes and releases ctl_lock before returning).
 *
 * Actions (start, export, reset) return true (export: the file written)
 * or nil and a message; they are refused, not raised, when a cooldown or
 * the per-minute limit says no. stop is never limited.
 */
#include "policy_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "../runtime/clock.h"
#include "../runtime/control/protocol.h"
#include "../runtime/error.h"
#include "../runtime/export/export.h"
#include "../runtime/log.h"
#include "../runtime/runtime.h"

#define EP_WINDOW_MT "embprof.window"
#define EP_KEEP_MAX 1000

ep_script *
ep_policy_script(lua_State *L)
{
    return ep_sandbox_of(L)->owner;
}

/* Time spent in an action (an export's fsync) does not count against the
 * callback's wall-clock limit. */
static uint64_t
action_begin(void)
{
    return ep_clock_now_ns();
}

static void
action_end(lua_State *L, uint64_t t0)
{
    ep_sandbox *sb = ep_sandbox_of(L);

    if (sb->max_ns != 0) {
        sb->deadline += ep_clock_now_ns() - t0;
    }
}

/* Returns nil, msg (the Lua convention for a failure that is expected). */
static int
fail(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* --- rules --------------------------------------------------------------- */

/* Registers fn (argument 2) for kind; returns the rule's name. */
static ep_rule *
register_rule(lua_State *L, ep_rule_kind kind)
{
    ep_script *s = ep_policy_script(L);
    const char *name = luaL_optstring(L, 3, NULL);
    ep_rule *r;
    int ref;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (name != NULL &&
        (name[0] == '\0' || strpbrk(name, " \t\n") || strlen(name) > 80)) {
        luaL_error(L, "rule name \"%s\": 1 to 80 characters, no blanks", name);
    }
    lua_pushvalue(L, 2);
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
    r = ep_policy_add_rule(s, L, kind, name);
    if (r == NULL) {
        luaL_error(L, "too many rules (at most %d)", EP_POLICY_MAX_RULES);
    }
    r->fn_ref = ref;
    return r;
}

/* embprof.on(metric, fn [, name]): fn(value, t) for each observation. */
static int
api_on(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    const char *metric = luaL_checkstring(L, 1);
    int m = ep_policy_metric(s, metric);
    ep_metric *mt;
    ep_rule *r;
    int *on;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (m < 0) {
        return luaL_error(L, "too many metrics (at most %d)",
                          EP_POLICY_MAX_METRICS);
    }
    mt = &s->metrics[m];
    on = realloc(mt->on, (size_t)(mt->non + 1) * sizeof(*on));
    if (on == NULL) {
        return luaL_error(L, "out of memory");
    }
    mt->on = on;
    r = register_rule(L, EP_RULE_ON);
    r->metric = m;
    mt->on[mt->non++] = (int)(r - s->rules);
    lua_pushstring(L, r->name);
    return 1;
}

static int
timer_rule(lua_State *L, ep_rule_kind kind)
{
    lua_Number ms = luaL_checknumber(L, 1);
    ep_rule *r;

    if (!(ms >= 1 && ms <= 86400e3)) {
        return luaL_error(L, "%s: ms must be 1..86400000",
                          kind == EP_RULE_EVERY ? "every" : "after");
    }
    r = register_rule(L, kind);
    r->period_ns = (uint64_t)(ms * 1e6);
    r->next_ns = ep_clock_now_ns() + r->period_ns;
    lua_pushstring(L, r->name);
    return 1;
}

/* embprof.every(ms, fn [, name]) */
static int
api_every(lua_State *L)
{
    return timer_rule(L, EP_RULE_EVERY);
}

/* embprof.after(ms, fn [, name]): once. */
static int
api_after(lua_State *L)
{
    return timer_rule(L, EP_RULE_AFTER);
}

/* --- windows ---------------------------------------------------------------
 */

typedef struct ep_luawindow {
    int idx; /* into the script's windows */
} ep_luawindow;

static int
api_window(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    const char *metric = luaL_checkstring(L, 1);
    lua_Number seconds = luaL_checknumber(L, 2);
    ep_luawindow *lw;
    ep_window *w;
    int m;

    if (!(seconds >= 0.01 && seconds <= 86400)) {
        return luaL_error(L, "window: seconds must be 0.01..86400");
    }
    /* A window is its (metric, length): asking again, say inside a
     * callback, returns the same window with its data, not a new empty
     * one (which would also use up the limit). */
    {
        uint64_t span = ep_window_span_ns(seconds);

        for (int i = 0; i < s->nwindows; i++) {
            if (s->windows[i]->span_ns == span &&
                strcmp(s->metrics[s->win_metric[i]].name, metric) == 0) {
                lw = lua_newuserdatauv(L, sizeof(*lw), 0);
                lw->idx = i;
                luaL_setmetatable(L, EP_WINDOW_MT);
                return 1;
            }
        }
    }
    if (s->nwindows == EP_POLICY_MAX_WINDOWS) {
        return luaL_error(L, "too many windows (at most %d)",
                          EP_POLICY_MAX_WINDOWS);
    }
    m = ep_policy_metric(s, metric);
    if (m < 0) {
        return luaL_error(L, "too many metrics (at most %d)",
                          EP_POLICY_MAX_METRICS);
    }
    lw = lua_newuserdatauv(L, sizeof(*lw), 0);
    w = malloc(sizeof(*w));
    if (w == NULL) {
        return luaL_error(L, "out of memory");
    }
    ep_window_init(w, seconds);
    lw->idx = s->nwindows;
    s->windows[s->nwindows] = w;
    s->win_metric[s->nwindows] = m;
    s->metrics[m].windows[s->metrics[m].nwindows++] = s->nwindows;
    s->nwindows++;
    luaL_setmetatable(L, EP_WINDOW_MT);
    return 1;
}

static ep_window *
check_window(lua_State *L)
{
    ep_luawindow *lw = luaL_checkudata(L, 1, EP_WINDOW_MT);

    return ep_policy_script(L)->windows[lw->idx];
}

static int
win_stat(lua_State *L, int which)
{
    ep_window *w = check_window(L);
    ep_window_stats st;

    ep_window_stats_at(w, ep_clock_now_ns(), &st);
    switch (which) {
    case 0:
        lua_pushinteger(L, (lua_Integer)st.count);
        break;
    case 1:
        lua_pushnumber(L, st.sum);
        break;
    case 2:
        lua_pushnumber(L, st.count ? st.sum / (double)st.count : 0.0);
        break;
    case 3:
        lua_pushnumber(L, st.min);
        break;
    case 4:
        lua_pushnumber(L, st.max);
        break;
    default:
        lua_pushnumber(L, (double)st.count / ((double)w->span_ns / 1e9));
    }
    return 1;
}

static int
win_count(lua_State *L)
{
    return win_stat(L, 0);
}
static int
win_sum(lua_State *L)
{
    return win_stat(L, 1);
}
static int
win_mean(lua_State *L)
{
    return win_stat(L, 2);
}
static int
win_min(lua_State *L)
{
    return win_stat(L, 3);
}
static int
win_max(lua_State *L)
{
    return win_stat(L, 4);
}
static int
win_rate(lua_State *L)
{
    return win_stat(L, 5);
}

static int
win_q(lua_State *L, double q)
{
    ep_window *w = check_window(L);

    lua_pushnumber(L, ep_window_quantile(w, ep_clock_now_ns(), q));
    return 1;
}

static int
win_p50(lua_State *L)
{
    return win_q(L, 0.50);
}
static int
win_p90(lua_State *L)
{
    return win_q(L, 0.90);
}
static int
win_p95(lua_State *L)
{
    return win_q(L, 0.95);
}
static int
win_p99(lua_State *L)
{
    return win_q(L, 0.99);
}

/* w:percentile(q), q in 0..100 */
static int
win_percentile(lua_State *L)
{
    lua_Number q = luaL_checknumber(L, 2);

    luaL_argcheck(L, q >= 0 && q <= 100, 2, "percentile must be 0..100");
    return win_q(L, q / 100.0);
}

static int
win_tostring(lua_State *L)
{
    ep_luawindow *lw = luaL_checkudata(L, 1, EP_WINDOW_MT);
    ep_script *s = ep_policy_script(L);

    lua_pushfstring(L, "window(%s, %f s)",
                    s->metrics[s->win_metric[lw->idx]].name,
                    (double)s->windows[lw->idx]->span_ns / 1e9);
    return 1;
}

static const luaL_Reg ep_window_methods[] = {
    {"count", win_count},
    {"sum", win_sum},
    {"mean", win_mean},
    {"min", win_min},
    {"max", win_max},
    {"rate", win_rate},
    {"p50", win_p50},
    {"p90", win_p90},
    {"p95", win_p95},
    {"p99", win_p99},
    {"percentile", win_percentile},
    {NULL, NULL},
};

/* --- actions ---------------------------------------------------------------
 */

/* The cooldown of an action: its `cooldown` key, or embprof.cooldown's. */
static double
opt_cooldown(lua_State *L, int t)
{
    ep_script *s = ep_policy_script(L);
    double v = s->default_cooldown_s;

    if (lua_getfield(L, t, "cooldown") != LUA_TNIL) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 0) {
            luaL_error(L, "cooldown must be a number of seconds >= 0");
        }
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* The `key` of an action (its cooldown's name), default dflt. */
static void
opt_key(lua_State *L, int t, const char *dflt, char *out, size_t size)
{
    const char *k = NULL;

    if (lua_getfield(L, t, "key") != LUA_TNIL) {
        k = luaL_checkstring(L, -1);
    }
    snprintf(out, size, "%s", k ? k : dflt);
    lua_pop(L, 1);
}

/* Formats value at idx as an option value (no blanks). */
static int
option_value(lua_State *L, int idx, char *out, size_t size)
{
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        snprintf(out, size, "%s", lua_toboolean(L, idx) ? "true" : "false");
    } else if (lua_isinteger(L, idx)) {
        snprintf(out, size, "%lld", (long long)lua_tointeger(L, idx));
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        snprintf(out, size, "%.17g", (double)lua_tonumber(L, idx));
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        const char *v = lua_tostring(L, idx);

        if (strpbrk(v, " \t\r\n") != NULL) {
            return -1;
        }
        snprintf(out, size, "%s", v);
    } else {
        return -1;
    }
    return 0;
}

/* embprof.start{probe="sampler", rate=1000, duration=5, cooldown=60} */
static int
api_start(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    char opts[2048] = "", key[64], why[256], probe[64];
    size_t o = 0, plen;
    double cooldown;
    uint64_t t0;
    int rc;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "probe");
    snprintf(probe, sizeof(probe), "%s",
             lua_isstring(L, -1) ? lua_tostring(L, -1) : "sampler");
    lua_pop(L, 1);
    plen = strlen(probe);
    cooldown = opt_cooldown(L, 1);
    {
        char dflt[80];

        snprintf(dflt, sizeof(dflt), "start:%s", probe);
        opt_key(L, 1, dflt, key, sizeof(key));
    }
    /* Every other key is a probe option, as `start` on the socket takes
     * them: "rate" or "sampler.rate", nothing outside the probe. */
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
        const char *k =
            lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *dot = k ? strchr(k, '.') : NULL;
        char val[512];
        int n;

        if (k == NULL) {
            return luaL_error(L, "start: option names must be strings");
        }
        if (strcmp(k, "probe") == 0 || strcmp(k, "cooldown") == 0 ||
            strcmp(k, "key") == 0) {
            lua_pop(L, 1);
            continue;
        }
        if (strpbrk(k, "= \t") != NULL ||
            (dot != NULL && (strncmp(k, probe, plen) != 0 || k + plen != dot ||
                             strchr(dot + 1, '.')))) {
            return luaL_error(L,
                              "start %s: \"%s\" is not an option of the "
                              "probe",
                              probe, k);
        }
        if (option_value(L, -1, val, sizeof(val)) != 0) {
            return luaL_error(L,
                              "start: %s must be a number, a boolean or "
                              "a string without blanks",
                              k);
        }
        n = snprintf(opts + o, sizeof(opts) - o, "%s%s=%s", o ? " " : "", k,
                     val);
        if (n < 0 || (size_t)n >= sizeof(opts) - o) {
            return luaL_error(L, "start: options too long");
        }
        o += (size_t)n;
        lua_pop(L, 1);
    }
    if (!ep_policy_allow(s, key, cooldown, why, sizeof(why))) {
        return fail(L, why);
    }
    t0 = action_begin();
    rc = ep_ctl_start(s->engine->ep, probe, opts);
    action_end(L, t0);
    ep_policy_record(s, key, rc == EMBPROF_OK);
    if (rc != EMBPROF_OK) {
        snprintf(why, sizeof(why), "%s", embprof_last_error());
        ep_policy_action_event(s, "start", probe, false, why);
        return fail(L, why);
    }
    ep_policy_action_event(s, "start", probe, true, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* embprof.stop(probe): never limited. */
static int
api_stop(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    const char *probe = luaL_optstring(L, 1, "sampler");
    uint64_t t0 = action_begin();
    int rc = ep_ctl_stop(s->engine->ep, probe);

    action_end(L, t0);
    if (rc != EMBPROF_OK) {
        return fail(L, embprof_last_error());
    }
    ep_policy_action_event(s, "stop", probe, true, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int
api_active(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    int rc = ep_ctl_active(s->engine->ep, luaL_optstring(L, 1, "sampler"));

    if (rc < 0) {
        return fail(L, embprof_last_error());
    }
    lua_pushboolean(L, rc);
    return 1;
}

/* embprof.reset(): drops the samples (an action: limited). */
static int
api_reset(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    char why[256];
    uint64_t t0;

    if (!ep_policy_allow(s, "reset", 0, why, sizeof(why))) {
        return fail(L, why);
    }
    t0 = action_begin();
    ep_ctl_reset(s->engine->ep);
    action_end(L, t0);
    ep_policy_record(s, "reset", true);
    ep_policy_action_event(s, "reset", NULL, true, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* Whether name matches template, where %t stands for [0-9-]+, %n for
 * [0-9]+ and %% for %. */
static bool
template_match(const char *t, const char *n)
{
    while (*t != '\0') {
        if (t[0] == '%' && (t[1] == 't' || t[1] == 'n')) {
            size_t k = strspn(n, t[1] == 't' ? "0123456789-" : "0123456789");

            for (size_t j = k; j >= 1; j--) {
                if (template_match(t + 2, n + j)) {
                    return true;
                }
            }
            return false;
        }
        if (t[0] == '%' && t[1] == '%') {
            t++;
        }
        if (*t != *n) {
            return false;
        }
        t++;
        n++;
    }
    return *n == '\0';
}

/* Expands %t (local time, YYYYmmdd-HHMMSS), %n (the engine's export
 * counter) and %%. Returns 0, or -1 with why set. */
static int
expand(const char *tmpl, unsigned counter, char *out, size_t size,
       const char **why)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    size_t o = 0;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    for (const char *p = tmpl; *p != '\0'; p++) {
        char num[16];
        const char *add = NULL;
        char one[2] = {*p, '\0'};

        if (*p == '%') {
            p++;
            if (*p == 't') {
                add = stamp;
            } else if (*p == 'n') {
                snprintf(num, sizeof(num), "%u", counter);
                add = num;
            } else if (*p == '%') {
                add = "%";
            } else {
                *why = "export: path placeholders are %t (time), %n "
                       "(counter) and %%";
                return -1;
            }
        } else {
            add = one;
        }
        if (o + strlen(add) >= size) {
            *why = "export: path too long";
            return -1;
        }
        memcpy(out + o, add, strlen(add) + 1);
        o += strlen(add);
    }
    return 0;
}

typedef struct ep_kept {
    char name[256];
    struct timespec mtime;
} ep_kept;

static int
newest_first(const void *a, const void *b)
{
    const ep_kept *x = a, *y = b;

    if (x->mtime.tv_sec != y->mtime.tv_sec) {
        return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
    }
    if (x->mtime.tv_nsec != y->mtime.tv_nsec) {
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
    }
    return -strcmp(x->name, y->name);
}

/* Keeps the newest `keep` regular files in dir whose names match tmpl (a
 * file-name template), deleting the others. Only names the template
 * could have produced are ever touched; links and directories never. */
static int
prune(ep_script *s, const char *dir, const char *tmpl, int keep)
{
    DIR *d = opendir(dir);
    ep_kept *files = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int removed = 0;

    if (d == NULL) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;

        if (!template_match(tmpl, e->d_name) ||
            strlen(e->d_name) >= sizeof(files->name) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode)) {
            continue;
        }
        if (n == cap) {
            ep_kept *more =
                realloc(files, (cap ? cap * 2 : 16) * sizeof(*files));

            if (more == NULL) {
                break;
            }
            files = more;
            cap = cap ? cap * 2 : 16;
        }
        snprintf(files[n].name, sizeof(files[n].name), "%s", e->d_name);
        files[n].mtime = st.st_mtim;
        n++;
    }
    qsort(files, n, sizeof(*files), newest_first);
    for (size_t i = (size_t)keep; i < n; i++) {
        if (unlinkat(dirfd(d), files[i].name, 0) == 0) {
            removed++;
            ep_log(EP_LOG_INFO, "policy %s: removed %s/%s (keep=%d)", s->name,
                   dir, files[i].name, keep);
        }
    }
    closedir(d);
    free(files);
    return removed;
}

/* embprof.export{format=..., path="slow-%t-%n.folded", keep=6,
 * cooldown=60} -> the file written, or nil, why. */
static int
api_export(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    ep_policy *p = s->engine;
    const ep_exporter *ex = NULL;
    const char *format = NULL, *tmpl = NULL, *why = NULL;
    char dflt[300], key[64], msg[512], dir[4096], path[4096], full[4096];
    const char *slash;
    lua_Integer keep = 0;
    unsigned *counter;
    double cooldown;
    uint64_t t0;
    int rc;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getfield(L, 1, "format") != LUA_TNIL) {
        format = luaL_checkstring(L, -1);
    }
    if (lua_getfield(L, 1, "path") != LUA_TNIL) {
        tmpl = luaL_checkstring(L, -1);
    }
    if (lua_getfield(L, 1, "keep") != LUA_TNIL) {
        keep = luaL_checkinteger(L, -1);
        luaL_argcheck(L, keep >= 1 && keep <= EP_KEEP_MAX, 1,
                      "keep must be 1..1000");
    }
    lua_pop(L, 3); /* the strings stay referenced by the table */
    cooldown = opt_cooldown(L, 1);
    opt_key(L, 1, "export", key, sizeof(key));
    if (format != NULL && (ex = ep_export_find(format)) == NULL) {
        snprintf(msg, sizeof(msg),
                 "unknown export format \"%.40s\" "
                 "(accepts %s)",
                 format, ep_export_names());
        return luaL_error(L, "%s", msg);
    }
    if (tmpl == NULL) {
        const char *ext, *bar;
        size_t stem = strcspn(s->name, ".");

        if (ex == NULL) {
            ex = ep_export_find("collapsed");
        }
        ext = ex->extensions;
        bar = strchr(ext, '|');
        snprintf(dflt, sizeof(dflt), "%.*s-%%t-%%n%.*s", (int)stem, s->name,
                 bar ? (int)(bar - ext) : 31, ext);
        tmpl = dflt;
    } else if (ex == NULL && (ex = ep_export_for_path(tmpl)) == NULL) {
        return luaL_error(L,
                          "export: cannot tell the format from \"%s\": "
                          "give format= (%s)",
                          tmpl, ep_export_names());
    }
    slash = strrchr(tmpl, '/');
    if (slash != NULL && memchr(tmpl, '%', (size_t)(slash - tmpl))) {
        return luaL_error(L, "export: placeholders go in the file name, "
                             "not in directories");
    }
    if (keep > 0 && strstr(slash ? slash : tmpl, "%t") == NULL &&
        strstr(slash ? slash : tmpl, "%n") == NULL) {
        return luaL_error(L, "export: keep needs %%t or %%n in the file "
                             "name");
    }
    counter = &p->export_counter;
    for (int i = 0; i < p->ncounters; i++) {
        if (strcmp(p->counters[i].tmpl, tmpl) == 0) {
            counter = &p->counters[i].n;
        }
    }
    if (counter == &p->export_counter &&
        strlen(tmpl) < sizeof(p->counters[0].tmpl) &&
        p->ncounters < EP_POLICY_MAX_COOLDOWNS) {
        /* Fits: checked just above. */
        memcpy(p->counters[p->ncounters].tmpl, tmpl, strlen(tmpl) + 1);
        counter = &p->counters[p->ncounters++].n;
    }
    if (expand(tmpl, *counter + 1, path, sizeof(path), &why) != 0) {
        return luaL_error(L, "%s", why);
    }
    ep_ctl_config_get(p->ep, "output.dir", dir, sizeof(dir));
    rc = ep_proto_confine(dir, path, full, sizeof(full));
    if (rc == EP_CONFINE_FORBIDDEN) {
        snprintf(msg, sizeof(msg), "export: %.200s is outside output.dir",
                 path);
        return fail(L, msg);
    }
    if (rc != EMBPROF_OK) {
        return fail(L, embprof_last_error());
    }
    if (!ep_policy_allow(s, key, cooldown, msg, sizeof(msg))) {
        return fail(L, msg);
    }
    t0 = action_begin();
    rc = ep_ctl_export(p->ep, ex->name, full);
    if (rc == EMBPROF_OK) {
        (*counter)++;
        if (keep > 0) {
            char d[4096];
            char *last;

            snprintf(d, sizeof(d), "%s", full);
            last = strrchr(d, '/');
            if (last != NULL) {
                *last = '\0';
                prune(s, d[0] ? d : "/", slash ? slash + 1 : tmpl, (int)keep);
            }
        }
    }
    action_end(L, t0);
    ep_policy_record(s, key, rc == EMBPROF_OK);
    if (rc != EMBPROF_OK) {
        snprintf(msg, sizeof(msg), "%s", embprof_last_error());
        ep_policy_action_event(s, "export", full, false, msg);
        return fail(L, msg);
    }
    ep_policy_action_event(s, "export", full, true, NULL);
    lua_pushstring(L, full);
    return 1;
}

/* embprof.cooldown(seconds): the default cooldown of start and export;
 * returns the previous one. */
static int
api_cooldown(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    double prev = s->default_cooldown_s;

    if (!lua_isnoneornil(L, 1)) {
        lua_Number v = luaL_checknumber(L, 1);

        luaL_argcheck(L, v >= 0 && v <= 86400 * 7, 1,
                      "cooldown must be 0..604800 seconds");
        s->default_cooldown_s = v;
    }
    lua_pushnumber(L, prev);
    return 1;
}

/* --- observation of the host -----------------------------------------------
 */

static uint64_t
rss_bytes(void)
{
    char buf[128];
    unsigned long long size = 0, resident = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2) {
        return 0;
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void
set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void
set_int(lua_State *L, const char *k, uint64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* embprof.stats(): the probes' figures, the process's CPU and memory, and
 * the GIL wait share when the GIL probe provides it. */
static int
api_stats(lua_State *L)
{
    ep_script *s = ep_policy_script(L);
    struct embprof *ep = s->engine->ep;
    embprof_stats st;
    uint64_t cpu = ep_clock_process_cpu_ns(), now = ep_clock_now_ns();
    double share = -1;

    ep_ctl_stats(ep, &st);
    lua_createtable(L, 0, 24);
    set_int(L, "ticks", st.ticks);
    set_int(L, "samples", st.samples);
    set_int(L, "idle_skipped", st.idle_skipped);
    set_int(L, "walk_errors", st.walk_errors);
    set_int(L, "truncated", st.truncated);
    set_int(L, "missed_ticks", st.missed_ticks);
    set_int(L, "sampler_cpu_ns", st.sampler_cpu_ns);
    set_int(L, "wall_ns", st.wall_ns);
    set_int(L, "threads_seen", st.threads_seen);
    set_int(L, "stacks", st.stacks);
    set_int(L, "functions", st.functions);
    set_int(L, "observations", st.observations);
    set_int(L, "observations_dropped", st.observations_dropped);
    lua_pushboolean(L, ep_ctl_active(ep, "sampler") == 1);
    lua_setfield(L, -2, "sampler_active");
    set_num(L, "uptime_s", (double)(now - ep->created_ns) / 1e9);
    set_num(L, "cpu_s", (double)cpu / 1e9);
    /* Percent of one CPU since this policy's previous stats() call (or
     * since it was loaded). */
    set_num(L, "cpu_pct",
            now > s->cpu_wall_ns ? 100.0 * (double)(cpu - s->cpu_ns) /
                                       (double)(now - s->cpu_wall_ns)
                                 : 0.0);
    s->cpu_ns = cpu;
    s->cpu_wall_ns = now;
    set_int(L, "rss_bytes", rss_bytes());
    /* The GIL probe's hook (runtime.h); nil while no GIL probe runs. */
    if (ep->gil_wait_share != NULL) {
        share = ep->gil_wait_share(ep);
    }
    if (share >= 0) {
        set_num(L, "gil_wait_share", share);
    }
    set_int(L, "policy_memory", s->sb.used);
    return 1;
}

/* embprof.log(...): like print, to embprof's log (info) and as a
 * policy_log event; at most EP_POLICY_LOG_PER_S lines a second. */
static int
api_log(lua_State *L)
{
    ep_policy_log(ep_policy_script(L), ep_sandbox_join_args(L));
    return 0;
}

/* embprof.now(): monotonic seconds (os.time has whole seconds, os.clock
 * is CPU time). */
static int
api_now(lua_State *L)
{
    lua_pushnumber(L, (double)ep_clock_now_ns() / 1e9);
    return 1;
}

static const luaL_Reg ep_api[] = {
    {"on", api_on},         {"every", api_every},
    {"after", api_after},   {"window", api_window},
    {"start", api_start},   {"stop", api_stop},
    {"active", api_active}, {"reset", api_reset},
    {"export", api_export}, {"cooldown", api_cooldown},
    {"stats", api_stats},   {"log", api_log},
    {"now", api_now},       {NULL, NULL},
};

int
ep_policy_api_open(lua_State *L)
{
    luaL_newmetatable(L, EP_WINDOW_MT);
    luaL_newlib(L, ep_window_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, win_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_newlib(L, ep_api);
    lua_pushstring(L, EMBPROF_VERSION_STRING);
    lua_setfield(L, -2, "version");
    lua_setglobal(L, "embprof");
    return 0;
}

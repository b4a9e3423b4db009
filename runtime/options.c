/*
 * options.c -- parsing and validation for the option table.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

const ep_option ep_options[EP_OPT_COUNT] = {
#define EP_X_ROW(id, key, type, def, min, max, choices, doc)                  \
    {key, EP_OPT_##type, def, min, max, choices, doc},
    EP_OPTION_LIST(EP_X_ROW)
#undef EP_X_ROW
};

int
ep_opt_find(const char *key)
{
    if (key == NULL) {
        return -1;
    }
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        if (strcmp(ep_options[i].key, key) == 0) {
            return i;
        }
    }
    return -1;
}

const char *
ep_opt_choice(int id, int64_t index, char *buf, size_t size)
{
    const char *p = ep_options[id].choices;
    int64_t n = 0;

    buf[0] = '\0';
    while (p != NULL && *p != '\0') {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);

        if (n == index) {
            if (len >= size) {
                len = size - 1;
            }
            memcpy(buf, p, len);
            buf[len] = '\0';
            return buf;
        }
        n++;
        p = bar ? bar + 1 : NULL;
    }
    return buf;
}

void
ep_opt_accepts(int id, char *buf, size_t size)
{
    const ep_option *o = &ep_options[id];

    switch (o->type) {
    case EP_OPT_INT:
        snprintf(buf, size, "an integer %.0f..%.0f", o->min, o->max);
        break;
    case EP_OPT_DOUBLE:
        snprintf(buf, size, "a number %g..%g", o->min, o->max);
        break;
    case EP_OPT_BOOL:
        snprintf(buf, size, "true|false");
        break;
    case EP_OPT_ENUM:
        snprintf(buf, size, "one of %s", o->choices);
        break;
    case EP_OPT_STRING:
        snprintf(buf, size, "a string");
        break;
    case EP_OPT_PATH:
        snprintf(buf, size, "a path");
        break;
    }
}

static int
bad_value(int id, const char *text)
{
    char acc[160];

    ep_opt_accepts(id, acc, sizeof(acc));
    return ep_error(EMBPROF_EINVAL, "%s: invalid value \"%s\" (accepts %s)",
                    ep_options[id].key, text, acc);
}

static int
parse_bool(const char *t, int64_t *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(t, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(t, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int
ep_opt_parse(int id, const char *text, ep_optval *out)
{
    const ep_option *o;
    char *end;

    if (id < 0 || id >= EP_OPT_COUNT) {
        return ep_error(EMBPROF_ENOTFOUND, "no such option");
    }
    o = &ep_options[id];
    if (text == NULL) {
        return ep_error(EMBPROF_EINVAL, "%s: no value given", o->key);
    }
    memset(out, 0, sizeof(*out));
    switch (o->type) {
    case EP_OPT_INT: {
        long long v;

        errno = 0;
        v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || v < o->min ||
            v > o->max) {
            return bad_value(id, text);
        }
        out->i = v;
        out->d = (double)v;
        break;
    }
    case EP_OPT_DOUBLE: {
        double v;

        errno = 0;
        v = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0' || !isfinite(v) ||
            v < o->min || v > o->max) {
            return bad_value(id, text);
        }
        out->d = v;
        break;
    }
    case EP_OPT_BOOL:
        if (parse_bool(text, &out->i) != 0) {
            return bad_value(id, text);
        }
        break;
    case EP_OPT_ENUM: {
        char buf[64];
        int64_t n;

        for (n = 0;; n++) {
            ep_opt_choice(id, n, buf, sizeof(buf));
            if (buf[0] == '\0') {
                return bad_value(id, text);
            }
            if (strcmp(buf, text) == 0) {
                break;
            }
        }
        out->i = n;
        break;
    }
    case EP_OPT_STRING:
    case EP_OPT_PATH:
        if (strlen(text) >= 4096) {
            return ep_error(EMBPROF_EINVAL, "%s: value longer than 4095 bytes",
                            o->key);
        }
        out->s = strdup(text);
        if (out->s == NULL) {
            return ep_error(EMBPROF_ENOMEM, "%s: out of memory", o->key);
        }
        break;
    }
    return EMBPROF_OK;
}

static void
store(struct embprof_config *cfg, int id, ep_optval *v)
{
    free(cfg->v[id].s);
    cfg->v[id] = *v;
}

int
ep_opt_set(struct embprof_config *cfg, const char *key, const char *text)
{
    int id = ep_opt_find(key);
    ep_optval v;
    int rc;

    if (id < 0) {
        return ep_error(EMBPROF_EINVAL,
                        "unknown option \"%s\" (embprof-run --help lists "
                        "them)",
                        key ? key : "(null)");
    }
    rc = ep_opt_parse(id, text, &v);
    if (rc != EMBPROF_OK) {
        return rc;
    }
    v.set = true;
    store(cfg, id, &v);
    return EMBPROF_OK;
}

int
ep_opt_defaults(struct embprof_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        ep_optval v;
        int rc = ep_opt_parse(i, ep_options[i].def, &v);

        if (rc != EMBPROF_OK) {
            ep_opt_release(cfg);
            return rc;
        }
        cfg->v[i] = v;
    }
    return EMBPROF_OK;
}

int
ep_opt_copy(struct embprof_config *dst, const struct embprof_config *src)
{
    memcpy(dst, src, sizeof(*dst));
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        if (src->v[i].s != NULL) {
            dst->v[i].s = strdup(src->v[i].s);
            if (dst->v[i].s == NULL) {
                for (int j = 0; j < i; j++) {
                    free(dst->v[j].s);
                }
                memset(dst, 0, sizeof(*dst));
                return ep_error(EMBPROF_ENOMEM, "out of memory copying "
                                                "config");
            }
        }
    }
    return EMBPROF_OK;
}

void
ep_opt_release(struct embprof_config *cfg)
{
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        free(cfg->v[i].s);
        cfg->v[i].s = NULL;
    }
}

void
ep_opt_format(int id, const ep_optval *v, char *buf, size_t size)
{
    switch (ep_options[id].type) {
    case EP_OPT_INT:
        snprintf(buf, size, "%lld", (long long)v->i);
        break;
    case EP_OPT_DOUBLE:
        /* The shortest of %.15g and %.17g that reads back exactly. */
        snprintf(buf, size, "%.15g", v->d);
        if (strtod(buf, NULL) != v->d) {
            snprintf(buf, size, "%.17g", v->d);
        }
        break;
    case EP_OPT_BOOL:
        snprintf(buf, size, "%s", v->i ? "true" : "false");
        break;
    case EP_OPT_ENUM:
        ep_opt_choice(id, v->i, buf, size);
        break;
    case EP_OPT_STRING:
    case EP_OPT_PATH:
        snprintf(buf, size, "%s", v->s ? v->s : "");
        break;
    }
}

int
ep_opt_apply_string(struct embprof_config *cfg, const char *prefix,
                    const char *options)
{
    const char *p = options;

    while (p != NULL && *p != '\0') {
        char tok[4200], key[256];
        const char *eq;
        size_t len;
        int rc;

        while (isspace((unsigned char)*p)) {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        len = strcspn(p, " \t\r\n");
        if (len >= sizeof(tok)) {
            return ep_error(EMBPROF_EINVAL, "option too long: \"%.40s...\"",
                            p);
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        p += len;
        eq = strchr(tok, '=');
        if (eq == NULL || eq == tok) {
            return ep_error(EMBPROF_EINVAL, "expected key=value, got \"%s\"",
                            tok);
        }
        if (memchr(tok, '.', (size_t)(eq - tok)) != NULL || prefix == NULL) {
            snprintf(key, sizeof(key), "%.*s", (int)(eq - tok), tok);
        } else {
            snprintf(key, sizeof(key), "%s.%.*s", prefix, (int)(eq - tok),
                     tok);
        }
        rc = ep_opt_set(cfg, key, eq + 1);
        if (rc != EMBPROF_OK) {
            return rc;
        }
    }
    return EMBPROF_OK;
}

void
ep_opt_env_name(int id, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "EMBPROF_%s", ep_options[id].key);

    for (size_t i = 8; i < n && i < size; i++) {
        buf[i] = buf[i] == '.' ? '_' : (char)toupper((unsigned char)buf[i]);
    }
}

int
ep_opt_from_env(struct embprof_config *cfg)
{
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        char name[96];
        const char *val;
        int rc;

        ep_opt_env_name(i, name, sizeof(name));
        val = getenv(name);
        if (val == NULL) {
            continue;
        }
        rc = ep_opt_set(cfg, ep_options[i].key, val);
        if (rc != EMBPROF_OK) {
            char detail[512];

            snprintf(detail, sizeof(detail), "%s", embprof_last_error());
            return ep_error(rc, "environment %s: %s", name, detail);
        }
    }
    return EMBPROF_OK;
}

static char *help_text;

static void
build_help(void)
{
    size_t len = 0;
    FILE *f = open_memstream(&help_text, &len);

    if (f == NULL) {
        return;
    }
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        const ep_option *o = &ep_options[i];
        char env[96], acc[160];

        ep_opt_env_name(i, env, sizeof(env));
        ep_opt_accepts(i, acc, sizeof(acc));
        fprintf(f, "  %-20s %s\n  %-20s   %s; default \"%s\"; %s\n", o->key,
                o->doc, "", acc, o->def, env);
    }
    fclose(f);
}

EMBPROF_API const char *
embprof_options_help(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, build_help);
    return help_text ? help_text : "";
}

/*
 * policy_internal.h -- what policy.c (the engine) and api.c (the `embprof`
 * Lua table) share. Control thread only, like everything in scripting/.
 */
#ifndef EP_POLICY_INTERNAL_H
#define EP_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "sandbox.h"
#include "window.h"

#define EP_POLICY_MAX_RULES 256
#define EP_POLICY_MAX_WINDOWS 32
#define EP_POLICY_MAX_METRICS 256
#define EP_POLICY_MAX_COOLDOWNS 64
#define EP_POLICY_MAX_FILE (1u << 20) /* bytes of Lua source */
#define EP_POLICY_PTR_CACHE 1024      /* name pointers -> metric */
#define EP_POLICY_LOG_PER_S 50        /* embprof.log lines per second */

typedef enum ep_rule_kind {
    EP_RULE_ON,    /* each observation of a metric */
    EP_RULE_EVERY, /* every period_ns */
    EP_RULE_AFTER, /* once, after period_ns */
} ep_rule_kind;

typedef struct ep_rule {
    char name[96];
    ep_rule_kind kind;
    int metric;         /* ON: index into metrics */
    uint64_t period_ns; /* EVERY, AFTER */
    uint64_t next_ns;   /* EVERY, AFTER: when due (monotonic) */
    int fn_ref;         /* the callback, in the Lua registry */
    bool enabled;
    bool done;         /* AFTER: has run */
    unsigned failures; /* consecutive */
    uint64_t calls, errors;
    char last_error[256];
} ep_rule;

typedef struct ep_metric {
    char *name;
    int windows[EP_POLICY_MAX_WINDOWS]; /* indices into windows */
    int nwindows;
    int *on; /* indices into rules */
    int non;
} ep_metric;

typedef struct ep_cooldown {
    char key[64];
    uint64_t last_ns;     /* last action under this key */
    uint64_t reported_ns; /* last refusal reported */
} ep_cooldown;

/* One loaded policy: its Lua state and everything it registered. */
typedef struct ep_script {
    struct ep_policy *engine;
    ep_sandbox sb;
    char path[4096];
    char name[256]; /* the file's base name: the chunk name */
    ep_rule rules[EP_POLICY_MAX_RULES];
    int nrules;
    ep_metric metrics[EP_POLICY_MAX_METRICS];
    int nmetrics;
    ep_window *windows[EP_POLICY_MAX_WINDOWS];
    int win_metric[EP_POLICY_MAX_WINDOWS];
    int nwindows;
    struct {
        const char *ptr; /* the name pointer an observation carried */
        int metric;      /* its metric, or -1: nobody listens */
    } cache[EP_POLICY_PTR_CACHE];
    int ncache;
    ep_cooldown cooldowns[EP_POLICY_MAX_COOLDOWNS];
    int ncooldowns;
    double default_cooldown_s;
    ep_rule *running; /* the rule being called, NULL for the main chunk */
    uint64_t cpu_ns, cpu_wall_ns; /* process CPU at the last stats() */
    uint64_t loaded_real_ns;
} ep_script;

struct ep_policy {
    struct embprof *ep;
    struct event_base *base;
    struct event *timer;
    ep_script *cur;  /* the active policy, or NULL */
    char file[4096]; /* what reload loads */
    /* settings, read once */
    size_t max_memory;
    int64_t max_instructions;
    double max_call_ms;
    int period_ms;
    int max_failures;
    int max_actions; /* per minute */
    char dir[4096];  /* policy.dir: where the socket may load from */
    /* the global action limit: times of the last max_actions actions */
    uint64_t *action_ns;
    int naction;
    /* %n: one counter per path template, so that "x-%n.folded" and
     * "x-%n.txt" written together get the same number; templates past
     * the table share export_counter. */
    struct {
        char tmpl[128];
        unsigned n;
    } counters[EP_POLICY_MAX_COOLDOWNS];
    int ncounters;
    unsigned export_counter;
    uint64_t log_second, log_lines, log_dropped;
    /* counters */
    uint64_t loads, load_errors, drained, unmatched, actions, refused;
};

/* Registers the `embprof` table in s's state (api.c). Protected call. */
int ep_policy_api_open(lua_State *L);
/* The script running in L. */
ep_script *ep_policy_script(lua_State *L);
/* Index of metric name, created if needed; -1 past the limit. */
int ep_policy_metric(ep_script *s, const char *name);
/* Adds a rule; returns it or NULL past the limit. name NULL: "file:line"
 * of the registering call. */
ep_rule *ep_policy_add_rule(ep_script *s, lua_State *L, ep_rule_kind kind,
                            const char *name);
/* Whether an action under key may run now: its cooldown (cooldown_s
 * seconds since the last success under key), then policy.max_actions per
 * minute. On refusal writes why, counts and reports it (at most once a
 * second per key). */
bool ep_policy_allow(ep_script *s, const char *key, double cooldown_s,
                     char *why, size_t whysize);
/* Records an attempted action: it counts against the per-minute limit;
 * a success (ok) also starts key's cooldown. */
void ep_policy_record(ep_script *s, const char *key, bool ok);
/* Sends an event line (a JSON object) to the socket's subscribers. */
void ep_policy_emit(struct ep_policy *p, const char *json);
/* Emits a policy_action event for what the running rule did. */
void ep_policy_action_event(ep_script *s, const char *action, const char *what,
                            bool ok, const char *error);
/* Rate-limited embprof.log line. */
void ep_policy_log(ep_script *s, const char *msg);

#endif

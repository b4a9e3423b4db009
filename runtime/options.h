/*
 * options.h -- the one option table. Every setting has one name, type,
 * range, default and doc line here; the C API, the environment, probe
 * option strings, embprof-run flags and --help all go through it, so a bad
 * value gets the same error everywhere.
 *
 * Adding a setting is adding a row to EP_OPTION_LIST.
 */
#ifndef EP_OPTIONS_H
#define EP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum ep_opt_type {
    EP_OPT_INT,
    EP_OPT_DOUBLE,
    EP_OPT_BOOL,
    EP_OPT_ENUM,
    EP_OPT_STRING,
    EP_OPT_PATH,
} ep_opt_type;

/* X(ID, key, type, default, min, max, choices, doc) */
#define EP_OPTION_LIST(X)                                                     \
    X(SAMPLER_RATE, "sampler.rate", INT, "100", 1, 10000, NULL,               \
      "samples per second (Hz) taken of every Python thread")                 \
    X(SAMPLER_MODE, "sampler.mode", ENUM, "wall", 0, 0, "wall|cpu",           \
      "wall: where threads are; cpu: weighted by each thread's CPU time")     \
    X(SAMPLER_IDLE, "sampler.idle", BOOL, "false", 0, 0, NULL,                \
      "wall mode: also keep threads that are not running (sleeping, "         \
      "blocked, waiting for the GIL)")                                        \
    X(SAMPLER_GIL_ONLY, "sampler.gil_only", BOOL, "false", 0, 0, NULL,        \
      "keep only samples of the thread that holds the GIL")                   \
    X(SAMPLER_DURATION, "sampler.duration", DOUBLE, "0", 0, 31536000, NULL,   \
      "stop the sampler after this many seconds (0: until stopped)")          \
    X(SAMPLER_MAX_DEPTH, "sampler.max_depth", INT, "512", 1, 4096, NULL,      \
      "frames kept per stack; deeper stacks keep their innermost frames")     \
    X(SAMPLER_MEMREAD, "sampler.memread", ENUM, "auto", 0, 0, "auto|vm|pipe", \
      "safe memory reads: process_vm_readv (vm), a pipe (pipe, for "          \
      "seccomp'd hosts) or the first that works (auto)")                      \
    X(SAMPLER_ENABLED, "sampler.enabled", BOOL, "false", 0, 0, NULL,          \
      "start the sampler when embprof initialises")                           \
    X(TRACER_CLOCK, "tracer.clock", ENUM, "wall", 0, 0, "wall|cpu",           \
      "tracer times: wall, or each thread's CPU time (cpu clock read at "     \
      "long gaps and every ms, TSC in between)")                              \
    X(TRACER_BUILTINS, "tracer.builtins", BOOL, "false", 0, 0, NULL,          \
      "tracer: also time C functions as cProfile's builtins=True does "       \
      "(costs more on 3.10/3.11)")                                            \
    X(TRACER_LINES, "tracer.lines", STRING, "", 0, 0, NULL,                   \
      "tracer: functions whose lines are timed, comma-separated "             \
      "module:qualname or file globs (empty: none)")                          \
    X(TRACER_TIMELINE, "tracer.timeline", BOOL, "false", 0, 0, NULL,          \
      "tracer: keep every call's start and end for the chrome export")        \
    X(TRACER_TIMELINE_MAX, "tracer.timeline_max", INT, "1000000", 1000,       \
      100000000, NULL,                                                        \
      "tracer.timeline: calls kept per thread; later ones are counted as "    \
      "dropped")                                                              \
    X(TRACER_ENABLED, "tracer.enabled", BOOL, "false", 0, 0, NULL,            \
      "start the tracer when embprof initialises")                            \
    X(GIL_ENABLED, "gil.enabled", BOOL, "false", 0, 0, NULL,                  \
      "start the GIL probe when embprof initialises")                         \
    X(GIL_HOLD_RATE, "gil.hold_rate", INT, "1000", 10, 10000, NULL,           \
      "GIL probe: times per second the GIL holder is sampled (held %, "       \
      "long holds, holders' stacks)")                                         \
    X(GIL_STACKS, "gil.stacks", BOOL, "true", 0, 0, NULL,                     \
      "GIL probe: record the waiting thread's top Python frames at each "     \
      "wait (a few safe reads inside the wait)")                              \
    X(GIL_OUTPUT, "gil.output", PATH, "", 0, 0, NULL,                         \
      "GIL report written when embprof finalizes: .json is gil-json, "        \
      "anything else the text report (empty: none)")                          \
    X(OUTPUT_DIR, "output.dir", PATH, "", 0, 0, NULL,                         \
      "directory for relative export paths (empty: the working "              \
      "directory)")                                                           \
    X(OUTPUT_FILE, "output.file", PATH, "", 0, 0, NULL,                       \
      "profile written when embprof finalizes (empty: none)")                 \
    X(OUTPUT_FORMAT, "output.format", ENUM, "auto", 0, 0,                     \
      "auto|collapsed|speedscope|top|pstats|stats|lines|chrome",              \
      "format of output.file (auto: from its extension)")                     \
    X(CONTROL_SOCKET, "control.socket", PATH, "", 0, 0, NULL,                 \
      "Unix socket for embprofctl (mode 0600; empty: no socket)")             \
    X(CONTROL_ALLOW_UIDS, "control.allow_uids", STRING, "", 0, 0, NULL,       \
      "uids allowed besides this process's uid and root, comma-separated;"    \
      " UID:read allows only the read commands")                              \
    X(CONTROL_LISTEN, "control.listen", STRING, "", 0, 0, NULL,               \
      "also listen on TCP IPv4-ADDRESS:PORT (loopback only unless "           \
      "control.listen_any; needs control.token_file)")                        \
    X(CONTROL_LISTEN_ANY, "control.listen_any", BOOL, "false", 0, 0, NULL,    \
      "allow control.listen on a non-loopback address")                       \
    X(CONTROL_TOKEN_FILE, "control.token_file", PATH, "", 0, 0, NULL,         \
      "file whose first line is the token (16+ characters) TCP clients "      \
      "send with auth")                                                       \
    X(CONTROL_MAX_CLIENTS, "control.max_clients", INT, "16", 1, 1024, NULL,   \
      "connections served at once; more are refused as busy")                 \
    X(CONTROL_IDLE_TIMEOUT, "control.idle_timeout", DOUBLE, "300", 0.1,       \
      86400, NULL,                                                            \
      "seconds a connection may stay silent (subscribers excepted) or "       \
      "leave its replies unread")                                             \
    X(CONTROL_MAX_LINE, "control.max_line", INT, "4096", 64, 8000, NULL,      \
      "longest request line in bytes; longer closes the connection")          \
    X(CONTROL_MAX_OUTPUT, "control.max_output", INT, "1048576", 4096,         \
      268435456, NULL,                                                        \
      "bytes of replies queued for a client that does not read; more "        \
      "drops it")                                                             \
    X(POLICY_FILE, "policy.file", PATH, "", 0, 0, NULL,                       \
      "Lua policy loaded at init and run on the control thread "              \
      "(docs/POLICIES.md; empty: none)")                                      \
    X(POLICY_DIR, "policy.dir", PATH, "", 0, 0, NULL,                         \
      "if set, `policy load` through the control socket only reads files "    \
      "under this directory (relative names resolve against it)")             \
    X(POLICY_PERIOD_MS, "policy.period_ms", INT, "100", 10, 60000, NULL,      \
      "how often the policy engine drains observations and runs due "         \
      "timers (ms)")                                                          \
    X(POLICY_MAX_INSTRUCTIONS, "policy.max_instructions", INT, "1000000",     \
      100, 1000000000, NULL,                                                  \
      "Lua VM instructions one callback (or the main chunk) may run before "  \
      "it is stopped with an error (counted in steps of 1000)")               \
    X(POLICY_MAX_CALL_MS, "policy.max_call_ms", DOUBLE, "250", 1, 60000,      \
      NULL,                                                                   \
      "wall-clock ms one callback may run, actions excepted (checked every "  \
      "1000 instructions)")                                                   \
    X(POLICY_MAX_MEMORY, "policy.max_memory", INT, "16777216", 65536,         \
      1073741824, NULL,                                                       \
      "bytes the policy's Lua state may allocate; past it allocations fail "  \
      "with \"not enough memory\"")                                           \
    X(POLICY_MAX_FAILURES, "policy.max_failures", INT, "3", 1, 1000, NULL,    \
      "a rule that fails this many times in a row is disabled")               \
    X(POLICY_MAX_ACTIONS, "policy.max_actions", INT, "20", 1, 1000, NULL,     \
      "actions (start, export, reset) a policy may take per minute; more "    \
      "are refused")                                                          \
    X(LOG_LEVEL, "log.level", ENUM, "warn", 0, 0,                             \
      "quiet|error|warn|info|debug", "what embprof logs")                     \
    X(LOG_FILE, "log.file", PATH, "", 0, 0, NULL,                             \
      "log file (empty: standard error)")

typedef enum ep_opt_id {
#define EP_X_ID(id, key, type, def, min, max, choices, doc) EP_OPT_##id,
    EP_OPTION_LIST(EP_X_ID)
#undef EP_X_ID
        EP_OPT_COUNT
} ep_opt_id;

typedef struct ep_option {
    const char *key;
    ep_opt_type type;
    const char *def;
    double min;
    double max;
    const char *choices; /* '|'-separated, ENUM only */
    const char *doc;
} ep_option;

/* One parsed value. */
typedef struct ep_optval {
    int64_t i; /* INT, BOOL, ENUM (index into choices) */
    double d;  /* DOUBLE */
    char *s;   /* STRING, PATH: owned */
    bool set;  /* set explicitly (not the default) */
} ep_optval;

/* The config behind the public embprof_config handle. */
struct embprof_config {
    ep_optval v[EP_OPT_COUNT];
};

/* The table, EP_OPT_COUNT rows. */
extern const ep_option ep_options[EP_OPT_COUNT];

/* Looks a key up; -1 if unknown. */
int ep_opt_find(const char *key);
/* Parses text for option id into *out (out->s is owned by the caller).
 * Returns EMBPROF_OK or EMBPROF_EINVAL with the last error set to one line
 * naming the key and what it accepts. */
int ep_opt_parse(int id, const char *text, ep_optval *out);
/* Sets cfg's value of key from text. EMBPROF_EINVAL for unknown keys. */
int ep_opt_set(struct embprof_config *cfg, const char *key, const char *text);
/* Fills cfg with every default. Returns EMBPROF_OK or EMBPROF_ENOMEM. */
int ep_opt_defaults(struct embprof_config *cfg);
/* Deep copy; dst must be uninitialised or released. */
int ep_opt_copy(struct embprof_config *dst, const struct embprof_config *src);
/* Frees the strings a config owns. */
void ep_opt_release(struct embprof_config *cfg);
/* Formats a value as text into buf. */
void ep_opt_format(int id, const ep_optval *v, char *buf, size_t size);
/* Applies "k=v k=v" with keys relative to prefix ("sampler"): "rate=997"
 * sets sampler.rate; a key with a dot is taken as it is. */
int ep_opt_apply_string(struct embprof_config *cfg, const char *prefix,
                        const char *options);
/* Applies EMBPROF_* variables from the environment. */
int ep_opt_from_env(struct embprof_config *cfg);
/* The environment variable name of an option ("EMBPROF_SAMPLER_RATE"). */
void ep_opt_env_name(int id, char *buf, size_t size);
/* Text describing what an option accepts ("integer 1..10000"). */
void ep_opt_accepts(int id, char *buf, size_t size);
/* The choice text of an ENUM value. */
const char *ep_opt_choice(int id, int64_t index, char *buf, size_t size);

/* Typed accessors. */
static inline int64_t
ep_cfg_int(const struct embprof_config *c, ep_opt_id id)
{
    return c->v[id].i;
}
static inline double
ep_cfg_double(const struct embprof_config *c, ep_opt_id id)
{
    return c->v[id].d;
}
static inline bool
ep_cfg_bool(const struct embprof_config *c, ep_opt_id id)
{
    return c->v[id].i != 0;
}
static inline const char *
ep_cfg_str(const struct embprof_config *c, ep_opt_id id)
{
    return c->v[id].s ? c->v[id].s : "";
}

#endif

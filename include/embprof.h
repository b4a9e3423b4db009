/*
 * embprof.h -- the public API of embprof, an embeddable profiling runtime
 * for applications that host CPython.
 *
 * Include <Python.h> before this header: the API takes a PyConfig and
 * returns the PyGILState_STATE of the GIL helpers.
 *
 * Conventions (every function, unless its comment says otherwise):
 *   - a status is returned as int: EMBPROF_OK (0) or a negative EMBPROF_E*
 *     code; embprof_strerror() names it, embprof_last_error() gives the
 *     detail of the last failure on the calling thread;
 *   - any thread may call, with or without the GIL; no call waits for the
 *     GIL, so none can deadlock against it;
 *   - handles are opaque; _free(NULL) is a no-op.
 */
#ifndef EMBPROF_H
#define EMBPROF_H

#include <stddef.h>
#include <stdint.h>

/* The functions that take or return CPython types (embprof_init, the GIL
 * helpers) are declared only when <Python.h> was included first. */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define EMBPROF_API __attribute__((visibility("default")))
#else
#define EMBPROF_API
#endif

#define EMBPROF_VERSION_MAJOR 0
#define EMBPROF_VERSION_MINOR 1
#define EMBPROF_VERSION_PATCH 0
#define EMBPROF_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------
 * Status codes. Numbers are append-only; never reuse one.
 * ---------------------------------------------------------------------- */
#define EMBPROF_STATUS_LIST(X)                                                \
    X(OK, 0, "success")                                                       \
    X(EINVAL, -1, "invalid argument")                                         \
    X(ENOMEM, -2, "out of memory")                                            \
    X(ESTATE, -3, "operation not valid in the current state")                 \
    X(EPYTHON, -4, "the Python interpreter reported an error")                \
    X(EIO, -5, "input/output error")                                          \
    X(EUNSUPPORTED, -6, "not supported by this build or platform")            \
    X(ENOTFOUND, -7, "no such probe, format or option")                       \
    X(EBUSY, -8, "busy: another request holds the resource")                  \
    X(EINTERNAL, -9, "internal error")                                        \
    X(ENODATA, -10, "nothing to export: no data collected")

enum embprof_status {
#define EMBPROF_X_ENUM(name, num, msg) EMBPROF_##name = (num),
    EMBPROF_STATUS_LIST(EMBPROF_X_ENUM)
#undef EMBPROF_X_ENUM
};

/* ------------------------------------------------------------------------
 * Handles
 * ---------------------------------------------------------------------- */
typedef struct embprof embprof;               /* one per process */
typedef struct embprof_config embprof_config; /* settings, before init */

/* ------------------------------------------------------------------------
 * Configuration. Every setting has one name from the option table (run
 * `embprof-run --help` or see docs/OPTIONS.md), e.g. "sampler.rate".
 * ---------------------------------------------------------------------- */

/* Returns a config holding every default; caller owns it (NULL: no memory). */
EMBPROF_API embprof_config *embprof_config_new(void);
/* Frees a config; NULL is a no-op. */
EMBPROF_API void embprof_config_free(embprof_config *cfg);
/* Validates and stores one setting. EMBPROF_EINVAL for an unknown key or
 * a bad value; embprof_last_error() names the key and what it accepts. */
EMBPROF_API int embprof_config_set(embprof_config *cfg, const char *key,
                                   const char *value);
/* Reads the value of a setting into buf (NUL-terminated, truncated to
 * size). */
EMBPROF_API int embprof_config_get(const embprof_config *cfg, const char *key,
                                   char *buf, size_t size);
/* Checks settings that depend on each other and on the machine: that
 * output.file's directory exists and is writable and its format is known.
 * EMBPROF_EINVAL with one line naming the setting. */
EMBPROF_API int embprof_config_validate(const embprof_config *cfg);
/* Every setting, generated from the option table: key, doc line, what it
 * accepts, default and environment variable. Static text. */
EMBPROF_API const char *embprof_options_help(void);
/* Applies EMBPROF_<KEY> environment variables (key in capitals, '.' as '_',
 * e.g. EMBPROF_SAMPLER_RATE=997). Stops at the first invalid value. */
EMBPROF_API int embprof_config_from_env(embprof_config *cfg);

/* ------------------------------------------------------------------------
 * Lifecycle
 * ---------------------------------------------------------------------- */

#ifdef Py_PYTHON_H
/* Initialises CPython with py (NULL: PyConfig_InitPythonConfig defaults)
 * after registering the `embprof` Python module, then starts the probes the
 * config enables. On success the calling thread holds the GIL, as after
 * Py_InitializeFromConfig, and *out is the process's embprof. cfg may be
 * NULL (defaults); it is copied, the caller keeps ownership. Main thread. */
EMBPROF_API int embprof_init(const embprof_config *cfg, const PyConfig *py,
                             embprof **out);
#endif
/* Attaches to an interpreter that is already initialised; the caller holds
 * the GIL. The `embprof` module is added to sys.modules. embprof_finalize
 * then stops and flushes but leaves the interpreter to its owner. */
EMBPROF_API int embprof_attach(const embprof_config *cfg, embprof **out);
/* Stops every probe, writes output.file if set, removes embprof's threads,
 * then (after embprof_init) restores the main thread state and calls
 * Py_FinalizeEx. Call from the thread that called embprof_init. Frees ep.
 * After embprof_attach the interpreter keeps running: the tracer's hooks
 * are removed with the GIL, which is taken (PyGILState_Ensure) if the
 * caller does not hold it, so the caller must not block a GIL holder.
 * Returns the first failure but always finishes. */
EMBPROF_API int embprof_finalize(embprof *ep);

/* ------------------------------------------------------------------------
 * Probes and exports. Requests are serialised by one controller, whichever
 * front end (this API, the Python module, the socket, Lua policies) sends.
 * ---------------------------------------------------------------------- */

/* Starts a probe: "sampler" (stack sampling), "tracer" (deterministic,
 * cProfile-like) or "gil" (GIL contention). options: "key=value ..." with
 * the probe's keys without the prefix ("rate=997 mode=cpu" for
 * sampler.rate and sampler.mode), or NULL for the config's values.
 * EMBPROF_ESTATE if it already runs. The tracer needs the GIL to hook in:
 * a caller without it waits for it here. */
EMBPROF_API int embprof_start(embprof *ep, const char *probe,
                              const char *options);
/* Stops a probe; its data stays for export. EMBPROF_ESTATE if not running. */
EMBPROF_API int embprof_stop(embprof *ep, const char *probe);
/* Writes a profile. format: of the sampler "collapsed", "speedscope", "top";
 * "dump" (every thread's stack now); of the tracer "pstats" (loads in
 * pstats.Stats), "stats" (text), "lines" (per-line report), "chrome"
 * (trace events, with tracer.timeline); of the GIL probe "gil" (text) and
 * "gil-json"; or NULL/"" to pick by the path's extension (.folded
 * .collapsed .speedscope.json .json .txt .dump .prof .pstats .stats.txt
 * .lines.txt .trace.json). A relative path resolves against output.dir.
 * The file is written atomically; on failure the data stays in memory for
 * a retry. EMBPROF_ENODATA when the format's probe collected nothing. */
EMBPROF_API int embprof_export(embprof *ep, const char *format,
                               const char *path);
/* Drops what every probe collected (samples, tracer counts, GIL waits);
 * running probes go on collecting. */
EMBPROF_API int embprof_reset(embprof *ep);
/* Returns 1 if the probe runs, 0 if not, or a negative status. */
EMBPROF_API int embprof_active(embprof *ep, const char *probe);

/* The sampler meters itself; every field counts since the last reset. */
typedef struct embprof_stats {
    uint64_t ticks;                /* sampler wake-ups */
    uint64_t samples;              /* thread stacks recorded */
    uint64_t idle_skipped;         /* thread samples left out as idle */
    uint64_t walk_errors;          /* walks abandoned on an unreadable frame */
    uint64_t truncated;            /* stacks cut at sampler.max_depth */
    uint64_t missed_ticks;         /* ticks skipped because a walk ran late */
    uint64_t sampler_cpu_ns;       /* the sampler thread's own CPU time */
    uint64_t wall_ns;              /* time the sampler ran */
    uint64_t threads_seen;         /* distinct threads sampled */
    uint64_t stacks;               /* distinct stacks stored */
    uint64_t functions;            /* distinct functions stored */
    uint64_t observations;         /* embprof_observe calls queued */
    uint64_t observations_dropped; /* ... dropped because the queue was full */
} embprof_stats;

/* Fills *out (sizeof(*out) bytes). */
EMBPROF_API int embprof_get_stats(embprof *ep, embprof_stats *out);

/* ------------------------------------------------------------------------
 * Host threads
 * ---------------------------------------------------------------------- */

/* Names the calling host thread in every profile (at most 63 bytes kept).
 * Any thread; also sets the OS thread name's first 15 bytes if it had none
 * of its own. */
EMBPROF_API void embprof_thread_name(const char *name);
#ifdef Py_PYTHON_H
/* PyGILState_Ensure that records the calling site (a static string, e.g.
 * "render.c:update") for the GIL probe. ep may be NULL. */
EMBPROF_API PyGILState_STATE embprof_gil_ensure(embprof *ep, const char *site);
/* PyGILState_Release counterpart of embprof_gil_ensure. */
EMBPROF_API void embprof_gil_release(embprof *ep, PyGILState_STATE state);
#endif

/* ------------------------------------------------------------------------
 * Observations, for the policy engine (docs/POLICIES.md): a bounded
 * lock-free queue drained by the control thread. Never blocks, never
 * allocates, takes no lock; counts a drop when full. name must be a string
 * that lives as long as the process (a literal). ep NULL: a no-op. Any
 * thread, with or without the GIL.
 * ---------------------------------------------------------------------- */
EMBPROF_API void embprof_observe(embprof *ep, const char *name, double value);

/* A timed section: its duration becomes an observation under its name.
 * A plain value on the caller's stack: no allocation, no lock. */
typedef struct embprof_span {
    const char *name;  /* as given to embprof_span_begin (a literal) */
    uint64_t start_ns; /* monotonic; 0 when begun with a NULL ep */
} embprof_span;

/* Starts a span now (one monotonic clock read). ep NULL: a span that
 * embprof_span_end ignores. Any thread. */
EMBPROF_API embprof_span embprof_span_begin(embprof *ep, const char *name);
/* Ends a span: observes its duration in MILLISECONDS (a double, so
 * sub-millisecond spans keep their fraction) under span.name, as
 * embprof_observe would. ep NULL, or a span begun with a NULL ep: a no-op.
 * Any thread (not necessarily the one that began it). */
EMBPROF_API void embprof_span_end(embprof *ep, embprof_span span);

/* ------------------------------------------------------------------------
 * Errors and version
 * ---------------------------------------------------------------------- */

/* Static text for a status; "unknown status" for a number not in the list. */
EMBPROF_API const char *embprof_strerror(int status);
/* Detail of the last failure on this thread ("" if none); valid until the
 * next embprof call on this thread. */
EMBPROF_API const char *embprof_last_error(void);
/* "0.1.0 (CPython 3.11.2, libpython3.11.so.1.0)": the build's versions. */
EMBPROF_API const char *embprof_version(void);

#ifdef __cplusplus
}
#endif

#endif /* EMBPROF_H */

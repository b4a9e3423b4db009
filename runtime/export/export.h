/*
 * export.h -- the exporter table and the atomic file writer.
 *
 * An exporter formats the store (the caller holds its lock) into a FILE
 * that is a memory stream; the controller then writes the bytes to a
 * temporary file beside the target, fsyncs and renames it, so a reader
 * never sees half a profile and a failed write loses nothing in memory.
 * Adding a format is adding a row to ep_exporters.
 */
#ifndef EP_EXPORT_H
#define EP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "embprof.h"
#include "../profile/store.h"
#include "../py/walker.h"

struct embprof;

/* What an exporter may print besides the store. */
typedef struct ep_export_info {
    struct embprof *ep;    /* EP_EXPORT_PROBE formats read their probe */
    const ep_store *store; /* EP_EXPORT_SAMPLES: caller holds store->lock */
    int mode;              /* EP_SAMPLER_WALL or EP_SAMPLER_CPU */
    int rate;              /* Hz */
    embprof_stats stats;
    uint64_t start_real_ns; /* epoch ns when the runtime started */
    const char *python_version;
    ep_walker *walker; /* dump only: a walker to take stacks now */
} ep_export_info;

/* Returns 0, or non-zero if writing failed (out of memory). An
 * EP_EXPORT_PROBE format may instead return a negative EMBPROF_E* status
 * after ep_error() (e.g. EMBPROF_ENODATA: the probe never ran). */
typedef int (*ep_export_fn)(FILE *out, const ep_export_info *info);

/* Where a format's data comes from. */
enum ep_export_source {
    EP_EXPORT_SAMPLES, /* the sample store, locked by the controller;
                          ENODATA when empty */
    EP_EXPORT_WALK,    /* a fresh walk of every thread (dump) */
    EP_EXPORT_PROBE,   /* a probe's own data (info->ep); the format locks
                          and checks for data itself */
};

typedef struct ep_exporter {
    const char *name;
    const char *extensions; /* '|'-separated, longest first; "" for none */
    ep_export_fn fn;
    int source; /* enum ep_export_source */
    const char *doc;
} ep_exporter;

extern const ep_exporter ep_exporters[];
extern const size_t ep_exporters_count;

/* By name; NULL if unknown. */
const ep_exporter *ep_export_find(const char *name);
/* By the path's extension; NULL if none matches. */
const ep_exporter *ep_export_for_path(const char *path);
/* "collapsed|speedscope|top|dump|...", for messages and --help (from
 * the table; static text). */
const char *ep_export_names(void);

/* Joins a relative path to dir (dir NULL or "": as it is). Returns
 * EMBPROF_EINVAL if the result does not fit. */
int ep_export_path(const char *dir, const char *path, char *out, size_t size);
/* Writes data to path atomically (temporary file + fsync + rename).
 * EMBPROF_EIO with the reason on failure; nothing is left behind. */
int ep_export_write_file(const char *path, const void *data, size_t len);

/* The formats (export/<name>.c). */
int ep_export_collapsed(FILE *out, const ep_export_info *info);
int ep_export_speedscope(FILE *out, const ep_export_info *info);
int ep_export_top(FILE *out, const ep_export_info *info);
int ep_export_dump(FILE *out, const ep_export_info *info);
int ep_export_pstats(FILE *out, const ep_export_info *info);
int ep_export_stats(FILE *out, const ep_export_info *info);
int ep_export_lines(FILE *out, const ep_export_info *info);
int ep_export_chrome(FILE *out, const ep_export_info *info);
int ep_export_gil(FILE *out, const ep_export_info *info);
int ep_export_gil_json(FILE *out, const ep_export_info *info);

/* The GIL report's two renderings (also the socket's `gil` command). */
struct ep_gil_report;
int ep_gil_format_text(FILE *out, const struct ep_gil_report *rep);
int ep_gil_format_json(FILE *out, const struct ep_gil_report *rep,
                       const char *python_version);

/* Functions by own weight (then total), for top and the socket's top.
 * Caller holds the store lock; *rows is malloc'd, *n rows have weight. */
typedef struct ep_top_row {
    uint32_t func;
    uint64_t own, total;
} ep_top_row;
int ep_top_rows(const ep_export_info *info, ep_top_row **rows, uint32_t *n,
                uint64_t *grand);

/* Helpers shared by the formats. */
/* Writes s as a JSON string (with quotes). */
void ep_json_string(FILE *out, const char *s);
/* The weight of a stack for the mode: wall ns or cpu ns. */
uint64_t ep_export_weight(const ep_export_info *info, const ep_stack *st);
/* "MainThread (tid 123)" */
void ep_export_thread_label(const ep_thread *t, char *buf, size_t size);

#endif

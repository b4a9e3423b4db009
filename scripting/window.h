/*
 * window.h -- a sliding time window over one metric's observations:
 * count, sum, mean, min, max and percentiles of the last `seconds`.
 *
 * Memory is fixed whatever the observation rate: the window is a ring of
 * EP_WINDOW_SLOTS time slots, each holding exact count/sum/min/max and a
 * log-linear histogram (EP_WINDOW_SUB sub-buckets per power of two, from
 * 2^EP_WINDOW_MIN_EXP to 2^EP_WINDOW_MAX_EXP). So:
 *   - count, sum, mean, min and max are exact;
 *   - a percentile is interpolated inside its bucket and clamped to
 *     [min, max]: within one bucket width (1/EP_WINDOW_SUB, 3.1 % of the
 *     value) of the exact nearest-rank value, usually far closer;
 *   - the window covers the last `seconds` give or take one slot
 *     (seconds / EP_WINDOW_SLOTS): slots expire whole.
 * Values <= 2^EP_WINDOW_MIN_EXP (about 1e-6: zero, negatives) share the
 * lowest bucket and values above 2^EP_WINDOW_MAX_EXP (about 6.9e10) the
 * highest; NaN is ignored. One window is about 115 KiB.
 *
 * A plain struct, no locks: the policy engine's (control thread's) own.
 */
#ifndef EP_WINDOW_H
#define EP_WINDOW_H

#include <stdint.h>

#define EP_WINDOW_SLOTS 16
#define EP_WINDOW_SUB 32
#define EP_WINDOW_MIN_EXP (-20)
#define EP_WINDOW_MAX_EXP 36
#define EP_WINDOW_BINS                                                        \
    ((EP_WINDOW_MAX_EXP - EP_WINDOW_MIN_EXP) * EP_WINDOW_SUB)

typedef struct ep_window_slot {
    uint64_t epoch; /* t_ns / slot_ns of the slot's data; 0: empty */
    uint64_t count;
    double sum, min, max;
    uint32_t bins[EP_WINDOW_BINS];
} ep_window_slot;

typedef struct ep_window {
    uint64_t span_ns; /* the window's length */
    uint64_t slot_ns; /* span_ns / EP_WINDOW_SLOTS */
    uint64_t ignored; /* NaN or older than the window when added */
    ep_window_slot slots[EP_WINDOW_SLOTS];
} ep_window;

/* The merged figures of a window at a moment. */
typedef struct ep_window_stats {
    uint64_t count;
    double sum, min, max; /* 0 when count is 0 */
} ep_window_stats;

/* The length a window over `seconds` really has (whole slots, >= 1 ms). */
uint64_t ep_window_span_ns(double seconds);
/* Makes w an empty window over the last `seconds` (> 0; at least 1 ms). */
void ep_window_init(ep_window *w, double seconds);
/* Adds one observation made at monotonic time t_ns. */
void ep_window_add(ep_window *w, uint64_t t_ns, double value);
/* Exact count, sum, min and max of the observations in the window at
 * now_ns. */
void ep_window_stats_at(const ep_window *w, uint64_t now_ns,
                        ep_window_stats *out);
/* The q-quantile (0 <= q <= 1; 0.99 for p99) of the window at now_ns,
 * nearest rank; 0 when the window is empty. */
double ep_window_quantile(const ep_window *w, uint64_t now_ns, double q);

/* The bucket a value falls in, and a bucket's bounds [lo, hi) (exposed for
 * the unit tests). */
int ep_window_bin(double value);
void ep_window_bin_bounds(int bin, double *lo, double *hi);

#endif

/*
 * window.c -- sliding time windows of log-linear histograms (window.h).
 */
#include "window.h"

#include <math.h>
#include <string.h>

uint64_t
ep_window_span_ns(double seconds)
{
    double ns = seconds * 1e9;
    uint64_t slot;

    if (!(ns >= 1e6)) {
        ns = 1e6;
    }
    slot = (uint64_t)(ns / EP_WINDOW_SLOTS);
    return (slot ? slot : 1) * EP_WINDOW_SLOTS;
}

void
ep_window_init(ep_window *w, double seconds)
{
    memset(w, 0, sizeof(*w));
    w->span_ns = ep_window_span_ns(seconds);
    w->slot_ns = w->span_ns / EP_WINDOW_SLOTS;
}

int
ep_window_bin(double value)
{
    int e, bin;
    double m;

    if (!(value > ldexp(1.0, EP_WINDOW_MIN_EXP))) {
        return 0; /* zero, negatives, tiny values */
    }
    if (isinf(value)) {
        return EP_WINDOW_BINS - 1;
    }
    m = frexp(value, &e); /* value = m * 2^e, m in [0.5, 1) */
    bin = (e - 1 - EP_WINDOW_MIN_EXP) * EP_WINDOW_SUB +
          (int)((m - 0.5) * 2.0 * EP_WINDOW_SUB);
    if (bin < 0) {
        return 0;
    }
    return bin >= EP_WINDOW_BINS ? EP_WINDOW_BINS - 1 : bin;
}

void
ep_window_bin_bounds(int bin, double *lo, double *hi)
{
    int e = bin / EP_WINDOW_SUB + EP_WINDOW_MIN_EXP;
    int sub = bin % EP_WINDOW_SUB;
    double base = ldexp(1.0, e);

    /* Bucket sub of octave [2^e, 2^(e+1)) is linear inside it. */
    *lo = base * (1.0 + (double)sub / EP_WINDOW_SUB);
    *hi = base * (1.0 + (double)(sub + 1) / EP_WINDOW_SUB);
}

void
ep_window_add(ep_window *w, uint64_t t_ns, double value)
{
    uint64_t epoch = t_ns / w->slot_ns + 1; /* 0 marks an empty slot */
    ep_window_slot *s = &w->slots[epoch % EP_WINDOW_SLOTS];

    if (isnan(value)) {
        w->ignored++;
        return;
    }
    if (s->epoch != epoch) {
        if (s->epoch > epoch) {
            /* Older than what the slot holds now: outside the window. */
            w->ignored++;
            return;
        }
        memset(s, 0, sizeof(*s));
        s->epoch = epoch;
        s->min = value;
        s->max = value;
    }
    s->count++;
    s->sum += value;
    if (value < s->min) {
        s->min = value;
    }
    if (value > s->max) {
        s->max = value;
    }
    s->bins[ep_window_bin(value)]++;
}

/* Whether slot s belongs to the window that ends at now_ns. */
static int
live(const ep_window *w, const ep_window_slot *s, uint64_t now_ns)
{
    uint64_t now_epoch = now_ns / w->slot_ns + 1;

    return s->epoch != 0 && s->count > 0 && s->epoch <= now_epoch &&
           s->epoch + EP_WINDOW_SLOTS > now_epoch;
}

void
ep_window_stats_at(const ep_window *w, uint64_t now_ns, ep_window_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < EP_WINDOW_SLOTS; i++) {
        const ep_window_slot *s = &w->slots[i];

        if (!live(w, s, now_ns)) {
            continue;
        }
        if (out->count == 0 || s->min < out->min) {
            out->min = s->min;
        }
        if (out->count == 0 || s->max > out->max) {
            out->max = s->max;
        }
        out->count += s->count;
        out->sum += s->sum;
    }
}

double
ep_window_quantile(const ep_window *w, uint64_t now_ns, double q)
{
    const ep_window_slot *use[EP_WINDOW_SLOTS];
    ep_window_stats st;
    uint64_t rank, seen = 0;
    int n = 0;

    ep_window_stats_at(w, now_ns, &st);
    if (st.count == 0) {
        return 0.0;
    }
    if (!(q > 0.0)) {
        return st.min;
    }
    if (q >= 1.0) {
        return st.max;
    }
    for (int i = 0; i < EP_WINDOW_SLOTS; i++) {
        if (live(w, &w->slots[i], now_ns)) {
            use[n++] = &w->slots[i];
        }
    }
    /* Nearest rank: the smallest value with at least q*count at or
     * below it. */
    rank = (uint64_t)ceil(q * (double)st.count);
    if (rank == 0) {
        rank = 1;
    }
    for (int b = 0; b < EP_WINDOW_BINS; b++) {
        uint64_t c = 0;

        for (int i = 0; i < n; i++) {
            c += use[i]->bins[b];
        }
        if (c == 0) {
            continue;
        }
        if (seen + c >= rank) {
            double lo, hi, v;

            if (b == 0) {
                return st.min; /* the catch-all bucket has no shape */
            }
            ep_window_bin_bounds(b, &lo, &hi);
            /* Spread the bucket's c values evenly over [lo, hi). */
            v = lo + (hi - lo) * ((double)(rank - seen) - 0.5) / (double)c;
            if (v < st.min) {
                v = st.min;
            }
            if (v > st.max) {
                v = st.max;
            }
            return v;
        }
        seen += c;
    }
    return st.max;
}

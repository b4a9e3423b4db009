/*
 * pstats.c -- the tracer as cProfile's .prof file: marshal.dump() of
 *   {(file, line, name): (cc, nc, tt, ct, {caller: (nc, cc, tt, ct)})}
 * (Lib/cProfile.py snapshot_stats; Lib/pstats.py load_stats), written
 * byte by byte so no GIL is needed. Builtins are keyed ('~', 0, name).
 * Marshal codes (Python/marshal.c), version-2 style, no references:
 * '{' dict ... '0', '(' tuple + u32 count, 'i' int32, 'l' long in 15-bit
 * digits, 'g' binary double, 'u' UTF-8 str with u32 length.
 */
#include "export.h"

#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "../probes/tracer.h"
#include "../runtime.h"

static void
put_u32(FILE *out, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};

    fwrite(b, 1, 4, out);
}

static void
put_int(FILE *out, uint64_t v)
{
    if (v <= 0x7fffffff) {
        fputc('i', out);
        put_u32(out, (uint32_t)v);
        return;
    }
    /* 'l': digit count (sign = the number's), then 15-bit digits. */
    uint16_t d[5];
    int n = 0;

    while (v != 0) {
        d[n++] = (uint16_t)(v & 0x7fff);
        v >>= 15;
    }
    fputc('l', out);
    put_u32(out, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        fputc(d[i] & 0xff, out);
        fputc(d[i] >> 8, out);
    }
}

static void
put_float(FILE *out, double v)
{
    unsigned char b[8];
    uint64_t u;

    memcpy(&u, &v, 8);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(u >> (8 * i));
    }
    fputc('g', out);
    fwrite(b, 1, 8, out);
}

static void
put_str(FILE *out, const char *s)
{
    size_t n = strlen(s);

    fputc('u', out);
    put_u32(out, (uint32_t)n);
    fwrite(s, 1, n, out);
}

static void
put_key(FILE *out, const ep_tr_mfunc *f)
{
    fputc('(', out);
    put_u32(out, 3);
    put_str(out, f->file);
    put_int(out, (uint64_t)(f->line < 0 ? 0 : f->line));
    put_str(out, f->name);
}

static int
cmp_callee(const void *a, const void *b)
{
    const ep_tr_medge *x = a, *y = b;

    return x->callee != y->callee ? (x->callee < y->callee ? -1 : 1)
                                  : (x->caller < y->caller ? -1 : 1);
}

int
ep_export_pstats(FILE *out, const ep_export_info *info)
{
    ep_tr_snapshot s;
    uint32_t e = 0;
    int rc = ep_tr_snapshot_take(info->ep, &s);

    if (rc != EMBPROF_OK) {
        return rc;
    }
    qsort(s.edges, s.nedges, sizeof(*s.edges), cmp_callee);
    fputc('{', out);
    for (uint32_t i = 0; i < s.nfuncs; i++) {
        const ep_tr_mfunc *f = &s.funcs[i];

        while (e < s.nedges && s.edges[e].callee < i) {
            e++;
        }
        /* Functions still open (nc 0) stay: they are someone's caller. */
        put_key(out, f);
        fputc('(', out);
        put_u32(out, 5);
        put_int(out, f->cc);
        put_int(out, f->nc);
        put_float(out, f->tt);
        put_float(out, f->ct);
        fputc('{', out);
        for (; e < s.nedges && s.edges[e].callee == i; e++) {
            const ep_tr_medge *ed = &s.edges[e];

            put_key(out, &s.funcs[ed->caller]);
            fputc('(', out);
            put_u32(out, 4);
            put_int(out, ed->nc);
            put_int(out, ed->cc);
            put_float(out, ed->tt);
            put_float(out, ed->ct);
        }
        fputc('0', out);
    }
    fputc('0', out);
    ep_tr_snapshot_free(&s);
    return ferror(out) ? 1 : 0;
}

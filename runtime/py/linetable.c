/*
 * linetable.c -- decoders for the two line-table formats:
 *   3.10: PEP 626 (sdelta, ldelta) byte pairs, ldelta -128 = no line;
 *   3.11+: entries of Objects/locations.md, first byte bit 7 set, code in
 *   bits 3-6, length-1 (code units) in bits 0-2.
 * Both stop at the end of the copy: a truncated table yields 0, not a
 * wild read.
 */
#include "linetable.h"

#include <limits.h>

#include "layout.h"

static int
line_310(const uint8_t *p, const uint8_t *end, int line, int offset)
{
    int start = 0, stop = 0;

    while (p + 1 < end) {
        int sdelta = p[0];
        int ldelta = (int8_t)p[1];
        int this_line;

        p += 2;
        start = stop;
        stop += sdelta;
        if (ldelta == -128) {
            this_line = 0;
        } else {
            line += ldelta;
            this_line = line;
        }
        if (start <= offset && offset < stop) {
            return this_line;
        }
    }
    return 0;
}

static int
read_varint(const uint8_t **pp, const uint8_t *end, unsigned int *out)
{
    const uint8_t *p = *pp;
    unsigned int v = 0;
    int shift = 0;

    do {
        if (p >= end || shift > 28) {
            return -1;
        }
        v |= (unsigned int)(*p & 63) << shift;
        shift += 6;
    } while (*p++ & 64);
    *pp = p;
    *out = v;
    return 0;
}

static int
read_svarint(const uint8_t **pp, const uint8_t *end, int *out)
{
    unsigned int u;

    if (read_varint(pp, end, &u) != 0) {
        return -1;
    }
    *out = (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
    return 0;
}

static int
line_311(const uint8_t *p, const uint8_t *end, int line, int offset)
{
    int addr = 0;

    while (p < end) {
        uint8_t first = *p++;
        int code = (first >> 3) & 15;
        int len = ((first & 7) + 1) * 2; /* bytes */
        int delta = 0;
        unsigned int skip;

        if (!(first & 128)) {
            return 0; /* out of step: corrupt copy */
        }
        switch (code) {
        case 15:
            break;
        case 14:
            if (read_svarint(&p, end, &delta) != 0 ||
                read_varint(&p, end, &skip) != 0 ||
                read_varint(&p, end, &skip) != 0 ||
                read_varint(&p, end, &skip) != 0) {
                return 0;
            }
            break;
        case 13:
            if (read_svarint(&p, end, &delta) != 0) {
                return 0;
            }
            break;
        case 12:
        case 11:
        case 10:
            delta = code - 10;
            if (end - p < 2) {
                return 0; /* truncated copy */
            }
            p += 2;
            break;
        default:
            if (p >= end) {
                return 0;
            }
            p += 1;
            break;
        }
        /* A garbage table must not overflow the int arithmetic. */
        if ((delta > 0 && line > INT_MAX - delta) ||
            (delta < 0 && line < INT_MIN - delta) || addr > INT_MAX - len) {
            return 0;
        }
        line += delta;
        if (addr <= offset && offset < addr + len) {
            return code == 15 ? 0 : line;
        }
        addr += len;
    }
    return 0;
}

int
ep_linetable_line(int kind, const uint8_t *tab, size_t len, int firstlineno,
                  int offset)
{
    if (offset < 0 || tab == NULL) {
        return firstlineno;
    }
    if (kind == EP_LINETABLE_310) {
        return line_310(tab, tab + len, firstlineno, offset);
    }
    return line_311(tab, tab + len, firstlineno, offset);
}

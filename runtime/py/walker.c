/*
 * walker.c -- thread enumeration and frame walking through safe reads.
 *
 * Nothing here dereferences a CPython pointer: every byte of interpreter
 * state is copied with ep_memread first and the copy is checked (type
 * pointers, back-links, bounds) before it is believed. A thread that runs
 * while we copy can leave a torn copy; the checks turn that into a
 * dropped sample, never a crash or a wild symbol.
 */
#include "walker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../error.h"
#include "../threads.h"
#include "linetable.h"

#define EP_MAX_CHUNK_COPY (1u << 20) /* data-stack bytes copied at once */
#define EP_MAX_STR 4096
#define EP_MAX_LINETABLE 65536
#define EP_CODES_MIN 4096u
#define EP_CODES_MAX (1u << 20)
#define EP_MAX_INTERPS 256
#define EP_CODE_TTL_NS 50000000u /* re-validate a code object after 50 ms */
#define EP_PAGE 4096u
#define EP_REGION_PAGES 16u
#define EP_REGION (EP_PAGE * EP_REGION_PAGES)

static inline uintptr_t
rd_ptr(const unsigned char *buf, size_t off)
{
    uintptr_t v;

    memcpy(&v, buf + off, sizeof(v));
    return v;
}

static inline int32_t
rd_i32(const unsigned char *buf, size_t off)
{
    int32_t v;

    memcpy(&v, buf + off, sizeof(v));
    return v;
}

static int
read_ptr(ep_walker *w, uintptr_t addr, uintptr_t *out)
{
    return ep_memread(&w->mr, out, addr, sizeof(*out));
}

int
ep_walker_open(ep_walker *w, int memread_method, uint32_t max_depth)
{
    int rc;

    memset(w, 0, sizeof(*w));
    w->L = ep_py_layout_get();
    w->max_depth = max_depth;
    w->tid_off =
        w->L->ts_native_tid == EP_OFF_NONE ? ep_pthread_tid_offset() : -1;
    rc = ep_memread_open(&w->mr, memread_method);
    if (rc != EMBPROF_OK) {
        return rc;
    }
    w->codes_cap = EP_CODES_MIN;
    while (w->codes_cap < 4 * max_depth) {
        w->codes_cap *= 2;
    }
    w->codes = calloc(w->codes_cap, sizeof(*w->codes));
    w->tsbuf = malloc(w->L->ts_size);
    w->frbuf = malloc(w->L->fr_size);
    w->region = malloc(EP_REGION);
    w->cobuf = malloc((size_t)max_depth * w->L->co_hdr_size);
    w->rawcode = malloc(max_depth * sizeof(*w->rawcode));
    w->rawinstr = malloc(max_depth * sizeof(*w->rawinstr));
    w->rawowner = malloc(max_depth * sizeof(*w->rawowner));
    w->iov_l = malloc(max_depth * sizeof(*w->iov_l));
    w->iov_r = malloc(max_depth * sizeof(*w->iov_r));
    if (w->codes == NULL || w->tsbuf == NULL || w->frbuf == NULL ||
        w->region == NULL || w->cobuf == NULL || w->rawcode == NULL ||
        w->rawinstr == NULL || w->rawowner == NULL || w->iov_l == NULL ||
        w->iov_r == NULL) {
        ep_walker_close(w);
        return ep_error(EMBPROF_ENOMEM, "walker: out of memory");
    }
    return EMBPROF_OK;
}

static void
codeinfo_clear(ep_codeinfo *c)
{
    free(c->file);
    free(c->qualname_s);
    free(c->lt);
    memset(c, 0, sizeof(*c));
}

void
ep_walker_close(ep_walker *w)
{
    if (w->codes != NULL) {
        for (uint32_t i = 0; i < w->codes_cap; i++) {
            codeinfo_clear(&w->codes[i]);
        }
    }
    free(w->codes);
    free(w->tsbuf);
    free(w->chunkbuf);
    free(w->frbuf);
    free(w->region);
    free(w->cobuf);
    free(w->rawcode);
    free(w->rawinstr);
    free(w->rawowner);
    free(w->iov_l);
    free(w->iov_r);
    ep_memread_close(&w->mr);
    memset(w, 0, sizeof(*w));
}

/* --- threads ----------------------------------------------------------- */

/* Copies the part of struct addr..addr+len; used for the interpreter and
 * GIL structs, whose few fields are read with one system call. */
static const unsigned char *
read_span(ep_walker *w, uintptr_t addr, size_t len)
{
    if (len > sizeof(w->span) || ep_memread(&w->mr, w->span, addr, len) != 0) {
        return NULL;
    }
    return w->span;
}

static size_t
max_off(size_t a, size_t b)
{
    return a == EP_OFF_NONE ? b : b == EP_OFF_NONE ? a : a > b ? a : b;
}

int
ep_walker_threads(ep_walker *w, ep_wthread *out, int max)
{
    const ep_py_layout *L = w->L;
    size_t is_span =
        max_off(max_off(L->is_next, L->is_threads_head), L->is_gil_ptr) +
        sizeof(uintptr_t);
    size_t gil_lo = L->gil_locked < L->gil_last_holder ? L->gil_locked
                                                       : L->gil_last_holder;
    size_t gil_span = max_off(L->gil_locked, L->gil_last_holder) +
                      sizeof(uintptr_t) - gil_lo;
    uintptr_t interp;
    int n = 0;

    if (read_ptr(w, L->runtime + L->rt_interp_head, &interp) != 0) {
        return -1;
    }
    for (int ni = 0; interp != 0 && ni < EP_MAX_INTERPS; ni++) {
        const unsigned char *ib = read_span(w, interp, is_span);
        uintptr_t ts, gil, holder = 0, next_interp;
        int locked = 0;

        if (ib == NULL) {
            break;
        }
        ts = rd_ptr(ib, L->is_threads_head);
        next_interp = rd_ptr(ib, L->is_next);
        gil = L->gil_static != 0 ? L->gil_static : rd_ptr(ib, L->is_gil_ptr);
        if (gil != 0) {
            const unsigned char *gb = read_span(w, gil + gil_lo, gil_span);

            if (gb != NULL) {
                locked = rd_i32(gb, L->gil_locked - gil_lo) > 0;
                holder = rd_ptr(gb, L->gil_last_holder - gil_lo);
            }
        }
        for (int nt = 0; ts != 0 && nt < EP_WALK_MAX_THREADS && n < max;
             nt++) {
            ep_wthread *t = &out[n];
            const unsigned char *b = w->tsbuf;

            if (ep_memread(&w->mr, w->tsbuf, ts, L->ts_size) != 0 ||
                rd_ptr(b, L->ts_interp) != interp) {
                break; /* freed under us: the rest of the list is stale */
            }
            memset(t, 0, offsetof(ep_wthread, code_slot));
            t->tstate = ts;
            t->interp = interp;
            memcpy(&t->ident, b + L->ts_thread_id, sizeof(t->ident));
            if (L->ts_native_tid != EP_OFF_NONE) {
                unsigned long tid;

                memcpy(&tid, b + L->ts_native_tid, sizeof(tid));
                t->tid = (pid_t)tid;
            } else if (w->tid_off >= 0 && t->ident != 0) {
                /* 3.10: thread_id is the pthread_t; its tid lives inside */
                pid_t tid = 0;

                if (ep_memread(&w->mr, &tid,
                               (uintptr_t)t->ident + (uintptr_t)w->tid_off,
                               sizeof(tid)) == 0 &&
                    tid > 0) {
                    t->tid = tid;
                }
            }
            t->holds_gil = locked && holder == ts;
            /* 3.11/3.12: this is the _PyCFrame; ep_walker_stack reads the
             * frame through it, only for threads that are sampled. */
            t->top_frame = rd_ptr(b, L->ts_frame);
            if (L->ts_chunk != EP_OFF_NONE) {
                t->chunk = rd_ptr(b, L->ts_chunk);
                t->stack_top = rd_ptr(b, L->ts_stack_top);
            }
            ts = rd_ptr(b, L->ts_next);
            if (t->ident != 0) { /* 0: created, not bound to a thread yet */
                n++;
            }
        }
        interp = next_interp;
    }
    return n;
}

/* --- code objects ------------------------------------------------------ */

static uint32_t
code_hash(uintptr_t addr)
{
    return ep_hash_u64(addr);
}

/* Makes room for a whole walk's worth of new code objects. */
static void
codes_reserve(ep_walker *w)
{
    uint32_t cap;
    ep_codeinfo *n;

    if ((w->codes_used + w->max_depth) * 4 < w->codes_cap * 3) {
        return;
    }
    cap = w->codes_cap * 2;
    n = cap <= EP_CODES_MAX ? calloc(cap, sizeof(*n)) : NULL;
    if (n == NULL) {
        /* At the cap (or no memory): start over. Store ids survive. */
        for (uint32_t i = 0; i < w->codes_cap; i++) {
            codeinfo_clear(&w->codes[i]);
        }
        w->codes_used = 0;
        return;
    }
    for (uint32_t i = 0; i < w->codes_cap; i++) {
        if (w->codes[i].addr != 0) {
            uint32_t j = code_hash(w->codes[i].addr) & (cap - 1);

            while (n[j].addr != 0) {
                j = (j + 1) & (cap - 1);
            }
            n[j] = w->codes[i];
        }
    }
    free(w->codes);
    w->codes = n;
    w->codes_cap = cap;
}

static uint32_t
codes_slot(ep_walker *w, uintptr_t addr)
{
    uint32_t i = code_hash(addr) & (w->codes_cap - 1);

    while (w->codes[i].addr != 0 && w->codes[i].addr != addr) {
        i = (i + 1) & (w->codes_cap - 1);
    }
    return i;
}

/* Copies a str object as UTF-8; NULL if it is not a readable str. */
static char *
read_str(ep_walker *w, uintptr_t addr)
{
    const ep_py_layout *L = w->L;
    unsigned char hdr[128];
    uint32_t state;
    int64_t length;
    unsigned kind, compact, ascii;
    size_t data_off, nbytes;
    unsigned char *raw;
    char *out;

    if (addr == 0 || L->uni_ascii_size > sizeof(hdr) ||
        ep_memread(&w->mr, hdr, addr, L->uni_ascii_size) != 0 ||
        rd_ptr(hdr, L->ob_type) != L->unicode_type) {
        return NULL;
    }
    memcpy(&length, hdr + L->uni_length, sizeof(length));
    memcpy(&state, hdr + L->uni_state, sizeof(state));
    kind = (state >> 2) & 7;
    compact = (state >> 5) & 1;
    ascii = (state >> 6) & 1;
    if (length < 0 || length > EP_MAX_STR || !compact ||
        (kind != 1 && kind != 2 && kind != 4)) {
        return NULL;
    }
    data_off = ascii ? L->uni_ascii_size : L->uni_compact_size;
    nbytes = (size_t)length * kind;
    raw = malloc(nbytes + 1);
    out = malloc((size_t)length * 4 + 1);
    if (raw == NULL || out == NULL ||
        ep_memread(&w->mr, raw, addr + data_off, nbytes) != 0) {
        free(raw);
        free(out);
        return NULL;
    }
    {
        size_t o = 0;

        for (int64_t i = 0; i < length; i++) {
            uint32_t c;

            if (kind == 1) {
                c = raw[i];
            } else if (kind == 2) {
                uint16_t v;

                memcpy(&v, raw + i * 2, 2);
                c = v;
            } else {
                memcpy(&c, raw + i * 4, 4);
            }
            if (c < 0x80) {
                out[o++] = (char)c;
            } else if (c < 0x800) {
                out[o++] = (char)(0xC0 | (c >> 6));
                out[o++] = (char)(0x80 | (c & 0x3F));
            } else if (c < 0x10000) {
                if (c >= 0xD800 && c <= 0xDFFF) {
                    c = 0xFFFD; /* lone surrogate */
                }
                out[o++] = (char)(0xE0 | (c >> 12));
                out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (c & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | ((c >> 18) & 0x07));
                out[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (c & 0x3F));
            }
        }
        out[o] = '\0';
    }
    free(raw);
    return out;
}

static uint8_t *
read_bytes(ep_walker *w, uintptr_t addr, uint32_t *len)
{
    const ep_py_layout *L = w->L;
    unsigned char hdr[64];
    int64_t size;
    uint8_t *out;

    *len = 0;
    if (addr == 0 || L->bytes_data > sizeof(hdr) ||
        ep_memread(&w->mr, hdr, addr, L->bytes_data) != 0 ||
        rd_ptr(hdr, L->ob_type) != L->bytes_type) {
        return NULL;
    }
    memcpy(&size, hdr + L->bytes_size, sizeof(size));
    if (size < 0 || size > EP_MAX_LINETABLE) {
        return NULL;
    }
    out = malloc((size_t)size + 1);
    if (out == NULL ||
        ep_memread(&w->mr, out, addr + L->bytes_data, (size_t)size) != 0) {
        free(out);
        return NULL;
    }
    *len = (uint32_t)size;
    return out;
}

/* Checks a copied code header against the cache; decodes a new or changed
 * code object. Returns the slot, or UINT32_MAX if it is not a code
 * object. */
static uint32_t
code_lookup(ep_walker *w, uintptr_t addr, const unsigned char *hdr)
{
    const ep_py_layout *L = w->L;
    uintptr_t filename, name, qualname, linetable;
    int32_t firstlineno;
    uint32_t slot;
    ep_codeinfo *c;

    if (rd_ptr(hdr, L->ob_type) != L->code_type) {
        return UINT32_MAX;
    }
    filename = rd_ptr(hdr, L->co_filename);
    name = rd_ptr(hdr, L->co_name);
    qualname =
        L->co_qualname != EP_OFF_NONE ? rd_ptr(hdr, L->co_qualname) : name;
    linetable = rd_ptr(hdr, L->co_linetable);
    firstlineno = rd_i32(hdr, L->co_firstlineno);
    slot = codes_slot(w, addr);
    c = &w->codes[slot];
    if (c->addr == addr && c->filename == filename && c->name == name &&
        c->qualname == qualname && c->linetable == linetable &&
        c->firstlineno == firstlineno) {
        return slot;
    }
    /* New, or another code object now lives at this address. */
    if (c->addr == 0) {
        w->codes_used++;
    }
    codeinfo_clear(c);
    c->file = read_str(w, filename);
    c->qualname_s = read_str(w, qualname);
    if (c->file == NULL || c->qualname_s == NULL) {
        /* Keep the slot (linear probing has no tombstones); zeroed
         * validation fields make the next look-up decode again. */
        codeinfo_clear(c);
        c->addr = addr;
        return UINT32_MAX;
    }
    c->lt = read_bytes(w, linetable, &c->lt_len);
    c->addr = addr;
    c->filename = filename;
    c->name = name;
    c->qualname = qualname;
    c->linetable = linetable;
    c->firstlineno = firstlineno;
    c->firsttraceable = L->co_firsttraceable != EP_OFF_NONE
                            ? rd_i32(hdr, L->co_firsttraceable)
                            : 0;
    c->func_id = UINT32_MAX;
    c->memo_offset = INT32_MIN;
    w->codes_new++;
    return slot;
}

/* --- frames ------------------------------------------------------------ */

/* Copies the frame at addr: from the chunk copy when it lies inside it,
 * else with one read. */
static const unsigned char *
frame_copy(ep_walker *w, uintptr_t addr, uintptr_t lo, uintptr_t hi)
{
    size_t fs = w->L->fr_size;

    if (addr == 0 || addr > UINTPTR_MAX - fs - 2 * EP_PAGE) {
        return NULL; /* garbage: no frame lives there */
    }
    /* (Written so that a garbage addr near the top of the address space
     * cannot wrap addr + fs round and pass.) */
    if (addr >= lo && addr <= hi && hi - addr >= fs) {
        return w->chunkbuf + (addr - lo);
    }
    if (addr >= w->reg_lo && addr <= w->reg_hi && w->reg_hi - addr >= fs) {
        return w->region + (addr - w->reg_lo);
    }
    /* Frames of older data-stack chunks (deep stacks) lie below each
     * other: after a few misses in one walk, copy the pages ending at the
     * frame in one call, one iovec per page so a fault only shortens the
     * copy. Generator frames (a miss or two) are read one by one. */
    if (w->L->frame_kind == EP_FRAMES_INTERP && ++w->misses > 4) {
        uintptr_t end = (addr + fs + EP_PAGE - 1) & ~(uintptr_t)(EP_PAGE - 1);
        struct iovec l[EP_REGION_PAGES], r[EP_REGION_PAGES];
        size_t got;

        for (size_t i = 0; i < EP_REGION_PAGES; i++) {
            uintptr_t page = end - (i + 1) * EP_PAGE;

            l[i].iov_base = w->region + EP_REGION - (i + 1) * EP_PAGE;
            l[i].iov_len = EP_PAGE;
            r[i].iov_base = (void *)page;
            r[i].iov_len = EP_PAGE;
        }
        got = ep_memread_v(&w->mr, l, r, EP_REGION_PAGES);
        if (got > 0) {
            /* Keep the copy where the pages belong in w->region. */
            w->reg_lo = end - got * EP_PAGE;
            w->reg_hi = end;
            if (got < EP_REGION_PAGES) {
                memmove(w->region, w->region + EP_REGION - got * EP_PAGE,
                        got * EP_PAGE);
            }
            if (addr >= w->reg_lo && w->reg_hi - addr >= fs) {
                return w->region + (addr - w->reg_lo);
            }
        }
    }
    w->frames_read++;
    if (ep_memread(&w->mr, w->frbuf, addr, w->L->fr_size) != 0) {
        return NULL;
    }
    return w->frbuf;
}

int
ep_walker_stack(ep_walker *w, ep_wthread *t)
{
    const ep_py_layout *L = w->L;
    uintptr_t lo = 0, hi = 0, f = t->top_frame;
    uint32_t n = 0, ncode = 0, nread = 0, i;
    size_t hdr = L->co_hdr_size;
    uint64_t now;

    t->depth = 0;
    t->truncated = false;
    if (t->error) {
        return -1;
    }
    w->reg_lo = w->reg_hi = 0;
    w->misses = 0;
    if (L->cframe_current != EP_OFF_NONE && f != 0 &&
        read_ptr(w, f + L->cframe_current, &f) != 0) {
        t->error = true;
        return -1;
    }
    codes_reserve(w);
    /* 3.11+: copy the live part of the current data-stack chunk at once. */
    if (t->chunk != 0 && t->stack_top > t->chunk + L->chunk_data &&
        t->stack_top - t->chunk <= EP_MAX_CHUNK_COPY) {
        size_t len = t->stack_top - t->chunk;

        if (len > w->chunkbuf_cap) {
            unsigned char *p = realloc(w->chunkbuf, len);

            if (p != NULL) {
                w->chunkbuf = p;
                w->chunkbuf_cap = len;
            }
        }
        if (len <= w->chunkbuf_cap &&
            ep_memread(&w->mr, w->chunkbuf, t->chunk, len) == 0) {
            lo = t->chunk;
            hi = t->stack_top;
        }
    }
    while (f != 0) {
        const unsigned char *fp;
        int owner = -1;

        if (n == w->max_depth) {
            t->truncated = true;
            break;
        }
        fp = frame_copy(w, f, lo, hi);
        if (fp == NULL) {
            t->error = true;
            return -1;
        }
        if (L->fr_owner != EP_OFF_NONE) {
            owner = (int8_t)fp[L->fr_owner];
        }
        if (owner < 0 || owner != L->owner_cstack) {
            w->rawcode[n] = rd_ptr(fp, L->fr_code);
            w->rawowner[n] = (int8_t)owner;
            if (L->frame_kind == EP_FRAMES_OBJECTS) {
                w->rawinstr[n] = (uintptr_t)(intptr_t)rd_i32(fp, L->fr_instr);
            } else {
                w->rawinstr[n] = rd_ptr(fp, L->fr_instr);
            }
            n++;
        }
        f = rd_ptr(fp, L->fr_previous);
    }
    /* Re-validate the stack's code objects with one batched read, but
     * only those not checked in the last EP_CODE_TTL_NS: reading a header
     * costs a page pin each (~150 ns) on top of the system call, and a
     * 50-frame stack touches 50 pages. Trusting a code object by address
     * for a few ticks is safe (nothing is dereferenced without a safe
     * read); the worst case is a code object freed and another allocated
     * at the same address within that window, mislabelled until the next
     * check. */
    now = ep_clock_now_ns();
    for (i = 0; i < n; i++) {
        const ep_codeinfo *c = &w->codes[codes_slot(w, w->rawcode[i])];
        uint32_t j;

        if (c->addr == w->rawcode[i] && c->file != NULL &&
            now - c->checked_ns < EP_CODE_TTL_NS) {
            continue;
        }
        for (j = 0;
             j < nread && (uintptr_t)w->iov_r[j].iov_base != w->rawcode[i];
             j++) {
        }
        if (j < nread) {
            continue; /* already in this batch (recursion) */
        }
        w->iov_l[nread].iov_base = w->cobuf + (size_t)nread * hdr;
        w->iov_l[nread].iov_len = hdr;
        w->iov_r[nread].iov_base = (void *)w->rawcode[i];
        w->iov_r[nread].iov_len = hdr;
        nread++;
    }
    for (i = 0; i < nread;) {
        i += (uint32_t)ep_memread_v(&w->mr, w->iov_l + i, w->iov_r + i,
                                    nread - i);
        if (i < nread) {
            /* Range i faulted: the copy is stale. */
            t->error = true;
            return -1;
        }
    }
    for (i = 0; i < nread; i++) {
        uint32_t slot = code_lookup(w, (uintptr_t)w->iov_r[i].iov_base,
                                    w->cobuf + (size_t)i * hdr);

        if (slot == UINT32_MAX) {
            t->error = true;
            return -1;
        }
        w->codes[slot].checked_ns = now;
    }
    for (i = 0; i < n; i++) {
        uint32_t slot = codes_slot(w, w->rawcode[i]);
        int32_t off;

        if (L->frame_kind == EP_FRAMES_OBJECTS) {
            int32_t lasti = (int32_t)(intptr_t)w->rawinstr[i];

            off = lasti < 0 || lasti > INT32_MAX / 2 ? -1 : lasti * 2;
        } else {
            intptr_t d = (intptr_t)w->rawinstr[i] -
                         (intptr_t)(w->rawcode[i] + L->co_code_adaptive);

            off = d < 0 || d > INT32_MAX ? -1 : (int32_t)d;
            /* Incomplete frame: pushed, its first instruction not run. */
            if (w->rawowner[i] != L->owner_generator &&
                off < w->codes[slot].firsttraceable * 2) {
                continue;
            }
            /* 3.11/3.12 prev_instr points at the unit before the next
             * instruction, 3.13 instr_ptr at the current one: either lies
             * in the current instruction's line range. */
        }
        t->code_slot[ncode] = slot;
        t->offset[ncode] = off;
        ncode++;
    }
    t->depth = ncode;
    return 0;
}

int
ep_walker_line(ep_walker *w, const ep_wthread *t, uint32_t i)
{
    ep_codeinfo *c = &w->codes[t->code_slot[i]];

    if (c->memo_offset != t->offset[i]) {
        c->memo_line =
            ep_linetable_line(w->L->linetable_kind, c->lt, c->lt_len,
                              c->firstlineno, t->offset[i]);
        c->memo_offset = t->offset[i];
    }
    return c->memo_line;
}

int
ep_walker_resolve(ep_walker *w, ep_store *s, const ep_wthread *t,
                  uint32_t *frame_ids)
{
    for (uint32_t i = 0; i < t->depth; i++) {
        ep_codeinfo *c = &w->codes[t->code_slot[i]];
        uint32_t fr;

        if (c->func_id == UINT32_MAX) {
            uint32_t file = ep_store_str(s, c->file, strlen(c->file));
            uint32_t name =
                ep_store_str(s, c->qualname_s, strlen(c->qualname_s));

            if (file == UINT32_MAX || name == UINT32_MAX) {
                return -1;
            }
            c->func_id = ep_store_func(s, file, name, c->firstlineno);
            if (c->func_id == UINT32_MAX) {
                return -1;
            }
        }
        fr = ep_store_frame(s, c->func_id, ep_walker_line(w, t, i));
        if (fr == UINT32_MAX) {
            return -1;
        }
        frame_ids[t->depth - 1 - i] = fr; /* root first */
    }
    return (int)t->depth;
}

int
ep_walker_describe(ep_walker *w, uintptr_t code, uintptr_t instr, char *buf,
                   size_t size)
{
    const ep_py_layout *L = w->L;
    unsigned char *hdr = w->cobuf; /* max_depth headers: one is enough */
    uint32_t slot;
    ep_codeinfo *c;
    int32_t off;
    int line;
    const char *base;

    codes_reserve(w);
    if (code == 0 || ep_memread(&w->mr, hdr, code, L->co_hdr_size) != 0 ||
        (slot = code_lookup(w, code, hdr)) == UINT32_MAX) {
        return -1;
    }
    c = &w->codes[slot];
    c->checked_ns = ep_clock_now_ns();
    if (L->frame_kind == EP_FRAMES_OBJECTS) {
        int32_t lasti = (int32_t)(intptr_t)instr;

        off = lasti < 0 || lasti > INT32_MAX / 2 ? -1 : lasti * 2;
    } else {
        intptr_t d = (intptr_t)instr - (intptr_t)(code + L->co_code_adaptive);

        off = d < 0 || d > INT32_MAX ? -1 : (int32_t)d;
    }
    line = ep_linetable_line(L->linetable_kind, c->lt, c->lt_len,
                             c->firstlineno, off);
    base = strrchr(c->file, '/');
    snprintf(buf, size, "%s (%s:%d)", c->qualname_s, base ? base + 1 : c->file,
             line);
    return 0;
}

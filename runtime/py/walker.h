/*
 * walker.h -- enumerate thread states and walk their frames without the
 * GIL and without the Python C API, through safe memory reads only.
 *
 * Cost model (see docs/PERFORMANCE.md): one read per thread state, one for
 * the live part of its data-stack chunk (3.11+: frames are walked in the
 * copy), one batched read that re-validates every code object of the
 * stack, and reads of strings and line tables only for code objects not
 * seen before. 3.10 frames are heap objects: one read per frame.
 *
 * Thread affinity: a walker belongs to one thread (the sampler's, or the
 * controller's for a dump); it is not shared.
 */
#ifndef EP_PY_WALKER_H
#define EP_PY_WALKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../memread.h"
#include "../profile/store.h"
#include "layout.h"

#define EP_WALK_MAX_THREADS 4096

/* One thread as found in the interpreter, and its raw stack (leaf first). */
typedef struct ep_wthread {
    uintptr_t tstate;
    uintptr_t interp;
    uint64_t ident; /* thread_id (pthread_t) */
    pid_t tid;      /* native thread id, 0 if unknown (3.10) */
    bool holds_gil;
    bool truncated;      /* deeper than max_depth */
    bool error;          /* a frame could not be read: stack unusable */
    uintptr_t top_frame; /* the frame (or 3.11/3.12 _PyCFrame) the
                          * walk starts from */
    uintptr_t chunk;     /* 3.11+: datastack chunk and its top */
    uintptr_t stack_top;
    uint32_t depth;
    uint32_t *code_slot; /* per frame: index into the code cache */
    int32_t *offset;     /* per frame: byte offset of the instruction */
} ep_wthread;

/* A code object seen by the walker, with copies of what it shows. */
typedef struct ep_codeinfo {
    uintptr_t addr;
    uintptr_t filename, name, qualname, linetable; /* validation */
    int32_t firstlineno;
    int32_t firsttraceable;
    char *file; /* owned UTF-8 copies */
    char *qualname_s;
    uint8_t *lt;
    uint32_t lt_len;
    uint32_t func_id;    /* store id, UINT32_MAX until interned */
    uint64_t checked_ns; /* when its header was last re-validated */
    int32_t memo_offset; /* last offset -> line */
    int32_t memo_line;
} ep_codeinfo;

typedef struct ep_walker {
    const ep_py_layout *L;
    ep_reader mr;
    uint32_t max_depth;
    long tid_off; /* 3.10: tid inside struct pthread, or -1 */

    ep_codeinfo *codes; /* open addressing by addr */
    uint32_t codes_cap; /* power of two */
    uint32_t codes_used;

    unsigned char *tsbuf; /* one thread state */
    unsigned char *chunkbuf;
    size_t chunkbuf_cap;
    unsigned char *frbuf;  /* one frame */
    unsigned char *region; /* pages of older chunks, one walk only */
    uintptr_t reg_lo, reg_hi;
    uint32_t misses;      /* frames outside the chunk copy, this walk */
    unsigned char *cobuf; /* code headers, max_depth of them */
    uintptr_t *rawcode;   /* scratch per frame */
    uintptr_t *rawinstr;
    int8_t *rawowner;
    struct iovec *iov_l, *iov_r;
    unsigned char span[16384]; /* interpreter / GIL struct copies */

    uint64_t frames_read; /* frames copied one at a time */
    uint64_t codes_new;   /* code objects decoded */
} ep_walker;

int ep_walker_open(ep_walker *w, int memread_method, uint32_t max_depth);
void ep_walker_close(ep_walker *w);
/* Lists every thread state of every interpreter into out[0..max); fills
 * everything but the stack. Returns the count, or -1 if the interpreter
 * list could not be read. */
int ep_walker_threads(ep_walker *w, ep_wthread *out, int max);
/* Walks t's frames into t->code_slot/offset (arrays of max_depth the
 * caller provides). Returns 0, or -1 with t->error set. */
int ep_walker_stack(ep_walker *w, ep_wthread *t);
/* Interns t's frames into s, root first, into frame_ids (max_depth).
 * Caller holds s->lock. Returns the depth, or -1 on no memory. */
int ep_walker_resolve(ep_walker *w, ep_store *s, const ep_wthread *t,
                      uint32_t *frame_ids);
/* "qualname (file.py:line)" of a code object at an instruction (3.10:
 * f_lasti; 3.11+: the instruction pointer), validated through safe reads.
 * Returns 0, or -1 if code is not a readable code object. */
int ep_walker_describe(ep_walker *w, uintptr_t code, uintptr_t instr,
                       char *buf, size_t size);
/* The line of frame i of t. */
int ep_walker_line(ep_walker *w, const ep_wthread *t, uint32_t i);

#endif

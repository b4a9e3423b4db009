/*
 * layout.h -- the version layer's one description of CPython's memory:
 * where the walker finds interpreters, thread states, frames, code objects,
 * strings and the GIL. layout.c fills it with offsetof() against the
 * internal headers of the exact CPython embprof was built with; no other
 * file knows a CPython struct. See docs/ARCHITECTURE.md, "version layer".
 */
#ifndef EP_PY_LAYOUT_H
#define EP_PY_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define EP_OFF_NONE ((size_t)-1)

enum ep_frame_kind {
    EP_FRAMES_OBJECTS, /* 3.10: PyFrameObject chain, f_lasti index */
    EP_FRAMES_INTERP,  /* 3.11+: _PyInterpreterFrame chain */
};

enum ep_linetable_kind {
    EP_LINETABLE_310, /* PEP 626 byte pairs */
    EP_LINETABLE_311, /* Objects/locations.md entries */
};

typedef struct ep_py_layout {
    unsigned long version_hex; /* PY_VERSION_HEX of the headers */
    const char *version;       /* "3.11.2" */
    int frame_kind;
    int linetable_kind;

    uintptr_t runtime;     /* &_PyRuntime */
    size_t rt_interp_head; /* _PyRuntime.interpreters.head */

    size_t is_next;         /* PyInterpreterState.next */
    size_t is_threads_head; /* ... threads.head / tstate_head */
    size_t is_gil_ptr;      /* ceval.gil pointer (3.12+), or NONE */
    uintptr_t gil_static;   /* &_PyRuntime.ceval.gil (3.10/3.11), or 0 */
    size_t gil_locked;      /* offsets in struct _gil_runtime_state */
    size_t gil_last_holder;
    size_t gil_switch_number;
    size_t gil_interval;   /* unsigned long, microseconds */
    size_t gil_cond;       /* the condvar take_gil waits on */
    size_t rt_interp_main; /* _PyRuntime.interpreters.main */
    uintptr_t tss_key;     /* &autoTSSkey._key (a pthread_key_t): each
                            * thread's own tstate, as PyGILState uses */
    int gil_disabled;      /* free-threaded build (never true: refused) */

    size_t ts_size; /* bytes of a thread state to copy */
    size_t ts_next;
    size_t ts_interp;
    size_t ts_thread_id;
    size_t ts_native_tid;  /* NONE before 3.11 */
    size_t ts_frame;       /* frame / cframe / current_frame */
    size_t cframe_current; /* NONE: ts_frame is the frame itself */
    size_t ts_chunk;       /* datastack_chunk, NONE on 3.10 */
    size_t ts_stack_top;   /* datastack_top */
    size_t chunk_data;     /* offsetof(_PyStackChunk, data) */

    size_t fr_size; /* bytes of a frame to copy */
    size_t fr_code;
    size_t fr_previous;
    size_t fr_instr; /* prev_instr / instr_ptr / f_lasti */
    size_t fr_owner; /* NONE on 3.10 */
    int owner_generator;
    int owner_cstack; /* -1 where it does not exist */

    uintptr_t code_type; /* &PyCode_Type */
    size_t co_hdr_size;  /* bytes of a code object to copy */
    size_t co_filename;
    size_t co_name;
    size_t co_qualname; /* NONE on 3.10 */
    size_t co_firstlineno;
    size_t co_linetable;
    size_t co_code_adaptive;  /* NONE on 3.10 */
    size_t co_firsttraceable; /* NONE on 3.10 */

    uintptr_t unicode_type; /* &PyUnicode_Type */
    size_t ob_type;
    size_t uni_length;
    size_t uni_state;
    size_t uni_ascii_size;   /* sizeof(PyASCIIObject) */
    size_t uni_compact_size; /* sizeof(PyCompactUnicodeObject) */
    uintptr_t bytes_type;    /* &PyBytes_Type */
    size_t bytes_size;       /* ob_size */
    size_t bytes_data;       /* ob_sval */
} ep_py_layout;

/* The layout of the CPython this library was built with. */
const ep_py_layout *ep_py_layout_get(void);
/* Checks that the running libpython matches the headers (Py_Version on
 * 3.11+, _Py_DebugOffsets on 3.13). EMBPROF_EUNSUPPORTED with the reason
 * otherwise. Caller holds the GIL or Python is not finalizing. */
int ep_py_layout_check(void);

#endif

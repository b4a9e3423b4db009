/*
 * layout.c -- the only file that includes CPython's internal headers. Every
 * version difference the walker needs is an offset or a flag filled here.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>
#endif
#include <internal/pycore_runtime.h>
#include <internal/pycore_interp.h>
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_frame.h>
#endif

#include <string.h>

#include "layout.h"
#include "../error.h"

#if PY_VERSION_HEX < 0x030A0000 || PY_VERSION_HEX >= 0x030E0000
#error "embprof supports CPython 3.10 to 3.13"
#endif
#ifdef Py_GIL_DISABLED
#error                                                                        \
    "free-threaded CPython (3.13t) is not supported: configure with a default (GIL) build"
#endif

static ep_py_layout layout;
static int layout_ready;

static void
fill(ep_py_layout *l)
{
    l->version_hex = PY_VERSION_HEX;
    l->version = PY_VERSION;
    l->runtime = (uintptr_t)&_PyRuntime;
    l->rt_interp_head = offsetof(_PyRuntimeState, interpreters.head);
    l->is_next = offsetof(PyInterpreterState, next);

    l->ts_size = sizeof(PyThreadState);
    l->ts_next = offsetof(PyThreadState, next);
    l->ts_interp = offsetof(PyThreadState, interp);
    l->ts_thread_id = offsetof(PyThreadState, thread_id);

    l->gil_locked = offsetof(struct _gil_runtime_state, locked);
    l->gil_last_holder = offsetof(struct _gil_runtime_state, last_holder);
    l->gil_switch_number = offsetof(struct _gil_runtime_state, switch_number);
    l->gil_interval = offsetof(struct _gil_runtime_state, interval);
    l->gil_cond = offsetof(struct _gil_runtime_state, cond);
    l->rt_interp_main = offsetof(_PyRuntimeState, interpreters.main);
#if PY_VERSION_HEX < 0x030C0000 /* 3.10, 3.11: in the gilstate struct */
    l->tss_key = (uintptr_t)&_PyRuntime.gilstate.autoTSSkey._key;
#else
    l->tss_key = (uintptr_t)&_PyRuntime.autoTSSkey._key;
#endif
    l->gil_disabled = 0;

    l->code_type = (uintptr_t)&PyCode_Type;
    l->co_filename = offsetof(PyCodeObject, co_filename);
    l->co_name = offsetof(PyCodeObject, co_name);
    l->co_firstlineno = offsetof(PyCodeObject, co_firstlineno);
    l->co_linetable = offsetof(PyCodeObject, co_linetable);

    l->unicode_type = (uintptr_t)&PyUnicode_Type;
    l->ob_type = offsetof(PyObject, ob_type);
    l->uni_length = offsetof(PyASCIIObject, length);
    l->uni_state = offsetof(PyASCIIObject, state);
    l->uni_ascii_size = sizeof(PyASCIIObject);
    l->uni_compact_size = sizeof(PyCompactUnicodeObject);
    l->bytes_type = (uintptr_t)&PyBytes_Type;
    l->bytes_size = offsetof(PyVarObject, ob_size);
    l->bytes_data = offsetof(PyBytesObject, ob_sval);

#if PY_VERSION_HEX < 0x030B0000 /* 3.10 */
    l->frame_kind = EP_FRAMES_OBJECTS;
    l->linetable_kind = EP_LINETABLE_310;
    l->is_threads_head = offsetof(PyInterpreterState, tstate_head);
    l->is_gil_ptr = EP_OFF_NONE;
    l->gil_static = (uintptr_t)&_PyRuntime.ceval.gil;
    l->ts_native_tid = EP_OFF_NONE;
    l->ts_frame = offsetof(PyThreadState, frame);
    l->cframe_current = EP_OFF_NONE;
    l->ts_chunk = EP_OFF_NONE;
    l->ts_stack_top = EP_OFF_NONE;
    l->chunk_data = EP_OFF_NONE;
    l->fr_size = sizeof(PyFrameObject);
    l->fr_code = offsetof(PyFrameObject, f_code);
    l->fr_previous = offsetof(PyFrameObject, f_back);
    l->fr_instr = offsetof(PyFrameObject, f_lasti);
    l->fr_owner = EP_OFF_NONE;
    l->owner_generator = -1;
    l->owner_cstack = -1;
    l->co_qualname = EP_OFF_NONE;
    l->co_code_adaptive = EP_OFF_NONE;
    l->co_firsttraceable = EP_OFF_NONE;
    l->co_hdr_size = sizeof(PyCodeObject);
#else                           /* 3.11+ */
    l->frame_kind = EP_FRAMES_INTERP;
    l->linetable_kind = EP_LINETABLE_311;
    l->is_threads_head = offsetof(PyInterpreterState, threads.head);
    l->ts_native_tid = offsetof(PyThreadState, native_thread_id);
    l->ts_chunk = offsetof(PyThreadState, datastack_chunk);
    l->ts_stack_top = offsetof(PyThreadState, datastack_top);
    l->chunk_data = offsetof(_PyStackChunk, data);
    l->fr_size = sizeof(_PyInterpreterFrame);
    l->fr_previous = offsetof(_PyInterpreterFrame, previous);
    l->fr_owner = offsetof(_PyInterpreterFrame, owner);
    l->owner_generator = FRAME_OWNED_BY_GENERATOR;
    l->co_qualname = offsetof(PyCodeObject, co_qualname);
    l->co_code_adaptive = offsetof(PyCodeObject, co_code_adaptive);
    l->co_firsttraceable = offsetof(PyCodeObject, _co_firsttraceable);
    l->co_hdr_size = offsetof(PyCodeObject, co_code_adaptive);
#if PY_VERSION_HEX < 0x030C0000 /* 3.11 */
    l->is_gil_ptr = EP_OFF_NONE;
    l->gil_static = (uintptr_t)&_PyRuntime.ceval.gil;
    l->owner_cstack = -1;
#else /* 3.12+: a GIL per interpreter that owns one */
    l->is_gil_ptr = offsetof(PyInterpreterState, ceval.gil);
    l->gil_static = 0;
    l->owner_cstack = FRAME_OWNED_BY_CSTACK;
#endif
#if PY_VERSION_HEX < 0x030D0000 /* 3.11, 3.12: tstate->cframe->current */
    l->ts_frame = offsetof(PyThreadState, cframe);
    l->cframe_current = offsetof(_PyCFrame, current_frame);
    l->fr_code = offsetof(_PyInterpreterFrame, f_code);
    l->fr_instr = offsetof(_PyInterpreterFrame, prev_instr);
#else /* 3.13: tstate->current_frame, f_executable, instr_ptr */
    l->ts_frame = offsetof(PyThreadState, current_frame);
    l->cframe_current = EP_OFF_NONE;
    l->fr_code = offsetof(_PyInterpreterFrame, f_executable);
    l->fr_instr = offsetof(_PyInterpreterFrame, instr_ptr);
#endif
#endif
}

const ep_py_layout *
ep_py_layout_get(void)
{
    if (!layout_ready) {
        fill(&layout);
        layout_ready = 1;
    }
    return &layout;
}

int
ep_py_layout_check(void)
{
#if PY_VERSION_HEX >= 0x030B0000
    /* Layouts may change between minor versions; patch releases kept them
     * in 3.10-3.13, so compare major.minor of the running library. */
    if ((Py_Version >> 16) != (PY_VERSION_HEX >> 16)) {
        return ep_error(EMBPROF_EUNSUPPORTED,
                        "embprof was built for CPython %s but runs with "
                        "%lu.%lu: rebuild embprof against this Python",
                        PY_VERSION, (unsigned long)(Py_Version >> 24),
                        (unsigned long)((Py_Version >> 16) & 0xff));
    }
#endif
#if PY_VERSION_HEX >= 0x030D0000
    if (memcmp(_PyRuntime.debug_offsets.cookie, "xdebugpy", 8) != 0 ||
        _PyRuntime.debug_offsets.thread_state.size != sizeof(PyThreadState) ||
        _PyRuntime.debug_offsets.interpreter_frame.size !=
            sizeof(_PyInterpreterFrame) ||
        _PyRuntime.debug_offsets.code_object.size != sizeof(PyCodeObject)) {
        return ep_error(EMBPROF_EUNSUPPORTED,
                        "the running libpython's _Py_DebugOffsets do not "
                        "match the headers embprof was built with");
    }
#endif
    (void)ep_py_layout_get();
    return EMBPROF_OK;
}

/*
 * tracehook.c -- attaches the tracer to CPython (see tracehook.h for the
 * mechanism per version and docs/ARCHITECTURE.md for the measurements
 * behind the choice). Everything here runs with the GIL held, except
 * ep_tracehook_code_label (no GIL: reads a referenced code object).
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>
#endif
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#include <internal/pycore_frame.h>
#endif

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "tracehook.h"
#include "pending.h"
#include "../error.h"
#include "../log.h"
#include "../probes/tracer_hot.h"
#include "../runtime.h"

#define EP_USE_MONITORING (PY_VERSION_HEX >= 0x030C0000)

/* Whether the interpreter is finalizing: public from 3.13. */
#if PY_VERSION_HEX >= 0x030D0000
#define EP_PY_FINALIZING() Py_IsFinalizing()
#else
#define EP_PY_FINALIZING() _Py_IsFinalizing()
#endif

/* The tracer the hooks feed, or NULL: neither a PEP 523 hook nor a C
 * profile function has user data, hence this one static. Written with
 * the GIL held (install, uninstall, free), or without it only at a free
 * that then leaves the tracer allocated (ep_tracehook_forget); read by
 * hooks (GIL). A tracer is freed only after it was cleared here with the
 * GIL held, so a hook that holds the GIL and finds tr here may use it;
 * one that let the GIL go since (the frame evaluation, a first sight
 * that ran Python) must check tracer_alive first. */
static ep_tracer *_Atomic hook_tracer;
/* The tracer a pending (re)install is for; ctl_lock. */
static ep_tracer *_Atomic req_tracer;
static _Atomic int req_pending;
/* pending_cb between reading req_tracer and its last use of that tracer
 * (and its embprof): ep_tracehook_forget clears req_tracer, then waits
 * for this to drop to 0 before the tracer may go. req_lock, req_cond. */
static int req_busy;
static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t req_cond = PTHREAD_COND_INITIALIZER;
/* Benchmark floors (bench/tracer_overhead.py), from EMBPROF_TRACER_NOOP
 * at install: 1 = our hooks installed but returning at once, 2 = no hook
 * of ours, a no-op C PyEval_SetProfile function on the installing
 * thread instead. 0 otherwise. */
static int noop_mode;

static int
noop_profile(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj;
    (void)frame;
    (void)what;
    (void)arg;
    return 0;
}

/* The calling thread's table: pointer and the epoch of its tracer. */
/* initial-exec: a TLS access without __tls_get_addr (16 bytes of the
 * static TLS surplus when embprof is dlopen'd). */
static _Thread_local struct {
    ep_tr_thread *t;
    uint32_t epoch;
} tls __attribute__((tls_model("initial-exec")));

static void first_thread_event(ep_tracer *tr, ep_tr_thread *t);

/* Is tr, seen by a hook with the given epoch, still the hooks' tracer?
 * GIL held. For a hook that may have let the GIL go since it loaded tr:
 * a free clears hook_tracer (GIL held) before it frees, so tr is read
 * only if it is the current tracer, and the epoch tells a new tracer
 * allocated at the same address from the one the hook saw. */
static inline bool
tracer_alive(ep_tracer *tr, uint32_t epoch)
{
    return atomic_load_explicit(&hook_tracer, memory_order_relaxed) == tr &&
           tr->epoch == epoch;
}

static inline ep_tr_thread *
cur_thread(ep_tracer *tr)
{
    ep_tr_thread *t = tls.t;
    uint32_t epoch = tr->epoch;

    if (__builtin_expect(t == NULL || tls.epoch != epoch, 0)) {
        t = ep_tr_thread_get_slow(tr);
        if (t == NULL) {
            return NULL;
        }
        tls.t = t;
        tls.epoch = epoch;
        first_thread_event(tr, t); /* may run Python (audit hooks) */
        return tracer_alive(tr, epoch) ? t : NULL;
    } else if (__builtin_expect(t->gen != atomic_load_explicit(
                                              &tr->gen, memory_order_relaxed),
                                0)) {
        ep_tr_thread_restart(tr, t);
        first_thread_event(tr, t);
        return tracer_alive(tr, epoch) ? t : NULL;
    }
    return t;
}

/* ---- strings without the GIL ------------------------------------------ */

/* UTF-8 copy of a str object (malloc'd); reads only the object's own
 * storage, so it needs no GIL while the object is alive. */
static char *
uni_utf8(PyObject *s)
{
    Py_ssize_t n, o = 0;
    int kind;
    const void *data;
    char *out;

    if (s == NULL || !PyUnicode_Check(s)) {
        return strdup("?");
    }
    n = PyUnicode_GET_LENGTH(s);
    kind = PyUnicode_KIND(s);
    data = PyUnicode_DATA(s);
    out = malloc((size_t)n * 4 + 1);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);

        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c >= 0xD800 && c < 0xE000) {
            out[o++] = '?';
        } else if (c < 0x10000) {
            out[o++] = (char)(0xE0 | (c >> 12));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (c >> 18));
            out[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[o] = '\0';
    return out;
}

int
ep_tracehook_code_label(void *code, char **file, char **name, int *line)
{
    PyCodeObject *co = code;

    *file = uni_utf8(co->co_filename);
    *name = uni_utf8(co->co_name);
    *line = co->co_firstlineno;
    if (*file == NULL || *name == NULL) {
        free(*file);
        free(*name);
        *file = *name = NULL;
        return -1;
    }
    return 0;
}

char *
ep_tracehook_code_qualname(void *code)
{
#if PY_VERSION_HEX >= 0x030B0000
    return uni_utf8(((PyCodeObject *)code)->co_qualname);
#else
    return uni_utf8(((PyCodeObject *)code)->co_name);
#endif
}

void
ep_tracehook_release_codes(void **codes, uint32_t n)
{
    if (!Py_IsInitialized() || !PyGILState_Check()) {
        return; /* kept: no safe way to drop them now */
    }
    for (uint32_t i = 0; i < n; i++) {
        Py_DECREF((PyObject *)codes[i]);
    }
}

/* ---- first sight (outside the hot loop; may call Python) -------------- */

/* Does the tracer.lines spec select this code? Items are separated by
 * commas: "module:qualname" (module by __name__ or by file name, qualname
 * a glob), or a file glob matched against the path and the base name. */
static bool
lines_match(const char *spec, PyCodeObject *co, PyObject *globals)
{
    char *file = uni_utf8(co->co_filename);
    char *qual = ep_tracehook_code_qualname(co);
    const char *modname = NULL;
    const char *base;
    bool hit = false;
    char item[512];

    if (globals != NULL && PyDict_Check(globals)) {
        PyObject *n = PyDict_GetItemString(globals, "__name__");

        if (n != NULL && PyUnicode_Check(n)) {
            modname = PyUnicode_AsUTF8(n);
            if (modname == NULL) {
                PyErr_Clear();
            }
        }
    }
    if (file == NULL || qual == NULL) {
        goto out;
    }
    base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    while (*spec != '\0' && !hit) {
        size_t n = strcspn(spec, ",");
        char *colon;

        if (n < sizeof(item)) {
            memcpy(item, spec, n);
            item[n] = '\0';
            colon = strchr(item, ':');
            if (colon != NULL && strchr(item, '/') == NULL) {
                char path[600];
                bool mod_ok;

                *colon = '\0';
                mod_ok = modname != NULL && strcmp(modname, item) == 0;
                if (!mod_ok) { /* pkg.mod -> .../pkg/mod.py */
                    char *p = path;

                    snprintf(path, sizeof(path), "*/%s.py", item);
                    for (; *p; p++) {
                        if (*p == '.' && p[1] != 'p') {
                            *p = '/';
                        }
                    }
                    mod_ok = fnmatch(path, file, 0) == 0 ||
                             (snprintf(path, sizeof(path), "%s.py", item),
                              strcmp(path, base) == 0);
                }
                hit = mod_ok && fnmatch(colon + 1, qual, 0) == 0;
            } else if (item[0] != '\0') {
                hit =
                    fnmatch(item, file, 0) == 0 || fnmatch(item, base, 0) == 0;
            }
        }
        spec += n;
        if (*spec == ',') {
            spec++;
        }
    }
out:
    free(file);
    free(qual);
    return hit;
}

#if EP_USE_MONITORING
static void mon_enable_lines(ep_tracer *tr, PyCodeObject *co);
#endif

static __attribute__((cold, noinline)) uint32_t
code_first_sight(ep_tracer *tr, ep_tr_thread *t, PyCodeObject *co,
                 PyObject *globals)
{
    uint32_t f, lines = 0, epoch = tr->epoch;

    if (tr->o.lines != NULL && tr->o.lines[0] != '\0') {
        PyObject *et, *ev, *tb;

        PyErr_Fetch(&et, &ev, &tb);
        lines = lines_match(tr->o.lines, co, globals);
#if EP_USE_MONITORING
        if (lines) {
            mon_enable_lines(tr, co);
        }
#endif
        PyErr_Restore(et, ev, tb);
        if (!tracer_alive(tr, epoch)) {
            return EP_TR_NONE; /* freed while Python ran (an import) */
        }
    }
    f = ep_tr_func_add(t, co, EP_TR_PY, 0, lines);
    if (f != EP_TR_NONE) {
        Py_INCREF(co); /* keyed by pointer: it must stay this code */
    }
    return f;
}

static inline uint32_t
code_func(ep_tracer *tr, ep_tr_thread *t, PyCodeObject *co, PyObject *globals)
{
    uint32_t f = ep_tr_func_find(t, co);

    return f != EP_TR_NONE ? f : code_first_sight(tr, t, co, globals);
}

/* cProfile's name for a C function (Modules/_lsprof.c normalizeUserObj):
 * "<built-in method builtins.len>", "<method 'append' of 'list'
 * objects>", "<built-in method time.sleep>"... */
static char *
builtin_name(PyObject *fn)
{
    PyObject *r = NULL;
    char *out = NULL;

    if (PyCFunction_Check(fn)) {
        PyCFunctionObject *c = (PyCFunctionObject *)fn;
        PyObject *self = c->m_self, *mod = c->m_module;

        if (self == NULL) {
            PyObject *modname = NULL;

            if (mod != NULL && PyUnicode_Check(mod)) {
                modname = Py_NewRef(mod);
            } else if (mod != NULL && PyModule_Check(mod)) {
                modname = PyModule_GetNameObject(mod);
                PyErr_Clear();
            }
            if (modname != NULL &&
                PyUnicode_CompareWithASCIIString(modname, "builtins") != 0) {
                r = PyUnicode_FromFormat("<%U.%s>", modname, c->m_ml->ml_name);
            } else {
                r = PyUnicode_FromFormat("<%s>", c->m_ml->ml_name);
            }
            Py_XDECREF(modname);
        } else {
            PyObject *name = PyUnicode_FromString(c->m_ml->ml_name);
            PyObject *mo = name ? _PyType_Lookup(Py_TYPE(self), name) : NULL;

            Py_XDECREF(name);
            if (mo != NULL) {
                Py_INCREF(mo);
                r = PyObject_Repr(mo);
                Py_DECREF(mo);
            }
            if (r == NULL) {
                PyErr_Clear();
                if (mod != NULL && PyUnicode_Check(mod)) {
                    r = PyUnicode_FromFormat("<built-in method %S.%s>", mod,
                                             c->m_ml->ml_name);
                } else {
                    r = PyUnicode_FromFormat("<built-in method %s>",
                                             c->m_ml->ml_name);
                }
            }
        }
    } else {
        r = PyObject_Repr(fn); /* a method descriptor */
    }
    if (r != NULL) {
        out = uni_utf8(r);
        Py_DECREF(r);
    }
    PyErr_Clear();
    return out;
}

/* Opens a call of the C function fn (key: its PyMethodDef). */
static void
builtin_enter(ep_tracer *tr, PyObject *fn, void *key)
{
    ep_tr_thread *t = cur_thread(tr);
    int64_t now, w;
    uint32_t f;

    if (t == NULL) {
        return;
    }
    f = ep_tr_func_find(t, key);
    if (f == EP_TR_NONE) {
        PyObject *et, *ev, *tb;
        uint32_t epoch = tr->epoch;
        char *name;
        uint32_t sym;

        PyErr_Fetch(&et, &ev, &tb);
        name = builtin_name(fn); /* a repr: may run Python */
        PyErr_Restore(et, ev, tb);
        if (!tracer_alive(tr, epoch)) {
            free(name);
            return;
        }
        sym = name ? ep_tr_sym_add(tr, key, name) : EP_TR_NONE;
        free(name);
        if (sym == EP_TR_NONE) {
            t->oom++;
            return;
        }
        f = ep_tr_func_add(t, key, EP_TR_BUILTIN, sym, 0);
        if (f == EP_TR_NONE) {
            return;
        }
    }
    now = ep_tr_now(tr, t, &w);
    ep_tr_push(t, f, now, w);
}

/* Closes the call of the C function key if it is the innermost. */
static void
builtin_leave(ep_tracer *tr, void *key)
{
    ep_tr_thread *t = cur_thread(tr);
    const ep_tr_func *fs;
    int64_t now, w;

    if (t == NULL || t->depth == 0) {
        return;
    }
    fs = atomic_load_explicit(&t->funcs.data, memory_order_relaxed);
    if (fs[t->stack[t->depth - 1].func].key != key) {
        return;
    }
    now = ep_tr_now(tr, t, &w);
    ep_tr_pop(tr, t, now, w);
}

/* Closes the builtin calls still open above depth: a C call whose
 * C_RETURN never reached us (on 3.10/3.11, sys.setprofile or
 * cProfile.enable called with builtins=true replaces our C profile
 * function during that very call). Called at the return of the Python
 * frame at depth, so its frame and its callers' match their returns
 * again; the lost calls count as ending now. */
static void
close_lost_builtins(ep_tracer *tr, ep_tr_thread *t, uint32_t depth,
                    int64_t now, int64_t w)
{
    const ep_tr_func *fs =
        atomic_load_explicit(&t->funcs.data, memory_order_relaxed);

    while (t->depth > depth &&
           fs[t->stack[t->depth - 1].func].kind == EP_TR_BUILTIN) {
        ep_tr_pop(tr, t, now, w);
    }
}

static void *
builtin_key(PyObject *fn)
{
    if (PyCFunction_Check(fn)) {
        return ((PyCFunctionObject *)fn)->m_ml;
    }
    if (Py_IS_TYPE(fn, &PyMethodDescr_Type)) {
        return ((PyMethodDescrObject *)fn)->d_method;
    }
    return NULL;
}

/* ===================================================================== */
#if !EP_USE_MONITORING
/* 3.10, 3.11: a PEP 523 frame-evaluation hook. */

#if PY_VERSION_HEX >= 0x030B0000
typedef _PyInterpreterFrame ep_iframe;
#define EP_FRAME_CODE(f) ((f)->f_code)
#define EP_FRAME_GLOBALS(f) ((f)->f_globals)
#else
typedef PyFrameObject ep_iframe;
#define EP_FRAME_CODE(f) ((f)->f_code)
#define EP_FRAME_GLOBALS(f) ((f)->f_globals)
#endif

/* The hook that was installed before ours (NULL: the default). Written
 * at install with the GIL. */
static _PyFrameEvalFunction prev_eval;
static bool eval_installed;
static const char *mechanism_text = "PEP 523 frame-evaluation hook";
static bool warned_profile;

static int ep_cprofile(PyObject *obj, PyFrameObject *frame, int what,
                       PyObject *arg);
static int ep_ctrace(PyObject *obj, PyFrameObject *frame, int what,
                     PyObject *arg);

/* Per thread, at its first event of a run: the C profile function for
 * builtins (the PEP 523 hook does not see C calls). */
static void
first_thread_event(ep_tracer *tr, ep_tr_thread *t)
{
    PyThreadState *ts = PyThreadState_Get();

    (void)t;
    if (!tr->o.builtins) {
        return;
    }
    if (ts->c_profilefunc != NULL && ts->c_profilefunc != ep_cprofile) {
        if (!warned_profile) {
            warned_profile = true;
            ep_log(EP_LOG_WARN,
                   "tracer: thread %lu has its own profile "
                   "function (sys.setprofile/cProfile): "
                   "builtins are not timed on it",
                   (unsigned long)ts->thread_id);
        }
        return;
    }
    PyEval_SetProfile(ep_cprofile, NULL);
}

static int
ep_cprofile(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    ep_tracer *tr = atomic_load_explicit(&hook_tracer, memory_order_relaxed);
    void *key;

    (void)obj;
    (void)frame;
    if (tr == NULL ||
        !atomic_load_explicit(&tr->active, memory_order_relaxed)) {
        return 0;
    }
    if (what == PyTrace_C_CALL) {
        if ((key = builtin_key(arg)) != NULL) {
            builtin_enter(tr, arg, key);
        }
    } else if (what == PyTrace_C_RETURN || what == PyTrace_C_EXCEPTION) {
        if ((key = builtin_key(arg)) != NULL) {
            builtin_leave(tr, key);
        }
    }
    return 0;
}

/* Line events of a function tracer.lines selected (set only while such
 * a frame runs). */
static int
ep_ctrace(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    ep_tracer *tr = atomic_load_explicit(&hook_tracer, memory_order_relaxed);
    ep_tr_thread *t;
    const ep_tr_func *fs;
    int64_t now, w;

    (void)obj;
    (void)arg;
    if (what != PyTrace_LINE || tr == NULL ||
        !atomic_load_explicit(&tr->active, memory_order_relaxed) ||
        (t = tls.t) == NULL || tls.epoch != tr->epoch || t->depth == 0) {
        return 0;
    }
    fs = atomic_load_explicit(&t->funcs.data, memory_order_relaxed);
    if (fs[t->stack[t->depth - 1].func].key !=
        (void *)PyFrame_GetCode(frame)) {
        Py_DECREF(PyFrame_GetCode(frame)); /* GetCode: new reference */
        return 0;
    }
    Py_DECREF(PyFrame_GetCode(frame));
    now = ep_tr_now(tr, t, &w);
    ep_tr_line(t, (uint32_t)PyFrame_GetLineNumber(frame), now);
    return 0;
}

static PyObject *
ep_eval(PyThreadState *ts, ep_iframe *frame, int throwflag)
{
    _PyFrameEvalFunction next =
        prev_eval ? prev_eval : _PyEval_EvalFrameDefault;
    ep_tracer *tr = atomic_load_explicit(&hook_tracer, memory_order_relaxed);
    PyCodeObject *co;
    ep_tr_thread *t;
    uint32_t f, depth, gen, epoch;
    int64_t now, w;
    PyObject *r;
    bool lines = false;
    Py_tracefunc saved_trace = NULL;
    PyObject *saved_traceobj = NULL;

    if (tr == NULL ||
        !atomic_load_explicit(&tr->active, memory_order_relaxed) ||
        noop_mode) {
        return next(ts, frame, throwflag);
    }
    co = EP_FRAME_CODE(frame);
#if PY_VERSION_HEX >= 0x030B0000
    /* A generator function's first run only makes the generator
     * (RETURN_GENERATOR): cProfile does not count it as a call. */
    if ((co->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)) &&
        _PyInterpreterFrame_LASTI(frame) < 0) {
        return next(ts, frame, throwflag);
    }
#endif
    t = cur_thread(tr);
    if (t == NULL) {
        return next(ts, frame, throwflag);
    }
    f = code_func(tr, t, co, EP_FRAME_GLOBALS(frame));
    if (f == EP_TR_NONE) {
        return next(ts, frame, throwflag);
    }
    now = ep_tr_now(tr, t, &w);
    ep_tr_push(t, f, now, w);
    depth = t->depth;
    gen = t->gen;
    epoch = tr->epoch;
    if (((const ep_tr_func *)atomic_load_explicit(&t->funcs.data,
                                                  memory_order_relaxed))[f]
            .lines) {
        lines = true;
        saved_trace = ts->c_tracefunc;
        saved_traceobj = Py_XNewRef(ts->c_traceobj);
        if (saved_trace != ep_ctrace) {
            PyEval_SetTrace(ep_ctrace, NULL);
        }
    }
    r = next(ts, frame, throwflag);
    if (lines) {
        /* Put the saved trace function back only if ours is still the
         * thread's: one set while the frame ran (a debugger, coverage:
         * sys.settrace) stays. */
        if (saved_trace != ep_ctrace && ts->c_tracefunc == ep_ctrace) {
            PyObject *et, *ev, *tb;

            PyErr_Fetch(&et, &ev, &tb);
            PyEval_SetTrace(saved_trace, saved_traceobj);
            PyErr_Restore(et, ev, tb);
        }
        Py_XDECREF(saved_traceobj);
    }
    /* Record the return only into the table and run that saw the call
     * (the GIL was let go in there: tr may be gone, or be another). */
    if (tracer_alive(tr, epoch) && tls.t == t && tls.epoch == epoch &&
        t->gen == gen && t->depth >= depth &&
        atomic_load_explicit(&tr->active, memory_order_relaxed)) {
        now = ep_tr_now(tr, t, &w);
        close_lost_builtins(tr, t, depth, now, w);
        if (t->depth == depth) {
            ep_tr_pop(tr, t, now, w);
        }
    }
    return r;
}

static int
install(ep_tracer *tr)
{
    PyInterpreterState *interp = PyInterpreterState_Main();
    _PyFrameEvalFunction cur = _PyInterpreterState_GetEvalFrameFunc(interp);

    if (cur != (_PyFrameEvalFunction)ep_eval) {
        prev_eval = cur == _PyEval_EvalFrameDefault ? NULL : cur;
        if (prev_eval != NULL) {
            ep_log(EP_LOG_INFO, "tracer: chained to the frame-evaluation "
                                "hook installed before");
        }
        _PyInterpreterState_SetEvalFrameFunc(interp,
                                             (_PyFrameEvalFunction)ep_eval);
    }
    eval_installed = true;
    tr->tool_id = -1;
    atomic_store(&hook_tracer, tr);
    return EMBPROF_OK;
}

static void
uninstall(ep_tracer *tr)
{
    PyInterpreterState *interp = PyInterpreterState_Main();
    _PyFrameEvalFunction cur = _PyInterpreterState_GetEvalFrameFunc(interp);

    (void)tr;
    if (cur == (_PyFrameEvalFunction)ep_eval) {
        _PyInterpreterState_SetEvalFrameFunc(
            interp, prev_eval ? prev_eval : _PyEval_EvalFrameDefault);
        eval_installed = false;
    } else if (eval_installed) {
        /* Someone chained a hook on top of ours: ours stays in the chain
         * and passes through (hook_tracer's active flag is off). */
        ep_log(EP_LOG_INFO, "tracer: another frame-evaluation hook sits on "
                            "top of ours; ours stays, passing through");
    }
    /* Builtins: our C profile function off every thread that has it. */
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts != NULL;
         ts = PyThreadState_Next(ts)) {
        if (ts->c_profilefunc == ep_cprofile) {
            _PyEval_SetProfile(ts, NULL, NULL);
        }
    }
    PyErr_Clear();
}

const char *
ep_tracehook_mechanism(void)
{
    return mechanism_text;
}

#else
/* ===================================================================== */
/* 3.12, 3.13: sys.monitoring. */

enum {
    EV_PY_START = 1,
    EV_PY_RESUME = 2,
    EV_PY_RETURN = 4,
    EV_PY_YIELD = 8,
    EV_CALL = 16,
    EV_LINE = 32,
    EV_PY_UNWIND = 4096,
    EV_PY_THROW = 8192,
    EV_C_RETURN = 32768,
    EV_C_RAISE = 65536,
};

static char mechanism_buf[96] = "sys.monitoring";
static PyObject *mon_callbacks[5]; /* the C callables we registered */
static PyObject *line_codes;       /* list of codes with LINE set */

static void
first_thread_event(ep_tracer *tr, ep_tr_thread *t)
{
    (void)tr;
    (void)t;
}

static PyObject *
mon_start(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    ep_tracer *tr = atomic_load_explicit(&hook_tracer, memory_order_relaxed);
    ep_tr_thread *t;
    uint32_t f;
    int64_t now, w;

    (void)self;
    if (tr == NULL || n < 1 || !PyCode_Check(args[0]) || noop_mode ||
        !atomic_load_explicit(&tr->active, memory_order_relaxed) ||
        (t = cur_thread(tr)) == NULL) {
        Py_RETURN_NONE;
    }
    f = ep_tr_func_find(t, args[0]);
    if (f == EP_TR_NONE) {
        f = code_first_sight(tr, t, (PyCodeObject *)args[0],
                             PyEval_GetGlobals());
        if (f == EP_TR_NONE) {
            Py_RETURN_NONE;
        }
    }
    now = ep_tr_now(tr, t, &w);
    ep_tr_push(t, f, now, w);
    Py_RETURN_NONE;
}

static PyObject *
mon_return(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    ep_tracer *tr = atomic_load_explicit(&hook_tracer, memory_order_relaxed);
    ep_tr_thread *t;
    const ep_tr_func *fs;
    int64_t now, w;
    uint32_t k;

    (void)self;
    if (tr == NULL || n < 1 || noop_mode ||
        !atomic_load_explicit(&tr->active, memory_order_relaxed) ||
        (t = cur_thread(tr)) == NULL || t->depth == 0) {
        Py_RETURN_NONE;
    }
    fs = atomic_load_explicit(&t->funcs.data, memory_order_relaxed);
    k = t->depth;
    while (k > 0 && fs[t->stack[k - 1].func].kind == EP_TR_BUILTIN) {
        k--; /* builtins whose C_RETURN never came (see there) */
    }
    if (k == 0 || fs[t->stack[k - 1].func].key != (void *)args[0]) {
        Py_RETURN_NONE; /* a call that began before the tracer did */
    }
    now = ep_tr_now(tr, t, &w);
    close_lost_builtins(tr, t, k, now, w);
    ep_tr_pop(tr, t, now, w);
    Py_RETURN_NONE;
}

static PyObject *
mon_call(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    ep_tracer *tr = atomic_load_explicit(&hook_tracer, memory_order_relaxed);
    void *key;

    (void)self;
    if (tr != NULL && n >= 3 &&
        atomic_load_explicit(&tr->active, memory_order_relaxed) &&
        (key = builtin_key(args[2])) != NULL) {
        builtin_enter(tr, args[2], key);
    }
    Py_RETURN_NONE;
}

static PyObject *
mon_creturn(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    ep_tracer *tr = atomic_load_explicit(&hook_tracer, memory_order_relaxed);
    void *key;

    (void)self;
    if (tr != NULL && n >= 3 &&
        atomic_load_explicit(&tr->active, memory_order_relaxed) &&
        (key = builtin_key(args[2])) != NULL) {
        builtin_leave(tr, key);
    }
    Py_RETURN_NONE;
}

static PyObject *
mon_line(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
    ep_tracer *tr = atomic_load_explicit(&hook_tracer, memory_order_relaxed);
    ep_tr_thread *t;
    const ep_tr_func *fs;
    int64_t now, w;
    long line;

    (void)self;
    if (tr == NULL || n < 2 ||
        !atomic_load_explicit(&tr->active, memory_order_relaxed) ||
        (t = cur_thread(tr)) == NULL || t->depth == 0) {
        Py_RETURN_NONE;
    }
    fs = atomic_load_explicit(&t->funcs.data, memory_order_relaxed);
    if (fs[t->stack[t->depth - 1].func].key != (void *)args[0]) {
        Py_RETURN_NONE;
    }
    line = PyLong_AsLong(args[1]);
    if (line < 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    now = ep_tr_now(tr, t, &w);
    ep_tr_line(t, (uint32_t)line, now);
    Py_RETURN_NONE;
}

static PyMethodDef mon_defs[] = {
    {"_embprof_start", (PyCFunction)(void (*)(void))mon_start, METH_FASTCALL,
     NULL},
    {"_embprof_return", (PyCFunction)(void (*)(void))mon_return, METH_FASTCALL,
     NULL},
    {"_embprof_call", (PyCFunction)(void (*)(void))mon_call, METH_FASTCALL,
     NULL},
    {"_embprof_creturn", (PyCFunction)(void (*)(void))mon_creturn,
     METH_FASTCALL, NULL},
    {"_embprof_line", (PyCFunction)(void (*)(void))mon_line, METH_FASTCALL,
     NULL},
};

static PyObject *
monitoring(void)
{
    PyObject *sys = PyImport_ImportModule("sys");
    PyObject *m = sys ? PyObject_GetAttrString(sys, "monitoring") : NULL;

    Py_XDECREF(sys);
    return m;
}

static void
mon_enable_lines(ep_tracer *tr, PyCodeObject *co)
{
    PyObject *m = monitoring();
    PyObject *r = NULL;

    if (m != NULL && tr->tool_id >= 0) {
        r = PyObject_CallMethod(m, "set_local_events", "iOi", tr->tool_id,
                                (PyObject *)co, EV_LINE);
    }
    if (r != NULL && line_codes != NULL) {
        PyList_Append(line_codes, (PyObject *)co);
    }
    if (r == NULL) {
        ep_log(EP_LOG_WARN, "tracer: cannot enable line events");
    }
    Py_XDECREF(r);
    Py_XDECREF(m);
    PyErr_Clear();
}

static int
install(ep_tracer *tr)
{
    static const int ids[] = {2, 4, 3, 1};
    PyObject *m = monitoring(), *r;
    int tool = -1, mask;
    char holder[64] = "";
    struct {
        int ev, cb;
    } regs[] = {{EV_PY_START, 0},  {EV_PY_RESUME, 0}, {EV_PY_THROW, 0},
                {EV_PY_RETURN, 1}, {EV_PY_YIELD, 1},  {EV_PY_UNWIND, 1},
                {EV_CALL, 2},      {EV_C_RETURN, 3},  {EV_C_RAISE, 3},
                {EV_LINE, 4}};

    if (m == NULL) {
        PyErr_Clear();
        return ep_error(EMBPROF_EPYTHON, "tracer: no sys.monitoring");
    }
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        r = PyObject_CallMethod(m, "use_tool_id", "is", ids[i], "embprof");
        if (r != NULL) {
            Py_DECREF(r);
            tool = ids[i];
            break;
        }
        PyErr_Clear();
        if (ids[i] == 2) {
            PyObject *who = PyObject_CallMethod(m, "get_tool", "i", 2);

            if (who != NULL && PyUnicode_Check(who)) {
                snprintf(holder, sizeof(holder), "%s", PyUnicode_AsUTF8(who));
            }
            Py_XDECREF(who);
            PyErr_Clear();
        }
    }
    if (tool < 0) {
        Py_DECREF(m);
        return ep_error(EMBPROF_EBUSY,
                        "tracer: every sys.monitoring tool id embprof may "
                        "use (2, 4, 3, 1) is taken");
    }
    if (tool != 2) {
        ep_log(EP_LOG_WARN,
               "tracer: sys.monitoring PROFILER id 2 is held by %s; using "
               "tool id %d (both profilers run, each sees every call)",
               holder[0] ? holder : "another tool", tool);
    }
    tr->tool_id = tool;
    snprintf(mechanism_buf, sizeof(mechanism_buf),
             "sys.monitoring (tool id %d)", tool);
    if (line_codes == NULL) {
        line_codes = PyList_New(0);
    }
    for (size_t i = 0; i < 5; i++) {
        if (mon_callbacks[i] == NULL) {
            mon_callbacks[i] = PyCFunction_New(&mon_defs[i], NULL);
        }
    }
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        if (regs[i].cb >= 2 && regs[i].cb <= 3 && !tr->o.builtins) {
            continue;
        }
        r = PyObject_CallMethod(m, "register_callback", "iiO", tool,
                                regs[i].ev, mon_callbacks[regs[i].cb]);
        Py_XDECREF(r);
        PyErr_Clear();
    }
    mask = EV_PY_START | EV_PY_RESUME | EV_PY_THROW | EV_PY_RETURN |
           EV_PY_YIELD | EV_PY_UNWIND;
    if (tr->o.builtins) {
        mask |= EV_CALL; /* C_RETURN and C_RAISE come with CALL */
    }
    atomic_store(&hook_tracer, tr);
    r = PyObject_CallMethod(m, "set_events", "ii", tool, mask);
    if (r == NULL) {
        PyErr_Clear();
        Py_DECREF(m);
        return ep_error(EMBPROF_EPYTHON, "tracer: sys.monitoring.set_events "
                                         "failed");
    }
    Py_DECREF(r);
    Py_DECREF(m);
    return EMBPROF_OK;
}

static void
uninstall(ep_tracer *tr)
{
    PyObject *m = monitoring(), *r;
    static const int evs[] = {
        EV_PY_START,  EV_PY_RESUME, EV_PY_THROW, EV_PY_RETURN, EV_PY_YIELD,
        EV_PY_UNWIND, EV_CALL,      EV_C_RETURN, EV_C_RAISE,   EV_LINE};

    if (m == NULL || tr->tool_id < 0) {
        Py_XDECREF(m);
        PyErr_Clear();
        return;
    }
    r = PyObject_CallMethod(m, "set_events", "ii", tr->tool_id, 0);
    Py_XDECREF(r);
    for (Py_ssize_t i = 0; line_codes && i < PyList_GET_SIZE(line_codes);
         i++) {
        r = PyObject_CallMethod(m, "set_local_events", "iOi", tr->tool_id,
                                PyList_GET_ITEM(line_codes, i), 0);
        Py_XDECREF(r);
        PyErr_Clear();
    }
    if (line_codes != NULL) {
        PyList_SetSlice(line_codes, 0, PyList_GET_SIZE(line_codes), NULL);
    }
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        r = PyObject_CallMethod(m, "register_callback", "iiO", tr->tool_id,
                                evs[i], Py_None);
        Py_XDECREF(r);
        PyErr_Clear();
    }
    r = PyObject_CallMethod(m, "free_tool_id", "i", tr->tool_id);
    Py_XDECREF(r);
    PyErr_Clear();
    Py_DECREF(m);
    tr->tool_id = -1;
}

const char *
ep_tracehook_mechanism(void)
{
    return mechanism_buf;
}
#endif

/* ---- requests --------------------------------------------------------- */

/* Makes the hooks match tr->active. GIL held, ctl_lock held. */
static int
reconcile(ep_tracer *tr)
{
    bool want = atomic_load(&tr->active);
    int rc = EMBPROF_OK;

    if (tr->installed && noop_mode == 2) {
        PyEval_SetProfile(NULL, NULL);
        tr->installed = false;
    }
    if (tr->installed && (!want || atomic_load(&hook_tracer) != tr)) {
        uninstall(tr);
        tr->installed = false;
        atomic_store(&hook_tracer, NULL);
    }
    if (want && tr->installed) {
        /* Restarted before a pending stop ran: settings may differ. */
        uninstall(tr);
        tr->installed = false;
    }
    if (want) {
        const char *nm = getenv("EMBPROF_TRACER_NOOP");

        noop_mode = nm == NULL ? 0 : strcmp(nm, "setprofile") == 0 ? 2 : 1;
        if (noop_mode == 2) {
            PyEval_SetProfile(noop_profile, NULL);
            tr->installed = true;
            return EMBPROF_OK;
        }
        rc = install(tr);
        tr->installed = rc == EMBPROF_OK;
        tr->mechanism = ep_tracehook_mechanism();
        if (rc != EMBPROF_OK) {
            atomic_store(&hook_tracer, NULL);
        }
    }
    return rc;
}

static int
pending_cb(void *arg)
{
    ep_tracer *tr;

    (void)arg;
    atomic_store(&req_pending, 0);
    /* The tracer (and its embprof) may be freed by now, or while we run:
     * only req_tracer, read under req_lock, says which is still there,
     * and req_busy keeps it there until we are done with it. */
    pthread_mutex_lock(&req_lock);
    tr = atomic_load(&req_tracer);
    if (tr != NULL) {
        req_busy++;
    }
    pthread_mutex_unlock(&req_lock);
    if (tr == NULL) {
        return 0;
    }
    /* The GIL is held; ctl_lock holders never wait for the GIL. */
    pthread_mutex_lock(&tr->ep->ctl_lock);
    if (atomic_load(&req_tracer) == tr && reconcile(tr) != EMBPROF_OK) {
        ep_log(EP_LOG_ERROR, "%s", embprof_last_error());
        atomic_store(&tr->active, false);
    }
    pthread_mutex_unlock(&tr->ep->ctl_lock);
    pthread_mutex_lock(&req_lock);
    req_busy--;
    pthread_cond_broadcast(&req_cond);
    pthread_mutex_unlock(&req_lock);
    return 0;
}

int
ep_tracehook_request(ep_tracer *tr, bool on)
{
    (void)on; /* tr->active already says it */
    atomic_store(&req_tracer, tr);
    if (!Py_IsInitialized()) {
        if (on) {
            return ep_error(EMBPROF_ESTATE, "tracer: Python is not running");
        }
        atomic_store(&hook_tracer, NULL);
        return EMBPROF_OK;
    }
    if (PyGILState_Check()) {
        return reconcile(tr);
    }
    /* No GIL here, and this thread may not wait for it (ctl_lock): the
     * main thread makes the change at its next bytecode boundary. The
     * hooks check tr->active, so a stop takes effect at once anyway. */
    if (atomic_exchange(&req_pending, 1) == 0 &&
        ep_py_add_pending_call(pending_cb, NULL) != 0) {
        atomic_store(&req_pending, 0);
        if (on) {
            return ep_error(EMBPROF_EBUSY, "tracer: cannot schedule the "
                                           "hook installation; retry");
        }
    }
    if (on) {
        ep_log(EP_LOG_INFO, "tracer: hooks will be installed by the main "
                            "thread (caller does not hold the GIL)");
    }
    return EMBPROF_OK;
}

/* Waits until no pending_cb uses a tracer it read before req_tracer was
 * cleared. With the GIL, lets it go while waiting: that pending_cb may be
 * waiting for it (it can only be in reconcile's Python calls). */
static void
wait_pending_idle(bool gil)
{
    pthread_mutex_lock(&req_lock);
    while (req_busy > 0) {
        if (gil) {
            pthread_mutex_unlock(&req_lock);
            Py_BEGIN_ALLOW_THREADS;
            pthread_mutex_lock(&req_lock);
            while (req_busy > 0) {
                pthread_cond_wait(&req_cond, &req_lock);
            }
            pthread_mutex_unlock(&req_lock);
            Py_END_ALLOW_THREADS;
            pthread_mutex_lock(&req_lock);
        } else {
            pthread_cond_wait(&req_cond, &req_lock);
        }
    }
    pthread_mutex_unlock(&req_lock);
}

bool
ep_tracehook_forget(ep_tracer *tr, int *gil)
{
    ep_tracer *expect = tr;

    *gil = -1;
    pthread_mutex_lock(&req_lock);
    atomic_compare_exchange_strong(&req_tracer, &expect, NULL);
    pthread_mutex_unlock(&req_lock);
    expect = tr;
    if (!Py_IsInitialized()) {
        /* Never started, or finalized: no thread runs Python, so none
         * is inside a hook (a daemon thread that wakes up later exits
         * when it asks for the GIL). */
        atomic_compare_exchange_strong(&hook_tracer, &expect, NULL);
        wait_pending_idle(false);
        return true;
    }
    if (!PyGILState_Check()) {
        if (EP_PY_FINALIZING()) {
            /* A thread that waits for the GIL now is made to exit by
             * CPython: we cannot have it, so we cannot know that no
             * thread is between loading tr and using it. The hooks pass
             * through from now on; the tracer stays allocated. */
            atomic_compare_exchange_strong(&hook_tracer, &expect, NULL);
            wait_pending_idle(false);
            return false;
        }
        /* Python keeps running (embprof_attach): take the GIL so that no
         * hook runs while the hooks go and tr is freed. */
        *gil = (int)PyGILState_Ensure();
    }
    wait_pending_idle(true);
    if (tr->installed) {
        if (noop_mode == 2) {
            PyEval_SetProfile(NULL, NULL);
        } else {
            uninstall(tr);
        }
        tr->installed = false;
    }
    atomic_compare_exchange_strong(&hook_tracer, &expect, NULL);
    return true;
}

void
ep_tracehook_forget_done(int gil)
{
    if (gil >= 0) {
        PyGILState_Release((PyGILState_STATE)gil);
    }
}

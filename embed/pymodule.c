/*
 * pymodule.c -- the `embprof` Python module, available in every host that
 * uses embprof:
 *
 *   import embprof
 *   embprof.start("sampler", "rate=997 mode=cpu")
 *   embprof.stop("sampler")
 *   embprof.export("out.speedscope.json")      # format from the extension
 *   embprof.export("out.txt", format="top")
 *   embprof.observe("latency_ms", 12.5)        # for the policy engine
 *   with embprof.span("request"): ...          # observes the block's ms
 *   embprof.stats(), embprof.active("sampler"), embprof.reset()
 *
 * Errors raise embprof.Error (a RuntimeError) with embprof_last_error();
 * bad arguments raise ValueError. Each call releases the GIL while the
 * controller works, so a slow export never stalls other Python threads.
 */
#include "embed.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/clock.h"
#include "../runtime/error.h"
#include "../runtime/log.h"
#include "../runtime/py/pending.h"
#include "../runtime/runtime.h"
#include "../runtime/threads.h"

#define EP_OBS_NAMES_MAX 1024

static PyObject *ep_py_error; /* embprof.Error, owned by the module */

/* Observation names from Python must outlive the call (the queue keeps
 * the pointer): interned here for the life of the process, at most
 * EP_OBS_NAMES_MAX distinct names. Past that, observations under new names
 * are dropped and counted. Guarded by the GIL (module functions only). */
static char *obs_names[EP_OBS_NAMES_MAX];
static size_t nobs_names;
static PyObject *obs_index; /* str -> slot in obs_names */
static unsigned long long obs_names_dropped;

static PyObject *
raise_status(int rc)
{
    PyObject *exc = rc == EMBPROF_EINVAL ? PyExc_ValueError : ep_py_error;

    PyErr_Format(exc, "%s",
                 embprof_last_error()[0] ? embprof_last_error()
                                         : embprof_strerror(rc));
    return NULL;
}

static struct embprof *
current(void)
{
    if (ep_embed_current == NULL) {
        PyErr_SetString(ep_py_error, "embprof is not initialised");
    }
    return ep_embed_current;
}

static PyObject *
py_start(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"probe", "options", NULL};
    const char *probe = "sampler", *options = NULL;
    struct embprof *ep;
    int rc;

    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|sz:start", kwlist, &probe,
                                     &options) ||
        (ep = current()) == NULL) {
        return NULL;
    }
    ep_embed_collect_names();
    if (strcmp(probe, "tracer") == 0) {
        /* With the GIL: the hooks go in now, on this interpreter. Safe:
         * no holder of ctl_lock ever waits for the GIL. */
        rc = ep_ctl_start(ep, probe, options);
    } else {
        Py_BEGIN_ALLOW_THREADS rc = ep_ctl_start(ep, probe, options);
        Py_END_ALLOW_THREADS
    }
    return rc == EMBPROF_OK ? Py_NewRef(Py_None) : raise_status(rc);
}

static PyObject *
py_stop(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"probe", NULL};
    const char *probe = "sampler";
    struct embprof *ep;
    int rc;

    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|s:stop", kwlist, &probe) ||
        (ep = current()) == NULL) {
        return NULL;
    }
    ep_embed_collect_names();
    if (strcmp(probe, "tracer") == 0) {
        rc = ep_ctl_stop(ep, probe); /* with the GIL, as in start */
    } else {
        Py_BEGIN_ALLOW_THREADS rc = ep_ctl_stop(ep, probe);
        Py_END_ALLOW_THREADS
    }
    return rc == EMBPROF_OK ? Py_NewRef(Py_None) : raise_status(rc);
}

static PyObject *
py_export(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "format", NULL};
    const char *path = NULL, *format = NULL;
    struct embprof *ep;
    int rc;

    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|z:export", kwlist, &path,
                                     &format) ||
        (ep = current()) == NULL) {
        return NULL;
    }
    ep_embed_collect_names();
    Py_BEGIN_ALLOW_THREADS rc = ep_ctl_export(ep, format, path);
    Py_END_ALLOW_THREADS return rc == EMBPROF_OK ? Py_NewRef(Py_None)
                                                 : raise_status(rc);
}

static PyObject *
py_reset(PyObject *self, PyObject *unused)
{
    struct embprof *ep;

    (void)self;
    (void)unused;
    if ((ep = current()) == NULL) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS ep_ctl_reset(ep);
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static PyObject *
py_active(PyObject *self, PyObject *args)
{
    const char *probe = "sampler";
    struct embprof *ep;
    int rc;

    (void)self;
    if (!PyArg_ParseTuple(args, "|s:active", &probe) ||
        (ep = current()) == NULL) {
        return NULL;
    }
    rc = ep_ctl_active(ep, probe);
    return rc < 0 ? raise_status(rc) : PyBool_FromLong(rc);
}

static PyObject *
py_stats(PyObject *self, PyObject *unused)
{
    struct embprof *ep;
    embprof_stats st;

    (void)self;
    (void)unused;
    if ((ep = current()) == NULL) {
        return NULL;
    }
    ep_ctl_stats(ep, &st);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsKsKsKsK}", "ticks",
                         (unsigned long long)st.ticks, "samples",
                         (unsigned long long)st.samples, "idle_skipped",
                         (unsigned long long)st.idle_skipped, "walk_errors",
                         (unsigned long long)st.walk_errors, "truncated",
                         (unsigned long long)st.truncated, "missed_ticks",
                         (unsigned long long)st.missed_ticks, "sampler_cpu_ns",
                         (unsigned long long)st.sampler_cpu_ns, "wall_ns",
                         (unsigned long long)st.wall_ns, "threads_seen",
                         (unsigned long long)st.threads_seen, "stacks",
                         (unsigned long long)st.stacks, "functions",
                         (unsigned long long)st.functions, "observations",
                         (unsigned long long)st.observations,
                         "observations_dropped",
                         (unsigned long long)st.observations_dropped,
                         "observation_names_dropped", obs_names_dropped);
}

/* Returns the process-lifetime copy of a metric name, or NULL past the
 * bound (or out of memory). A dict maps the Python string to its slot, so
 * a repeated name costs one dict lookup. Caller holds the GIL. */
static const char *
intern_name(PyObject *key)
{
    PyObject *slot;
    const char *name;
    char *copy;

    if (obs_index == NULL && (obs_index = PyDict_New()) == NULL) {
        PyErr_Clear();
        return NULL;
    }
    slot = PyDict_GetItemWithError(obs_index, key);
    if (slot != NULL) {
        return obs_names[PyLong_AsSsize_t(slot)];
    }
    PyErr_Clear();
    if (nobs_names == EP_OBS_NAMES_MAX ||
        (name = PyUnicode_AsUTF8(key)) == NULL) {
        PyErr_Clear();
        return NULL;
    }
    copy = strdup(name);
    slot = copy ? PyLong_FromSize_t(nobs_names) : NULL;
    if (slot == NULL || PyDict_SetItem(obs_index, key, slot) != 0) {
        Py_XDECREF(slot);
        free(copy);
        PyErr_Clear();
        return NULL;
    }
    Py_DECREF(slot);
    obs_names[nobs_names] = copy;
    return obs_names[nobs_names++];
}

/* The name for an observation, or NULL: then the observation is dropped
 * and counted (a host's hot path never raises for a metric). */
static const char *
obs_name(PyObject *key)
{
    const char *name = intern_name(key);

    if (name == NULL) {
        if (obs_names_dropped++ == 0) {
            ep_log(EP_LOG_WARN,
                   "embprof.observe: more than %d distinct metric names; "
                   "observations under new names are dropped (counted in "
                   "stats()['observation_names_dropped'])",
                   EP_OBS_NAMES_MAX);
        }
    }
    return name;
}

static PyObject *
py_observe(PyObject *self, PyObject *args)
{
    PyObject *key;
    const char *name;
    double value;

    (void)self;
    if (!PyArg_ParseTuple(args, "Ud:observe", &key, &value)) {
        return NULL;
    }
    if (ep_embed_current == NULL) {
        Py_RETURN_NONE; /* like the C API: no runtime, nothing to do */
    }
    name = obs_name(key);
    if (name != NULL) {
        embprof_observe(ep_embed_current, name, value);
    }
    Py_RETURN_NONE;
}

/* --- embprof.span: `with embprof.span("request"):` ----------------------- */

typedef struct {
    PyObject_HEAD const char *name; /* interned; NULL past the bound */
    embprof_span span;
} ep_pyspan;

static int
pyspan_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", NULL};
    ep_pyspan *sp = (ep_pyspan *)self;
    PyObject *key;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "U:span", kwlist, &key)) {
        return -1;
    }
    sp->name = obs_name(key);
    sp->span.name = NULL;
    sp->span.start_ns = 0;
    return 0;
}

static PyObject *
pyspan_enter(PyObject *self, PyObject *unused)
{
    ep_pyspan *sp = (ep_pyspan *)self;

    (void)unused;
    sp->span =
        embprof_span_begin(sp->name ? ep_embed_current : NULL, sp->name);
    return Py_NewRef(self);
}

static PyObject *
pyspan_exit(PyObject *self, PyObject *args)
{
    ep_pyspan *sp = (ep_pyspan *)self;

    (void)args;
    /* An exception inside the block still ends the span (and is not
     * swallowed: we return False). */
    embprof_span_end(ep_embed_current, sp->span);
    sp->span.start_ns = 0;
    Py_RETURN_FALSE;
}

static PyMethodDef pyspan_methods[] = {
    {"__enter__", pyspan_enter, METH_NOARGS, "start timing"},
    {"__exit__", pyspan_exit, METH_VARARGS,
     "observe the elapsed milliseconds under the span's name"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot pyspan_slots[] = {
    {Py_tp_doc, "span(name): `with embprof.span(\"request\"):` observes "
                "the block's duration in milliseconds under name"},
    {Py_tp_init, (void *)pyspan_init},
    {Py_tp_new, (void *)PyType_GenericNew},
    {Py_tp_methods, pyspan_methods},
    {0, NULL},
};

static PyType_Spec pyspan_spec = {
    "embprof.span", sizeof(ep_pyspan), 0, Py_TPFLAGS_DEFAULT, pyspan_slots,
};

static PyObject *
py_thread_name(PyObject *self, PyObject *args)
{
    const char *name;

    (void)self;
    if (!PyArg_ParseTuple(args, "s:thread_name", &name)) {
        return NULL;
    }
    embprof_thread_name(name);
    Py_RETURN_NONE;
}

static PyObject *
py_atexit(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (ep_embed_current != NULL) {
        ep_embed_collect_names();
        ep_embed_remove_thread_hook();
        /* The tracer's hooks come off with the GIL, before Python goes. */
        if (ep_ctl_active(ep_embed_current, "tracer") > 0) {
            ep_ctl_stop(ep_embed_current, "tracer");
        }
        Py_BEGIN_ALLOW_THREADS ep_embed_shutdown(ep_embed_current);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyMethodDef ep_methods[] = {
    {"start", (PyCFunction)(void (*)(void))py_start,
     METH_VARARGS | METH_KEYWORDS,
     "start(probe='sampler', options=None): start a probe; options as "
     "'rate=997 mode=cpu'"},
    {"stop", (PyCFunction)(void (*)(void))py_stop,
     METH_VARARGS | METH_KEYWORDS, "stop(probe='sampler'): stop a probe"},
    {"export", (PyCFunction)(void (*)(void))py_export,
     METH_VARARGS | METH_KEYWORDS,
     "export(path, format=None): write a profile (collapsed, speedscope, "
     "top, dump, pstats, stats, lines, chrome; default from the "
     "extension)"},
    {"reset", py_reset, METH_NOARGS, "reset(): drop collected samples"},
    {"active", py_active, METH_VARARGS,
     "active(probe='sampler'): True if the probe runs"},
    {"stats", py_stats, METH_NOARGS, "stats(): the sampler's own figures"},
    {"observe", py_observe, METH_VARARGS,
     "observe(name, value): queue a metric for the policy engine (at most "
     "1024 distinct names; past that dropped and counted)"},
    {"thread_name", py_thread_name, METH_VARARGS,
     "thread_name(name): name the calling thread in profiles"},
    {"_atexit", py_atexit, METH_NOARGS,
     "internal: stop probes and flush before the interpreter finalizes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef ep_module = {
    PyModuleDef_HEAD_INIT,
    "embprof",
    "embprof: in-process profiling of this host (see docs/API.md)",
    -1,
    ep_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyObject *
ep_pymodule_init(void)
{
    PyObject *m = PyModule_Create(&ep_module);
    PyObject *span_type;

    if (m == NULL) {
        return NULL;
    }
    if (ep_py_error == NULL) {
        ep_py_error =
            PyErr_NewException("embprof.Error", PyExc_RuntimeError, NULL);
    }
    if (ep_py_error == NULL ||
        PyModule_AddObject(m, "Error", Py_NewRef(ep_py_error)) != 0 ||
        PyModule_AddStringConstant(m, "__version__", EMBPROF_VERSION_STRING) !=
            0 ||
        PyModule_AddIntConstant(m, "OBSERVE_NAMES_MAX", EP_OBS_NAMES_MAX) !=
            0) {
        Py_DECREF(m);
        return NULL;
    }
    span_type = PyType_FromSpec(&pyspan_spec);
    if (span_type == NULL || PyModule_AddObject(m, "span", span_type) != 0) {
        Py_XDECREF(span_type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* --- Python thread names ----------------------------------------------- */

/* Names are collected with the GIL at start, stop, export and init
 * (threading.enumerate), which misses a thread that starts and ends in
 * between, and every thread while the main thread sits in join() when
 * the collection is a pending call. So each threading.Thread also names
 * itself as it starts: Thread._bootstrap_inner is wrapped by a C function
 * (no Python frame of ours in any stack) that records the new thread's
 * name, tid and ident, then runs the original. Installed at init (which
 * imports threading on the main thread: a thread started before the first
 * collection would be missed otherwise), removed at shutdown. */
static PyObject *ep_orig_bootstrap; /* the original, strong; GIL */
static PyObject *ep_our_bootstrap;  /* what we installed, strong; GIL */

static void
name_thread_now(PyObject *thread)
{
    PyObject *name = PyObject_GetAttrString(thread, "name");
    const char *s = name != NULL ? PyUnicode_AsUTF8(name) : NULL;

    if (s != NULL) {
        ep_names_set(ep_gettid(), (uint64_t)pthread_self(), s, false);
    }
    Py_XDECREF(name);
    PyErr_Clear();
}

static PyObject *
bootstrap_inner(PyObject *unused, PyObject *thread)
{
    (void)unused;
    name_thread_now(thread);
    return PyObject_CallOneArg(ep_orig_bootstrap, thread);
}

static PyMethodDef ep_bootstrap_def = {
    "_bootstrap_inner", bootstrap_inner, METH_O,
    "embprof: records the thread's name, then runs threading's own "
    "_bootstrap_inner"};

/* With the GIL; errors are cleared (names are a nicety). */
static void
install_thread_hook(PyObject *threading)
{
    PyObject *cls, *orig, *fn = NULL, *meth = NULL;

    if (ep_orig_bootstrap != NULL) {
        return;
    }
    cls = PyObject_GetAttrString(threading, "Thread");
    orig =
        cls != NULL ? PyObject_GetAttrString(cls, "_bootstrap_inner") : NULL;
    if (orig != NULL && PyFunction_Check(orig)) {
        fn = PyCFunction_New(&ep_bootstrap_def, NULL);
        meth = fn != NULL ? PyInstanceMethod_New(fn) : NULL;
        if (meth != NULL &&
            PyObject_SetAttrString(cls, "_bootstrap_inner", meth) == 0) {
            ep_orig_bootstrap = orig;
            ep_our_bootstrap = meth;
            orig = meth = NULL;
        }
    }
    Py_XDECREF(meth);
    Py_XDECREF(fn);
    Py_XDECREF(orig);
    Py_XDECREF(cls);
    PyErr_Clear();
}

void
ep_embed_prepare_thread_names(void)
{
    PyObject *threading;

    /* threading must be imported first by the process's main thread (it
     * takes the importing thread for the main one); elsewhere the wrapper
     * goes in at the next collection instead. */
    if (ep_gettid() != getpid() || ep_orig_bootstrap != NULL) {
        return;
    }
    threading = PyImport_ImportModule("threading");
    if (threading != NULL) {
        install_thread_hook(threading);
        Py_DECREF(threading);
    }
    PyErr_Clear();
}

void
ep_embed_remove_thread_hook(void)
{
    PyObject *modules, *threading, *cls, *cur;

    if (ep_orig_bootstrap == NULL || !Py_IsInitialized()) {
        return;
    }
    modules = PyImport_GetModuleDict();
    threading = modules ? PyDict_GetItemString(modules, "threading") : NULL;
    cls = threading ? PyObject_GetAttrString(threading, "Thread") : NULL;
    cur = cls ? PyObject_GetAttrString(cls, "_bootstrap_inner") : NULL;
    /* Only if it is still ours: someone may have wrapped it since. */
    if (cur != NULL && cur == ep_our_bootstrap &&
        PyObject_SetAttrString(cls, "_bootstrap_inner", ep_orig_bootstrap) ==
            0) {
        /* A thread starting now holds its own references to both. */
        Py_CLEAR(ep_orig_bootstrap);
        Py_CLEAR(ep_our_bootstrap);
    }
    Py_XDECREF(cur);
    Py_XDECREF(cls);
    PyErr_Clear();
}

void
ep_embed_collect_names(void)
{
    PyObject *exc_type, *exc_val, *exc_tb;
    PyObject *modules, *threading, *list = NULL;

    /* Only if threading is there (init imported it on the main thread;
     * an attach from another thread did not). Save and restore any
     * pending exception. */
    PyErr_Fetch(&exc_type, &exc_val, &exc_tb);
    modules = PyImport_GetModuleDict();
    threading = modules ? PyDict_GetItemString(modules, "threading") : NULL;
    if (threading != NULL) {
        install_thread_hook(threading);
        list = PyObject_CallMethod(threading, "enumerate", NULL);
    }
    if (list != NULL && PyList_Check(list)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
            PyObject *t = PyList_GET_ITEM(list, i);
            PyObject *name = PyObject_GetAttrString(t, "name");
            PyObject *ident = PyObject_GetAttrString(t, "ident");
            PyObject *nid = PyObject_GetAttrString(t, "native_id");
            const char *s = name ? PyUnicode_AsUTF8(name) : NULL;
            unsigned long long id = ident && PyLong_Check(ident)
                                        ? PyLong_AsUnsignedLongLong(ident)
                                        : 0;
            long tid = nid && PyLong_Check(nid) ? PyLong_AsLong(nid) : 0;

            if (s != NULL && (id != 0 || tid != 0)) {
                ep_names_set((pid_t)tid, id, s, false);
            }
            Py_XDECREF(name);
            Py_XDECREF(ident);
            Py_XDECREF(nid);
            PyErr_Clear();
        }
    }
    Py_XDECREF(list);
    PyErr_Clear();
    PyErr_Restore(exc_type, exc_val, exc_tb);
}

static int
names_pending(void *arg)
{
    (void)arg;
    ep_embed_collect_names();
    return 0;
}

void
ep_embed_schedule_names(struct embprof *ep)
{
    if (ep->finalizing || !Py_IsInitialized()) {
        return;
    }
    /* Safe from any thread without the GIL; a full queue just skips. */
    (void)ep_py_add_pending_call(names_pending, NULL);
}

/*
 * embed.c -- the public API: configuration, init/attach/finalize, probe
 * requests (forwarded to the controller), host-thread helpers.
 */
#include "embed.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/clock.h"
#include "../runtime/control/control.h"
#include "../runtime/error.h"
#include "../runtime/export/export.h"
#include "../runtime/log.h"
#include "../runtime/options.h"
#include "../runtime/py/layout.h"
#include "../runtime/runtime.h"
#include "../runtime/threads.h"

/* Whether the interpreter is finalizing: public from 3.13. */
#if PY_VERSION_HEX >= 0x030D0000
#define EP_PY_FINALIZING() Py_IsFinalizing()
#else
#define EP_PY_FINALIZING() _Py_IsFinalizing()
#endif

struct embprof *ep_embed_current;

static bool ep_inittab_done;
static bool ep_atfork_done;

/* --- configuration ----------------------------------------------------- */

EMBPROF_API embprof_config *
embprof_config_new(void)
{
    embprof_config *cfg = calloc(1, sizeof(*cfg));

    if (cfg == NULL) {
        ep_error(EMBPROF_ENOMEM, "out of memory");
        return NULL;
    }
    if (ep_opt_defaults(cfg) != EMBPROF_OK) { /* the error says why */
        free(cfg);
        return NULL;
    }
    return cfg;
}

EMBPROF_API void
embprof_config_free(embprof_config *cfg)
{
    if (cfg != NULL) {
        ep_opt_release(cfg);
        free(cfg);
    }
}

EMBPROF_API int
embprof_config_set(embprof_config *cfg, const char *key, const char *value)
{
    if (cfg == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_config_set: cfg is NULL");
    }
    return ep_opt_set(cfg, key, value);
}

EMBPROF_API int
embprof_config_get(const embprof_config *cfg, const char *key, char *buf,
                   size_t size)
{
    int id = ep_opt_find(key);

    if (cfg == NULL || buf == NULL || size == 0) {
        return ep_error(EMBPROF_EINVAL, "embprof_config_get: NULL argument");
    }
    if (id < 0) {
        return ep_error(EMBPROF_EINVAL, "unknown option \"%s\"",
                        key ? key : "(null)");
    }
    ep_opt_format(id, &cfg->v[id], buf, size);
    return EMBPROF_OK;
}

EMBPROF_API int
embprof_config_from_env(embprof_config *cfg)
{
    if (cfg == NULL) {
        return ep_error(EMBPROF_EINVAL,
                        "embprof_config_from_env: cfg is NULL");
    }
    return ep_opt_from_env(cfg);
}

EMBPROF_API int
embprof_config_validate(const embprof_config *cfg)
{
    const char *file, *dir;
    char full[4096], parent[4096];
    char *slash;
    int rc;

    if (cfg == NULL) {
        return ep_error(EMBPROF_EINVAL,
                        "embprof_config_validate: cfg is NULL");
    }
    file = ep_cfg_str(cfg, EP_OPT_OUTPUT_FILE);
    dir = ep_cfg_str(cfg, EP_OPT_OUTPUT_DIR);
    if (dir[0] != '\0' && access(dir, W_OK | X_OK) != 0) {
        return ep_error(EMBPROF_EINVAL,
                        "output.dir: %s is not a writable "
                        "directory (%s)",
                        dir, strerror(errno));
    }
    if (file[0] == '\0') {
        return EMBPROF_OK;
    }
    if (ep_cfg_int(cfg, EP_OPT_OUTPUT_FORMAT) == 0 &&
        ep_export_for_path(file) == NULL) {
        return ep_error(EMBPROF_EINVAL,
                        "output.file: cannot tell the format of \"%s\" "
                        "(use .folded, .speedscope.json or .txt, or set "
                        "output.format)",
                        file);
    }
    rc = ep_export_path(dir, file, full, sizeof(full));
    if (rc != EMBPROF_OK) {
        return rc;
    }
    snprintf(parent, sizeof(parent), "%s", full);
    slash = strrchr(parent, '/');
    if (slash == NULL) {
        snprintf(parent, sizeof(parent), ".");
    } else if (slash == parent) {
        parent[1] = '\0';
    } else {
        *slash = '\0';
    }
    if (access(parent, W_OK | X_OK) != 0) {
        return ep_error(EMBPROF_EINVAL,
                        "output.file: cannot write %s: directory %s is not "
                        "writable (%s)",
                        full, parent, strerror(errno));
    }
    return EMBPROF_OK;
}

/* --- lifecycle --------------------------------------------------------- */

static PyObject *
init_module(void)
{
    return ep_pymodule_init();
}

static void
atfork_child(void)
{
    if (ep_embed_current != NULL) {
        ep_ctl_after_fork(ep_embed_current);
    }
    ep_names_clear();
}

static void
names_hook(struct embprof *ep)
{
    ep_embed_schedule_names(ep);
}

/* Registers embprof's Python atexit hook. Caller holds the GIL. */
static int
register_atexit(void)
{
    PyObject *mod = PyImport_ImportModule("embprof");
    PyObject *atexit_mod = PyImport_ImportModule("atexit");
    PyObject *hook = mod ? PyObject_GetAttrString(mod, "_atexit") : NULL;
    PyObject *r = NULL;

    if (hook != NULL && atexit_mod != NULL) {
        r = PyObject_CallMethod(atexit_mod, "register", "O", hook);
    }
    Py_XDECREF(r);
    Py_XDECREF(hook);
    Py_XDECREF(atexit_mod);
    Py_XDECREF(mod);
    if (r == NULL) {
        PyErr_Clear();
        return ep_error(EMBPROF_EPYTHON,
                        "cannot register embprof's atexit hook");
    }
    return EMBPROF_OK;
}

/* The controller's python_enter: the GIL for a probe that hooks into the
 * interpreter (the tracer), for a caller that does not hold it (a host
 * thread, the control thread). Any thread; never under ctl_lock. */
static int
python_enter(struct embprof *ep)
{
    /* A thread that waits for the GIL while Python finalizes is made to
     * exit by CPython: never try then. */
    if (atomic_load(&ep->finalizing) || !Py_IsInitialized() ||
        EP_PY_FINALIZING() || PyGILState_Check()) {
        return -1;
    }
    return (int)PyGILState_Ensure();
}

static void
python_leave(struct embprof *ep, int token)
{
    (void)ep;
    PyGILState_Release((PyGILState_STATE)token);
}

static int
common_start(struct embprof *ep)
{
    int rc;

    ep->refresh_names = names_hook;
    ep_embed_prepare_thread_names();
    ep->python_enter = python_enter;
    ep->python_leave = python_leave;
    ep_embed_current = ep;
    if (!ep_atfork_done) {
        pthread_atfork(NULL, NULL, atfork_child);
        ep_atfork_done = true;
    }
    rc = register_atexit();
    if (rc == EMBPROF_OK) {
        ep_control *ctl;

        rc = ep_control_start(ep, &ctl);
    }
    if (rc == EMBPROF_OK) {
        ep_embed_collect_names();
        rc = ep_ctl_autostart(ep);
    }
    return rc;
}

EMBPROF_API int
embprof_init(const embprof_config *cfg, const PyConfig *py, embprof **out)
{
    struct embprof *ep;
    PyStatus st;
    int rc;

    ep_error_clear();
    if (out == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_init: out is NULL");
    }
    *out = NULL;
    if (ep_embed_current != NULL) {
        return ep_error(EMBPROF_ESTATE,
                        "embprof is already initialised in this process");
    }
    if (Py_IsInitialized()) {
        return ep_error(EMBPROF_ESTATE, "Python is already initialised: use "
                                        "embprof_attach");
    }
    rc = ep_runtime_new(cfg, &ep);
    if (rc != EMBPROF_OK) {
        return rc;
    }
    if (!ep_inittab_done) {
        if (PyImport_AppendInittab("embprof", init_module) != 0) {
            ep_runtime_free(ep);
            return ep_error(EMBPROF_EPYTHON,
                            "cannot register the embprof module");
        }
        ep_inittab_done = true;
    }
    if (py != NULL) {
        st = Py_InitializeFromConfig(py);
    } else {
        PyConfig c;

        PyConfig_InitPythonConfig(&c);
        st = Py_InitializeFromConfig(&c);
        PyConfig_Clear(&c);
    }
    if (PyStatus_Exception(st)) {
        ep_runtime_free(ep);
        return ep_error(EMBPROF_EPYTHON, "Py_InitializeFromConfig: %s%s%s",
                        st.func ? st.func : "", st.func ? ": " : "",
                        st.err_msg ? st.err_msg : "exit requested");
    }
    rc = ep_py_layout_check();
    if (rc != EMBPROF_OK) {
        ep_runtime_free(ep);
        return rc;
    }
    ep->owns_python = true;
    ep->main_tstate = PyThreadState_Get();
    rc = common_start(ep);
    if (rc != EMBPROF_OK) {
        char detail[512];

        snprintf(detail, sizeof(detail), "%s", embprof_last_error());
        ep_log(EP_LOG_ERROR, "init: %s", detail);
        ep_control_stop(ep->control);
        ep_embed_current = NULL;
        if (!ep->control_stuck) {
            ep_runtime_free(ep);
        }
        return ep_error(rc, "%s", detail);
    }
    *out = ep;
    return EMBPROF_OK;
}

EMBPROF_API int
embprof_attach(const embprof_config *cfg, embprof **out)
{
    struct embprof *ep;
    PyObject *mod, *modules;
    int rc;

    ep_error_clear();
    if (out == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_attach: out is NULL");
    }
    *out = NULL;
    if (ep_embed_current != NULL) {
        return ep_error(EMBPROF_ESTATE,
                        "embprof is already initialised in this process");
    }
    if (!Py_IsInitialized() || !PyGILState_Check()) {
        return ep_error(EMBPROF_ESTATE,
                        "embprof_attach: Python must be initialised and "
                        "the caller must hold the GIL");
    }
    rc = ep_py_layout_check();
    if (rc != EMBPROF_OK) {
        return rc;
    }
    rc = ep_runtime_new(cfg, &ep);
    if (rc != EMBPROF_OK) {
        return rc;
    }
    mod = ep_pymodule_init();
    modules = PyImport_GetModuleDict();
    if (mod == NULL || PyDict_SetItemString(modules, "embprof", mod) != 0) {
        Py_XDECREF(mod);
        PyErr_Clear();
        ep_runtime_free(ep);
        return ep_error(EMBPROF_EPYTHON,
                        "cannot add the embprof module to sys.modules");
    }
    Py_DECREF(mod);
    ep->owns_python = false;
    rc = common_start(ep);
    if (rc != EMBPROF_OK) {
        ep_control_stop(ep->control);
        ep_embed_current = NULL;
        if (!ep->control_stuck) {
            ep_runtime_free(ep);
        }
        return rc;
    }
    *out = ep;
    return EMBPROF_OK;
}

static _Atomic int ep_shutdown_done;

int
ep_embed_shutdown(struct embprof *ep)
{
    int expected = 0;

    ep->finalizing = true;
    if (!atomic_compare_exchange_strong(&ep_shutdown_done, &expected, 1)) {
        if (ep->flush_rc != EMBPROF_OK) {
            ep_error(ep->flush_rc, "%s", ep->flush_error);
        }
        return ep->flush_rc;
    }
    /* The control thread goes first: no request may start a probe again
     * while we stop them, and the socket is gone before Python is. */
    ep_control_stop(ep->control);
    ep_ctl_stop_all(ep);
    ep->flush_rc = ep_ctl_flush(ep);
    if (ep->flush_rc != EMBPROF_OK) {
        snprintf(ep->flush_error, sizeof(ep->flush_error), "%s",
                 embprof_last_error());
    }
    return ep->flush_rc;
}

EMBPROF_API int
embprof_finalize(embprof *ep)
{
    int rc, prc = 0;

    if (ep == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_finalize: ep is NULL");
    }
    ep_error_clear();
    rc = ep_embed_shutdown(ep);
    if (ep->owns_python && Py_IsInitialized()) {
        if (!PyGILState_Check() && ep->main_tstate != NULL) {
            PyEval_RestoreThread((PyThreadState *)ep->main_tstate);
        }
        prc = Py_FinalizeEx();
    }
    ep_embed_current = NULL;
    atomic_store(&ep_shutdown_done, 0);
    if (!ep->control_stuck) {
        ep_runtime_free(ep);
        ep_names_clear();
    } /* else the control thread still uses both: leaked on purpose */
    if (rc == EMBPROF_OK && prc < 0) {
        rc = ep_error(EMBPROF_EPYTHON,
                      "Py_FinalizeEx failed to flush buffered data");
    }
    return rc;
}

/* --- probes ------------------------------------------------------------ */

/* Python thread names are current for what follows if the caller holds
 * the GIL; otherwise a refresh is scheduled. */
static void
names_now(struct embprof *ep)
{
    if (!ep->finalizing && Py_IsInitialized() && PyGILState_Check()) {
        ep_embed_collect_names();
    }
}

EMBPROF_API int
embprof_start(embprof *ep, const char *probe, const char *options)
{
    if (ep == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_start: ep is NULL");
    }
    ep_error_clear();
    names_now(ep);
    return ep_ctl_start(ep, probe, options);
}

EMBPROF_API int
embprof_stop(embprof *ep, const char *probe)
{
    if (ep == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_stop: ep is NULL");
    }
    ep_error_clear();
    names_now(ep);
    return ep_ctl_stop(ep, probe);
}

EMBPROF_API int
embprof_export(embprof *ep, const char *format, const char *path)
{
    if (ep == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_export: ep is NULL");
    }
    ep_error_clear();
    names_now(ep);
    return ep_ctl_export(ep, format, path);
}

EMBPROF_API int
embprof_reset(embprof *ep)
{
    if (ep == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_reset: ep is NULL");
    }
    return ep_ctl_reset(ep);
}

EMBPROF_API int
embprof_active(embprof *ep, const char *probe)
{
    if (ep == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_active: ep is NULL");
    }
    return ep_ctl_active(ep, probe);
}

EMBPROF_API int
embprof_get_stats(embprof *ep, embprof_stats *out)
{
    if (ep == NULL || out == NULL) {
        return ep_error(EMBPROF_EINVAL, "embprof_get_stats: NULL argument");
    }
    ep_ctl_stats(ep, out);
    return EMBPROF_OK;
}

/* --- host threads ------------------------------------------------------ */

EMBPROF_API void
embprof_thread_name(const char *name)
{
    char mine[32], proc[32];

    if (name == NULL || name[0] == '\0') {
        return;
    }
    ep_names_set(ep_gettid(), (uint64_t)pthread_self(), name, true);
    /* Give the OS thread the name too if it only has the process's. */
    if (ep_names_os(ep_gettid(), mine, sizeof(mine)) &&
        ep_names_os(getpid(), proc, sizeof(proc)) && strcmp(mine, proc) == 0 &&
        ep_gettid() != getpid()) {
        char os[16];

        snprintf(os, sizeof(os), "%s", name);
        pthread_setname_np(pthread_self(), os);
    }
}

EMBPROF_API PyGILState_STATE
embprof_gil_ensure(embprof *ep, const char *site)
{
    static _Thread_local bool registered;

    (void)ep;
    /* Read by the GIL probe's hook if this thread waits in Ensure. */
    ep_gil_set_site(site);
    if (!registered) {
        /* A host thread: it reaches Python through the GIL helpers. Its
         * OS name stands in only if the host gave it no name: the main
         * thread keeps the process's OS name after embprof_thread_name. */
        char name[64];
        bool host;

        if (!ep_names_get(ep_gettid(), (uint64_t)pthread_self(), name,
                          sizeof(name), &host) &&
            ep_names_os(ep_gettid(), name, sizeof(name))) {
            ep_names_set(ep_gettid(), (uint64_t)pthread_self(), name, true);
        }
        registered = true;
    }
    return PyGILState_Ensure();
}

EMBPROF_API void
embprof_gil_release(embprof *ep, PyGILState_STATE state)
{
    (void)ep;
    PyGILState_Release(state);
    ep_gil_set_site(NULL);
}

EMBPROF_API void
embprof_observe(embprof *ep, const char *name, double value)
{
    if (ep == NULL || name == NULL) {
        return;
    }
    ep_obsq_push(&ep->obs, name, value, ep_clock_now_ns());
}

EMBPROF_API embprof_span
embprof_span_begin(embprof *ep, const char *name)
{
    embprof_span span;

    span.name = name;
    span.start_ns = ep != NULL && name != NULL ? ep_clock_now_ns() : 0;
    return span;
}

EMBPROF_API void
embprof_span_end(embprof *ep, embprof_span span)
{
    uint64_t now;

    if (ep == NULL || span.name == NULL || span.start_ns == 0) {
        return;
    }
    now = ep_clock_now_ns();
    /* One clock read for both the duration and the observation's time. */
    ep_obsq_push(
        &ep->obs, span.name,
        now > span.start_ns ? (double)(now - span.start_ns) / 1e6 : 0.0, now);
}

static char ep_version_buf[256];

static void
init_version(void)
{
    Dl_info info;
    const char *lib = "statically linked";

    /* Which libpython this process runs: the object Py_Initialize is in
     * (the executable itself when libpython is linked statically). */
    if (dladdr((void *)&Py_Initialize, &info) != 0 && info.dli_fname != NULL) {
        const char *slash = strrchr(info.dli_fname, '/');

        lib = slash ? slash + 1 : info.dli_fname;
        if (strstr(lib, "libpython") == NULL) {
            lib = "statically linked";
        }
    }
    snprintf(ep_version_buf, sizeof(ep_version_buf), "%s (CPython %s, %s)",
             EMBPROF_VERSION_STRING, PY_VERSION, lib);
}

EMBPROF_API const char *
embprof_version(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, init_version);
    return ep_version_buf;
}

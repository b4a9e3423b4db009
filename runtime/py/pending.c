/*
 * pending.c -- see pending.h.
 */
#include <Python.h>

#include "pending.h"

#if PY_VERSION_HEX < 0x030C0000
/* Exported by libpython 3.10 and 3.11 (nm -D), declared only in the
 * internal headers. */
extern int _PyEval_AddPendingCall(PyInterpreterState *interp,
                                  int (*func)(void *), void *arg);
#endif

int
ep_py_add_pending_call(int (*func)(void *), void *arg)
{
#if PY_VERSION_HEX < 0x030C0000
    PyInterpreterState *main = PyInterpreterState_Main();

    return main != NULL ? _PyEval_AddPendingCall(main, func, arg) : -1;
#else
    return Py_AddPendingCall(func, arg);
#endif
}

/*
 * pending.h -- Py_AddPendingCall that is safe from a thread without the
 * GIL on every supported CPython.
 *
 * On 3.10 and 3.11 Py_AddPendingCall reads the GIL holder's thread state
 * (a process-wide pointer) to find the interpreter and dereferences it:
 * from a thread without the GIL that races with the holder deleting its
 * state (a crash seen in test_gil_stress). There we queue on the main
 * interpreter directly; 3.12+ reads the caller's own thread state, which
 * is NULL for such a thread, and falls back to the main interpreter.
 */
#ifndef EP_PY_PENDING_H
#define EP_PY_PENDING_H

/* Queues func(arg) to run on the main thread with the GIL. Any thread,
 * with or without the GIL; never blocks for long (a short internal lock).
 * Returns 0, or -1 if the queue is full. Python must be initialised. */
int ep_py_add_pending_call(int (*func)(void *), void *arg);

#endif

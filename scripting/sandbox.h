/*
 * sandbox.h -- one Lua 5.4 state with the limits a policy runs under:
 *
 *   - memory: a custom allocator refuses to grow past max_memory bytes
 *     (Lua then raises "not enough memory" after an emergency GC);
 *   - instructions: a count hook charges every EP_SANDBOX_QUANTUM VM
 *     instructions against a per-call budget (max_instructions), and
 *     checks a wall-clock limit (max_call_ms) at the same moments. A call
 *     that runs out is *killed*: from then on the hook fires at every
 *     instruction and raises again, so `pcall` inside the script cannot
 *     swallow the error and carry on;
 *   - libraries: base (without dofile, loadfile; `load` takes text chunks
 *     only; `collectgarbage` only "count"; `print` goes to embprof's log;
 *     `setmetatable` refuses __gc, whose finalizers would run with hooks
 *     off), string (without dump), table, math, utf8, and os.clock,
 *     os.time, os.date. No io, debug, package/require, coroutine;
 *     naming them raises "... is not available in a policy";
 *   - the string metatable is protected (`getmetatable("")` is false) and
 *     its __index is a private copy of the string library, so a policy
 *     cannot change what methods on strings do;
 *   - text chunks only, for the policy file and for `load`.
 *
 * Known limit: a C function runs to completion before the hook can fire,
 * so a pathological string pattern (backtracking over a long subject) can
 * hold the control thread; host threads never wait for it, and finalize
 * waits for it at most EP_CONTROL_STOP_S seconds (control.h).
 *
 * Control thread only (or the init thread before it starts).
 */
#ifndef EP_SANDBOX_H
#define EP_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#define EP_SANDBOX_QUANTUM 1000 /* instructions between hook calls */

typedef struct ep_sandbox {
    lua_State *L;
    void *owner; /* the policy that runs in it (ep_script) */
    /* memory */
    size_t used, limit, peak;
    uint64_t denied; /* allocations refused */
    /* the running call */
    int64_t budget;        /* instructions per call */
    int64_t left;          /* what the running call has left */
    uint64_t max_ns;       /* wall-clock limit per call; 0: none */
    uint64_t deadline;     /* monotonic ns */
    bool killed;           /* ran out: every hook raises */
    char kill_why[160];    /* what it ran out of */
    uint64_t kills;        /* calls killed since open */
    uint64_t instructions; /* charged since open, in quanta */
} ep_sandbox;

/* Opens a sandboxed state. Returns EMBPROF_OK or EMBPROF_ENOMEM (the
 * libraries alone did not fit in max_memory). */
int ep_sandbox_open(ep_sandbox *sb, size_t max_memory,
                    int64_t max_instructions, double max_call_ms);
/* Closes the state (all its memory). */
void ep_sandbox_close(ep_sandbox *sb);
/* The sandbox of a state (of any of its threads). */
ep_sandbox *ep_sandbox_of(lua_State *L);

/* Compiles a text chunk (binary chunks are refused) named chunkname
 * ("@file.lua") and pushes it. On failure returns a negative status and
 * writes one line ("file.lua:3: ... near ...") into err. */
int ep_sandbox_load(ep_sandbox *sb, const char *buf, size_t len,
                    const char *chunkname, char *err, size_t errsize);
/* The arguments on L's stack as print shows them, joined by blanks; pushes
 * the result and returns it (valid while it stays on the stack). */
const char *ep_sandbox_join_args(lua_State *L);
/* Calls the function below its nargs arguments on the stack with a fresh
 * budget, dropping its results. On failure returns a negative status and
 * writes one line, with file and line where Lua knows them, into err. */
int ep_sandbox_call(ep_sandbox *sb, int nargs, char *err, size_t errsize);

#endif

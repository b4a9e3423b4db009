/*
 * policy.h -- the Lua policy engine (docs/POLICIES.md): one sandboxed Lua
 * state on the control thread, driven by a libevent timer on the control
 * thread's event base. Every policy.period_ms the timer drains the
 * observation queue into the policy's windows and `on` rules, then runs
 * the `every`/`after` timers that are due. Actions go through the same
 * controller (ep_ctl_*) as every other front end.
 *
 * One policy is active at a time. Loading (or reloading) builds a new
 * state and runs the file's main chunk in it; only when that succeeds
 * does it replace the old one, so a broken file never leaves the host
 * without its policy.
 *
 * Created by the init thread before the control thread starts, then the
 * control thread's alone; freed after that thread was joined.
 */
#ifndef EP_POLICY_H
#define EP_POLICY_H

#include <stdio.h>

struct embprof;
struct event_base;
typedef struct ep_policy ep_policy;

/* Creates the engine (no policy loaded, timer idle). Reads the policy.*
 * settings once. */
int ep_policy_new(struct embprof *ep, struct event_base *base,
                  ep_policy **out);
/* Frees the engine and its Lua state. NULL is a no-op. */
void ep_policy_free(ep_policy *p);
/* Loads path as the active policy. On failure (unreadable, syntax error,
 * an error in the main chunk, a limit) the previous policy stays active,
 * the error goes to the log and the event stream, and the returned status
 * comes with embprof_last_error() as "file.lua:LINE: ...". */
int ep_policy_load(ep_policy *p, const char *path);
/* Loads the active policy's file again (same rules as ep_policy_load).
 * EMBPROF_ESTATE if none was loaded. */
int ep_policy_reload(ep_policy *p);
/* Disables the rule called name ("*": every rule). EMBPROF_ENOTFOUND if
 * there is none. */
int ep_policy_disable(ep_policy *p, const char *name);
/* Writes the engine's state as one JSON object: file, loaded, memory,
 * rules (name, kind, metric or period, enabled, calls, errors, failures,
 * last_error), windows, counters. */
void ep_policy_describe(ep_policy *p, FILE *out);
/* policy.dir: the directory `policy load` through the socket is confined
 * to ("": anywhere the host can read). */
const char *ep_policy_dir(const ep_policy *p);

#endif

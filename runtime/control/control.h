/*
 * control.h -- the control socket: its own thread ("embprof-control")
 * running a libevent event_base, a Unix socket (mode 0600, same-uid peers
 * by default) and an optional loopback TCP listener guarded by a token.
 * Requests go through the same controller as every other front end
 * (runtime.h). The thread never calls Python. Protocol: docs/PROTOCOL.md.
 */
#ifndef EP_CONTROL_H
#define EP_CONTROL_H

struct embprof;
typedef struct ep_control ep_control;

/* Starts the server if control.socket or control.listen is set (else
 * *out = NULL and EMBPROF_OK); on success ep->control and ep->on_event
 * point at it. Errors name the setting: a live socket, a path too long,
 * a missing directory, a non-loopback address, a missing token file.
 * Init thread; ep's config is not changing. */
int ep_control_start(struct embprof *ep, ep_control **out);
/* Stops the thread (joined), closes every connection, unlinks the socket
 * it created, frees c and clears ep->control. NULL is a no-op. Any thread
 * but the control thread; must not hold ctl_lock.
 *
 * The join waits at most EP_CONTROL_STOP_S seconds: a policy callback can
 * sit in one C call the instruction budget cannot interrupt (a Lua
 * pattern that backtracks over a long string), and the host's exit must
 * not wait for it. Then the thread is detached and left to finish on its
 * own, c is not freed, and ep->control_stuck is set: the runtime must
 * then be leaked, not freed, for the thread still uses it. */
#define EP_CONTROL_STOP_S 5
void ep_control_stop(ep_control *c);
/* In a fork child: the control thread did not survive. Closes the
 * inherited listening and client sockets (without touching libevent,
 * whose locks may be held by the gone thread) and forgets c without
 * freeing it; the socket file stays the parent's. Child, single-threaded. */
void ep_control_after_fork(ep_control *c);

#endif

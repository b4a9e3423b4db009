/*
 * control.h -- the control socket: its own thread running a libevent
 * event_base, a Unix socket (mode 0600, same-uid peers by default) and an
 * optional loopback TCP listener guarded by a token. Requests go through
 * the same controller as every other front end (runtime.h). Protocol:
 * docs/PROTOCOL.md.
 */
#ifndef EP_CONTROL_H
#define EP_CONTROL_H

struct embprof;
typedef struct ep_control ep_control;

/* Starts the server if control.socket or control.listen is set (else
 * *out = NULL and EMBPROF_OK). Clear errors for a live socket, a bad
 * path, a non-loopback address. Init thread. */
int ep_control_start(struct embprof *ep, ep_control **out);
/* Stops the thread, closes every connection, unlinks the socket. NULL is
 * a no-op. Init/finalize thread. */
void ep_control_stop(ep_control *c);

#endif

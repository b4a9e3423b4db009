/*
 * error.h -- status codes and the thread-local detail of the last failure.
 *
 * Every failing internal function sets the detail with ep_error() and
 * returns the negative status, so the public entry points only pass the
 * status through. Hot paths never call ep_error(): they count.
 */
#ifndef EP_ERROR_H
#define EP_ERROR_H

#include <stdarg.h>

#include "embprof.h"

/* Sets the calling thread's last-error text and returns status. printf-like.
 * Any thread; preserves errno. */
int ep_error(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Clears the calling thread's last-error text. */
void ep_error_clear(void);
/* The status name, e.g. "EINVAL". */
const char *ep_error_name(int status);

#endif

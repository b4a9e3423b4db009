/*
 * error.c -- embprof_strerror, embprof_last_error and the thread-local
 * detail buffer behind them. The messages come from the one status list in
 * include/embprof.h.
 */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char ep_last_error[512];

int
ep_error(int status, const char *fmt, ...)
{
    int saved = errno;
    char buf[sizeof(ep_last_error)];
    va_list ap;

    /* Through a copy: callers may pass embprof_last_error() itself as an
     * argument ("context: %s"), and vsnprintf must not read what it
     * writes. */
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    memcpy(ep_last_error, buf, sizeof(buf));
    errno = saved;
    return status;
}

void
ep_error_clear(void)
{
    ep_last_error[0] = '\0';
}

const char *
ep_error_name(int status)
{
    switch (status) {
#define EP_X_NAME(name, num, msg)                                             \
    case (num):                                                               \
        return #name;
        EMBPROF_STATUS_LIST(EP_X_NAME)
#undef EP_X_NAME
    default:
        return "EUNKNOWN";
    }
}

EMBPROF_API const char *
embprof_strerror(int status)
{
    switch (status) {
#define EP_X_MSG(name, num, msg)                                              \
    case (num):                                                               \
        return msg;
        EMBPROF_STATUS_LIST(EP_X_MSG)
#undef EP_X_MSG
    default:
        return "unknown status";
    }
}

EMBPROF_API const char *
embprof_last_error(void)
{
    return ep_last_error;
}

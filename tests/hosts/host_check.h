/* Tiny assertion helpers for the test hosts: print the failing expression
 * and embprof_last_error(), then exit 1. */
#ifndef HOST_CHECK_H
#define HOST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n",     \
                    __FILE__, __LINE__, #cond, embprof_last_error());         \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

#define CHECK_RC(expr, want)                                                  \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        if (rc_ != (want)) {                                                  \
            fprintf(stderr, "%s:%d: %s returned %d (%s), wanted %d: %s\n",    \
                    __FILE__, __LINE__, #expr, rc_, embprof_strerror(rc_),    \
                    (want), embprof_last_error());                            \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

#endif

/*
 * log.c -- one line per message, written with a single fputs so lines from
 * different threads do not interleave.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int ep_log_level = EP_LOG_WARN;
static FILE *ep_log_fp; /* NULL: stderr; guarded by ep_log_lock */
static pthread_mutex_t ep_log_lock = PTHREAD_MUTEX_INITIALIZER;

int
ep_log_configure(int level, const char *path)
{
    int rc = 0;

    atomic_store(&ep_log_level, level);
    pthread_mutex_lock(&ep_log_lock);
    if (ep_log_fp != NULL) {
        fclose(ep_log_fp);
        ep_log_fp = NULL;
    }
    if (path != NULL && path[0] != '\0') {
        ep_log_fp = fopen(path, "ae");
        if (ep_log_fp == NULL) {
            rc = -1;
        } else {
            setvbuf(ep_log_fp, NULL, _IOLBF, 0);
        }
    }
    pthread_mutex_unlock(&ep_log_lock);
    return rc;
}

void
ep_log_close(void)
{
    pthread_mutex_lock(&ep_log_lock);
    if (ep_log_fp != NULL) {
        fclose(ep_log_fp);
        ep_log_fp = NULL;
    }
    pthread_mutex_unlock(&ep_log_lock);
}

void
ep_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"", "error", "warn", "info", "debug"};
    char line[1024];
    int saved = errno;
    int n;
    va_list ap;

    if (level > atomic_load(&ep_log_level) || level <= EP_LOG_QUIET) {
        return;
    }
    n = snprintf(line, sizeof(line), "embprof: %s: ", names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = (int)strnlen(line, sizeof(line) - 2);
    line[n] = '\n';
    line[n + 1] = '\0';
    pthread_mutex_lock(&ep_log_lock);
    fputs(line, ep_log_fp ? ep_log_fp : stderr);
    pthread_mutex_unlock(&ep_log_lock);
    errno = saved;
}

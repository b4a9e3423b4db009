/*
 * log.h -- embprof's own log lines ("embprof: warn: ..."), to standard
 * error or log.file. Never used on hot paths.
 */
#ifndef EP_LOG_H
#define EP_LOG_H

enum { EP_LOG_QUIET, EP_LOG_ERROR, EP_LOG_WARN, EP_LOG_INFO, EP_LOG_DEBUG };

/* Sets the level and destination (path NULL or "": standard error).
 * Returns 0, or -1 if the file cannot be opened (standard error is kept). */
int ep_log_configure(int level, const char *path);
/* Closes log.file if one is open. */
void ep_log_close(void);
/* Logs one line at level. Any thread. */
void ep_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

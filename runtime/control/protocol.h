/*
 * protocol.h -- the control socket's wire format: one request per line,
 * `COMMAND [ARG ...] [key=value ...]` with shell-like quotes, and one JSON
 * object per reply line. Pure functions, no I/O: unit-tested alone.
 */
#ifndef EP_CONTROL_PROTOCOL_H
#define EP_CONTROL_PROTOCOL_H

#include <stddef.h>
#include <stdio.h>

#define EP_PROTO_MAX_ARGS 32

typedef struct ep_request {
    char *argv[EP_PROTO_MAX_ARGS]; /* words, quotes removed */
    int argc;
    char buf[8192];                /* storage for argv (control.max_line <= 8000) */
} ep_request;

/* Splits line (without its newline) into req. Double and single quotes
 * group words; backslash escapes inside double quotes. Returns 0, or -1
 * with *why set (unbalanced quote, too many words, too long, NUL or
 * control characters). */
int ep_proto_parse(const char *line, size_t len, ep_request *req,
                   const char **why);
/* The value of key=value among argv[from..], or NULL. */
const char *ep_proto_kv(const ep_request *req, int from, const char *key);

/* JSON reply builder over a memory stream. */
typedef struct ep_reply {
    FILE *f;
    char *buf;
    size_t len;
    int fields;   /* fields written at the current level */
} ep_reply;

int ep_reply_begin(ep_reply *r, int ok);
void ep_reply_str(ep_reply *r, const char *key, const char *val);
void ep_reply_int(ep_reply *r, const char *key, long long val);
void ep_reply_num(ep_reply *r, const char *key, double val);
void ep_reply_bool(ep_reply *r, const char *key, int val);
/* Writes "key": then raw JSON text the caller formats. */
void ep_reply_raw(ep_reply *r, const char *key, const char *json);
/* Ends the object, adds '\n'; the caller owns r->buf (r->len bytes). */
int ep_reply_end(ep_reply *r);
/* A whole error reply line; caller frees. */
char *ep_reply_error(const char *code, const char *message, size_t *len);

#endif

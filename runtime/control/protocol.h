/*
 * protocol.h -- the control socket's wire format: one request per line,
 * `COMMAND [ARG ...] [key=value ...]` with shell-like quotes, and one JSON
 * object per reply line. Also the confinement of export paths to
 * output.dir. Pure functions over memory and the file system, no sockets:
 * unit-tested alone (tests/control/test_protocol.c) and fuzzed
 * (tests/control/fuzz_protocol.c).
 */
#ifndef EP_CONTROL_PROTOCOL_H
#define EP_CONTROL_PROTOCOL_H

#include <stddef.h>
#include <stdio.h>

#define EP_PROTO_MAX_ARGS 32
/* The longest request line the parser takes (control.max_line's maximum
 * is below it). */
#define EP_PROTO_MAX_LINE 8191

typedef struct ep_request {
    char *argv[EP_PROTO_MAX_ARGS]; /* words, quotes removed; point in buf */
    int argc;
    char buf[EP_PROTO_MAX_LINE + 1];
} ep_request;

/* Splits line (len bytes, without its newline) into req. Words are
 * separated by spaces or tabs; double or single quotes group a word;
 * inside double quotes a backslash escapes the next byte. The line must
 * be UTF-8 with no control characters other than tab (so no NUL).
 * Returns 0, or -1 with *why set to a static reason: "unbalanced quotes",
 * "too many words", "line too long", "control character in request",
 * "request is not valid UTF-8". Any thread; req is the caller's. */
int ep_proto_parse(const char *line, size_t len, ep_request *req,
                   const char **why);
/* The value of the first key=value word among argv[from..], or NULL.
 * Borrowed from req. */
const char *ep_proto_kv(const ep_request *req, int from, const char *key);

/* Writes s as a JSON string with quotes. Invalid UTF-8 becomes U+FFFD, so
 * a reply is valid JSON whatever bytes a file name or a message holds. */
void ep_proto_json_str(FILE *out, const char *s);

/* JSON reply builder over a memory stream. One object per reply; fields
 * are appended in order. Control thread (or any single thread). */
typedef struct ep_reply {
    FILE *f;
    char *buf; /* owned by the caller after ep_reply_end */
    size_t len;
} ep_reply;

/* Starts {"ok":true or false. Returns 0 or -1 (no memory). */
int ep_reply_begin(ep_reply *r, int ok);
void ep_reply_str(ep_reply *r, const char *key, const char *val);
void ep_reply_int(ep_reply *r, const char *key, long long val);
void ep_reply_num(ep_reply *r, const char *key, double val);
void ep_reply_bool(ep_reply *r, const char *key, int val);
/* Writes "key": then raw JSON text the caller formatted. */
void ep_reply_raw(ep_reply *r, const char *key, const char *json);
/* Ends the object and adds '\n'. Returns 0 (the caller owns r->buf,
 * r->len bytes) or -1 (no memory; nothing to free). */
int ep_reply_end(ep_reply *r);
/* Drops a reply that was begun but not ended. */
void ep_reply_abort(ep_reply *r);
/* A whole error reply line, {"ok":false,"error":message,"code":code}\n.
 * Caller frees; NULL if out of memory. */
char *ep_reply_error(const char *code, const char *message, size_t *len);

/* Resolves an export path against root (output.dir; "" means the
 * working directory) so that the file can only land inside root:
 *   - a relative path is taken under root, an absolute one must already
 *     point inside it;
 *   - no ".." component, no empty final name;
 *   - the directory part is resolved with realpath(), so a symbolic link
 *     cannot lead outside root either (the final name itself is replaced
 *     by rename(), never followed).
 * On success writes the absolute, resolved path into out and returns 0.
 * Returns EP_CONFINE_FORBIDDEN (positive) when the path leaves root, or a
 * negative status with ep_error() set (root or the directory missing, a
 * path too long). Any thread. */
#define EP_CONFINE_FORBIDDEN 1
int ep_proto_confine(const char *root, const char *path, char *out,
                     size_t size);

#endif

/*
 * protocol.c -- request parsing and JSON reply writing.
 */
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

#include "../export/export.h"

int
ep_proto_parse(const char *line, size_t len, ep_request *req,
               const char **why)
{
    size_t i = 0, o = 0;

    req->argc = 0;
    if (len >= sizeof(req->buf)) {
        *why = "line too long";
        return -1;
    }
    while (i < len) {
        char quote = 0;

        while (i < len && (line[i] == ' ' || line[i] == '\t')) {
            i++;
        }
        if (i == len) {
            break;
        }
        if (req->argc == EP_PROTO_MAX_ARGS) {
            *why = "too many words";
            return -1;
        }
        req->argv[req->argc++] = req->buf + o;
        while (i < len && (quote || (line[i] != ' ' && line[i] != '\t'))) {
            unsigned char c = (unsigned char)line[i++];

            if (c < 0x20 && c != '\t') {
                *why = "control character in request";
                return -1;
            }
            if (quote == 0 && (c == '"' || c == '\'')) {
                quote = (char)c;
            } else if (quote != 0 && c == (unsigned char)quote) {
                quote = 0;
            } else if (quote == '"' && c == '\\' && i < len) {
                req->buf[o++] = line[i++];
            } else {
                req->buf[o++] = (char)c;
            }
        }
        if (quote != 0) {
            *why = "unbalanced quotes";
            return -1;
        }
        req->buf[o++] = '\0';
    }
    return 0;
}

const char *
ep_proto_kv(const ep_request *req, int from, const char *key)
{
    size_t n = strlen(key);

    for (int i = from; i < req->argc; i++) {
        if (strncmp(req->argv[i], key, n) == 0 && req->argv[i][n] == '=') {
            return req->argv[i] + n + 1;
        }
    }
    return NULL;
}

int
ep_reply_begin(ep_reply *r, int ok)
{
    r->buf = NULL;
    r->len = 0;
    r->fields = 1;
    r->f = open_memstream(&r->buf, &r->len);
    if (r->f == NULL) {
        return -1;
    }
    fprintf(r->f, "{\"ok\":%s", ok ? "true" : "false");
    return 0;
}

static void
key(ep_reply *r, const char *k)
{
    fputc(',', r->f);
    ep_json_string(r->f, k);
    fputc(':', r->f);
    r->fields++;
}

void
ep_reply_str(ep_reply *r, const char *k, const char *val)
{
    key(r, k);
    ep_json_string(r->f, val ? val : "");
}

void
ep_reply_int(ep_reply *r, const char *k, long long val)
{
    key(r, k);
    fprintf(r->f, "%lld", val);
}

void
ep_reply_num(ep_reply *r, const char *k, double val)
{
    key(r, k);
    fprintf(r->f, "%.6g", val);
}

void
ep_reply_bool(ep_reply *r, const char *k, int val)
{
    key(r, k);
    fputs(val ? "true" : "false", r->f);
}

void
ep_reply_raw(ep_reply *r, const char *k, const char *json)
{
    key(r, k);
    fputs(json, r->f);
}

int
ep_reply_end(ep_reply *r)
{
    fputs("}\n", r->f);
    if (fclose(r->f) != 0) {
        free(r->buf);
        r->buf = NULL;
        return -1;
    }
    return 0;
}

char *
ep_reply_error(const char *code, const char *message, size_t *len)
{
    ep_reply r;

    if (ep_reply_begin(&r, 0) != 0) {
        return NULL;
    }
    ep_reply_str(&r, "error", message);
    ep_reply_str(&r, "code", code);
    if (ep_reply_end(&r) != 0) {
        return NULL;
    }
    *len = r.len;
    return r.buf;
}

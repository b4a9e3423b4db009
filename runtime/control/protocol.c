/*
 * protocol.c -- request parsing, JSON reply writing, export-path
 * confinement. See protocol.h.
 */
#include "protocol.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../error.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if the
 * bytes there are not one (overlong forms, surrogates and code points
 * past U+10FFFF are not). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    unsigned int cp;
    size_t len;

    if (s[0] < 0x80) {
        return 1;
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return len;
}

int
ep_proto_parse(const char *line, size_t len, ep_request *req, const char **why)
{
    const unsigned char *in = (const unsigned char *)line;
    size_t i = 0, o = 0;

    req->argc = 0;
    if (len > EP_PROTO_MAX_LINE) {
        *why = "line too long";
        return -1;
    }
    /* The whole line first: no control bytes (NUL included), UTF-8 only,
     * so nothing odd reaches a handler or is echoed into a reply. */
    while (i < len) {
        size_t n = utf8_len(in + i, len - i);

        if (n == 0) {
            *why = "request is not valid UTF-8";
            return -1;
        }
        if (n == 1 && ((in[i] < 0x20 && in[i] != '\t') || in[i] == 0x7f)) {
            *why = "control character in request";
            return -1;
        }
        i += n;
    }
    i = 0;
    while (i < len) {
        char quote = 0;

        while (i < len && (in[i] == ' ' || in[i] == '\t')) {
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
        while (i < len && (quote || (in[i] != ' ' && in[i] != '\t'))) {
            unsigned char c = in[i++];

            if (quote == 0 && (c == '"' || c == '\'')) {
                quote = (char)c;
            } else if (quote != 0 && c == (unsigned char)quote) {
                quote = 0;
            } else if (quote == '"' && c == '\\' && i < len) {
                req->buf[o++] = (char)in[i++];
            } else {
                req->buf[o++] = (char)c;
            }
        }
        if (quote != 0) {
            *why = "unbalanced quotes";
            return -1;
        }
        /* Each word shrinks or keeps its length and at least one
         * separator or the end follows it, so o <= len + 1 <= sizeof buf. */
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

void
ep_proto_json_str(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const unsigned char *run = p; /* plain bytes not yet written */
    size_t left = strlen((const char *)p);

    fputc('"', out);
    while (left > 0) {
        size_t n = 1;

        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
            p++; /* the common case: written later, in one piece */
            left--;
            continue;
        }
        if (p > run) {
            fwrite(run, 1, (size_t)(p - run), out);
        }
        if (*p >= 0x80) {
            n = utf8_len(p, left);
            if (n == 0) {
                fputs("\xef\xbf\xbd", out); /* U+FFFD for one bad byte */
                n = 1;
            } else {
                fwrite(p, 1, n, out);
            }
        } else if (*p == '"' || *p == '\\') {
            fputc('\\', out);
            fputc(*p, out);
        } else if (*p == '\n') {
            fputs("\\n", out);
        } else if (*p == '\r') {
            fputs("\\r", out);
        } else if (*p == '\t') {
            fputs("\\t", out);
        } else {
            fprintf(out, "\\u%04x", *p);
        }
        p += n;
        left -= n;
        run = p;
    }
    if (p > run) {
        fwrite(run, 1, (size_t)(p - run), out);
    }
    fputc('"', out);
}

int
ep_reply_begin(ep_reply *r, int ok)
{
    r->buf = NULL;
    r->len = 0;
    r->f = open_memstream(&r->buf, &r->len);
    if (r->f == NULL) {
        return -1;
    }
    fprintf(r->f, "{\"ok\":%s", ok ? "true" : "false");
    return 0;
}

static void
reply_key(ep_reply *r, const char *k)
{
    fputc(',', r->f);
    ep_proto_json_str(r->f, k);
    fputc(':', r->f);
}

void
ep_reply_str(ep_reply *r, const char *k, const char *val)
{
    reply_key(r, k);
    ep_proto_json_str(r->f, val);
}

void
ep_reply_int(ep_reply *r, const char *k, long long val)
{
    reply_key(r, k);
    fprintf(r->f, "%lld", val);
}

void
ep_reply_num(ep_reply *r, const char *k, double val)
{
    reply_key(r, k);
    if (val != val || val > 1e300 || val < -1e300) {
        fputs("null", r->f); /* JSON has no NaN or infinity */
    } else {
        fprintf(r->f, "%.6f", val);
    }
}

void
ep_reply_bool(ep_reply *r, const char *k, int val)
{
    reply_key(r, k);
    fputs(val ? "true" : "false", r->f);
}

void
ep_reply_raw(ep_reply *r, const char *k, const char *json)
{
    reply_key(r, k);
    fputs(json, r->f);
}

int
ep_reply_end(ep_reply *r)
{
    int err;

    fputs("}\n", r->f);
    err = ferror(r->f);
    if (fclose(r->f) != 0 || err) {
        free(r->buf);
        r->buf = NULL;
        r->len = 0;
        return -1;
    }
    return 0;
}

void
ep_reply_abort(ep_reply *r)
{
    fclose(r->f);
    free(r->buf);
    r->buf = NULL;
    r->len = 0;
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

/* --- export paths ------------------------------------------------------- */

/* True if some '/'-separated component of path is exactly "..". */
static int
has_dotdot(const char *path)
{
    const char *p = path;

    while (*p != '\0') {
        size_t n = strcspn(p, "/");

        if (n == 2 && p[0] == '.' && p[1] == '.') {
            return 1;
        }
        p += n;
        while (*p == '/') {
            p++;
        }
    }
    return 0;
}

int
ep_proto_confine(const char *root, const char *path, char *out, size_t size)
{
    char real_root[PATH_MAX], real_parent[PATH_MAX];
    char target[2 * PATH_MAX + 2];
    const char *base;
    char *slash;
    size_t n;
    int w;

    if (realpath(root != NULL && root[0] != '\0' ? root : ".", real_root) ==
        NULL) {
        return ep_error(EMBPROF_EIO, "output.dir %s: %s",
                        root != NULL && root[0] != '\0' ? root : ".",
                        strerror(errno));
    }
    if (path == NULL || path[0] == '\0') {
        return ep_error(EMBPROF_EINVAL, "export: empty path");
    }
    if (strlen(path) >= PATH_MAX) {
        return ep_error(EMBPROF_EINVAL, "export: path too long");
    }
    if (has_dotdot(path)) {
        return EP_CONFINE_FORBIDDEN;
    }
    if (path[0] == '/') {
        snprintf(target, sizeof(target), "%s", path);
    } else {
        snprintf(target, sizeof(target), "%s/%s", real_root, path);
    }
    slash = strrchr(target, '/'); /* target is absolute: never NULL */
    base = slash + 1;
    if (base[0] == '\0' || strcmp(base, ".") == 0) {
        return ep_error(EMBPROF_EINVAL,
                        "export: \"%s\" names a directory, not a file", path);
    }
    *slash = '\0';
    if (realpath(target[0] != '\0' ? target : "/", real_parent) == NULL) {
        int err = errno;

        *slash = '/';
        if (path[0] == '/' && err == ENOENT) {
            return EP_CONFINE_FORBIDDEN; /* cannot be inside root either */
        }
        return ep_error(EMBPROF_EIO, "export: directory of %s: %s", path,
                        strerror(err));
    }
    n = strlen(real_root);
    if (strcmp(real_root, "/") != 0 &&
        (strncmp(real_parent, real_root, n) != 0 ||
         (real_parent[n] != '/' && real_parent[n] != '\0'))) {
        return EP_CONFINE_FORBIDDEN;
    }
    w = snprintf(out, size, "%s%s%s", real_parent,
                 strcmp(real_parent, "/") == 0 ? "" : "/", base);
    if (w < 0 || (size_t)w >= size) {
        return ep_error(EMBPROF_EINVAL, "export: path too long");
    }
    return 0;
}

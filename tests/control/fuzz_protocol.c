/* Fuzz target for the control protocol's request parser and reply
 * writer. Built as a libFuzzer target with clang (-DEMBPROF_FUZZ=ON), and
 * always as a bounded stand-alone run (fuzz_main.c) so that every build,
 * sanitized ones included, fuzzes it for a few seconds.
 *
 * Properties checked for any input: the parser never reads or writes out
 * of bounds (the sanitizers watch), either rejects the line with a reason
 * or returns words that lie inside the request buffer and contain no
 * control byte; and a reply built from any bytes is one line of valid
 * UTF-8 with no raw control characters. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True if s[0..n) is valid UTF-8 without control bytes but '\n' last. */
static int
valid_line(const unsigned char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || s[n - 1] != '\n') {
        return 0;
    }
    n--;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;

        if (len == 0 || i + len > n || (len == 1 && c < 0x20)) {
            return 0;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        i += len;
    }
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ep_request req;
    const char *why = NULL;
    char *copy;
    ep_reply r;

    if (ep_proto_parse((const char *)data, size, &req, &why) == 0) {
        if (req.argc < 0 || req.argc > EP_PROTO_MAX_ARGS) {
            abort();
        }
        for (int i = 0; i < req.argc; i++) {
            const char *w = req.argv[i];

            if (w < req.buf || w >= req.buf + sizeof(req.buf) ||
                strlen(w) > size) {
                abort();
            }
            for (const char *p = w; *p != '\0'; p++) {
                if ((unsigned char)*p < 0x20 && *p != '\t') {
                    abort();
                }
            }
        }
        (void)ep_proto_kv(&req, 1, "path");
    } else if (why == NULL) {
        abort();
    }
    /* Any bytes, as a reply field (file names, messages). */
    copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    copy[size] = '\0';
    if (ep_reply_begin(&r, 0) == 0) {
        ep_reply_str(&r, "error", copy);
        ep_reply_str(&r, copy, "code");
        if (ep_reply_end(&r) == 0) {
            if (!valid_line((const unsigned char *)r.buf, r.len) ||
                memchr(r.buf, '\n', r.len) != r.buf + r.len - 1) {
                abort();
            }
            free(r.buf);
        }
    }
    free(copy);
    return 0;
}

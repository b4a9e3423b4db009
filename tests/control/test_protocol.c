/* The control protocol's pure parts: the request parser, the JSON reply
 * writer and the confinement of export paths to output.dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embprof.h"
#include "control/protocol.h"

static ep_request req;

static int
parse(const char *s, const char **why)
{
    *why = NULL;
    return ep_proto_parse(s, strlen(s), &req, why);
}

static void
words_and_quotes(void **state)
{
    const char *why;

    (void)state;
    assert_int_equal(parse("start sampler rate=997  mode=cpu", &why), 0);
    assert_int_equal(req.argc, 4);
    assert_string_equal(req.argv[0], "start");
    assert_string_equal(req.argv[3], "mode=cpu");
    assert_string_equal(ep_proto_kv(&req, 2, "rate"), "997");
    assert_null(ep_proto_kv(&req, 2, "ra"));
    assert_null(ep_proto_kv(&req, 4, "mode"));
    assert_int_equal(
        parse("export collapsed path=\"my dir/a b.folded\"", &why), 0);
    assert_string_equal(ep_proto_kv(&req, 2, "path"), "my dir/a b.folded");
    assert_int_equal(parse("x 'single \"q\"' \"esc \\\" \\\\\"", &why), 0);
    assert_string_equal(req.argv[1], "single \"q\"");
    assert_string_equal(req.argv[2], "esc \" \\");
    /* single quotes keep backslashes; adjacent quoted parts join */
    assert_int_equal(parse("a 'b\\n'\"c d\"e", &why), 0);
    assert_int_equal(req.argc, 2);
    assert_string_equal(req.argv[1], "b\\nc de");
    assert_int_equal(parse("\t  ", &why), 0);
    assert_int_equal(req.argc, 0);
    assert_int_equal(parse("\"\" ''", &why), 0); /* empty words count */
    assert_int_equal(req.argc, 2);
    assert_string_equal(req.argv[0], "");
    /* UTF-8 is fine */
    assert_int_equal(
        parse("config get \xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80", &why), 0);
    assert_string_equal(req.argv[2], "\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80");
}

static void
malformed(void **state)
{
    static const struct {
        const char *line;
        size_t len;
        const char *why;
    } bad[] = {
        {"start \"sampler", 14, "unbalanced quotes"},
        {"start 'sampler", 14, "unbalanced quotes"},
        {"x \"a\\\"", 6, "unbalanced quotes"},
        {"a\x01"
         "b",
         3, "control character in request"},
        {"status\0", 7, "control character in request"},
        {"a\x7f", 2, "control character in request"},
        {"a\r", 2, "control character in request"},
        {"\xff", 1, "request is not valid UTF-8"},
        {"\xc0\xaf", 2, "request is not valid UTF-8"},         /* overlong */
        {"\xe0\x80\xaf", 3, "request is not valid UTF-8"},     /* overlong */
        {"\xed\xa0\x80", 3, "request is not valid UTF-8"},     /* surrogate */
        {"\xf4\x90\x80\x80", 4, "request is not valid UTF-8"}, /* > 10FFFF */
        {"\xe2\x82", 2, "request is not valid UTF-8"},         /* cut short */
    };
    const char *why;
    char many[400] = "";
    char *longline;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        assert_int_equal(ep_proto_parse(bad[i].line, bad[i].len, &req, &why),
                         -1);
        assert_string_equal(why, bad[i].why);
    }
    for (int i = 0; i < 40; i++) {
        strcat(many, "w ");
    }
    assert_int_equal(parse(many, &why), -1);
    assert_string_equal(why, "too many words");
    /* the longest line fits, one more byte does not */
    longline = malloc(EP_PROTO_MAX_LINE + 2);
    assert_non_null(longline);
    memset(longline, 'a', EP_PROTO_MAX_LINE + 1);
    longline[EP_PROTO_MAX_LINE + 1] = '\0';
    assert_int_equal(ep_proto_parse(longline, EP_PROTO_MAX_LINE, &req, &why),
                     0);
    assert_int_equal(strlen(req.argv[0]), EP_PROTO_MAX_LINE);
    for (int i = 1; i < EP_PROTO_MAX_LINE; i += 2) {
        longline[i] = ' '; /* as many words as fit: too many */
    }
    assert_int_equal(ep_proto_parse(longline, EP_PROTO_MAX_LINE, &req, &why),
                     -1);
    assert_int_equal(
        ep_proto_parse(longline, EP_PROTO_MAX_LINE + 1, &req, &why), -1);
    assert_string_equal(why, "line too long");
    free(longline);
}

static char *
json_of(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    ep_proto_json_str(f, s);
    fclose(f);
    return buf;
}

static void
json_strings(void **state)
{
    char *j;

    (void)state;
    j = json_of("a\"b\\c\n\r\t\x01\x7f");
    assert_string_equal(j, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u007f\"");
    free(j);
    j = json_of("\xc3\xa4 ok");
    assert_string_equal(j, "\"\xc3\xa4 ok\"");
    free(j);
    /* invalid bytes become U+FFFD, one each; a cut sequence too */
    j = json_of("x\xff\xfey\xe2\x82");
    assert_string_equal(j, "\"x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbd"
                           "\xef\xbf\xbd\"");
    free(j);
    j = json_of(NULL);
    assert_string_equal(j, "\"\"");
    free(j);
}

static void
replies(void **state)
{
    ep_reply r;
    size_t len;
    char *e;

    (void)state;
    assert_int_equal(ep_reply_begin(&r, 1), 0);
    ep_reply_str(&r, "file", "a\"b\n");
    ep_reply_int(&r, "n", -3);
    ep_reply_bool(&r, "x", 1);
    ep_reply_raw(&r, "list", "[1,2]");
    ep_reply_num(&r, "pct", 12.5);
    ep_reply_num(&r, "nan", 0.0 / 0.0);
    assert_int_equal(ep_reply_end(&r), 0);
    assert_string_equal(r.buf, "{\"ok\":true,\"file\":\"a\\\"b\\n\",\"n\":-3,"
                               "\"x\":true,\"list\":[1,2],"
                               "\"pct\":12.500000,\"nan\":null}\n");
    assert_int_equal(r.len, strlen(r.buf));
    free(r.buf);
    e = ep_reply_error("bad_argument", "sampler.rate: no", &len);
    assert_string_equal(e, "{\"ok\":false,\"error\":\"sampler.rate: no\","
                           "\"code\":\"bad_argument\"}\n");
    assert_int_equal(len, strlen(e));
    free(e);
    assert_int_equal(ep_reply_begin(&r, 0), 0);
    ep_reply_abort(&r);
    assert_null(r.buf);
}

/* A scratch tree: root/ (output.dir) with sub/ and a link to outside/. */
static char base[PATH_MAX], root[PATH_MAX + 16], outside[PATH_MAX + 16];

static int
tree_setup(void **state)
{
    char p[2 * PATH_MAX];
    char tmpl[] = "/tmp/ep-confine-XXXXXX";

    (void)state;
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, base) == NULL) {
        return -1;
    }
    snprintf(root, sizeof(root), "%s/root", base);
    snprintf(outside, sizeof(outside), "%s/outside", base);
    mkdir(root, 0700);
    mkdir(outside, 0700);
    snprintf(p, sizeof(p), "%s/sub", root);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/link", root);
    if (symlink(outside, p) != 0) {
        return -1;
    }
    snprintf(p, sizeof(p), "%s/sub/inner", root);
    return symlink(root, p); /* a link that stays inside */
}

static int
tree_teardown(void **state)
{
    char cmd[PATH_MAX + 16];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void
confine(void **state)
{
    static const char *const forbidden[] = {
        "../x.folded",
        "sub/../../x.folded",
        "..",
        "a/../b",
        "link/x.folded",
        "link/../x.folded",
        "/etc/x.folded",
        "/nonexistent-dir/x.folded",
        "/x.folded",
    };
    char out[PATH_MAX], want[2 * PATH_MAX], p[2 * PATH_MAX];

    (void)state;
    assert_int_equal(ep_proto_confine(root, "a.folded", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/a.folded", root);
    assert_string_equal(out, want);
    assert_int_equal(ep_proto_confine(root, "sub/b.json", out, sizeof(out)),
                     0);
    snprintf(want, sizeof(want), "%s/sub/b.json", root);
    assert_string_equal(out, want);
    /* "..." and "a..b" are names, not parent references */
    assert_int_equal(ep_proto_confine(root, "a..b", out, sizeof(out)), 0);
    assert_int_equal(ep_proto_confine(root, "...", out, sizeof(out)), 0);
    /* a link that resolves inside root is fine, and resolved */
    assert_int_equal(
        ep_proto_confine(root, "sub/inner/c.txt", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/c.txt", root);
    assert_string_equal(out, want);
    /* an absolute path inside root */
    snprintf(p, sizeof(p), "%s/sub/d.txt", root);
    assert_int_equal(ep_proto_confine(root, p, out, sizeof(out)), 0);
    assert_string_equal(out, p);
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        assert_int_equal(
            ep_proto_confine(root, forbidden[i], out, sizeof(out)),
            EP_CONFINE_FORBIDDEN);
    }
    /* root's own prefix is not enough: root2 is not under root */
    snprintf(p, sizeof(p), "%s2", root);
    mkdir(p, 0700);
    snprintf(want, sizeof(want), "%s2/x.folded", root);
    assert_int_equal(ep_proto_confine(root, want, out, sizeof(out)),
                     EP_CONFINE_FORBIDDEN);
    /* errors with a message: a missing directory, directory names */
    assert_int_equal(ep_proto_confine(root, "missing/x", out, sizeof(out)),
                     EMBPROF_EIO);
    assert_non_null(strstr(embprof_last_error(), "missing"));
    assert_int_equal(ep_proto_confine(root, "sub/", out, sizeof(out)),
                     EMBPROF_EINVAL);
    assert_int_equal(ep_proto_confine(root, "", out, sizeof(out)),
                     EMBPROF_EINVAL);
    snprintf(p, sizeof(p), "%s/nope", base);
    assert_int_equal(ep_proto_confine(p, "x", out, sizeof(out)), EMBPROF_EIO);
    /* too small an output buffer */
    assert_int_equal(ep_proto_confine(root, "a.folded", out, 8),
                     EMBPROF_EINVAL);
    /* "" as root is the working directory */
    assert_int_equal(chdir(root), 0);
    assert_int_equal(ep_proto_confine("", "w.txt", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s/w.txt", root);
    assert_string_equal(out, want);
    assert_int_equal(ep_proto_confine("", "../w.txt", out, sizeof(out)),
                     EP_CONFINE_FORBIDDEN);
    assert_int_equal(chdir("/"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_and_quotes),
        cmocka_unit_test(malformed),
        cmocka_unit_test(json_strings),
        cmocka_unit_test(replies),
        cmocka_unit_test_setup_teardown(confine, tree_setup, tree_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

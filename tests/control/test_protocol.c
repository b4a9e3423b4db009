/* The control protocol's parser and reply writer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

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
    assert_int_equal(parse("export collapsed path=\"my dir/a b.folded\"",
                           &why),
                     0);
    assert_string_equal(ep_proto_kv(&req, 2, "path"), "my dir/a b.folded");
    assert_int_equal(parse("x 'single \"q\"' \"esc \\\" \\\\\"", &why), 0);
    assert_string_equal(req.argv[1], "single \"q\"");
    assert_string_equal(req.argv[2], "esc \" \\");
    assert_int_equal(parse("   ", &why), 0);
    assert_int_equal(req.argc, 0);
}

static void
malformed(void **state)
{
    const char *why;
    char many[400] = "";

    (void)state;
    assert_int_equal(parse("start \"sampler", &why), -1);
    assert_string_equal(why, "unbalanced quotes");
    assert_int_equal(parse("a\x01b", &why), -1);
    for (int i = 0; i < 40; i++) {
        strcat(many, "w ");
    }
    assert_int_equal(parse(many, &why), -1);
    assert_string_equal(why, "too many words");
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
    assert_int_equal(ep_reply_end(&r), 0);
    assert_string_equal(r.buf, "{\"ok\":true,\"file\":\"a\\\"b\\n\",\"n\":-3,"
                               "\"x\":true,\"list\":[1,2]}\n");
    free(r.buf);
    e = ep_reply_error("bad_argument", "sampler.rate: no", &len);
    assert_string_equal(e, "{\"ok\":false,\"error\":\"sampler.rate: no\","
                           "\"code\":\"bad_argument\"}\n");
    assert_int_equal(len, strlen(e));
    free(e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_and_quotes),
        cmocka_unit_test(malformed),
        cmocka_unit_test(replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

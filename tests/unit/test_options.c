/* The option table: defaults, every type's validation, messages, the
 * environment, option strings and help. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "embprof.h"
#include "options.h"

static void
defaults_are_valid(void **state)
{
    struct embprof_config c;

    (void)state;
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        ep_optval v;

        assert_int_equal(ep_opt_parse(i, ep_options[i].def, &v), EMBPROF_OK);
        free(v.s);
    }
    assert_int_equal(ep_opt_defaults(&c), EMBPROF_OK);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_RATE), 100);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_MODE), 0);
    ep_opt_release(&c);
}

static void
ints_and_ranges(void **state)
{
    embprof_config *c = embprof_config_new();
    char buf[64];

    (void)state;
    assert_int_equal(embprof_config_set(c, "sampler.rate", "997"), EMBPROF_OK);
    assert_int_equal(embprof_config_get(c, "sampler.rate", buf, sizeof(buf)),
                     EMBPROF_OK);
    assert_string_equal(buf, "997");
    assert_int_equal(embprof_config_set(c, "sampler.rate", "0"),
                     EMBPROF_EINVAL);
    assert_non_null(strstr(embprof_last_error(), "sampler.rate"));
    assert_non_null(strstr(embprof_last_error(), "1..10000"));
    assert_int_equal(embprof_config_set(c, "sampler.rate", "10001"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.rate", "12abc"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.rate", ""),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.rate", NULL),
                     EMBPROF_EINVAL);
    /* A rejected value leaves the old one. */
    embprof_config_get(c, "sampler.rate", buf, sizeof(buf));
    assert_string_equal(buf, "997");
    embprof_config_free(c);
}

static void
enums_bools_doubles(void **state)
{
    embprof_config *c = embprof_config_new();
    static const char *const yes[] = {"true", "1", "yes", "on", "TRUE"};
    static const char *const no[] = {"false", "0", "no", "off"};
    char buf[64];

    (void)state;
    assert_int_equal(embprof_config_set(c, "sampler.mode", "cpu"), EMBPROF_OK);
    embprof_config_get(c, "sampler.mode", buf, sizeof(buf));
    assert_string_equal(buf, "cpu");
    assert_int_equal(embprof_config_set(c, "sampler.mode", "fast"),
                     EMBPROF_EINVAL);
    assert_non_null(strstr(embprof_last_error(), "wall|cpu"));
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(embprof_config_set(c, "sampler.idle", yes[i]),
                         EMBPROF_OK);
        embprof_config_get(c, "sampler.idle", buf, sizeof(buf));
        assert_string_equal(buf, "true");
    }
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(embprof_config_set(c, "sampler.idle", no[i]),
                         EMBPROF_OK);
        embprof_config_get(c, "sampler.idle", buf, sizeof(buf));
        assert_string_equal(buf, "false");
    }
    assert_int_equal(embprof_config_set(c, "sampler.idle", "maybe"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.duration", "2.5"),
                     EMBPROF_OK);
    assert_int_equal(embprof_config_set(c, "sampler.duration", "-1"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.duration", "nan"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.duration", "inf"),
                     EMBPROF_EINVAL);
    embprof_config_free(c);
}

static void
unknown_keys_and_nulls(void **state)
{
    embprof_config *c = embprof_config_new();
    char buf[8];

    (void)state;
    assert_int_equal(embprof_config_set(c, "sampler.speed", "1"),
                     EMBPROF_EINVAL);
    assert_non_null(strstr(embprof_last_error(), "sampler.speed"));
    assert_int_equal(embprof_config_set(NULL, "sampler.rate", "1"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_get(c, "nope", buf, sizeof(buf)),
                     EMBPROF_EINVAL);
    embprof_config_free(c);
    embprof_config_free(NULL); /* no-op */
}

static void
environment(void **state)
{
    embprof_config *c = embprof_config_new();
    char buf[64], name[96];

    (void)state;
    ep_opt_env_name(EP_OPT_SAMPLER_RATE, name, sizeof(name));
    assert_string_equal(name, "EMBPROF_SAMPLER_RATE");
    setenv("EMBPROF_SAMPLER_RATE", "997", 1);
    setenv("EMBPROF_OUTPUT_DIR", "/tmp", 1);
    assert_int_equal(embprof_config_from_env(c), EMBPROF_OK);
    embprof_config_get(c, "sampler.rate", buf, sizeof(buf));
    assert_string_equal(buf, "997");
    embprof_config_get(c, "output.dir", buf, sizeof(buf));
    assert_string_equal(buf, "/tmp");
    setenv("EMBPROF_SAMPLER_RATE", "fast", 1);
    assert_int_equal(embprof_config_from_env(c), EMBPROF_EINVAL);
    assert_non_null(strstr(embprof_last_error(), "EMBPROF_SAMPLER_RATE"));
    unsetenv("EMBPROF_SAMPLER_RATE");
    unsetenv("EMBPROF_OUTPUT_DIR");
    embprof_config_free(c);
}

static void
option_strings(void **state)
{
    struct embprof_config c;

    (void)state;
    ep_opt_defaults(&c);
    assert_int_equal(
        ep_opt_apply_string(&c, "sampler", "  rate=997\tmode=cpu "),
        EMBPROF_OK);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_RATE), 997);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_MODE), 1);
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "output.dir=/var/tmp"),
                     EMBPROF_OK);
    assert_string_equal(ep_cfg_str(&c, EP_OPT_OUTPUT_DIR), "/var/tmp");
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "rate"),
                     EMBPROF_EINVAL);
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "=5"), EMBPROF_EINVAL);
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "rate=0"),
                     EMBPROF_EINVAL);
    assert_int_equal(ep_opt_apply_string(&c, "sampler", NULL), EMBPROF_OK);
    ep_opt_release(&c);
}

static void
help_lists_everything(void **state)
{
    const char *h = embprof_options_help();

    (void)state;
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        char env[96];

        ep_opt_env_name(i, env, sizeof(env));
        assert_non_null(strstr(h, ep_options[i].key));
        assert_non_null(strstr(h, env));
    }
}

static void
validate(void **state)
{
    embprof_config *c = embprof_config_new();

    (void)state;
    assert_int_equal(embprof_config_validate(c), EMBPROF_OK);
    embprof_config_set(c, "output.file", "/nonexistent-dir/p.folded");
    assert_int_equal(embprof_config_validate(c), EMBPROF_EINVAL);
    assert_non_null(strstr(embprof_last_error(), "/nonexistent-dir"));
    embprof_config_set(c, "output.file", "/tmp/p.unknown");
    assert_int_equal(embprof_config_validate(c), EMBPROF_EINVAL);
    embprof_config_set(c, "output.format", "collapsed");
    assert_int_equal(embprof_config_validate(c), EMBPROF_OK);
    embprof_config_set(c, "output.file", "/tmp/p.speedscope.json");
    embprof_config_set(c, "output.format", "auto");
    assert_int_equal(embprof_config_validate(c), EMBPROF_OK);
    embprof_config_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_valid),
        cmocka_unit_test(ints_and_ranges),
        cmocka_unit_test(enums_bools_doubles),
        cmocka_unit_test(unknown_keys_and_nulls),
        cmocka_unit_test(environment),
        cmocka_unit_test(option_strings),
        cmocka_unit_test(help_lists_everything),
        cmocka_unit_test(validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

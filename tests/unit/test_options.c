/* The option table: defaults, every type's validation and messages, the
 * public config API, the environment, probe option strings, help text and
 * the checks of embprof_config_validate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embprof.h"
#include "options.h"

extern char **environ;

/* The EMBPROF_ name of a key, built here rather than by the library. */
static void
env_name_of(const char *key, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "EMBPROF_");

    for (const char *p = key; *p != '\0' && n + 1 < size; p++) {
        buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    }
    buf[n] = '\0';
}

/* ctest may pass EMBPROF_* through from the caller's shell. */
static void
clear_embprof_env(void)
{
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        char name[96];

        env_name_of(ep_options[i].key, name, sizeof(name));
        unsetenv(name);
    }
}

static void
assert_error_mentions(const char *a, const char *b)
{
    const char *e = embprof_last_error();

    if (strstr(e, a) == NULL || (b != NULL && strstr(e, b) == NULL)) {
        fail_msg("last error \"%s\" lacks \"%s\" or \"%s\"", e, a, b ? b : "");
    }
}

static void
defaults_are_valid(void **state)
{
    embprof_config *c = embprof_config_new();
    struct embprof_config d;

    (void)state;
    assert_non_null(c);
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        const ep_option *o = &ep_options[i];
        ep_optval v;
        char buf[256];

        if (ep_opt_parse(i, o->def, &v) != EMBPROF_OK) {
            fail_msg("default \"%s\" of %s does not parse: %s", o->def, o->key,
                     embprof_last_error());
        }
        free(v.s);
        /* A new config holds exactly the table's default text. */
        assert_int_equal(embprof_config_get(c, o->key, buf, sizeof(buf)),
                         EMBPROF_OK);
        assert_string_equal(buf, o->def);
        assert_int_equal(ep_opt_find(o->key), i);
        assert_false(c->v[i].set);
        assert_true(o->doc != NULL && o->doc[0] != '\0');
        if (o->type == EP_OPT_ENUM) {
            assert_non_null(o->choices);
        }
    }
    assert_int_equal(ep_opt_defaults(&d), EMBPROF_OK);
    assert_int_equal(ep_cfg_int(&d, EP_OPT_SAMPLER_RATE), 100);
    assert_int_equal(ep_cfg_int(&d, EP_OPT_SAMPLER_MODE), 0);
    assert_false(ep_cfg_bool(&d, EP_OPT_SAMPLER_IDLE));
    assert_string_equal(ep_cfg_str(&d, EP_OPT_OUTPUT_FILE), "");
    ep_opt_release(&d);
    embprof_config_free(c);
}

static void
ints_in_and_out_of_range(void **state)
{
    embprof_config *c = embprof_config_new();
    char buf[64];

    (void)state;
    assert_int_equal(embprof_config_set(c, "sampler.rate", "997"), EMBPROF_OK);
    assert_int_equal(embprof_config_get(c, "sampler.rate", buf, sizeof(buf)),
                     EMBPROF_OK);
    assert_string_equal(buf, "997");
    assert_true(c->v[EP_OPT_SAMPLER_RATE].set);
    assert_int_equal(embprof_config_set(c, "sampler.rate", "1"), EMBPROF_OK);
    assert_int_equal(embprof_config_set(c, "sampler.rate", "10000"),
                     EMBPROF_OK);

    assert_int_equal(embprof_config_set(c, "sampler.rate", "0"),
                     EMBPROF_EINVAL);
    assert_error_mentions("sampler.rate", "1..10000");
    assert_int_equal(embprof_config_set(c, "sampler.rate", "10001"),
                     EMBPROF_EINVAL);
    assert_error_mentions("sampler.rate", "1..10000");
    assert_int_equal(embprof_config_set(c, "sampler.rate", "-5"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.rate", "12abc"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.rate", "1.5"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.rate", ""),
                     EMBPROF_EINVAL);
    assert_int_equal(
        embprof_config_set(c, "sampler.rate", "99999999999999999999999"),
        EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.rate", NULL),
                     EMBPROF_EINVAL);
    assert_error_mentions("sampler.rate", NULL);
    /* A rejected value leaves the last good one. */
    embprof_config_get(c, "sampler.rate", buf, sizeof(buf));
    assert_string_equal(buf, "10000");
    embprof_config_free(c);
}

/* Every INT and DOUBLE row takes its bounds and refuses just outside. */
static void
every_numeric_row_checks_its_range(void **state)
{
    embprof_config *c = embprof_config_new();

    (void)state;
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        const ep_option *o = &ep_options[i];
        char lo[64], hi[64], below[64], above[64], acc[160];

        if (o->type == EP_OPT_INT) {
            snprintf(lo, sizeof(lo), "%.0f", o->min);
            snprintf(hi, sizeof(hi), "%.0f", o->max);
            snprintf(below, sizeof(below), "%.0f", o->min - 1);
            snprintf(above, sizeof(above), "%.0f", o->max + 1);
        } else if (o->type == EP_OPT_DOUBLE) {
            snprintf(lo, sizeof(lo), "%.17g", o->min);
            snprintf(hi, sizeof(hi), "%.17g", o->max);
            snprintf(below, sizeof(below), "%.17g", o->min - 0.01);
            snprintf(above, sizeof(above), "%.17g", o->max + 0.01);
        } else {
            continue;
        }
        if (embprof_config_set(c, o->key, lo) != EMBPROF_OK ||
            embprof_config_set(c, o->key, hi) != EMBPROF_OK) {
            fail_msg("%s refuses its bound %s or %s: %s", o->key, lo, hi,
                     embprof_last_error());
        }
        ep_opt_accepts(i, acc, sizeof(acc));
        assert_int_equal(embprof_config_set(c, o->key, below), EMBPROF_EINVAL);
        assert_error_mentions(o->key, acc);
        assert_int_equal(embprof_config_set(c, o->key, above), EMBPROF_EINVAL);
        assert_error_mentions(o->key, acc);
    }
    embprof_config_free(c);
}

static void
enums(void **state)
{
    embprof_config *c = embprof_config_new();
    char buf[64];

    (void)state;
    assert_int_equal(embprof_config_set(c, "sampler.mode", "cpu"), EMBPROF_OK);
    embprof_config_get(c, "sampler.mode", buf, sizeof(buf));
    assert_string_equal(buf, "cpu");
    assert_int_equal(ep_cfg_int(c, EP_OPT_SAMPLER_MODE), 1);
    assert_int_equal(embprof_config_set(c, "sampler.mode", "wall"),
                     EMBPROF_OK);
    assert_int_equal(ep_cfg_int(c, EP_OPT_SAMPLER_MODE), 0);
    assert_int_equal(embprof_config_set(c, "sampler.mode", "fast"),
                     EMBPROF_EINVAL);
    assert_error_mentions("sampler.mode", "wall|cpu");
    assert_error_mentions("fast", NULL);
    /* No prefix or partial matches of a choice. */
    assert_int_equal(embprof_config_set(c, "sampler.mode", "wal"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.mode", "wallx"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, "sampler.mode", ""),
                     EMBPROF_EINVAL);

    /* Every choice of every ENUM row, by index. */
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        const ep_option *o = &ep_options[i];
        char choice[64];

        if (o->type != EP_OPT_ENUM) {
            continue;
        }
        for (int64_t n = 0;; n++) {
            ep_opt_choice(i, n, choice, sizeof(choice));
            if (choice[0] == '\0') {
                break;
            }
            assert_int_equal(embprof_config_set(c, o->key, choice),
                             EMBPROF_OK);
            assert_int_equal(c->v[i].i, n);
            embprof_config_get(c, o->key, buf, sizeof(buf));
            assert_string_equal(buf, choice);
        }
    }
    embprof_config_free(c);
}

static void
bools(void **state)
{
    embprof_config *c = embprof_config_new();
    static const char *const yes[] = {"true", "1", "yes", "on", "TRUE", "On"};
    static const char *const no[] = {"false", "0", "no", "off", "NO"};
    static const char *const bad[] = {"maybe", "", "2", "tru", "yes!"};
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        assert_int_equal(embprof_config_set(c, "sampler.idle", "false"),
                         EMBPROF_OK);
        assert_int_equal(embprof_config_set(c, "sampler.idle", yes[i]),
                         EMBPROF_OK);
        embprof_config_get(c, "sampler.idle", buf, sizeof(buf));
        assert_string_equal(buf, "true");
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_int_equal(embprof_config_set(c, "sampler.idle", "true"),
                         EMBPROF_OK);
        assert_int_equal(embprof_config_set(c, "sampler.idle", no[i]),
                         EMBPROF_OK);
        embprof_config_get(c, "sampler.idle", buf, sizeof(buf));
        assert_string_equal(buf, "false");
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(embprof_config_set(c, "sampler.idle", bad[i]),
                         EMBPROF_EINVAL);
        assert_error_mentions("sampler.idle", "true|false");
    }
    embprof_config_free(c);
}

static void
doubles(void **state)
{
    embprof_config *c = embprof_config_new();
    static const char *const bad[] = {"-1",    "nan",  "NaN", "inf", "-inf",
                                      "1e400", "2.5s", "",    "abc"};
    char buf[64];

    (void)state;
    assert_int_equal(embprof_config_set(c, "sampler.duration", "2.5"),
                     EMBPROF_OK);
    assert_true(ep_cfg_double(c, EP_OPT_SAMPLER_DURATION) == 2.5);
    embprof_config_get(c, "sampler.duration", buf, sizeof(buf));
    assert_string_equal(buf, "2.5");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (embprof_config_set(c, "sampler.duration", bad[i]) !=
            EMBPROF_EINVAL) {
            fail_msg("sampler.duration took \"%s\"", bad[i]);
        }
        assert_error_mentions("sampler.duration", NULL);
    }
    assert_true(ep_cfg_double(c, EP_OPT_SAMPLER_DURATION) == 2.5);
    /* What config_get prints reads back as the same double, and stays
     * short when a short form is exact. */
    static const char *const exact[] = {"0.1", "1e-300", "123456.789012345",
                                        "0.30000000000000004",
                                        "86399.999999999985"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        double want;

        assert_int_equal(embprof_config_set(c, "sampler.duration", exact[i]),
                         EMBPROF_OK);
        want = ep_cfg_double(c, EP_OPT_SAMPLER_DURATION);
        embprof_config_get(c, "sampler.duration", buf, sizeof(buf));
        if (strtod(buf, NULL) != want) {
            fail_msg("%s printed as %s, which reads back differently",
                     exact[i], buf);
        }
    }
    embprof_config_get(c, "sampler.duration", buf, sizeof(buf));
    embprof_config_set(c, "sampler.duration", "0.1");
    embprof_config_get(c, "sampler.duration", buf, sizeof(buf));
    assert_string_equal(buf, "0.1");
    embprof_config_free(c);
}

static void
strings_and_paths(void **state)
{
    embprof_config *c = embprof_config_new();
    char *longv = malloc(5000);
    char buf[64];

    (void)state;
    assert_int_equal(embprof_config_set(c, "output.dir", "/tmp/a b"),
                     EMBPROF_OK);
    assert_string_equal(ep_cfg_str(c, EP_OPT_OUTPUT_DIR), "/tmp/a b");
    assert_int_equal(embprof_config_set(c, "output.dir", ""), EMBPROF_OK);
    assert_string_equal(ep_cfg_str(c, EP_OPT_OUTPUT_DIR), "");
    memset(longv, 'a', 4999);
    longv[4999] = '\0';
    assert_int_equal(embprof_config_set(c, "control.listen", longv),
                     EMBPROF_EINVAL);
    assert_error_mentions("control.listen", NULL);
    assert_int_equal(embprof_config_set(c, "control.listen", "127.0.0.1:1"),
                     EMBPROF_OK);
    embprof_config_get(c, "control.listen", buf, sizeof(buf));
    assert_string_equal(buf, "127.0.0.1:1");
    free(longv);
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
    assert_error_mentions("sampler.speed", NULL);
    assert_int_equal(embprof_config_set(c, "rate", "1"), EMBPROF_EINVAL);
    assert_error_mentions("\"rate\"", NULL);
    assert_int_equal(embprof_config_set(c, "", "1"), EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(c, NULL, "1"), EMBPROF_EINVAL);
    assert_int_equal(embprof_config_set(NULL, "sampler.rate", "1"),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_get(c, "nope", buf, sizeof(buf)),
                     EMBPROF_EINVAL);
    assert_error_mentions("nope", NULL);
    assert_int_equal(embprof_config_get(NULL, "sampler.rate", buf, 8),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_get(c, "sampler.rate", NULL, 8),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_get(c, "sampler.rate", buf, 0),
                     EMBPROF_EINVAL);
    assert_int_equal(embprof_config_from_env(NULL), EMBPROF_EINVAL);
    assert_int_equal(embprof_config_validate(NULL), EMBPROF_EINVAL);
    embprof_config_free(c);
    embprof_config_free(NULL); /* no-op */
}

/* get -> set -> get gives the same text for every row, with a value that
 * is not the default. */
static void
get_round_trips(void **state)
{
    embprof_config *c = embprof_config_new();
    char small[4];

    (void)state;
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        const ep_option *o = &ep_options[i];
        char val[128], a[128], b[128];

        switch (o->type) {
        case EP_OPT_INT:
            snprintf(val, sizeof(val), "%.0f", o->max);
            break;
        case EP_OPT_DOUBLE:
            snprintf(val, sizeof(val), "%g", (o->min + o->max) / 3);
            break;
        case EP_OPT_BOOL:
            snprintf(val, sizeof(val), "true");
            break;
        case EP_OPT_ENUM:
            ep_opt_choice(i, 1, val, sizeof(val));
            break;
        default:
            snprintf(val, sizeof(val), "/tmp/round trip %d", i);
            break;
        }
        assert_int_equal(embprof_config_set(c, o->key, val), EMBPROF_OK);
        assert_int_equal(embprof_config_get(c, o->key, a, sizeof(a)),
                         EMBPROF_OK);
        if (o->type != EP_OPT_DOUBLE) {
            assert_string_equal(a, val);
        }
        assert_int_equal(embprof_config_set(c, o->key, a), EMBPROF_OK);
        assert_int_equal(embprof_config_get(c, o->key, b, sizeof(b)),
                         EMBPROF_OK);
        assert_string_equal(a, b);
    }
    /* A short buffer gets a truncated, terminated value. */
    embprof_config_set(c, "sampler.rate", "997");
    assert_int_equal(embprof_config_get(c, "sampler.rate", small, 3),
                     EMBPROF_OK);
    assert_string_equal(small, "99");
    embprof_config_set(c, "sampler.mode", "wall");
    assert_int_equal(embprof_config_get(c, "sampler.mode", small, 3),
                     EMBPROF_OK);
    assert_string_equal(small, "wa");
    embprof_config_set(c, "log.file", "/var/log/x");
    assert_int_equal(embprof_config_get(c, "log.file", small, 1), EMBPROF_OK);
    assert_string_equal(small, "");
    embprof_config_free(c);
}

static void
copy_is_deep(void **state)
{
    struct embprof_config a, b;

    (void)state;
    ep_opt_defaults(&a);
    ep_opt_set(&a, "output.dir", "/tmp/one");
    ep_opt_set(&a, "sampler.rate", "7");
    assert_int_equal(ep_opt_copy(&b, &a), EMBPROF_OK);
    ep_opt_set(&a, "output.dir", "/tmp/two");
    assert_string_equal(ep_cfg_str(&b, EP_OPT_OUTPUT_DIR), "/tmp/one");
    assert_int_equal(ep_cfg_int(&b, EP_OPT_SAMPLER_RATE), 7);
    ep_opt_release(&a);
    ep_opt_release(&b);
}

static void
environment(void **state)
{
    embprof_config *c = embprof_config_new();
    char buf[64], name[96];

    (void)state;
    clear_embprof_env();
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        char want[96];

        ep_opt_env_name(i, name, sizeof(name));
        env_name_of(ep_options[i].key, want, sizeof(want));
        assert_string_equal(name, want);
    }
    ep_opt_env_name(EP_OPT_SAMPLER_RATE, name, sizeof(name));
    assert_string_equal(name, "EMBPROF_SAMPLER_RATE");
    ep_opt_env_name(EP_OPT_SAMPLER_RATE, name, 12);
    assert_string_equal(name, "EMBPROF_SAM");

    /* Nothing set: nothing changes. */
    assert_int_equal(embprof_config_from_env(c), EMBPROF_OK);
    embprof_config_get(c, "sampler.rate", buf, sizeof(buf));
    assert_string_equal(buf, "100");

    setenv("EMBPROF_SAMPLER_RATE", "997", 1);
    setenv("EMBPROF_SAMPLER_MODE", "cpu", 1);
    setenv("EMBPROF_OUTPUT_DIR", "/tmp", 1);
    setenv("EMBPROF_SAMPLER_RATE_X", "5", 1); /* not an option: ignored */
    assert_int_equal(embprof_config_from_env(c), EMBPROF_OK);
    embprof_config_get(c, "sampler.rate", buf, sizeof(buf));
    assert_string_equal(buf, "997");
    embprof_config_get(c, "sampler.mode", buf, sizeof(buf));
    assert_string_equal(buf, "cpu");
    embprof_config_get(c, "output.dir", buf, sizeof(buf));
    assert_string_equal(buf, "/tmp");

    setenv("EMBPROF_SAMPLER_RATE", "fast", 1);
    assert_int_equal(embprof_config_from_env(c), EMBPROF_EINVAL);
    assert_error_mentions("EMBPROF_SAMPLER_RATE", "fast");
    setenv("EMBPROF_SAMPLER_RATE", "0", 1);
    assert_int_equal(embprof_config_from_env(c), EMBPROF_EINVAL);
    assert_error_mentions("EMBPROF_SAMPLER_RATE", "1..10000");
    embprof_config_get(c, "sampler.rate", buf, sizeof(buf));
    assert_string_equal(buf, "997");
    unsetenv("EMBPROF_SAMPLER_RATE_X");
    clear_embprof_env();
    embprof_config_free(c);
}

static void
option_strings(void **state)
{
    struct embprof_config c;

    (void)state;
    ep_opt_defaults(&c);
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "rate=997 mode=cpu"),
                     EMBPROF_OK);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_RATE), 997);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_MODE), 1);
    assert_true(c.v[EP_OPT_SAMPLER_RATE].set);
    assert_int_equal(
        ep_opt_apply_string(&c, "sampler", " \trate=5\n\tidle=on  "),
        EMBPROF_OK);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_RATE), 5);
    assert_true(ep_cfg_bool(&c, EP_OPT_SAMPLER_IDLE));
    /* A key with a dot is taken as it is. */
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "output.dir=/var/tmp"),
                     EMBPROF_OK);
    assert_string_equal(ep_cfg_str(&c, EP_OPT_OUTPUT_DIR), "/var/tmp");
    assert_int_equal(ep_opt_apply_string(&c, NULL, "sampler.rate=6"),
                     EMBPROF_OK);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_RATE), 6);
    /* An empty value is a value (PATH may be empty). */
    assert_int_equal(ep_opt_apply_string(&c, "output", "dir="), EMBPROF_OK);
    assert_string_equal(ep_cfg_str(&c, EP_OPT_OUTPUT_DIR), "");

    /* No '=': refused as such, even when the key itself is known. */
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "rate"),
                     EMBPROF_EINVAL);
    assert_error_mentions("key=value", "\"rate\"");
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "sampler.rate"),
                     EMBPROF_EINVAL);
    assert_error_mentions("key=value", "sampler.rate");
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "=5"), EMBPROF_EINVAL);
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "rate=0"),
                     EMBPROF_EINVAL);
    assert_error_mentions("sampler.rate", "1..10000");
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "speed=3"),
                     EMBPROF_EINVAL);
    assert_error_mentions("sampler.speed", NULL);
    /* Stops at the first bad one; the ones before it are applied. */
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "rate=8 x rate=9"),
                     EMBPROF_EINVAL);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_RATE), 8);
    assert_int_equal(ep_opt_apply_string(&c, "sampler", NULL), EMBPROF_OK);
    assert_int_equal(ep_opt_apply_string(&c, "sampler", "   "), EMBPROF_OK);
    assert_int_equal(ep_cfg_int(&c, EP_OPT_SAMPLER_RATE), 8);
    ep_opt_release(&c);
}

static void
help_lists_everything(void **state)
{
    const char *h = embprof_options_help();

    (void)state;
    assert_ptr_equal(h, embprof_options_help()); /* static text */
    for (int i = 0; i < EP_OPT_COUNT; i++) {
        char env[96], acc[160];

        env_name_of(ep_options[i].key, env, sizeof(env));
        ep_opt_accepts(i, acc, sizeof(acc));
        if (strstr(h, ep_options[i].key) == NULL || strstr(h, env) == NULL ||
            strstr(h, acc) == NULL) {
            fail_msg("help lacks %s, %s or \"%s\"", ep_options[i].key, env,
                     acc);
        }
    }
    assert_non_null(strstr(h, "1..10000"));
    assert_non_null(strstr(h, "wall|cpu"));
}

static void
validate(void **state)
{
    embprof_config *c = embprof_config_new();
    char dir[] = "/tmp/embprof-opt-XXXXXX", path[128];

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(embprof_config_validate(c), EMBPROF_OK);

    embprof_config_set(c, "output.file", "/nonexistent-embprof/p.folded");
    assert_int_equal(embprof_config_validate(c), EMBPROF_EINVAL);
    assert_error_mentions("output.file", "/nonexistent-embprof");

    snprintf(path, sizeof(path), "%s/p.unknown", dir);
    embprof_config_set(c, "output.file", path);
    assert_int_equal(embprof_config_validate(c), EMBPROF_EINVAL);
    assert_error_mentions("output.file", "p.unknown");
    /* A named format makes any extension fine. */
    embprof_config_set(c, "output.format", "collapsed");
    assert_int_equal(embprof_config_validate(c), EMBPROF_OK);
    embprof_config_set(c, "output.format", "auto");

    static const char *const good[] = {"p.folded", "p.collapsed",
                                       "p.speedscope.json", "p.txt"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, good[i]);
        embprof_config_set(c, "output.file", path);
        if (embprof_config_validate(c) != EMBPROF_OK) {
            fail_msg("%s: %s", path, embprof_last_error());
        }
    }
    /* Relative files resolve against output.dir. */
    embprof_config_set(c, "output.dir", dir);
    embprof_config_set(c, "output.file", "rel.folded");
    assert_int_equal(embprof_config_validate(c), EMBPROF_OK);
    embprof_config_set(c, "output.file", "missing/rel.folded");
    assert_int_equal(embprof_config_validate(c), EMBPROF_EINVAL);
    assert_error_mentions("output.file", "missing");
    embprof_config_set(c, "output.file", "");
    embprof_config_set(c, "output.dir", "/nonexistent-embprof");
    assert_int_equal(embprof_config_validate(c), EMBPROF_EINVAL);
    assert_error_mentions("output.dir", "/nonexistent-embprof");
    rmdir(dir);
    embprof_config_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_valid),
        cmocka_unit_test(ints_in_and_out_of_range),
        cmocka_unit_test(every_numeric_row_checks_its_range),
        cmocka_unit_test(enums),
        cmocka_unit_test(bools),
        cmocka_unit_test(doubles),
        cmocka_unit_test(strings_and_paths),
        cmocka_unit_test(unknown_keys_and_nulls),
        cmocka_unit_test(get_round_trips),
        cmocka_unit_test(copy_is_deep),
        cmocka_unit_test(environment),
        cmocka_unit_test(option_strings),
        cmocka_unit_test(help_lists_everything),
        cmocka_unit_test(validate),
    };
    clear_embprof_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

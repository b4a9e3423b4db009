/* Status codes and the last-error detail: every status in the one list has
 * its own message and name, codes are unique and never positive, unknown
 * numbers say so, and the detail is per thread, bounded and names the key
 * of a failed setting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "embprof.h"
#include "error.h"

static const int codes[] = {
#define X(name, num, msg) (num),
    EMBPROF_STATUS_LIST(X)
#undef X
};
static const char *const names[] = {
#define X(name, num, msg) #name,
    EMBPROF_STATUS_LIST(X)
#undef X
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static void
every_code_has_a_message(void **state)
{
    (void)state;
    assert_true(NCODES >= 11);
    for (size_t i = 0; i < NCODES; i++) {
        const char *m = embprof_strerror(codes[i]);

        assert_non_null(m);
        assert_true(strlen(m) > 0);
        assert_string_not_equal(m, "unknown status");
        /* Each code has its own text, not a shared fallback. */
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(m, embprof_strerror(codes[j]));
        }
    }
}

static void
codes_are_unique_and_not_positive(void **state)
{
    (void)state;
    assert_int_equal(codes[0], EMBPROF_OK);
    assert_int_equal(EMBPROF_OK, 0);
    for (size_t i = 0; i < NCODES; i++) {
        assert_true(codes[i] <= 0);
        for (size_t j = i + 1; j < NCODES; j++) {
            assert_int_not_equal(codes[i], codes[j]);
        }
    }
}

static void
every_code_has_its_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        assert_string_equal(ep_error_name(codes[i]), names[i]);
    }
    assert_string_equal(ep_error_name(12345), "EUNKNOWN");
}

static void
unknown_code(void **state)
{
    (void)state;
    assert_string_equal(embprof_strerror(12345), "unknown status");
    assert_string_equal(embprof_strerror(1), "unknown status");
    assert_string_equal(embprof_strerror(-999), "unknown status");
    assert_string_equal(embprof_strerror(INT_MIN), "unknown status");
    assert_string_equal(embprof_strerror(INT_MAX), "unknown status");
}

static void
detail_set_cleared_and_errno_kept(void **state)
{
    (void)state;
    ep_error_clear();
    assert_string_equal(embprof_last_error(), "");
    errno = ENOSPC;
    assert_int_equal(ep_error(EMBPROF_EIO, "disk %s", "full"), EMBPROF_EIO);
    assert_int_equal(errno, ENOSPC);
    assert_string_equal(embprof_last_error(), "disk full");
    ep_error_clear();
    assert_string_equal(embprof_last_error(), "");
}

static void
long_detail_is_truncated(void **state)
{
    char big[2000];
    size_t n;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ep_error(EMBPROF_EINVAL, "%s", big);
    n = strlen(embprof_last_error());
    assert_true(n > 100);
    assert_true(n < sizeof(big) - 1);
}

static void
failed_config_set_names_the_key(void **state)
{
    embprof_config *c = embprof_config_new();

    (void)state;
    assert_non_null(c);
    ep_error_clear();
    assert_int_equal(embprof_config_set(c, "sampler.max_depth", "lots"),
                     EMBPROF_EINVAL);
    assert_non_null(strstr(embprof_last_error(), "sampler.max_depth"));
    assert_non_null(strstr(embprof_last_error(), "lots"));
    assert_int_equal(embprof_config_set(c, "no.such.key", "1"),
                     EMBPROF_EINVAL);
    assert_non_null(strstr(embprof_last_error(), "no.such.key"));
    embprof_config_free(c);
}

static void *
other_thread(void *arg)
{
    (void)arg;
    ep_error(EMBPROF_EBUSY, "from the other thread");
    return strstr(embprof_last_error(), "other thread") ? arg : NULL;
}

static void
detail_is_per_thread(void **state)
{
    pthread_t t;
    void *ok = NULL;
    int token;

    (void)state;
    ep_error(EMBPROF_EIO, "main thread's error");
    assert_int_equal(pthread_create(&t, NULL, other_thread, &token), 0);
    assert_int_equal(pthread_join(t, &ok), 0);
    assert_ptr_equal(ok, &token);
    assert_string_equal(embprof_last_error(), "main thread's error");
}

/* A caller may wrap the last error in context with the last error as an
 * argument: the result is the context plus the old text, intact. */
static void
wrapping_the_last_error(void **state)
{
    (void)state;
    ep_error(EMBPROF_EINVAL, "bad.lua:2: ')' expected near <eof>");
    ep_error(EMBPROF_EINVAL, "policy.file: %s", embprof_last_error());
    assert_string_equal(embprof_last_error(),
                        "policy.file: bad.lua:2: ')' expected near <eof>");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_a_message),
        cmocka_unit_test(codes_are_unique_and_not_positive),
        cmocka_unit_test(every_code_has_its_name),
        cmocka_unit_test(unknown_code),
        cmocka_unit_test(detail_set_cleared_and_errno_kept),
        cmocka_unit_test(long_detail_is_truncated),
        cmocka_unit_test(failed_config_set_names_the_key),
        cmocka_unit_test(detail_is_per_thread),
        cmocka_unit_test(wrapping_the_last_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Every status has a message; codes are unique, 0 or negative. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "embprof.h"
#include "error.h"

static void
every_code_has_a_message(void **state)
{
    static const int codes[] = {
#define X(name, num, msg) (num),
        EMBPROF_STATUS_LIST(X)
#undef X
    };
    size_t n = sizeof(codes) / sizeof(codes[0]);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        const char *m = embprof_strerror(codes[i]);

        assert_non_null(m);
        assert_true(strlen(m) > 0);
        assert_string_not_equal(m, "unknown status");
        assert_true(codes[i] <= 0);
        assert_string_not_equal(ep_error_name(codes[i]), "EUNKNOWN");
        for (size_t j = i + 1; j < n; j++) {
            assert_int_not_equal(codes[i], codes[j]);
        }
    }
    assert_int_equal(codes[0], EMBPROF_OK);
}

static void
unknown_code(void **state)
{
    (void)state;
    assert_string_equal(embprof_strerror(12345), "unknown status");
    assert_string_equal(embprof_strerror(-999), "unknown status");
}

static void
last_error_is_thread_local_detail(void **state)
{
    (void)state;
    ep_error_clear();
    assert_string_equal(embprof_last_error(), "");
    assert_int_equal(ep_error(EMBPROF_EIO, "disk %s", "full"), EMBPROF_EIO);
    assert_string_equal(embprof_last_error(), "disk full");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_a_message),
        cmocka_unit_test(unknown_code),
        cmocka_unit_test(last_error_is_thread_local_detail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

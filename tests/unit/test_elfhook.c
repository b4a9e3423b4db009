/* elfhook: finds the GOT slot through which one object calls a function,
 * redirects only that object's calls and restores them, with full RELRO
 * (the slot made writable for the store and read-only again) and with
 * lazy binding; a symbol the object does not import is ENOTFOUND. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#include "elfhook.h"
#include "embprof.h"

int elfhook_target_full(void);
int elfhook_target_lazy(void);

static pid_t
fake_getppid(void)
{
    return 4242;
}

static void
redirect(int (*target)(void), bool want_relro)
{
    ep_elfhook h;
    pid_t real = getppid();

    assert_int_equal(target(), real); /* binds a lazy slot first */
    assert_int_equal(ep_elfhook_find((const void *)target, "getppid", &h),
                     EMBPROF_OK);
    assert_true(h.nslots >= 1);
    assert_int_equal(h.relro[0], want_relro);
    assert_non_null(h.real);
    assert_int_equal(((pid_t(*)(void))h.real)(), real);
    assert_int_equal(ep_elfhook_write(&h, (void *)fake_getppid), EMBPROF_OK);
    assert_ptr_equal(ep_elfhook_current(&h, 0), (void *)fake_getppid);
    assert_int_equal(target(), 4242);
    assert_int_equal(getppid(), real); /* other objects are untouched */
    assert_int_equal(ep_elfhook_write(&h, h.real), EMBPROF_OK);
    assert_int_equal(target(), real);
}

static void
full_relro(void **state)
{
    (void)state;
    redirect(elfhook_target_full, true);
}

static void
lazy_binding(void **state)
{
    (void)state;
    redirect(elfhook_target_lazy, false);
}

static void
not_imported(void **state)
{
    ep_elfhook h;

    (void)state;
    assert_int_equal(ep_elfhook_find((const void *)elfhook_target_full,
                                     "pthread_cond_timedwait", &h),
                     EMBPROF_ENOTFOUND);
    assert_non_null(strstr(embprof_last_error(), "does not import"));
}

static void
no_object(void **state)
{
    ep_elfhook h;

    (void)state;
    assert_int_equal(ep_elfhook_find((const void *)16, "getppid", &h),
                     EMBPROF_ENOTFOUND);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_relro),
        cmocka_unit_test(lazy_binding),
        cmocka_unit_test(not_imported),
        cmocka_unit_test(no_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

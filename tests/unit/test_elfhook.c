/* elfhook: finds the GOT slot through which one object calls a function,
 * redirects only that object's calls and restores them, with full RELRO
 * (the slot made writable for the store and read-only again), with lazy
 * binding, and with a slot on the last partial page of RELRO (writable:
 * glibc protects only whole pages, so it must stay writable after the
 * store); every slot's page keeps its protection; a symbol the object
 * does not import is ENOTFOUND. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfhook.h"
#include "embprof.h"

int elfhook_target_full(void);
int elfhook_target_lazy(void);
#ifdef EMBPROF_TEST_TAIL
int elfhook_target_tail(void);
#endif

static pid_t
fake_getppid(void)
{
    return 4242;
}

/* The permissions ("rw-p") of the mapping holding addr. */
static void
maps_perms(const void *addr, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    char *line = NULL;
    size_t cap = 0;

    assert_non_null(f);
    strcpy(perms, "????");
    while (getline(&line, &cap, f) > 0) {
        unsigned long lo, hi;
        char p[5];

        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 &&
            (unsigned long)addr >= lo && (unsigned long)addr < hi) {
            memcpy(perms, p, 5);
            break;
        }
    }
    free(line);
    fclose(f);
}

static void
redirect(int (*target)(void), bool want_relro)
{
    ep_elfhook h;
    pid_t real = getppid();
    char before[5], now[5];

    assert_int_equal(target(), real); /* binds a lazy slot first */
    assert_int_equal(ep_elfhook_find((const void *)target, "getppid", &h),
                     EMBPROF_OK);
    assert_true(h.nslots >= 1);
    assert_int_equal(h.relro[0], want_relro);
    maps_perms(h.slot[0], before);
    /* relro means exactly: on a page the dynamic linker made read-only */
    assert_int_equal(h.relro[0], before[1] != 'w');
    assert_non_null(h.real);
    assert_int_equal(((pid_t(*)(void))h.real)(), real);
    assert_int_equal(ep_elfhook_write(&h, (void *)fake_getppid), EMBPROF_OK);
    maps_perms(h.slot[0], now);
    assert_string_equal(now, before);
    assert_ptr_equal(ep_elfhook_current(&h, 0), (void *)fake_getppid);
    assert_int_equal(target(), 4242);
    assert_int_equal(getppid(), real); /* other objects are untouched */
    assert_int_equal(ep_elfhook_write(&h, h.real), EMBPROF_OK);
    maps_perms(h.slot[0], now);
    assert_string_equal(now, before);
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

#ifdef EMBPROF_TEST_TAIL
/* r[0]: an address in an object; sets r[1], r[2] to its PT_GNU_RELRO. */
static int
relro_of(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t *r = arg;
    bool inside = false;

    (void)size;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + p->p_vaddr;

        inside |= p->p_type == PT_LOAD && r[0] >= lo && r[0] < lo + p->p_memsz;
    }
    for (ElfW(Half) i = 0; inside && i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];

        if (p->p_type == PT_GNU_RELRO) {
            r[1] = info->dlpi_addr + p->p_vaddr;
            r[2] = r[1] + p->p_memsz;
        }
    }
    return inside;
}

static void
relro_tail(void **state)
{
    ep_elfhook h;
    uintptr_t r[3] = {(uintptr_t)elfhook_target_tail, 0, 0};
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), slot;

    (void)state;
    assert_int_equal(
        ep_elfhook_find((const void *)elfhook_target_tail, "getppid", &h),
        EMBPROF_OK);
    dl_iterate_phdr(relro_of, r);
    slot = (uintptr_t)h.slot[0];
    if (!(r[1] <= slot && slot < r[2] && (r[2] & (pg - 1)) != 0 &&
          slot >= (r[2] & ~(pg - 1)))) {
        skip(); /* this linker padded RELRO after all */
    }
    /* Inside PT_GNU_RELRO, but on its last partial page: writable. */
    redirect(elfhook_target_tail, false);
}
#endif

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
        cmocka_unit_test(full_relro),   cmocka_unit_test(lazy_binding),
#ifdef EMBPROF_TEST_TAIL
        cmocka_unit_test(relro_tail),
#endif
        cmocka_unit_test(not_imported), cmocka_unit_test(no_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

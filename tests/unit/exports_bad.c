/* A library that exports a symbol without the embprof_ prefix: the
 * exported-symbols check must reject it (test_exported_symbols_selftest). */
#define EXPORT __attribute__((visibility("default")))

EXPORT int embprof_fine(void);
EXPORT int ep_leaked(void);

EXPORT int
embprof_fine(void)
{
    return 1;
}

EXPORT int
ep_leaked(void)
{
    return 2;
}

/* The policy sandbox (scripting/sandbox.c): each hostile script of issue
 * #6 fails with a clear error that names the file and line where Lua
 * knows it, the state stays usable afterwards (a normal call runs), and
 * the memory cap holds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../scripting/sandbox.h"
#include "embprof.h"

#define MAX_MEMORY (4u << 20)

static ep_sandbox sb;

static int
setup(void **state)
{
    (void)state;
    return ep_sandbox_open(&sb, MAX_MEMORY, 100000, 2000) == EMBPROF_OK ? 0
                                                                        : -1;
}

static int
teardown(void **state)
{
    (void)state;
    ep_sandbox_close(&sb);
    return 0;
}

/* Loads and runs src as "hostile.lua"; returns the status, err filled. */
static int
run(const char *src, char *err, size_t size)
{
    int rc;

    err[0] = '\0';
    rc = ep_sandbox_load(&sb, src, strlen(src), "@hostile.lua", err, size);
    if (rc == EMBPROF_OK) {
        rc = ep_sandbox_call(&sb, 0, err, size);
    }
    return rc;
}

/* src must fail with an error containing want (and file:line if
 * with_line); then the state must still run a normal chunk. */
static void
expect_error(const char *src, const char *want, int with_line)
{
    char err[512];
    int rc = run(src, err, sizeof(err));

    if (rc == EMBPROF_OK) {
        fail_msg("no error for: %s", src);
    }
    if (strstr(err, want) == NULL) {
        fail_msg("error for %s:\n  %s\nlacks \"%s\"", src, err, want);
    }
    if (with_line && strstr(err, "hostile.lua:") == NULL) {
        fail_msg("error for %s has no file:line: %s", src, err);
    }
    assert_true(sb.used <= sb.limit);
    assert_int_equal(run("local t = {} for i = 1, 100 do t[i] = i end "
                         "assert(#t == 100 and ('ok'):upper() == 'OK')",
                         err, sizeof(err)),
                     EMBPROF_OK);
}

static void
infinite_loop(void **state)
{
    (void)state;
    expect_error("while true do end", "instruction budget exhausted", 1);
    /* pcall cannot swallow the kill. */
    expect_error("while true do pcall(function() while true do end end) end",
                 "instruction budget exhausted", 1);
    expect_error("local f f = function() return pcall(f) end "
                 "while true do f() end",
                 "", 0);
    /* A loop of C calls is still counted (the loop's own instructions). */
    expect_error("while true do pcall(string.rep, 'x', 10) end",
                 "instruction budget exhausted", 1);
}

static void
memory_bomb(void **state)
{
    (void)state;
    expect_error("local s = 'x' while true do s = s .. s end",
                 "not enough memory", 0);
    expect_error("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', "
                 "1e5 + i) end",
                 "not enough memory", 0);
    /* Memory or instructions, whichever runs out first. */
    expect_error("local t = {} while true do t[#t + 1] = {i = #t} end", "", 0);
    expect_error("return string.rep('x', 1e12)", "", 0);
}

static void
forbidden_functions(void **state)
{
    (void)state;
    expect_error("os.execute('touch /tmp/embprof-pwned')",
                 "os.execute is not available in a policy", 1);
    expect_error("os.exit(1)", "os.exit is not available", 1);
    expect_error("return os.getenv('HOME')", "os.getenv is not available", 1);
    expect_error("os.remove('/tmp/x')", "os.remove is not available", 1);
    expect_error("local f = io.open('/etc/passwd')",
                 "io is not available in a policy", 1);
    expect_error("return debug.getinfo(1)",
                 "debug is not available in a policy", 1);
    expect_error("require('os')", "require is not available", 1);
    expect_error("dofile('/etc/passwd')", "dofile is not available", 1);
    expect_error("loadfile('/etc/passwd')", "loadfile is not available", 1);
    expect_error("return package.loaded", "package is not available", 1);
    expect_error("return string.dump(function() end)",
                 "string.dump is not available", 1);
    expect_error("collectgarbage('stop')",
                 "collectgarbage(\"stop\") is not available", 1);
    /* What is allowed works. */
    {
        char err[256];

        assert_int_equal(run("assert(collectgarbage('count') > 0) "
                             "assert(os.time() > 0 and os.clock() >= 0) "
                             "assert(#os.date('%Y') == 4) "
                             "assert(math.max(1, 2) == 2) "
                             "assert(utf8.char(72) == 'H') "
                             "assert(table.concat({1, 2}, ',') == '1,2')",
                             err, sizeof(err)),
                         EMBPROF_OK);
    }
}

static void
bytecode(void **state)
{
    char err[256];

    (void)state;
    /* A binary chunk as the policy itself. */
    assert_int_not_equal(ep_sandbox_load(&sb, "\033Lua\x54\0junk", 10,
                                         "@hostile.lua", err, sizeof(err)),
                         EMBPROF_OK);
    assert_non_null(strstr(err, "binary"));
    /* ... through load(), with and without asking for mode "b". */
    expect_error("local f, e = load('\\27Lua\\84\\0junk') "
                 "assert(f == nil) error(e)",
                 "attempt to load a binary chunk", 0);
    expect_error("load('\\27Lua', 'x', 'b')", "only text chunks", 1);
    expect_error("load('\\27Lua', 'x', 'bt')", "only text chunks", 1);
    /* Text chunks through load() run in the sandbox too. */
    expect_error("load('io.open(\"/etc/passwd\")')()", "io is not available",
                 0);
}

static void
string_metatable(void **state)
{
    (void)state;
    expect_error("getmetatable('').__index = {}",
                 "attempt to index a boolean value", 1);
    expect_error("setmetatable(getmetatable(''), {})",
                 "bad argument #1 to 'setmetatable'", 0);
    /* Changing the string table does not change methods on strings. */
    {
        char err[256];

        assert_int_equal(run("string.upper = function() return 'x' end "
                             "assert(('a'):upper() == 'A') "
                             "string.upper = nil",
                             err, sizeof(err)),
                         EMBPROF_OK);
    }
    /* Nor can _G's own metatable be taken off or replaced. */
    expect_error("setmetatable(_G, nil)", "cannot change a protected", 0);
}

static void
recursion(void **state)
{
    char err[512];

    (void)state;
    assert_int_not_equal(
        run("local function f(n) return 1 + f(n + 1) end return f(1)", err,
            sizeof(err)),
        EMBPROF_OK);
    assert_true(strstr(err, "stack overflow") != NULL ||
                strstr(err, "not enough memory") != NULL ||
                strstr(err, "instruction budget") != NULL);
    /* C-level nesting through metamethods. */
    assert_int_not_equal(
        run("local t = setmetatable({}, {__index = function(t, k) "
            "return t[k] end}) return t.x",
            err, sizeof(err)),
        EMBPROF_OK);
    assert_true(strstr(err, "stack overflow") != NULL ||
                strstr(err, "C stack overflow") != NULL ||
                strstr(err, "error in error handling") != NULL);
}

static void
coroutines_and_gc(void **state)
{
    (void)state;
    expect_error("coroutine.wrap(function() while true do end end)()",
                 "coroutine is not available", 1);
    expect_error("setmetatable({}, {__gc = function() while true do end "
                 "end})",
                 "__gc metamethods are not allowed", 1);
    expect_error("setmetatable({}, {__gc = true})",
                 "__gc metamethods are not allowed", 1);
    {
        /* A metatable whose own __index adds __gc while the check looks
         * must not get a finalizer registered (it would run with the
         * hooks off: no budget could stop it). */
        char err[256];

        assert_int_equal(
            run("FIN = nil\n"
                "local mt = setmetatable({}, {__index = function(t, k)\n"
                "  if k == '__gc' then\n"
                "    rawset(t, '__gc', function() FIN = true end)\n"
                "  end\n"
                "end})\n"
                "local ok = pcall(setmetatable, {}, mt)\n",
                err, sizeof(err)),
            EMBPROF_OK);
        lua_gc(sb.L, LUA_GCCOLLECT);
        lua_gc(sb.L, LUA_GCCOLLECT);
        assert_int_equal(lua_getglobal(sb.L, "FIN"), LUA_TNIL);
        lua_pop(sb.L, 1);
    }
}

static void
errors_in_code(void **state)
{
    char err[256];

    (void)state;
    expect_error("local x = nil\nreturn x.y", "hostile.lua:2:", 1);
    expect_error("error({})", "error object is a table value", 0);
    expect_error("error('plain', 0)", "plain", 0);
    assert_int_not_equal(run("if then", err, sizeof(err)), EMBPROF_OK);
    assert_non_null(strstr(err, "hostile.lua:1:"));
}

static void
time_limit(void **state)
{
    ep_sandbox t;
    char err[256];
    const char *src = "while true do end";

    (void)state;
    assert_int_equal(ep_sandbox_open(&t, MAX_MEMORY, 1000000000, 50),
                     EMBPROF_OK);
    assert_int_equal(
        ep_sandbox_load(&t, src, strlen(src), "@t.lua", err, sizeof(err)),
        EMBPROF_OK);
    assert_int_not_equal(ep_sandbox_call(&t, 0, err, sizeof(err)), EMBPROF_OK);
    assert_non_null(strstr(err, "time limit exceeded"));
    ep_sandbox_close(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(infinite_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(memory_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(forbidden_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(bytecode, setup, teardown),
        cmocka_unit_test_setup_teardown(string_metatable, setup, teardown),
        cmocka_unit_test_setup_teardown(recursion, setup, teardown),
        cmocka_unit_test_setup_teardown(coroutines_and_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(errors_in_code, setup, teardown),
        cmocka_unit_test(time_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

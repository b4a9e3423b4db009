/*
 * sandbox.c -- the Lua state a policy runs in; see sandbox.h for what is
 * allowed and why.
 */
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "../runtime/clock.h"
#include "../runtime/error.h"
#include "../runtime/log.h"

/* Globals that exist in a full Lua and not here: naming one raises a
 * clear error instead of "attempt to index a nil value". */
static const char *const ep_absent_globals[] = {
    "io",       "debug",     "require", "package", "dofile",
    "loadfile", "coroutine", "warn",    NULL,
};
static const char *const ep_os_kept[] = {"clock", "time", "date", NULL};

ep_sandbox *
ep_sandbox_of(lua_State *L)
{
    return *(ep_sandbox **)lua_getextraspace(L);
}

/* The allocator: frees always succeed; growth past the limit fails, and
 * Lua turns that into a memory error after an emergency collection. */
static void *
sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ep_sandbox *sb = ud;
    size_t old = ptr != NULL ? osize : 0;
    void *p;

    if (nsize == 0) {
        sb->used -= old;
        free(ptr);
        return NULL;
    }
    if (nsize > old && nsize - old > sb->limit - sb->used) {
        sb->denied++;
        return NULL;
    }
    p = realloc(ptr, nsize);
    if (p == NULL) {
        return NULL;
    }
    sb->used = sb->used - old + nsize;
    if (sb->used > sb->peak) {
        sb->peak = sb->used;
    }
    return p;
}

/* Raises the kill error at the current instruction. */
static void
raise_killed(lua_State *L, lua_Debug *ar, ep_sandbox *sb)
{
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0) {
        lua_pushfstring(L, "%s:%d: %s", ar->short_src, ar->currentline,
                        sb->kill_why);
    } else {
        lua_pushstring(L, sb->kill_why);
    }
    lua_error(L);
}

static void
sb_hook(lua_State *L, lua_Debug *ar)
{
    ep_sandbox *sb = ep_sandbox_of(L);

    if (!sb->killed) {
        sb->instructions++;
        sb->left -= EP_SANDBOX_QUANTUM;
        if (sb->left <= 0) {
            snprintf(sb->kill_why, sizeof(sb->kill_why),
                     "instruction budget exhausted (policy.max_instructions"
                     "=%lld)",
                     (long long)sb->budget);
            sb->killed = true;
        } else if (sb->max_ns != 0 && ep_clock_now_ns() > sb->deadline) {
            snprintf(sb->kill_why, sizeof(sb->kill_why),
                     "time limit exceeded (policy.max_call_ms=%.0f)",
                     (double)sb->max_ns / 1e6);
            sb->killed = true;
        }
        if (!sb->killed) {
            return;
        }
        sb->kills++;
        /* From now on every instruction raises: an error caught by a
         * pcall in the script is raised again at the next instruction
         * after it, up to the engine's own protected call. */
        lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
    }
    raise_killed(L, ar, sb);
}

/* --- replaced base functions -------------------------------------------- */

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t". */
static int
sb_load(lua_State *L)
{
    int n = lua_gettop(L);

    if (n >= 3 && !lua_isnil(L, 3)) {
        const char *mode = luaL_checkstring(L, 3);

        if (strcmp(mode, "t") != 0) {
            return luaL_error(L, "load: only text chunks (mode \"t\") are "
                                 "allowed in a policy");
        }
    }
    lua_pushvalue(L, lua_upvalueindex(1)); /* the real load */
    lua_pushvalue(L, 1);
    if (n >= 2) {
        lua_pushvalue(L, 2);
    } else {
        lua_pushnil(L);
    }
    lua_pushliteral(L, "t");
    if (n >= 4) {
        lua_pushvalue(L, 4);
    }
    lua_call(L, n >= 4 ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L) - n;
}

static int
sb_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    int kb, b;

    if (strcmp(opt, "count") != 0) {
        return luaL_error(L,
                          "collectgarbage(\"%s\") is not available in a "
                          "policy (only \"count\")",
                          opt);
    }
    kb = lua_gc(L, LUA_GCCOUNT, 0);
    b = lua_gc(L, LUA_GCCOUNTB, 0);
    lua_pushnumber(L, (lua_Number)kb + ((lua_Number)b / 1024));
    return 1;
}

static int
sb_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);

    /* Checked here so that errors name this function, not '?'. */
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    /* A raw lookup, as Lua's own check for finalizers is: lua_getfield
     * would run the metatable's __index, which can rawset __gc after
     * this check has seen nil. */
    if (lua_istable(L, 2) &&
        (lua_pushliteral(L, "__gc"), lua_rawget(L, 2)) != LUA_TNIL) {
        return luaL_error(L, "setmetatable: __gc metamethods are not "
                             "allowed in a policy");
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1)); /* the real setmetatable */
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

const char *
ep_sandbox_join_args(lua_State *L)
{
    luaL_Buffer b;
    int n = lua_gettop(L);

    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) {
            luaL_addchar(&b, ' ');
        }
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* print(...) -> embprof's log (info). */
static int
sb_print(lua_State *L)
{
    ep_log(EP_LOG_INFO, "policy: %s", ep_sandbox_join_args(L));
    return 0;
}

/* __index of a table whose missing names are explained. upvalue 1: what
 * to call the table ("" for globals); upvalue 2: a hint. */
static int
sb_absent(lua_State *L)
{
    const char *prefix = lua_tostring(L, lua_upvalueindex(1));
    const char *hint = lua_tostring(L, lua_upvalueindex(2));
    const char *key = lua_tostring(L, 2);
    const char *const *names =
        (const char *const *)lua_touserdata(L, lua_upvalueindex(3));

    if (key != NULL) {
        for (size_t i = 0; names[i] != NULL; i++) {
            if (strcmp(names[i], key) == 0) {
                return luaL_error(L, "%s%s is not available in a policy%s",
                                  prefix, key, hint);
            }
        }
    }
    return 0; /* nil, as usual */
}

static const char *const ep_absent_os[] = {
    "execute", "exit",    "getenv",    "remove",
    "rename",  "tmpname", "setlocale", NULL,
};
static const char *const ep_absent_string[] = {"dump", NULL};

/* Gives the table at idx a protected metatable whose __index explains the
 * names in `names`. */
static void
explain_absent(lua_State *L, int idx, const char *prefix, const char *hint,
               const char *const *names)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_pushstring(L, prefix);
    lua_pushstring(L, hint);
    lua_pushlightuserdata(L, (void *)names);
    lua_pushcclosure(L, sb_absent, 3);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, idx);
}

/* Builds the environment; runs protected (a failed allocation raises). */
static int
sb_setup(lua_State *L)
{
    static const struct {
        const char *name;
        lua_CFunction open;
    } libs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},
    };

    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        luaL_requiref(L, libs[i].name, libs[i].open, 1);
        lua_pop(L, 1);
    }
    /* os: a new table with the three harmless functions. The full library
     * is opened only to copy them, then forgotten. */
    luaL_requiref(L, "os", luaopen_os, 0);
    lua_newtable(L);
    for (size_t i = 0; ep_os_kept[i] != NULL; i++) {
        lua_getfield(L, -2, ep_os_kept[i]);
        lua_setfield(L, -2, ep_os_kept[i]);
    }
    explain_absent(L, -1, "os.", " (only os.clock, os.time, os.date)",
                   ep_absent_os);
    lua_setglobal(L, "os");
    lua_pop(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushnil(L);
    lua_setfield(L, -2, "os");
    lua_pop(L, 1);

    /* base: remove, replace. */
    for (size_t i = 0; ep_absent_globals[i] != NULL; i++) {
        lua_pushnil(L);
        lua_setglobal(L, ep_absent_globals[i]);
    }
    lua_getglobal(L, "load");
    lua_pushcclosure(L, sb_load, 1);
    lua_setglobal(L, "load");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    lua_pushcfunction(L, sb_collectgarbage);
    lua_setglobal(L, "collectgarbage");
    lua_pushcfunction(L, sb_print);
    lua_setglobal(L, "print");

    /* string: no dump; strings index a private copy of the library; the
     * metatable cannot be fetched. */
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_newtable(L); /* the copy */
    lua_pushnil(L);
    while (lua_next(L, -3) != 0) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -4);
    }
    lua_pushliteral(L, "");
    if (!lua_getmetatable(L, -1)) {
        return luaL_error(L, "no string metatable");
    }
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 3); /* metatable, "", copy */
    explain_absent(L, -1, "string.", "", ep_absent_string);
    lua_pop(L, 1);

    lua_pushglobaltable(L);
    explain_absent(L, -1, "",
                   " (the sandbox has base, string, table, math, utf8 and "
                   "os.clock/time/date)",
                   ep_absent_globals);
    lua_pop(L, 1);
    return 0;
}

static void
sb_warn(void *ud, const char *msg, int tocont)
{
    (void)ud;
    (void)tocont;
    ep_log(EP_LOG_DEBUG, "policy: Lua warning: %s", msg);
}

int
ep_sandbox_open(ep_sandbox *sb, size_t max_memory, int64_t max_instructions,
                double max_call_ms)
{
    lua_State *L;

    memset(sb, 0, sizeof(*sb));
    sb->limit = max_memory;
    sb->budget = max_instructions;
    sb->max_ns = max_call_ms > 0 ? (uint64_t)(max_call_ms * 1e6) : 0;
    L = lua_newstate(sb_alloc, sb);
    if (L == NULL) {
        return ep_error(EMBPROF_ENOMEM,
                        "policy: cannot create a Lua state within "
                        "policy.max_memory (%zu bytes)",
                        max_memory);
    }
    *(ep_sandbox **)lua_getextraspace(L) = sb;
    lua_setwarnf(L, sb_warn, sb);
    sb->L = L;
    lua_pushcfunction(L, sb_setup);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        lua_close(L);
        sb->L = NULL;
        return ep_error(EMBPROF_ENOMEM,
                        "policy: the Lua libraries do not fit in "
                        "policy.max_memory (%zu bytes)",
                        max_memory);
    }
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, EP_SANDBOX_QUANTUM);
    return EMBPROF_OK;
}

void
ep_sandbox_close(ep_sandbox *sb)
{
    if (sb->L != NULL) {
        lua_close(sb->L);
        sb->L = NULL;
    }
}

/* Copies the message at the top of the stack into err as one line. */
static void
message(lua_State *L, int status, char *err, size_t errsize)
{
    const char *msg = lua_tostring(L, -1);
    ep_sandbox *sb = ep_sandbox_of(L);

    if (status == LUA_ERRMEM) {
        snprintf(err, errsize,
                 "not enough memory (policy.max_memory=%zu bytes)", sb->limit);
    } else {
        snprintf(err, errsize, "%s",
                 msg != NULL ? msg : "error object is not a string");
    }
    for (char *p = err; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            *p = ' ';
        }
    }
}

int
ep_sandbox_load(ep_sandbox *sb, const char *buf, size_t len,
                const char *chunkname, char *err, size_t errsize)
{
    int status = luaL_loadbufferx(sb->L, buf, len, chunkname, "t");

    if (status != LUA_OK) {
        message(sb->L, status, err, errsize);
        lua_pop(sb->L, 1);
        return status == LUA_ERRMEM ? EMBPROF_ENOMEM : EMBPROF_EINVAL;
    }
    return EMBPROF_OK;
}

/* Message handler: a non-string error object becomes a sentence; a
 * string without a position gets the one of the function that raised. */
static int
sb_msgh(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING) {
        lua_pushfstring(L, "error object is a %s value", luaL_typename(L, 1));
    }
    return 1;
}

int
ep_sandbox_call(ep_sandbox *sb, int nargs, char *err, size_t errsize)
{
    lua_State *L = sb->L;
    int base = lua_gettop(L) - nargs; /* the function's index */
    int status;

    lua_pushcfunction(L, sb_msgh);
    lua_insert(L, base);
    sb->left = sb->budget;
    sb->killed = false;
    sb->deadline = sb->max_ns ? ep_clock_now_ns() + sb->max_ns : 0;
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, EP_SANDBOX_QUANTUM);
    status = lua_pcall(L, nargs, 0, base);
    if (sb->killed) {
        lua_sethook(L, sb_hook, LUA_MASKCOUNT, EP_SANDBOX_QUANTUM);
        sb->killed = false;
    }
    if (status != LUA_OK) {
        message(L, status, err, errsize);
        lua_settop(L, base - 1);
        return status == LUA_ERRMEM ? EMBPROF_ENOMEM : EMBPROF_EINVAL;
    }
    lua_settop(L, base - 1);
    return EMBPROF_OK;
}

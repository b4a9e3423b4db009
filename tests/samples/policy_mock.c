/*
 * policy_mock -- runs a sample policy (a .lua file under samples/) against
 * a mock of the Lua policy API (embprof.on, every, window, start, stop,
 * active, export, log) until the real engine (scripting/) is in the
 * build: loads the file, feeds it observations and timer ticks, and
 * checks what it asked for.
 *
 *   policy_mock POLICY METRIC SLOW_VALUE EXPORT_PREFIX
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdio.h>

/* The mock API, and a scenario: quiet, one slow value, time passes, a
 * second slow value inside the cooldown, then with the sampler already
 * running. Any violation raises an error naming it. */
static const char mock[] =
    "local metric, slow, prefix = ...\n"
    "local M = {on = {}, every = {}, started = {}, exports = {}, running = "
    "false}\n"
    "embprof = {}\n"
    "function embprof.on(name, fn) assert(type(name) == 'string' and type(fn) "
    "== 'function')\n"
    "  M.on[name] = M.on[name] or {}; table.insert(M.on[name], fn) end\n"
    "function embprof.every(ms, fn) assert(type(ms) == 'number' and ms > 0 "
    "and type(fn) == 'function')\n"
    "  table.insert(M.every, {ms = ms, fn = fn, due = ms}) end\n"
    "local W = {}\n"
    "for _, k in ipairs({'count', 'mean', 'max', 'p50', 'p99'}) do W[k] = "
    "function() return 1.0 end end\n"
    "function embprof.window(name, s) assert(type(name) == 'string' and s > "
    "0); return W end\n"
    "function embprof.start(t) assert(type(t) == 'table' and t.probe == "
    "'sampler', 'start{probe=...}')\n"
    "  assert(not M.running, 'started the sampler while it runs'); M.running "
    "= true\n"
    "  table.insert(M.started, t) end\n"
    "function embprof.stop(p) assert(p == 'sampler' and M.running, 'stop of a "
    "stopped probe'); M.running = false end\n"
    "function embprof.active(p) return p == 'sampler' and M.running end\n"
    "function embprof.export(t) assert(type(t) == 'table' and t.format and "
    "t.path, 'export{format=,path=}')\n"
    "  assert(t.path:sub(1, #prefix) == prefix, 'export path ' .. t.path); "
    "table.insert(M.exports, t) end\n"
    "function embprof.log(...) end\n"
    "local now = 0\n"
    "local function observe(v) for _, fn in ipairs(M.on[metric] or {}) do "
    "fn(v, metric) end end\n"
    "local function advance(ms) local stop = now + ms\n"
    "  while now < stop do now = now + 10\n"
    "    for _, e in ipairs(M.every) do if now >= e.due then e.due = e.due + "
    "e.ms; e.fn() end end end end\n"
    "return M, observe, advance, tonumber(slow)\n";

static const char scenario[] =
    "local M, observe, advance, slow = ...\n"
    "assert(next(M.on), 'the policy subscribes to no metric')\n"
    "for i = 1, 50 do observe(1.0) end; advance(500)\n"
    "assert(#M.started == 0, 'profiled while nothing was slow')\n"
    "observe(slow)\n"
    "assert(#M.started == 1, 'a slow value did not start the sampler')\n"
    "observe(slow); assert(#M.started == 1, 'started twice for one "
    "incident')\n"
    "advance(3000)\n"
    "assert(not M.running, 'the sampler still runs after the profile')\n"
    "assert(#M.exports >= 1, 'no profile written')\n"
    "local n = #M.exports\n"
    "observe(slow); assert(#M.started == 1, 'the cooldown did not hold')\n"
    "advance(10000)\n"
    "M.running = true  -- the host runs the sampler itself\n"
    "observe(slow)\n"
    "assert(#M.started == 1 and #M.exports > n, 'with the sampler on: no "
    "snapshot')\n"
    "return #M.exports\n";

int
main(int argc, char **argv)
{
    lua_State *L;
    int i, exports;

    if (argc != 5) {
        fprintf(stderr, "usage: policy_mock POLICY METRIC SLOW PREFIX\n");
        return 2;
    }
    L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadstring(L, mock) != LUA_OK) {
        goto fail;
    }
    for (i = 2; i <= 4; i++) {
        lua_pushstring(L, argv[i]);
    }
    if (lua_pcall(L, 3, 4, 0) != LUA_OK) { /* M, observe, advance, slow */
        goto fail;
    }
    if (luaL_loadfile(L, argv[1]) != LUA_OK || lua_pcall(L, 0, 0, 0)) {
        goto fail;
    }
    if (luaL_loadstring(L, scenario) != LUA_OK) {
        goto fail;
    }
    lua_insert(L, -5);
    if (lua_pcall(L, 4, 1, 0) != LUA_OK) {
        goto fail;
    }
    exports = (int)lua_tointeger(L, -1);
    printf("policy_mock: %s: ok (%d exports)\n", argv[1], exports);
    lua_close(L);
    return 0;
fail:
    fprintf(stderr, "policy_mock: %s: %s\n", argv[1], lua_tostring(L, -1));
    lua_close(L);
    return 1;
}

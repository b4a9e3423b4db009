"""Lua policies on a running host (embprof-run --socket on workload.py),
through the socket's `policy` command and its event stream.

Each hostile policy of issue #6 is its own case: it gets a clear error
(file:line where Lua knows it) in the reply or as policy_error events,
its rule is disabled after policy.max_failures failures, and the host
keeps running and answering. Also: list, disable, reload keeps the old
policy on a syntax error, levels, policy.dir, rolling.lua's keep=."""
import json
import os
import tempfile
import threading
import time

from ctlutil import Ctl, Host, ask, check, cleanup, main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_host = None


class Events:
    """A subscribed connection collecting events in the background."""

    def __init__(self, h):
        self.s, self.f = h.raw(timeout=None)
        check(ask(self.f, "subscribe")["ok"], "subscribe")
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.f:
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def wait(self, pred, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            hits = [e for e in list(self.lines) if pred(e)]
            if hits:
                return hits
            time.sleep(0.02)
        raise AssertionError("no such event within %ss; got %r"
                             % (timeout, self.lines[-10:]))

    def clear(self):
        self.lines.clear()


def host(a):
    global _host
    if _host is None or _host[0].proc.poll() is not None:
        h = Host(a.embprof_run, sets=("policy.period_ms=20",
                                      "policy.max_instructions=200000",
                                      "policy.max_memory=4194304",
                                      "policy.max_actions=1000"))
        _host = (h, Events(h))
    return _host


def write(h, name, src):
    path = os.path.join(h.d, name)
    with open(path, "w") as f:
        f.write(src)
    return path


def req(h, line):
    s, f = h.raw()
    try:
        return ask(f, line)
    finally:
        f.close()
        s.close()


def hostile_callback(a, name, body, want):
    """A policy whose rule runs body every 20 ms: each call fails with
    want in the error, the rule is disabled after 3 failures, the host
    goes on."""
    h, ev = host(a)
    ev.clear()
    path = write(h, name, "embprof.every(20, function()\n" + body +
                 "\nend, 'hostile')\n")
    r = req(h, "policy load " + path)
    check(r["ok"], "load %s: %r" % (name, r))
    # Only this policy's events: one of the previous policy's may still
    # be on its way.
    errs = ev.wait(lambda e: e.get("event") == "policy_error" and
                   e.get("policy") == name)
    check(want in errs[0]["error"], "%s: error %r lacks %r"
          % (name, errs[0]["error"], want))
    ev.wait(lambda e: e.get("event") == "policy_rule_disabled" and
            e.get("rule") == "hostile" and e.get("policy") == name)
    errs = [e for e in ev.lines if e.get("event") == "policy_error" and
            e.get("policy") == name]
    check(len(errs) == 3, "%d errors before the rule was disabled" %
          len(errs))
    check(errs[-1]["failures"] == 3, errs[-1])
    lst = req(h, "policy list")["policy"]
    rule = [r for r in lst["rules"] if r["name"] == "hostile"][0]
    check(rule["enabled"] is False and rule["errors"] == 3, rule)
    check(want in rule["last_error"], rule)
    h.alive()
    return errs[0]["error"]


def hostile_main(a, name, src, want):
    """A policy whose main chunk is hostile: the load fails with
    policy_error naming file:line, the previous policy stays."""
    h, ev = host(a)
    good = write(h, "good.lua", "embprof.every(1000, function() end, "
                 "'good')\n")
    check(req(h, "policy load " + good)["ok"], "good policy")
    path = write(h, name, src)
    r = req(h, "policy load " + path)
    check(r["ok"] is False and r["code"] == "policy_error", r)
    check(want in r["error"], "%s: %r lacks %r" % (name, r["error"], want))
    lst = req(h, "policy list")["policy"]
    check(lst["name"] == "good.lua", "the old policy went away: %r" % lst)
    h.alive()
    return r["error"]


def c_infinite_loop(a):
    e = hostile_callback(a, "loop.lua", "while true do end",
                         "instruction budget exhausted")
    check(e.startswith("loop.lua:2:"), e)
    hostile_main(a, "loop_main.lua", "while true do end",
                 "loop_main.lua:1: instruction budget exhausted")


def c_memory_bomb(a):
    hostile_callback(a, "bomb.lua",
                     "local t = {} for i = 1, 1e9 do t[i] = "
                     "string.rep('x', 1e5 + i) end",
                     "not enough memory")
    hostile_main(a, "bomb_main.lua",
                 "local s = 'x' while true do s = s .. s end",
                 "not enough memory")


def c_os_execute(a):
    marker = os.path.join(host(a)[0].d, "pwned")
    hostile_callback(a, "exec.lua", "os.execute('touch %s')" % marker,
                     "exec.lua:2: os.execute is not available")
    check(not os.path.exists(marker), "os.execute ran")


def c_io_open(a):
    hostile_callback(a, "io.lua", "local f = io.open('/etc/passwd')",
                     "io.lua:2: io is not available")


def c_load_bytecode(a):
    hostile_callback(a, "bytecode.lua",
                     "local f, e = load('\\27Lua\\84\\0\\25\\147') "
                     "if not f then error(e) end f()",
                     "attempt to load a binary chunk")
    hostile_callback(a, "bytecode_b.lua", "load('\\27Lua', 'x', 'b')",
                     "only text chunks")
    # A binary file as the policy itself.
    h, _ = host(a)
    path = os.path.join(h.d, "binary.lua")
    with open(path, "wb") as f:
        f.write(b"\x1bLuaT\x00\x19\x93\r\n\x1a\n\x04\x08\x08")
    r = req(h, "policy load " + path)
    check(r["ok"] is False and "binary" in r["error"], r)


def c_string_dump(a):
    hostile_callback(a, "dump.lua", "return string.dump(print)",
                     "string.dump is not available")


def c_debug(a):
    hostile_callback(a, "debug.lua", "debug.sethook()",
                     "debug is not available")


def c_require(a):
    hostile_callback(a, "require.lua", "require('io')",
                     "require is not available")


def c_string_metatable(a):
    hostile_callback(a, "strmt.lua", "getmetatable('').__index = {}",
                     "attempt to index a boolean value")
    hostile_callback(a, "strmt2.lua",
                     "string.upper = nil assert(('a'):upper() == 'A') "
                     "error('methods intact')",
                     "methods intact")


def c_deep_recursion(a):
    h, ev = host(a)
    e = hostile_callback(a, "recurse.lua",
                         "local function f() return 1 + f() end f()", "")
    # Whichever limit comes first (a sanitized host is slow enough for
    # the time limit to win).
    check("stack overflow" in e or "not enough memory" in e or
          "instruction budget" in e or "time limit exceeded" in e, e)


def c_coroutine(a):
    hostile_callback(a, "coro.lua",
                     "coroutine.wrap(function() while true do end end)()",
                     "coroutine is not available")
    hostile_callback(a, "gc.lua",
                     "setmetatable({}, {__gc = function() while true do "
                     "end end})",
                     "__gc metamethods are not allowed")
    # pcall cannot swallow the budget.
    hostile_callback(a, "pcall.lua",
                     "while true do pcall(function() while true do end "
                     "end) end",
                     "instruction budget exhausted")


def c_error_in_callback(a):
    e = hostile_callback(a, "err.lua", "local x = nil\nreturn x.field",
                         "attempt to index a nil value")
    check(e.startswith("err.lua:3:"), e)
    # A rule that fails only sometimes is not disabled.
    h, ev = host(a)
    ev.clear()
    path = write(h, "flaky.lua",
                 "local n = 0\nembprof.every(20, function()\n"
                 "n = n + 1 if n % 2 == 0 then error('even') end end, "
                 "'flaky')\n")
    check(req(h, "policy load " + path)["ok"], "flaky")
    time.sleep(0.6)
    rule = req(h, "policy list")["policy"]["rules"][0]
    check(rule["enabled"] and rule["errors"] >= 3, rule)


def c_reload_syntax_error(a):
    h, ev = host(a)
    path = write(h, "reload.lua",
                 "embprof.every(50, function() end, 'first')\n")
    check(req(h, "policy load " + path)["ok"], "load")
    with open(path, "w") as f:
        f.write("embprof.every(50, function() end, 'second'\n")  # no )
    ev.clear()
    r = req(h, "policy reload")
    check(r["ok"] is False and r["code"] == "policy_error", r)
    check("reload.lua:2:" in r["error"] or "reload.lua:1:" in r["error"],
          r["error"])
    ev.wait(lambda e: e.get("event") == "policy_load_failed" and
            e.get("kept") is True)
    lst = req(h, "policy list")["policy"]
    check([x["name"] for x in lst["rules"]] == ["first"], lst)
    check(lst["rules"][0]["enabled"], lst)
    with open(path, "w") as f:
        f.write("embprof.every(50, function() end, 'second')\n")
    check(req(h, "policy reload")["ok"], "reload")
    lst = req(h, "policy list")["policy"]
    check([x["name"] for x in lst["rules"]] == ["second"], lst)
    h.alive()


def c_list_disable_levels(a):
    h, ev = host(a)
    path = write(h, "two.lua",
                 "embprof.on('m', function() end)\n"
                 "embprof.every(100, function() end, 'tick')\n")
    r = req(h, "policy load " + path)
    check(r["ok"], r)
    names = [x["name"] for x in r["policy"]["rules"]]
    check(names == ["two.lua:1", "tick"], names)
    check(r["policy"]["rules"][0]["metric"] == "m", r)
    r = req(h, "policy disable tick")
    check(r["ok"] and not r["policy"]["rules"][1]["enabled"], r)
    r = req(h, "policy disable nosuch")
    check(r["ok"] is False and r["code"] == "bad_argument", r)
    r = req(h, "policy frobnicate")
    check(r["ok"] is False and r["code"] == "bad_request", r)
    r = req(h, "policy load /nonexistent/x.lua")
    check(r["ok"] is False and "cannot read" in r["error"], r)
    # read level: list yes, load/reload/disable no
    s, f = h.raw()
    check(ask(f, "level read")["ok"], "level read")
    check(ask(f, "policy list")["ok"], "list at read level")
    for line in ("policy load " + path, "policy reload",
                 "policy disable tick"):
        r = ask(f, line)
        check(r["ok"] is False and r["code"] == "forbidden", r)
    f.close()
    s.close()
    ctl = Ctl(a.embprofctl)
    out = ctl("-s", h.sock, "help").stdout
    check("policy load FILE" in out, out)


def c_policy_dir(a):
    ctl = Ctl(a.embprofctl)
    h = Host(a.embprof_run)
    try:
        pass
    finally:
        h.finish()
    d = os.path.join(h.d, "policies")
    os.makedirs(d)
    with open(os.path.join(d, "ok.lua"), "w") as f:
        f.write("embprof.log('hello')\n")
    h2 = Host(a.embprof_run, d=h.d, sets=("policy.dir=" + d,))
    try:
        check(req(h2, "policy load ok.lua")["ok"], "relative to policy.dir")
        r = req(h2, "policy load " + os.path.join(h.d, "good.lua"))
        check(r["ok"] is False and r["code"] == "forbidden", r)
        r = req(h2, "policy load ../x.lua")
        check(r["ok"] is False and r["code"] == "forbidden", r)
    finally:
        h2.finish()
    del ctl


def c_rolling_keep(a):
    """rolling.lua with a 0.6 s period keeps the newest 6 files and
    deletes only files its template could have written."""
    src = open(os.path.join(REPO, "samples", "policies",
                            "rolling.lua")).read()
    check("local MINUTES = 10" in src, "rolling.lua changed")
    h = Host(a.embprof_run, sets=("policy.max_actions=1000",))
    try:
        path = write(h, "rolling.lua",
                     src.replace("local MINUTES = 10", "local MINUTES = 0.01"))
        # bystanders that must survive
        for name in ("rolling-notes.folded", "rolling-1-x.folded",
                     "other-1.folded"):
            open(os.path.join(h.out, name), "w").close()
        os.symlink("/etc/passwd", os.path.join(h.out,
                                               "rolling-19990101-000000-1"
                                               ".folded"))
        check(req(h, "policy load " + path)["ok"], "load rolling")
        deadline = time.time() + 30
        while time.time() < deadline:
            lst = req(h, "policy list")["policy"]
            if lst["actions"] >= 2 * 9:
                break
            time.sleep(0.2)
        files = sorted(os.listdir(h.out))
        kept = [x for x in files if x.startswith("rolling-2")]
        check(len(kept) == 6, "kept %r" % files)
        for name in ("rolling-notes.folded", "rolling-1-x.folded",
                     "other-1.folded", "rolling-19990101-000000-1.folded"):
            check(name in files, "%s was deleted: %r" % (name, files))
        check(os.path.exists("/etc/passwd"), "!")
        h.alive()
    finally:
        h.finish()


def c_windows_and_counters(a):
    """A window asked for again (in a loop, in a callback) is the same
    window, not one more towards the limit; %n counts per template, so
    files written together share their number."""
    h, ev = host(a)
    path = write(h, "pairs.lua",
                 "local w = embprof.window('m', 5)\n"
                 "for i = 1, 100 do embprof.window('m', 5) end\n"
                 "for i = 1, 2 do\n"
                 "  assert(embprof.export{format='dump', path='pair-%n.dump'})\n"
                 "  assert(embprof.export{format='dump', path='pair-%n.txt'})\n"
                 "end\n")
    r = req(h, "policy load " + path)
    check(r["ok"] and r["policy"]["windows"] == 1, r)
    got = sorted(x for x in os.listdir(h.out) if x.startswith("pair-"))
    check(got == ["pair-1.dump", "pair-1.txt", "pair-2.dump", "pair-2.txt"],
          got)
    h.alive()


def c_slow_pattern_exit(a):
    """A callback stuck in one long C call (a backtracking pattern over a
    long string, which no instruction budget can interrupt) holds the
    control thread, but not the host's exit: finalize waits a bounded time
    and says why."""
    d = tempfile.mkdtemp(prefix="embprof-ctl-")
    pol = os.path.join(d, "slow.lua")
    with open(pol, "w") as f:
        f.write("embprof.every(20, function()\n"
                "  local s = string.rep('a', 100000)\n"
                "  return s:find('.-.-.-.-b')\n"
                "end, 'slow')\n")
    # (Not through the socket: the stuck control thread cannot answer.)
    h = Host(a.embprof_run, d=d, sets=("policy.file=" + pol,), wait=False)
    try:
        deadline = time.time() + 30
        while h.progress_now() == 0 and time.time() < deadline:
            check(h.proc.poll() is None, "host died: " + h.stderr())
            time.sleep(0.05)
        time.sleep(0.5)  # the callback is inside find() now
        t0 = time.time()
        h.finish()
        took = time.time() - t0
        check(took < 30, "host took %.1f s to exit" % took)
        check("did not stop within" in h.stderr(), h.stderr())
    finally:
        h.kill()
    cleanup(d)


def c_zz_host_ends_cleanly(a):
    if _host is not None:
        _host[0].finish()


CASES = [(n[2:], f) for n, f in sorted(globals().items())
         if n.startswith("c_")]

if __name__ == "__main__":
    main(CASES)

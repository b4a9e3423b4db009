"""A real host (embprof-run --socket on a long-running workload) driven
through embprofctl: start the sampler, export speedscope and collapsed,
stop; dump; top; status; config; events; errors and exit statuses."""
import json
import os
import re
import time

from ctlutil import FN, Ctl, Host, ask, check, cleanup, main

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def workflow(a):
    ctl = Ctl(a.embprofctl)
    h = Host(a.embprof_run)
    try:
        S = ["-s", h.sock]
        # status, human and JSON
        r = ctl(*S, "status")
        check("python:" in r.stdout and "sampler:" in r.stdout, r.stdout)
        st = json.loads(ctl(*S, "--json", "status").stdout)
        check(st["ok"] is True, st)
        for k in ("version", "python", "pid", "uptime_s", "probes",
                  "samples", "drops", "sampler_cpu_ns", "control_cpu_ns",
                  "embprof_cpu_ns"):
            check(k in st, "status lacks " + k)
        check(st["pid"] == h.proc.pid, "status pid %r" % st["pid"])
        check(st["probes"]["sampler"]["active"] is False, st)
        check(st["probes"]["sampler"]["rate"] == 100, st)
        check(st["python"].count(".") >= 1, st["python"])

        # help is generated from the command table
        r = ctl(*S, "help")
        for c in ("status", "start", "stop", "reset", "dump", "top",
                  "export", "config", "subscribe", "quit"):
            check(re.search(r"^\s+%s\b" % c, r.stdout, re.M),
                  "help lacks " + c + ":\n" + r.stdout)
        hj = json.loads(ctl(*S, "--json", "help").stdout)
        check(all({"name", "usage", "level", "doc"} <= set(c)
                  for c in hj["commands"]), hj)

        # start, with options through the option table
        r = ctl(*S, "start", "sampler", "rate=500", "mode=wall")
        check(r.stdout.strip() == "ok", r.stdout)
        st = json.loads(ctl(*S, "--json", "status").stdout)
        check(st["probes"]["sampler"]["active"] is True, st)
        check(st["probes"]["sampler"]["rate"] == 500, st)
        r = ctl(*S, "start", "sampler", rc=1)
        check("bad_state" in r.stderr and "already" in r.stderr, r.stderr)
        time.sleep(1.2)
        st = json.loads(ctl(*S, "--json", "status").stdout)
        check(st["samples"] > 0, "no samples after 1.2 s: %r" % st)
        # embprof's own CPU time, live while the sampler runs
        check(0 < st["sampler_cpu_ns"] < 2e9 and
              st["embprof_cpu_ns"] == st["sampler_cpu_ns"] +
              st["control_cpu_ns"], st)

        # export speedscope: the server writes under output.dir, the
        # client copies the named file
        ss = os.path.join(h.d, "p.speedscope.json")
        r = ctl(*S, "export", "speedscope", "-o", ss)
        check("copied to" in r.stdout, r.stdout)
        doc = json.load(open(ss))
        check(doc.get("$schema") == SPEEDSCOPE_SCHEMA, doc.get("$schema"))
        check(doc["profiles"] and doc["shared"]["frames"], "empty speedscope")
        check(any(f["name"] == FN for f in doc["shared"]["frames"]),
              "speedscope lacks " + FN)
        for prof in doc["profiles"]:
            n = len(doc["shared"]["frames"])
            check(all(0 <= i < n for s in prof["samples"] for i in s),
                  "frame index out of range")
            check(len(prof["samples"]) == len(prof["weights"]),
                  "samples/weights differ")

        # export collapsed: the JSON reply names the file under output.dir
        r = ctl(*S, "--json", "export", "collapsed")
        rep = json.loads(r.stdout)
        check(rep["ok"] and rep["format"] == "collapsed", rep)
        f = rep["file"]
        check(os.path.dirname(f) == os.path.realpath(h.out), f)
        check(re.match(r"embprof-\d+-\d{8}-\d{6}-\d+\.folded$",
                       os.path.basename(f)), f)
        check(rep["bytes"] == os.path.getsize(f), rep)
        folded = os.path.join(h.d, "p.folded")
        ctl(*S, "export", "collapsed", "-o", folded)
        for path in (f, folded):
            lines = open(path).read().splitlines()
            check(lines and all(re.match(r"^.+ \d+$", l) for l in lines),
                  lines[:3])
            check(any(FN in l for l in lines), "folded lacks " + FN)
        # path= and a positional name, both under output.dir
        r = ctl(*S, "--json", "export", "speedscope", "path=named.json")
        check(json.loads(r.stdout)["file"] ==
              os.path.join(os.path.realpath(h.out), "named.json"), r.stdout)
        os.mkdir(os.path.join(h.out, "sub"))
        r = ctl(*S, "--json", "export", "top", "sub/top.txt")
        check(os.path.exists(os.path.join(h.out, "sub", "top.txt")),
              r.stdout)

        # top: the workload's function is the hottest
        r = ctl(*S, "top", "--once", "-r", "5")
        check(FN in r.stdout and "%Own" in r.stdout, r.stdout)
        tj = json.loads(ctl(*S, "--json", "top", "n=3").stdout)
        check(len(tj["functions"]) <= 3 and
              tj["functions"][0]["function"].endswith(FN), tj)
        r = ctl(*S, "top", "-n", "2", "-i", "0.1")  # not a tty: once
        check(r.stdout.count("%Own") == 1 and "\033[" not in r.stdout,
              r.stdout)

        ctl(*S, "stop", "sampler")
        r = ctl(*S, "stop", "sampler", rc=1)
        check("bad_state" in r.stderr, r.stderr)
        n1 = json.loads(ctl(*S, "--json", "status").stdout)["samples"]
        time.sleep(0.3)
        n2 = json.loads(ctl(*S, "--json", "status").stdout)["samples"]
        check(n1 == n2, "samples grew after stop")

        # dump: every thread's stack now, no sampler needed
        # A dump is one instant: both threads spend ~99 % of their time in
        # FN, but may be caught between calls, so ask a few times.
        for _ in range(20):
            r = ctl(*S, "dump")
            if FN in r.stdout:
                break
        check(FN in r.stdout and "workload.py" in r.stdout, r.stdout)
        for _ in range(20):
            dj = json.loads(ctl(*S, "--json", "dump").stdout)
            names = [fr["name"] for t in dj["threads"] for fr in t["frames"]]
            if any(n.endswith(FN) for n in names):
                break
        check(any(n.endswith(FN) for n in names), names)
        check(len(dj["threads"]) >= 2, "dump: %d threads" %
              len(dj["threads"]))
        check(any("control_test_worker" in n for n in names), names)

        # reset drops the samples, and exports then say so
        ctl(*S, "reset")
        check(json.loads(ctl(*S, "--json", "status").stdout)["samples"] == 0,
              "reset kept samples")
        r = ctl(*S, "export", "collapsed", rc=1)
        check("no_data" in r.stderr, r.stderr)

        # config
        r = ctl(*S, "config", "set", "sampler.rate", "250")
        cj = json.loads(ctl(*S, "--json", "config", "get",
                            "sampler.rate").stdout)
        check(cj["value"] == "250", cj)
        ctl(*S, "config", "set", "sampler.mode=cpu")
        allc = json.loads(ctl(*S, "--json", "config", "get").stdout)
        check(allc["config"]["sampler.mode"] == "cpu" and
              allc["config"]["control.socket"] == h.sock, allc)
        h.finish()
        check(not os.path.exists(h.sock), "socket left behind at exit")
    finally:
        h.kill()
    cleanup(h.d)


def errors(a):
    ctl = Ctl(a.embprofctl)
    h = Host(a.embprof_run)
    try:
        S = ["-s", h.sock]
        r = ctl(*S, "frobnicate", rc=1)
        check("unknown_command" in r.stderr, r.stderr)
        r = ctl(*S, "--json", "frobnicate", rc=1)
        j = json.loads(r.stdout)
        check(set(j) == {"ok", "error", "code"} and j["ok"] is False and
              j["code"] == "unknown_command", j)
        # gil: no data before the GIL probe ran; then the live report
        r = ctl(*S, "gil", rc=1)
        check("no_data" in r.stderr and "gil" in r.stderr, r.stderr)
        ctl(*S, "start", "gil")
        r = ctl(*S, "gil")
        check("GIL report" in r.stdout and "diagnosis:" in r.stdout,
              r.stdout)
        r = ctl(*S, "--json", "gil")
        j = json.loads(r.stdout)
        check(j["ok"] is True and "switch_interval_us" in j["report"] and
              isinstance(j["report"]["threads"], list), j)
        r = ctl(*S, "--json", "start", "gil", "output=/tmp/x.json", rc=1)
        check(json.loads(r.stdout)["code"] == "forbidden", r.stdout)
        ctl(*S, "stop", "gil")
        # a bad option value gets the option table's own message
        r = ctl(*S, "--json", "start", "sampler", "rate=0", rc=1)
        j = json.loads(r.stdout)
        check(j["code"] == "bad_argument" and
              j["error"].startswith("sampler.rate: invalid value \"0\"") and
              "1..10000" in j["error"], j)
        r = ctl(*S, "start", "sampler", "mode=fast", rc=1)
        check("bad_argument" in r.stderr and "wall|cpu" in r.stderr,
              r.stderr)
        r = ctl(*S, "start", "sampler", "bogus=1", rc=1)
        check("unknown option" in r.stderr, r.stderr)
        r = ctl(*S, "start", "nosuchprobe", rc=1)
        check("unknown probe" in r.stderr, r.stderr)
        # The tracer starts and stops from the control thread (no GIL:
        # the main thread installs its hooks at its next bytecode).
        ctl(*S, "start", "tracer", "clock=cpu", rc=0)
        r = ctl(*S, "start", "tracer", rc=1)
        check("already running" in r.stderr, r.stderr)
        ctl(*S, "stop", "tracer", rc=0)
        r = ctl(*S, "start", "sampler", "output.file=/tmp/x.folded", rc=1)
        check("bad_argument" in r.stderr and "not an option" in r.stderr,
              r.stderr)
        r = ctl(*S, "start", rc=1)
        check("bad_request" in r.stderr and "usage" in r.stderr, r.stderr)
        ctl(*S, "top", "n=0", rc=2)  # embprofctl checks it first
        s, f = h.raw()
        for bad in ("top n=0", "top n=x", "top 5", "top n=10001"):
            check(ask(f, bad)["code"] == "bad_argument", bad)
        f.close()
        s.close()
        r = ctl(*S, "export", "pdf", rc=1)
        check("bad_argument" in r.stderr and "collapsed" in r.stderr,
              r.stderr)
        # nothing was started by the failures
        st = json.loads(ctl(*S, "--json", "status").stdout)
        check(st["probes"]["sampler"]["active"] is False, st)
        ctl(*S, "start", "sampler", "rate=200")
        time.sleep(0.5)

        # exports stay under output.dir
        outside = os.path.join(h.d, "escape.folded")
        for p in ("../escape.folded", "sub/../../escape.folded",
                  outside, "/etc/escape.folded", "/nonexistent/x.folded"):
            r = ctl(*S, "--json", "export", "collapsed", "path=" + p, rc=1)
            check(json.loads(r.stdout)["code"] == "forbidden",
                  p + ": " + r.stdout)
        os.symlink(h.d, os.path.join(h.out, "link"))
        r = ctl(*S, "--json", "export", "collapsed",
                "path=link/escape.folded", rc=1)
        check(json.loads(r.stdout)["code"] == "forbidden",
              "symlink escape: " + r.stdout)
        check(not os.path.exists(outside), "a file was written outside")
        r = ctl(*S, "--json", "export", "collapsed",
                "path=missing/x.folded", rc=1)
        check(json.loads(r.stdout)["code"] == "io_error", r.stdout)
        # an absolute path inside output.dir is fine
        inside = os.path.join(h.out, "abs.folded")
        ctl(*S, "export", "collapsed", "path=" + inside)
        check(os.path.exists(inside), "absolute path inside output.dir")

        # settings that decide where files go cannot change from here
        for key in ("output.dir", "output.file", "log.file"):
            r = ctl(*S, "--json", "config", "set", key, "/tmp/x", rc=1)
            check(json.loads(r.stdout)["code"] == "forbidden", r.stdout)
        r = ctl(*S, "config", "set", "control.socket", "/tmp/x", rc=1)
        check("cannot change while the host runs" in r.stderr, r.stderr)
        r = ctl(*S, "config", "set", "sampler.rate", "99999", rc=1)
        check("bad_argument" in r.stderr and "sampler.rate" in r.stderr,
              r.stderr)
        r = ctl(*S, "config", "get", "no.such", rc=1)
        check("unknown option" in r.stderr, r.stderr)

        # a session can lower its level, never raise it
        s, f = h.raw()
        check(ask(f, "level")["level"] == "admin", "level")
        check(ask(f, "level read")["level"] == "read", "level read")
        j = ask(f, "stop sampler")
        check(j["code"] == "forbidden" and "admin" in j["error"], j)
        check(ask(f, "config set sampler.rate 10")["code"] == "forbidden",
              "config set at read level")
        check(ask(f, "level admin")["code"] == "forbidden", "raised level")
        check(ask(f, "status")["ok"], "status at read level")
        f.close()
        s.close()

        # the profile survived all of that
        r = ctl(*S, "--json", "export", "collapsed")
        check(FN in open(json.loads(r.stdout)["file"]).read(),
              "profile damaged")

        # unreachable sockets: exit 3 with the reason; usage: exit 2
        r = ctl("-s", os.path.join(h.d, "missing.sock"), "status", rc=3)
        check("no such socket" in r.stderr, r.stderr)
        r = ctl("status", rc=3, env={"EMBPROF_CONTROL_SOCKET":
                                     os.path.join(h.d, "missing.sock")})
        check("no such socket" in r.stderr, r.stderr)
        r = ctl("--json", "status",
                env={"EMBPROF_CONTROL_SOCKET": h.sock})
        check(json.loads(r.stdout)["ok"], r.stdout)
        import socket as so
        dead = os.path.join(h.d, "dead.sock")
        x = so.socket(so.AF_UNIX)
        x.bind(dead)
        x.close()
        r = ctl("-s", dead, "status", rc=3)
        check("refused" in r.stderr, r.stderr)
        if os.geteuid() != 0:
            os.chmod(h.sock, 0o000)
            r = ctl(*S, "status", rc=3)
            os.chmod(h.sock, 0o600)
            check("ermission denied" in r.stderr, r.stderr)
        ctl("status", rc=2)
        ctl(*S, rc=2)
        ctl(*S, "--bogus", "status", rc=2)
        r = ctl("--help")
        check("usage:" in r.stdout and "top" in r.stdout, r.stdout)
        r = ctl("--version")
        check(re.match(r"embprofctl \d+\.\d+\.\d+", r.stdout), r.stdout)
        h.finish()
    finally:
        h.kill()
    cleanup(h.d)


def events(a):
    """subscribe streams what any front end does, as JSON lines."""
    ctl = Ctl(a.embprofctl)
    h = Host(a.embprof_run, sets=["control.idle_timeout=1"])
    try:
        S = ["-s", h.sock]
        sub, f = h.raw()
        check(ask(f, "subscribe") == {"ok": True, "subscribed": True},
              "subscribe")
        ctl(*S, "start", "sampler", "rate=300", "mode=cpu")
        ev = json.loads(f.readline())
        check(ev == {"event": "probe_started", "probe": "sampler",
                     "rate": 300, "mode": "cpu"}, ev)
        time.sleep(1.5)  # longer than the idle timeout: subscribers stay
        r = ctl(*S, "--json", "export", "speedscope")
        ev = json.loads(f.readline())
        check(ev["event"] == "export_written" and
              ev["format"] == "speedscope" and
              ev["file"] == json.loads(r.stdout)["file"], ev)
        ctl(*S, "stop", "sampler")
        ev = json.loads(f.readline())
        check(ev == {"event": "probe_stopped", "probe": "sampler"}, ev)
        ctl(*S, "reset")
        check(json.loads(f.readline()) == {"event": "reset"}, "reset event")
        ctl(*S, "config", "set", "sampler.rate", "123")
        ev = json.loads(f.readline())
        check(ev == {"event": "config_set", "key": "sampler.rate",
                     "value": "123"}, ev)
        # the subscriber can still make requests
        check(ask(f, "status")["ok"], "status on a subscribed connection")
        f.close()
        sub.close()
        h.finish()
    finally:
        h.kill()
    cleanup(h.d)


if __name__ == "__main__":
    main([("workflow", workflow), ("errors", errors), ("events", events)])

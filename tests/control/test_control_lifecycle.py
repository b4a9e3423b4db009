"""The socket's life and who may use it: mode 0600, a stale socket
replaced, a live one refused at init with a clear error, unlinked at
exit, the environment variable, peers of another uid (as root), the
token-guarded TCP listener, and a fork child that must not touch the
parent's socket."""
import json
import os
import socket
import stat
import subprocess
import tempfile
import time

from ctlutil import Ctl, Host, ask, check, cleanup, main, read_all, replies


def run_host_fail(a, *args, env=None):
    """An embprof-run that must fail at init; returns its stderr."""
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([a.embprof_run] + list(args) + ["-c", "pass"],
                       capture_output=True, text=True, timeout=60, env=e)
    check(r.returncode != 0, "host started: %s" % " ".join(args))
    return r.stderr


def socket_file(a):
    d = tempfile.mkdtemp(prefix="embprof-ctl-")
    sock = os.path.join(d, "ep.sock")
    # a stale socket (its process died): replaced
    x = socket.socket(socket.AF_UNIX)
    x.bind(sock)
    x.close()
    h = Host(a.embprof_run, d=d)
    try:
        mode = stat.S_IMODE(os.lstat(sock).st_mode)
        check(stat.S_ISSOCK(os.lstat(sock).st_mode) and mode == 0o600,
              "socket mode %o" % mode)
        check(not any(n.startswith("ep.sock.") for n in os.listdir(d)),
              "temporary socket left: %r" % os.listdir(d))
        # a live socket: the second host fails at init, clearly
        err = run_host_fail(a, "--socket", sock)
        check("control.socket" in err and "in use" in err, err)
        # ... and the first one is unharmed
        h.alive()
        # the environment variable works for embprofctl
        r = Ctl(a.embprofctl)("--json", "status",
                              env={"EMBPROF_CONTROL_SOCKET": sock})
        check(json.loads(r.stdout)["ok"], r.stdout)
        h.finish()
        check(not os.path.exists(sock), "socket not unlinked at exit")
    finally:
        h.kill()
    # not a socket: refused, left alone
    plain = os.path.join(d, "plain")
    open(plain, "w").close()
    err = run_host_fail(a, "--socket", plain)
    check("not a socket" in err and os.path.exists(plain), err)
    # a missing directory, a path too long
    err = run_host_fail(a, "--socket", os.path.join(d, "no", "ep.sock"))
    check("control.socket" in err and "No such file" in err, err)
    err = run_host_fail(a, "--socket", os.path.join(d, "x" * 120))
    check("control.socket" in err and "longer" in err, err)
    # bad limits: the option table's message
    err = run_host_fail(a, "--socket", sock, "--set",
                        "control.max_clients=0")
    check("control.max_clients" in err and "1..1024" in err, err)
    cleanup(d)


def environment(a):
    """EMBPROF_CONTROL_SOCKET opens the socket (the table's env mapping);
    a relative path is made absolute, so finalize finds it."""
    d = tempfile.mkdtemp(prefix="embprof-ctl-")
    progress, stop = os.path.join(d, "progress"), os.path.join(d, "stop")
    env = dict(os.environ, EMBPROF_CONTROL_SOCKET="rel.sock",
               EMBPROF_OUTPUT_DIR=d)
    p = subprocess.Popen(
        [a.embprof_run,
         os.path.join(os.path.dirname(__file__), "workload.py"), progress,
         stop], cwd=d, env=env, stderr=subprocess.PIPE, text=True)
    sock = os.path.join(d, "rel.sock")
    try:
        for _ in range(300):
            if os.path.exists(sock) and os.path.exists(progress):
                break
            time.sleep(0.05)
        r = Ctl(a.embprofctl)("--json", "-s", sock, "config", "get",
                              "control.socket")
        check(json.loads(r.stdout)["value"] == "rel.sock", r.stdout)
        open(stop, "w").close()
        p.wait(timeout=60)
        check(p.returncode == 0, p.stderr.read())
        check(not os.path.exists(sock), "relative socket left behind")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    cleanup(d)


def as_uid(uid, fn):
    """Runs fn() in a forked child with uid; returns what it returns
    (JSON-able) or raises."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            out = {"ok": fn()}
        except Exception as e:  # noqa: BLE001 -- sent to the parent
            out = {"err": "%s: %s" % (type(e).__name__, e)}
        os.write(wfd, json.dumps(out).encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    out = json.loads(data)
    check("ok" in out, "child: %r" % out)
    return out["ok"]


def peer_uid(a):
    if os.geteuid() != 0:
        return "skip: needs root to run a client under another uid"
    nobody = 65534

    def talk(sock, lines):
        def fn():
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(sock)
            try:
                s.sendall("".join(l + "\n" for l in lines).encode())
                s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused peers are closed at once
            return replies(read_all(s))
        return fn

    # same uid only (root here): another uid is closed without a word.
    # The socket file is opened up for the test only: the uid check is
    # what must refuse the peer, not the file mode.
    h = Host(a.embprof_run)
    try:
        os.chmod(h.d, 0o711)
        os.chmod(h.sock, 0o666)
        r = as_uid(nobody, talk(h.sock, ["status"]))
        check(r == [], "a peer with uid %d got %r" % (nobody, r))
        check("refused a client with uid %d" % nobody in h.stderr(),
              h.stderr())
        h.alive()
        h.finish()
    finally:
        h.kill()
    cleanup(h.d)

    # allow_uids widens: "uid:read" may look, not act
    h = Host(a.embprof_run, sets=["control.allow_uids=%d:read" % nobody])
    try:
        os.chmod(h.d, 0o711)
        os.chmod(h.sock, 0o666)
        r = as_uid(nobody, talk(h.sock, ["status", "start sampler",
                                         "level"]))
        check(r[0]["ok"] and r[0]["level"] == "read", r)
        check(r[1]["code"] == "forbidden", r)
        check(r[2] == {"ok": True, "level": "read"}, r)
        h.finish()
    finally:
        h.kill()
    cleanup(h.d)
    # ... and a bare uid gets admin
    h = Host(a.embprof_run, sets=["control.allow_uids=12345,%d" % nobody])
    try:
        os.chmod(h.d, 0o711)
        os.chmod(h.sock, 0o666)
        r = as_uid(nobody, talk(h.sock, ["start sampler", "stop sampler"]))
        check([x["ok"] for x in r] == [True, True], r)
        h.finish()
    finally:
        h.kill()
    cleanup(h.d)
    err = run_host_fail(a, "--socket", "/tmp/x.sock", "--set",
                        "control.allow_uids=12,bob")
    check("control.allow_uids" in err, err)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tcp(a):
    ctl = Ctl(a.embprofctl)
    d = tempfile.mkdtemp(prefix="embprof-ctl-")
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write("  s3cret-token-0123456789  \nignored\n")
    os.chmod(tok, 0o600)
    port = free_port()
    spec = "127.0.0.1:%d" % port
    # TCP only: no Unix socket at all
    h = Host(a.embprof_run, d=d, sock="", wait=False,
             sets=["control.listen=" + spec, "control.token_file=" + tok])
    try:
        deadline = time.time() + 30
        while True:
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                check(time.time() < deadline and h.proc.poll() is None,
                      "TCP listener never came: " + h.stderr())
                time.sleep(0.05)
        f = c.makefile("rw")
        check(ask(f, "auth s3cret-token-0123456789") == {"ok": True}, "auth")
        check(ask(f, "status")["ok"], "status after auth")
        f.close()
        c.close()
        # token=TOKEN is the same as auth TOKEN
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        f = c.makefile("rw")
        check(ask(f, "token=s3cret-token-0123456789") == {"ok": True},
              "token=")
        check(ask(f, "level")["level"] == "admin", "level after token=")
        f.close()
        c.close()
        # embprofctl -t HOST:PORT -k TOKEN_FILE
        r = ctl("--json", "-t", spec, "-k", tok, "status")
        check(json.loads(r.stdout)["ok"], r.stdout)
        # anything before auth: forbidden, closed
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"status\nstatus\n")
        r = replies(read_all(c))
        c.close()
        check([x["code"] for x in r] == ["forbidden"], r)
        # a wrong token: forbidden, closed, logged
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"auth s3cret-token-0123456788\nstatus\n")
        r = replies(read_all(c))
        c.close()
        check([x["code"] for x in r] == ["forbidden"], r)
        check("bad token" in h.stderr(), h.stderr())
        bad = os.path.join(d, "bad")
        with open(bad, "w") as f:
            f.write("wrong-token-wrong-token\n")
        ctl("-t", spec, "-k", bad, "status", rc=1)
        # quit is allowed before auth
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"quit\n")
        check(replies(read_all(c)) == [{"ok": True}], "quit")
        c.close()
        h.finish()
    finally:
        h.kill()
    # refused configurations, each with a sentence
    err = run_host_fail(a, "--set", "control.listen=0.0.0.0:%d" % port,
                        "--set", "control.token_file=" + tok)
    check("not a loopback address" in err and "listen_any" in err, err)
    err = run_host_fail(a, "--set", "control.listen=" + spec)
    check("control.token_file" in err, err)
    short = os.path.join(d, "short")
    with open(short, "w") as f:
        f.write("abc\n")
    err = run_host_fail(a, "--set", "control.listen=" + spec, "--set",
                        "control.token_file=" + short)
    check("at least 16" in err, err)
    err = run_host_fail(a, "--set", "control.listen=localhost",
                        "--set", "control.token_file=" + tok)
    check("IPv4-ADDRESS:PORT" in err, err)
    cleanup(d)


def fork_child(a):
    """A fork child (the workload forks, the child exits through the
    interpreter and embprof's atexit hook) leaves the parent's socket
    alone."""
    h = Host(a.embprof_run, mode="fork")
    try:
        for _ in range(200):
            if os.path.exists(h.progress + ".forked"):
                break
            time.sleep(0.05)
        check(os.path.exists(h.progress + ".forked"), "child never ran")
        check(os.path.exists(h.sock), "the child removed the socket")
        h.alive()
        s, f = h.raw()
        check(ask(f, "dump")["ok"], "dump after fork")
        f.close()
        s.close()
        h.finish()
        check(not os.path.exists(h.sock), "socket left behind")
    finally:
        h.kill()
    cleanup(h.d)


def fork_keeps_no_clients(a):
    """A child forked while a client is connected does not keep that
    connection: when the parent dies, the client sees the end at once, not
    when the child exits."""
    h = Host(a.embprof_run, mode="forklate")
    try:
        s, f = h.raw()
        check(ask(f, "status")["ok"], "status before fork")
        open(h.progress + ".dofork", "w").close()
        for _ in range(200):
            if os.path.exists(h.progress + ".forked"):
                break
            time.sleep(0.05)
        check(os.path.exists(h.progress + ".forked"), "child never ran")
        child = int(open(h.progress + ".forked").read())
        h.proc.kill()
        h.proc.wait()
        t0 = time.time()
        s.settimeout(3)
        try:
            rest = s.recv(100)
        except socket.timeout:
            rest = None
        check(rest == b"", "connection still open %.1f s after the parent "
              "died, while the fork child lives" % (time.time() - t0))
        try:
            os.kill(child, 0)
            alive = True
        except OSError:
            alive = False
        check(alive, "the child exited too early for the test to mean "
              "anything")
        f.close()
        s.close()
    finally:
        h.kill()
    cleanup(h.d)


if __name__ == "__main__":
    main([("socket_file", socket_file), ("environment", environment),
          ("peer_uid", peer_uid), ("tcp", tcp), ("fork_child", fork_child),
          ("fork_keeps_no_clients", fork_keeps_no_clients)])

"""Shared helpers of the control-socket tests: a real host (embprof-run
--socket on workload.py), embprofctl runs, raw socket clients."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FN = "control_test_busy_function"


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Host:
    """embprof-run --socket SOCK workload.py, in a private directory."""

    started = []  # every host of the current case, for failure reports

    def report(self):
        """For a failure message: how the host ended and its stderr."""
        rc = getattr(self, "before_kill", self.proc.poll())
        state = ("was running (the test stopped it)" if rc is None
                 else "had exited with %s" % rc)
        err = self.stderr().strip()
        return "host pid %d %s%s" % (self.proc.pid, state,
                                     (", stderr:\n" + err[-3000:]) if err
                                     else "")

    def __init__(self, embprof_run, d=None, sets=(), extra=(), mode="",
                 sock=None, wait=True):
        self.embprof_run = embprof_run
        self.d = d or tempfile.mkdtemp(prefix="embprof-ctl-")
        self.sock = os.path.join(self.d, "ep.sock") if sock is None else sock
        self.out = os.path.join(self.d, "out")
        os.makedirs(self.out, exist_ok=True)
        self.progress = os.path.join(self.d, "progress")
        self.stopfile = os.path.join(self.d, "stop")
        if os.path.exists(self.stopfile):
            os.unlink(self.stopfile)
        args = [embprof_run]
        if self.sock:
            args += ["--socket", self.sock]
        args += ["--set", "output.dir=" + self.out]
        for s in sets:
            args += ["--set", s]
        args += list(extra)
        args += [os.path.join(HERE, "workload.py"), self.progress,
                 self.stopfile, mode]
        self.stderr_path = os.path.join(self.d, "host.stderr")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "w"))
        Host.started.append(self)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.kill()  # the caller never gets the object to kill
                raise

    def stderr(self):
        try:
            return open(self.stderr_path).read()
        except OSError:
            return ""

    def wait_ready(self):
        """Until the socket answers and the workload has started."""
        deadline = time.time() + 30
        while time.time() < deadline:
            check(self.proc.poll() is None,
                  "host exited early (%s): %s" % (self.proc.returncode,
                                                  self.stderr()))
            if self.progress_now() > 0:
                try:
                    s, f = self.raw()
                    ok = ask(f, "status")["ok"]
                    f.close()
                    s.close()
                    if ok:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise Failure("host never became ready: " + self.stderr())

    def progress_now(self):
        try:
            return int(open(self.progress).read())
        except (OSError, ValueError):
            return 0

    def raw(self, timeout=10):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(self.sock)
        return s, s.makefile("rw", encoding="utf-8", errors="replace")

    def alive(self):
        """The host runs, makes progress and answers status."""
        check(self.proc.poll() is None, "host died: " + self.stderr())
        before = self.progress_now()
        deadline = time.time() + 20
        while True:
            s, f = self.raw()
            r = ask(f, "status")
            f.close()
            s.close()
            # connections that are still being served may hold every slot
            if r.get("code") != "busy" or time.time() > deadline:
                break
            time.sleep(0.1)
        check(r["ok"], "status failed: %r" % r)
        deadline = time.time() + 10
        while self.progress_now() <= before and time.time() < deadline:
            time.sleep(0.02)
        check(self.progress_now() > before, "the workload stopped")

    def finish(self, expect_rc=0):
        open(self.stopfile, "w").close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("host did not exit")
        check(expect_rc is None or self.proc.returncode == expect_rc,
              "host exit %d: %s" % (self.proc.returncode, self.stderr()))
        check("Sanitizer" not in self.stderr() and
              "runtime error" not in self.stderr(),
              "host stderr: " + self.stderr())

    def kill(self):
        self.before_kill = self.proc.poll()
        if self.proc.poll() is None:
            open(self.stopfile, "w").close()
            self.proc.kill()
            self.proc.wait()


def ask(f, line):
    f.write(line + "\n")
    f.flush()
    reply = f.readline()
    if not reply:
        raise Failure("no reply to %r (connection closed)" % line[:60])
    return json.loads(reply)


def read_all(s, limit=1 << 20):
    """Bytes until EOF (or the limit)."""
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def replies(data):
    return [json.loads(l) for l in data.decode("utf-8").splitlines() if l]


class Ctl:
    def __init__(self, embprofctl):
        self.exe = embprofctl

    def __call__(self, *args, rc=0, env=None, timeout=30):
        e = dict(os.environ)
        e.pop("EMBPROF_CONTROL_SOCKET", None)
        e.update(env or {})
        r = subprocess.run([self.exe] + list(args), capture_output=True,
                           text=True, timeout=timeout, env=e,
                           stdin=subprocess.DEVNULL)
        if rc is not None and r.returncode != rc:
            raise Failure("embprofctl %s: exit %d (wanted %d)\n%s%s"
                          % (" ".join(args), r.returncode, rc, r.stdout,
                             r.stderr))
        return r


def main(cases, argv=None):
    """Runs the named cases (all by default); prints one line each and a
    closing 'N passed, N failed' line."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--embprof-run", required=True)
    p.add_argument("--embprofctl", required=True)
    p.add_argument("cases", nargs="*")
    a = p.parse_args(argv)
    a.embprof_run = os.path.abspath(a.embprof_run)
    a.embprofctl = os.path.abspath(a.embprofctl)
    passed = failed = skipped = 0
    for name, fn in cases:
        if a.cases and name not in a.cases:
            continue
        t0 = time.time()
        Host.started = []
        try:
            note = fn(a)
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
            for h in Host.started:
                print("  " + h.report())
            continue
        except Exception as e:  # noqa: BLE001 -- report and go on
            failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            for h in Host.started:
                print("  " + h.report())
            continue
        if isinstance(note, str) and note.startswith("skip"):
            skipped += 1
            print("SKIP %s: %s" % (name, note))
        else:
            passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - t0))
        sys.stdout.flush()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.exit(1 if failed else 0)


def cleanup(d):
    shutil.rmtree(d, ignore_errors=True)

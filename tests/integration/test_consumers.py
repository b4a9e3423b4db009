"""Outputs open in their real consumers: the speedscope file validates
against speedscope's own JSON schema (from the npm package), and the folded
file renders as a flame graph with stackvis (npm)."""
import json
import os
import subprocess

import eptest as t

a = t.args()
d = t.tmpdir()
npm = os.path.join(a.build_dir, "npm")
schema_path = os.environ.get("EMBPROF_SPEEDSCOPE_SCHEMA") or os.path.join(
    npm, "node_modules/speedscope/dist/release/file-format-schema.json")
stackvis = os.path.join(npm, "node_modules/.bin/stackvis")
if not (os.path.exists(schema_path) and os.path.exists(stackvis)):
    p = subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                        "--loglevel=error", "--prefix", npm,
                        "speedscope@1.25.0", "stackvis@0.5.0"],
                       capture_output=True, text=True)
    if p.returncode != 0 or not os.path.exists(schema_path):
        t.skip("npm could not provide speedscope/stackvis: %s" % p.stderr[-300:])
try:
    import jsonschema
except ImportError:
    t.skip("python3-jsonschema is not installed")

ss = os.path.join(d, "p.speedscope.json")
folded = os.path.join(d, "p.folded")
t.run([a.embprof_run, "-r", "200", "-o", ss, t.workload("idle.py")],
      check_rc=0)
t.run([a.embprof_run, "-r", "200", "--idle", "-o", folded,
       t.workload("idle.py")], check_rc=0)

doc = json.load(open(ss))
schema = json.load(open(schema_path))
jsonschema.validate(doc, schema)
nframes = len(doc["shared"]["frames"])
t.check(doc["profiles"], "no profiles")
for prof in doc["profiles"]:
    t.check(len(prof["samples"]) == len(prof["weights"]),
            "samples/weights length differ in %s" % prof["name"])
    t.check(all(0 <= i < nframes for s in prof["samples"] for i in s),
            "frame index out of range")
    t.check(all(w > 0 for w in prof["weights"]), "non-positive weight")
    t.check(prof["endValue"] == sum(prof["weights"]), "endValue != sum")
names = {f["name"] for f in doc["shared"]["frames"]}
t.check("spinning_main" in names, "spinning_main not in speedscope frames")

with open(folded) as fin:
    p = subprocess.run([stackvis, "collapsed", "flamegraph-svg"], stdin=fin,
                       capture_output=True, text=True, timeout=60)
t.check(p.returncode == 0, "stackvis failed: %s" % p.stderr[-500:])
t.check(p.stdout.lstrip().startswith("<?xml") or "<svg" in p.stdout[:500],
        "stackvis did not produce SVG")
t.check("spinning_main" in p.stdout and "sleeping_thread_body" in p.stdout,
        "flame graph lacks the profiled functions")
print("ok: schema-valid speedscope, %d-byte flame graph SVG" % len(p.stdout))

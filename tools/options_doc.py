"""Turns the settings part of `embprof-run --help` into docs/OPTIONS.md.

Usage: build/embprof-run --help | python3 tools/options_doc.py > docs/OPTIONS.md
"""
import re
import sys

lines = sys.stdin.read().splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith("settings"))
rows = []
i = start + 1
while i + 1 < len(lines) and lines[i].startswith("  ") and lines[i].strip():
    key, doc = re.match(r"\s+(\S+)\s+(.*)", lines[i]).groups()
    m = re.match(r"\s+(.*); default \"(.*)\"; (EMBPROF_\w+)", lines[i + 1])
    accepts, default, env = m.groups()
    rows.append((key, accepts, default, env, doc))
    i += 2

print("# embprof settings\n")
print("Generated from the option table in `runtime/options.h` by "
      "`tools/dev options-doc`; do not edit by hand.\n")
print("Every setting can be given through `embprof_config_set(cfg, KEY, "
      "VALUE)`, the environment variable shown (applied by "
      "`embprof_config_from_env`), `embprof-run --set KEY=VALUE`, and, for "
      "`sampler.*` keys, the options string of `embprof_start` without the "
      "prefix (`\"rate=997 mode=cpu\"`). A bad value gets the same error "
      "everywhere.\n")
print("| key | accepts | default | environment | what it does |")
print("|---|---|---|---|---|")
for key, accepts, default, env, doc in rows:
    cell = lambda s: s.replace("|", "\\|")
    print("| `%s` | %s | `%s` | `%s` | %s |"
          % (key, cell(accepts), default, env, cell(doc)))

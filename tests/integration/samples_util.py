"""Helpers for the sample-host tests (test_sample_*.py): what a profile
says about one thread's functions."""
import os
import re

import eptest as t


def thread_name(label):
    """'worker-3 (tid 1234)' -> 'worker-3'"""
    return re.sub(r" \(tid \d+\)$", "", label)


ANONYMOUS = {"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>",
             "<lambda>"}


def named(frames):
    """The innermost frame's function, comprehensions and lambdas folded
    into the function that runs them: 3.10 names them only '<listcomp>'
    (no qualname), 3.11 'f.<locals>.<listcomp>', 3.12+ inlines them."""
    for fr in reversed(frames):
        f = t.func_of(fr)
        if f.rsplit(".", 1)[-1] not in ANONYMOUS:
            return f
    return t.func_of(frames[-1])


def self_counts(stacks, thread_filter):
    """{function: samples where it is the innermost named frame} over the
    threads thread_filter(name) accepts."""
    out = {}
    for thread, frames, count in stacks:
        if frames and thread_filter(thread_name(thread)):
            f = named(frames)
            out[f] = out.get(f, 0) + count
    return out


def total_counts(stacks, thread_filter):
    """{function: samples whose stack contains it} (inclusive)."""
    out = {}
    for thread, frames, count in stacks:
        if not thread_filter(thread_name(thread)):
            continue
        for f in {t.func_of(fr) for fr in frames}:
            out[f] = out.get(f, 0) + count
    return out


def owner(func):
    """'rebuild_navmesh.<locals>.<listcomp>' -> 'rebuild_navmesh'
    (3.11 names comprehensions; 3.12+ inlines them)."""
    return func.split(".<locals>", 1)[0]


def top_owner(stacks, thread_filter):
    """The function (comprehensions folded into their owner) with the
    most self samples on the accepted threads, and the table."""
    by = {}
    for f, n in self_counts(stacks, thread_filter).items():
        by[owner(f)] = by.get(owner(f), 0) + n
    t.check(by, "no samples on the threads looked at")
    return max(by, key=by.get), by


def python_include():
    """The CPython include directory of the build (set by ctest)."""
    inc = os.environ.get("EMBPROF_TEST_PY_INCLUDE")
    t.check(inc and os.path.isdir(inc),
            "EMBPROF_TEST_PY_INCLUDE is not a directory: %r" % inc)
    return inc

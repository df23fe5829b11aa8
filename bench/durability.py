#!/usr/bin/env python
"""Benchmark: the durability pass (sources/line_fates.py) against the ingest, in the same run.

Usage:
    python bench/durability.py REPO [--no-pull-refs] [--check]

Two child processes, one after the other, on one fresh store:

1. the ingest a user's first `loopmeter ingest REPO` does (history, changes, provenance), without
   the durability pass (`api.ingest(..., durability=False)`);
2. the durability pass alone over that store: the first-parent walk with `git log -p -U0`, the
   line tracking, and writing `line_origins` / `line_deaths`.

Each child prints its wall time (interpreter start-up and imports included, as for a user) and its
peak RSS (`getrusage(RUSAGE_SELF)`, the Python process with DuckDB; git children separately). The
script prints both and the ratio pass / ingest, and the pass's CPU split between git (its children)
and Python (the parse and the line tracking, with start-up and the store write). Targets: ratio <= 1.0x, peak of the pass < 500 MB.
Always exits 0 unless --check is given and a target is missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

RATIO_TARGET = 1.0
PEAK_MB_TARGET = 500.0

_INGEST = r"""
import resource, sys, time
t0 = time.perf_counter()
from loopmeter import api
api.ingest([sys.argv[1]], store_path=sys.argv[2], pull_refs=sys.argv[3] == "1", durability=False)
print("@@bench seconds=%f self_mb=%f children_mb=%f" % (time.perf_counter() - t0,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))
"""

_PASS = r"""
import resource, sys, time
t0 = time.perf_counter()
from loopmeter.ingestion import Progress, _track_lines, repo_key
from loopmeter.sources.git import open_repository
from loopmeter.store.db import Store
info = open_repository(sys.argv[1])
with Store.open(sys.argv[2]) as store:
    _track_lines(store, info, repo_key(store, info), Progress())
    o, d, lines = store.con.execute("select (select count(*) from line_origins), (select count(*) from line_deaths), "
                                    "(select sum(lines_added) from line_origins)").fetchone()
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print("@@bench seconds=%f self_mb=%f children_mb=%f origins=%d deaths=%d lines=%d self_cpu=%f git_cpu=%f" % (
      time.perf_counter() - t0, me.ru_maxrss / 1024, kids.ru_maxrss / 1024, o, d, lines or 0,
      me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime))
"""


def _run(code: str, *args: str) -> dict[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"child failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("@@bench ")][-1]
    figures = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    figures["wall"] = wall
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo")
    ap.add_argument("--no-pull-refs", action="store_true", help="ingest without refs/pull/N/head")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args()
    commits = subprocess.run(["git", "-C", a.repo, "rev-list", "--count", "HEAD"], capture_output=True, text=True).stdout.strip()
    mainline = subprocess.run(["git", "-C", a.repo, "rev-list", "--first-parent", "--count", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "bench.duckdb")
        ing = _run(_INGEST, a.repo, store, "0" if a.no_pull_refs else "1")
        dur = _run(_PASS, a.repo, store)
    ratio = dur["wall"] / ing["wall"]
    ok_ratio = ratio <= RATIO_TARGET
    ok_peak = dur["self_mb"] < PEAK_MB_TARGET
    print(f"repository: {a.repo} ({commits} commits on HEAD, {mainline} on its first-parent line)")
    print(f"{'':18} {'wall s':>8} {'peak MB':>8} {'git peak MB':>11}")
    print(f"{'ingest':18} {ing['wall']:8.1f} {ing['self_mb']:8.0f} {ing['children_mb']:11.0f}")
    print(f"{'durability pass':18} {dur['wall']:8.1f} {dur['self_mb']:8.0f} {dur['children_mb']:11.0f}")
    # Where the pass's CPU goes: git producing the diffs (`git log -p -U0`, its children) against
    # Python parsing and applying them (and starting up, importing, writing the rows).
    cpu = dur["self_cpu"] + dur["git_cpu"]
    print(f"pass CPU {cpu:.1f} s: git {dur['git_cpu']:.1f} s ({dur['git_cpu'] / cpu:.0%}), "
          f"Python {dur['self_cpu']:.1f} s ({dur['self_cpu'] / cpu:.0%})")
    print(f"lines tracked: {int(dur['lines']):,} added on the first-parent line; {int(dur['origins']):,} commits, "
          f"{int(dur['deaths']):,} (birth, death) pairs stored")
    print(f"ratio pass/ingest: {ratio:.2f}x (target <= {RATIO_TARGET}x) {'PASS' if ok_ratio else 'FAIL'}; "
          f"pass peak {dur['self_mb']:.0f} MB (target < {PEAK_MB_TARGET:.0f} MB) {'PASS' if ok_peak else 'FAIL'}")
    return 1 if a.check and not (ok_ratio and ok_peak) else 0


if __name__ == "__main__":
    sys.exit(main())

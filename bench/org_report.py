#!/usr/bin/env python
"""Benchmark: `loopmeter report --json` of an organisation of many small repositories.

Usage:
    python bench/org_report.py [--repos 1000] [--commits 20] [--keep DIR]

It builds REPOS repositories of COMMITS commits (bench/many_repos.py's `build_repos`), ingests them
once (`loopmeter ingest --discover`), then measures, in the same run:

| step | what runs |
|---|---|
| baseline: rev-parse | `git -C R rev-parse HEAD` for every R (what a report must ask git at least) |
| baseline: ls-tree   | `git -C R ls-tree -r HEAD` for every R (the least a report that reads every tree pays) |
| report, first       | `loopmeter report --json` with no kept legibility readings (every repository read) |
| report, again       | the same command again: the readings kept by the first are judged, nothing is read |

and prints wall and CPU (user + sys of the process and its children) for each, the two reports'
ratio, the size of the JSON and the number of scorecards it carries (none past 20 repositories:
`legibility_summary`). On a loaded machine read the CPU columns. Exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from many_repos import LOOPMETER, build_repos, timed  # noqa: E402


def report(store: Path, out: Path) -> tuple[float, float]:
    with out.open("wb") as f:
        before = os.times()
        t = time.perf_counter()
        r = subprocess.run([*LOOPMETER, "report", "--json", "--store", str(store)], stdout=f, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t
        after = os.times()
    if r.returncode != 0:
        raise SystemExit(f"report failed: {r.stderr.decode(errors='replace')}")
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", type=int, default=1000)
    ap.add_argument("--commits", type=int, default=20)
    ap.add_argument("--keep", type=Path, help="build the repositories and the store here and keep them")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="lm-org-"))
    repos_dir, store = root / "repos", root / "store.duckdb"
    try:
        repos = build_repos(repos_dir, args.repos, args.commits)
        if not store.exists():
            w, c = timed([[*LOOPMETER, "ingest", "--discover", str(repos_dir), "--store", str(store)]])
            print(f"ingested in {w:.1f} s wall, {c:.1f} s CPU")
        # The kept readings go, so that the first report reads every repository.
        Path(str(store) + ".legibility.json").unlink(missing_ok=True)
        timed([["git", "-C", str(r), "rev-parse", "HEAD"] for r in repos])  # warm the page cache
        rows = [("baseline: rev-parse", *timed([["git", "-C", str(r), "rev-parse", "HEAD"] for r in repos])),
                ("baseline: ls-tree -r", *timed([["git", "-C", str(r), "ls-tree", "-r", "HEAD"] for r in repos]))]
        out = root / "report.json"
        rows.append(("report --json, first", *report(store, out)))
        rows.append(("report --json, again", *report(store, out)))
        doc = json.loads(out.read_text())
        print(f"\n{len(repos)} repositories x {args.commits} commits, {os.cpu_count()} cores")
        print(f"{'step':24} {'wall s':>8} {'CPU s':>8}")
        for name, w, c in rows:
            print(f"{name:24} {w:8.2f} {c:8.2f}")
        (_, w1, c1), (_, w2, c2) = rows[2], rows[3]
        print(f"again / first: {w2 / w1:.2f}x wall, {c2 / max(c1, 1e-9):.2f}x CPU; "
              f"again / rev-parse baseline: {w2 / rows[0][1]:.1f}x wall")
        cards = doc.get("legibility")
        print(f"JSON {out.stat().st_size / 1e6:.1f} MB; scorecards carried: {'none (summary)' if cards is None else len(cards)}; "
              f"summary: {doc['legibility_summary']['scored']} scored, median {doc['legibility_summary']['score']['median']}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Benchmark: a report's per-repository totals, one grouped query per count against the four
queries of `totals` run once a repository (what the report did before `summary.totals_by_repo`).

Usage:
    python bench/repo_totals.py STORE [--runs 3]

STORE is an existing store of several repositories (docs/scale.md used the eight mirrors ingested
as one organisation); it is copied to a temporary file first, so an older store upgraded on opening
is never written. Inside one `facts` block (as the report runs them) the two ways alternate,
`--runs` times each, one-by-one first; it prints the CPU seconds of each (time.process_time, this
process, DuckDB's threads included), their ratio and the load average, and fails if the two give
different numbers. CPU, not wall: the machine is shared, and wall time there measures the neighbours.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from loopmeter.metrics import summary  # noqa: E402
from loopmeter.metrics.changes import Window, backend, facts  # noqa: E402
from loopmeter.store.db import Store  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lm-repo-totals-") as tmp:
        copy = Path(tmp) / "store.duckdb"
        shutil.copyfile(args.store, copy)
        with Store.open_read(copy) as s:
            repos = [r for (r,) in s.con.execute("select repo from repos order by repo").fetchall()]
            (as_of,) = s.con.execute("select max(done_at) from items where kind = 'change'").fetchone()
            con = backend(s)
            window = Window(as_of=as_of)
            one_cpu, grouped_cpu = [], []
            with facts(con, window, None):
                for _ in range(args.runs):
                    t0 = time.process_time()
                    one = {r: summary.totals(con, window, [r]) for r in repos}
                    t1 = time.process_time()
                    grouped = summary.totals_by_repo(con, window, repos)
                    t2 = time.process_time()
                    one_cpu.append(t1 - t0)
                    grouped_cpu.append(t2 - t1)
                    if one != grouped:
                        print("the grouped totals differ from the one-by-one totals", file=sys.stderr)
                        return 1
    best_one, best_grouped = min(one_cpu), min(grouped_cpu)
    print(f"{len(repos)} repositories, as of {as_of:%Y-%m-%d}, best of {args.runs}")
    print(f"  one by one (4 queries a repository) {best_one:8.2f} s CPU")
    print(f"  grouped (one query per count)       {best_grouped:8.2f} s CPU   {best_one / best_grouped:5.1f}x less")
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

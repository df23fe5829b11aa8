#!/usr/bin/env python
"""Benchmark: `report` on Spark (PySpark through Ibis, over the Parquet export) against the same
report on DuckDB over the store, in one run, and whether the two documents are equal.

Usage:
    python bench/spark_report.py [--store PATH | --repo GIT_DIR] [--master local[2]] [--keep DIR]
                                 [--conf spark.sql.adaptive.enabled=false ...]

The store: `--store` (an existing one), else `--repo` ingested into a fresh store under `--keep`
(e.g. /work/.mirror/simonw+datasette/repo), else two simulated repositories (tests/lift_sim.py).
It is exported with `loopmeter export --format parquet`, then timed in this process:

| row | what |
|---|---|
| duckdb | `api.report_from_store(store_path=S)`: the baseline |
| spark start | a SparkSession on `--master` |
| spark | `api.report_from_store(engine="spark", parquet=EXPORT)` |

and prints wall and this process's CPU seconds (the JVM's CPU is a child's and is added when it
exits, so the Spark row's CPU reads low), the ratio spark / duckdb, the number of Spark
jobs the report ran, and every difference between the documents (there should be none but
`generated_at`; floats compared to 1e-9).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def _diff(a, b, path="doc", out=None):
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only on one side")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} entries")
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out)
    elif isinstance(a, float) and isinstance(b, int | float) and not isinstance(b, bool):
        if not (a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(a))):
            out.append(f"{path}: {a!r} vs {b!r}")
    elif a != b:
        out.append(f"{path}: {a!r:.80} vs {b!r:.80}")
    return out


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - w, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store")
    ap.add_argument("--repo")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--keep")
    ap.add_argument("--conf", action="append", default=[], help="KEY=VALUE for the Spark session (repeatable)")
    args = ap.parse_args()
    from loopmeter import api

    work = Path(args.keep or tempfile.mkdtemp(prefix="lm-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    store = Path(args.store) if args.store else work / "lm.duckdb"
    if not args.store:
        if args.repo:
            api.ingest([args.repo], store_path=store)
        else:
            from lift_sim import Team, write_repo

            for k in range(2):
                write_repo(work / f"r{k}", Team(authors=3, weeks=14, adoption_week=7, author_offset=10 * k), seed=k)
            api.ingest([work / "r0", work / "r1"], store_path=store)
    export = work / "pq"
    _, w_export, _ = _timed(lambda: api.export("parquet", export, store_path=store))
    files = sum(1 for _ in export.rglob("*.parquet"))

    here, w_duck, c_duck = _timed(lambda: api.report_from_store(store_path=store))
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(args.master).config("spark.ui.enabled", "false")
               .config("spark.log.level", "ERROR").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2"))
    for kv in args.conf:
        builder = builder.config(*kv.split("=", 1))
    spark, w_start, _ = _timed(builder.getOrCreate)
    tracker = spark.sparkContext.statusTracker()
    jobs_before = len(tracker.getJobIdsForGroup())
    there, w_spark, c_spark = _timed(lambda: api.report_from_store(engine="spark", parquet=export))
    jobs = len(tracker.getJobIdsForGroup()) - jobs_before
    spark.stop()
    diffs = [d for d in _diff(here, there) if not d.startswith("doc.generated_at")]
    print(f"store {store} ({here['totals']['changes']:,} changes); export {w_export:.1f} s, {files} files")
    print(f"{'row':<12}{'wall s':>8}{'cpu s':>8}")
    print(f"{'duckdb':<12}{w_duck:>8.1f}{c_duck:>8.1f}")
    print(f"{'spark start':<12}{w_start:>8.1f}")
    print(f"{'spark':<12}{w_spark:>8.1f}{c_spark:>8.1f}   ({jobs} Spark jobs; {w_spark / w_duck:.1f}x duckdb)")
    print("documents equal" if not diffs else f"{len(diffs)} differences:\n  " + "\n  ".join(diffs[:40]))
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Benchmark: `report` on Spark (PySpark through Ibis, over the Parquet export) against the same
report on DuckDB over the store, in one run, and whether the two documents are equal.

Usage:
    python bench/spark_report.py [--store PATH | --repo GIT_DIR] [--flow] [--master local[2]] [--keep DIR]
                                 [--conf spark.sql.adaptive.enabled=false ...]

The store: `--store` (an existing one), else `--repo` ingested into a fresh store under `--keep`
(e.g. /work/.mirror/simonw+datasette/repo), else two simulated repositories (tests/lift_sim.py).
`--flow` adds to a new store what the Spark parity test's has (tests/spark_fixture.py): pull
requests, reviews, CI runs, deployments, incidents, issues, two event logs measured as loops, an
MLflow experiment, PagerDuty incidents and a repository's tracker and CI facts (its legibility),
so that every section of the report runs on Spark.
It is exported with `loopmeter export --format parquet`, then timed in this process:

| row | what |
|---|---|
| duckdb | `api.report_from_store(store_path=S)`: the baseline |
| spark start | a SparkSession on `--master` |
| spark | `api.report_from_store(engine="spark", parquet=EXPORT)` |

and prints wall and this process's CPU seconds, the JVM's CPU seconds over the Spark report (read
from /proc: the JVM is this process's child), the ratio spark / duckdb, the number of Spark jobs
the report ran (and per step of the report, as `progress` names them), the load average, and every difference between the documents (there should be
none but `generated_at`; floats compared to 1e-9).
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


def _jvm_cpu(spark) -> float | None:
    """CPU seconds the Spark driver's JVM (and its children) used so far, or None off Linux."""
    try:
        pid = spark.sparkContext._gateway.proc.pid  # the spark-submit launcher execs the JVM
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        import os

        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    except (AttributeError, OSError, ValueError):
        return None


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
    ap.add_argument("--flow", action="store_true", help="add flow rows and event logs (tests/spark_fixture.py)")
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
    config = None
    if args.flow and not args.store:
        from spark_fixture import add_flow_rows, add_loops

        from loopmeter.config import load_config

        add_flow_rows(store)
        config = load_config(add_loops(store, work))
    export = work / "pq"
    # With names: the event logs' [[log.resource]] rules match resource names (metrics/log_loops.py).
    _, w_export, _ = _timed(lambda: api.export("parquet", export, store_path=store, show_names=config is not None))
    files = sum(1 for _ in export.rglob("*.parquet"))

    here, w_duck, c_duck = _timed(lambda: api.report_from_store(store_path=store, config=config))
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(args.master).config("spark.ui.enabled", "false")
               .config("spark.log.level", "ERROR").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2"))
    for kv in args.conf:
        builder = builder.config(*kv.split("=", 1))
    spark, w_start, _ = _timed(builder.getOrCreate)
    tracker = spark.sparkContext.statusTracker()
    jobs_before = len(tracker.getJobIdsForGroup())
    jvm_before = _jvm_cpu(spark)
    steps: list[tuple[str, float, int]] = []  # (the report's step, when it started, jobs by then)

    def step(name: str) -> None:
        steps.append((name, time.perf_counter(), len(tracker.getJobIdsForGroup())))

    there, w_spark, c_spark = _timed(lambda: api.report_from_store(engine="spark", parquet=export, config=config,
                                                                   progress=step))
    steps.append(("(end)", time.perf_counter(), len(tracker.getJobIdsForGroup())))
    jobs = len(tracker.getJobIdsForGroup()) - jobs_before
    jvm_after = _jvm_cpu(spark)
    jvm = f"{jvm_after - jvm_before:.1f}" if jvm_before is not None and jvm_after is not None else "?"
    spark.stop()
    diffs = [d for d in _diff(here, there) if not d.startswith("doc.generated_at")]
    print(f"store {store} ({here['totals']['changes']:,} changes); export {w_export:.1f} s, {files} files")
    print(f"{'row':<12}{'wall s':>8}{'cpu s':>8}{'jvm cpu s':>11}")
    print(f"{'duckdb':<12}{w_duck:>8.1f}{c_duck:>8.1f}")
    print(f"{'spark start':<12}{w_start:>8.1f}")
    print(f"{'spark':<12}{w_spark:>8.1f}{c_spark:>8.1f}{jvm:>11}   ({jobs} Spark jobs; {w_spark / w_duck:.1f}x duckdb)")
    import os

    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print("Spark report by step (wall s, Spark jobs):")
    for (name, t0, j0), (_, t1, j1) in zip(steps, steps[1:]):
        print(f"  {name[:48]:<48}{t1 - t0:>8.1f}{j1 - j0:>6}")
    print("documents equal" if not diffs else f"{len(diffs)} differences:\n  " + "\n  ".join(diffs[:40]))
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Benchmark: the Spark jobs and wall time of each query of the sections moved onto the engine in
issue 14 item 5 (legibility's store facts, an MLflow experiment's runs, the incidents), over a
Parquet export written by `bench/spark_report.py --flow --keep DIR` (its `DIR/pq`).

Usage:
    python bench/spark_section_queries.py DIR/pq [--runs 2]

Each query runs `--runs` times on one PySpark `local[2]` session (configured as the report's own
local session: two shuffle partitions, adaptive execution off); the first run of each pays for
planning caches and JIT warm-up, the later ones are what a report pays. Prints rows, Spark jobs
and wall seconds per query and run, and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("export")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.log.level", "ERROR").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "2").config("spark.sql.adaptive.enabled", "false").getOrCreate())
    from loopmeter.engine import open_export
    from loopmeter.legibility import store_facts as f
    from loopmeter.metrics import experiments, incidents, portable

    tracker = spark.sparkContext.statusTracker()
    # The fixture's two repositories and their year-long windows (tests/spark_fixture.py).
    scopes = [f.Scope("r0", ("acme/r0", "r0"), datetime(2023, 3, 20), datetime(2024, 3, 20)),
              f.Scope("r1", ("r1",), datetime(2023, 3, 20), datetime(2024, 3, 20))]
    queries = {"legibility names": f.names_sql(["r0", "r1"]), "legibility counts": f.counts_sql(scopes),
               "legibility changes": f.changes_sql(scopes), "experiment runs": experiments.runs_sql(["mlflow:churn"]),
               "incidents": incidents.incidents_sql()}
    print(f"{'run':<4}{'query':<22}{'rows':>6}{'jobs':>6}{'wall s':>8}")
    with open_export(args.export, "spark") as (_, con):
        for run in range(args.runs):
            for name, q in queries.items():
                j0, t0 = len(tracker.getJobIdsForGroup()), time.perf_counter()
                df = con.execute(portable.sql(con, q))
                print(f"{run:<4}{name:<22}{len(df):>6}{len(tracker.getJobIdsForGroup()) - j0:>6}"
                      f"{time.perf_counter() - t0:>8.1f}", flush=True)
    spark.stop()
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

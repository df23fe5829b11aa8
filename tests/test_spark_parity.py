"""The change metrics on PySpark (local[2], through Ibis) over the Parquet export equal DuckDB's on
the store they were exported from (issue 14 item 5, the core: `changes` and `active_weeks`).

Needs the optional extra `loopmeter[spark]` (PySpark) and Java 17; skipped without PySpark.
Spark takes ~30 s to start on an idle machine, hence slow.
"""

from __future__ import annotations

import math
from datetime import datetime

import pytest

pytest.importorskip("pyspark")

import ibis  # noqa: E402

import loopmeter  # noqa: E402
from lift_sim import Team, write_repo  # noqa: E402
from loopmeter import api  # noqa: E402
from loopmeter.metrics.changes import Window, active_weeks, backend, changes  # noqa: E402
from loopmeter.store.db import Store  # noqa: E402

pytestmark = pytest.mark.slow
AS_OF = datetime(2024, 3, 20, 12, 0)
COLUMNS = ["repo", "item_id", "author_id", "author_kind", "done_at", "started_at", "reverted", "pending",
           "validated", "state", "ai_assisted", "bot", "week", "size_lines"]


@pytest.fixture(scope="module")
def spark_and_store(tmp_path_factory):
    from pyspark.sql import SparkSession

    root = tmp_path_factory.mktemp("spark")
    for k in range(2):
        write_repo(root / f"r{k}", Team(authors=3, weeks=14, adoption_week=7, author_offset=10 * k), seed=k)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "r0", root / "r1"], store_path=store)
    api.export("parquet", root / "pq", store_path=store)
    spark = (SparkSession.builder.master("local[2]").appName("loopmeter-parity")
             .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    engine = ibis.pyspark.connect(spark)
    for f in (root / "pq").iterdir():
        engine.read_parquet(str(f), table_name=f.stem)
    yield engine, store
    spark.stop()


def _frame(con, t, keys):
    df = con.execute(t.order_by(keys))
    return df.to_dict("records")


@pytest.mark.parametrize("rule", ["given", "newest landing in the data"])
def test_changes_on_spark_equal_duckdbs(spark_and_store, rule):
    engine, store_path = spark_and_store
    window = Window(as_of=AS_OF, rule=rule)
    store = Store.open(store_path, read_only=True)
    try:
        con = backend(store)
        mine = changes(con, window)
        here = _frame(con, mine.select(*COLUMNS, "cycle_hours"), "item_id")
    finally:
        store.close()
    theirs = changes(backend(engine), window)
    there = _frame(engine, theirs.select(*COLUMNS, "cycle_hours"), "item_id")
    assert len(here) == len(there) > 100
    assert {r["state"] for r in here} >= {"validated", "pending"}
    for a, b in zip(here, there):
        for c in COLUMNS:
            va, vb = a[c], b[c]
            if c in ("done_at", "started_at", "week"):
                va, vb = str(va)[:19], str(vb)[:19]
            assert va == vb, (a["item_id"], c, va, vb)
        ha, hb = a["cycle_hours"], b["cycle_hours"]
        assert (ha is None or math.isnan(ha)) == (hb is None or math.isnan(hb))
        if ha is not None and not math.isnan(ha):
            assert hb == pytest.approx(ha, rel=1e-9, abs=1e-9)


def test_active_weeks_on_spark_equal_duckdbs(spark_and_store):
    engine, store_path = spark_and_store
    window = Window(as_of=AS_OF)
    store = Store.open(store_path, read_only=True)
    try:
        con = backend(store)
        here = {(r["author_id"], str(r["week"])[:10]) for r in _frame(con, active_weeks(con, window), ["author_id", "week"])}
    finally:
        store.close()
    there = {(r["author_id"], str(r["week"])[:10]) for r in _frame(engine, active_weeks(engine, window), ["author_id", "week"])}
    assert here == there and len(here) > 20


def _close(a, b, path="doc"):
    """Equal, floats to 1e-9 (Spark sums in another order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, str):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9), path
    else:
        assert a == b, (path, a, b)


def test_the_summary_metrics_on_spark_equal_duckdbs(spark_and_store):
    """The report's totals, attribution, cycle-time and size distributions (exact quantiles on both:
    DuckDB's quantile_cont, Spark's percentile) and weekly series."""
    from loopmeter.metrics import summary

    engine, store_path = spark_and_store
    window = Window(as_of=AS_OF, rule="newest landing in the data")

    def docs(con):
        t = summary.totals(con, window)
        return {"totals": t, "attribution": summary.attribution(con, window, None, t),
                "distribution": summary.distribution(con, window), "weekly": summary.weekly(con, window)}

    store = Store.open(store_path, read_only=True)
    try:
        here = docs(backend(store))
    finally:
        store.close()
    there = docs(backend(engine))
    assert here["totals"]["changes"] > 100
    _close(here, there)

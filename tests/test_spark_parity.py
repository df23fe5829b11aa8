"""The metrics on PySpark (local[2], through Ibis) over the Parquet export equal DuckDB's on the store
they were exported from (issue 14 item 5): the whole `report --json` document (its lift designs
included; `lift --from-parquet` shares the plumbing, tests/test_engines.py) and per change every
column of `changes()`.

Needs the `test` extra's PySpark and Java 17 (scripts/test.sh installs Java when it is missing);
skipped only where PySpark is not installed. One Spark session for the module: starting it is most
of the cost (~10 s on an idle machine, more under load), hence slow.
"""

from __future__ import annotations

import math
import shutil
from datetime import datetime

import numpy as np
import pytest

pytest.importorskip("pyspark")

import loopmeter  # noqa: E402
from lift_sim import Team, write_repo  # noqa: E402
from loopmeter import api  # noqa: E402
from loopmeter.engine import open_export  # noqa: E402
from loopmeter.metrics import portable  # noqa: E402
from loopmeter.metrics.changes import Window, backend, changes  # noqa: E402
from loopmeter.metrics.quantiles import quantile_sql  # noqa: E402
from loopmeter.store.db import Store  # noqa: E402

pytestmark = pytest.mark.slow
AS_OF = datetime(2024, 3, 20, 12, 0)
COLUMNS = ["repo", "item_id", "author_id", "author_kind", "done_at", "started_at", "reverted", "pending",
           "validated", "state", "ai_assisted", "bot", "week", "size_lines"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(store, Parquet export) of two simulated repositories, and the module's Spark session."""
    if shutil.which("java") is None:
        pytest.fail("PySpark is installed but Java is not: install Java 17 (scripts/test.sh does)")
    from pyspark.sql import SparkSession

    root = tmp_path_factory.mktemp("spark")
    for k in range(2):
        write_repo(root / f"r{k}", Team(authors=3, weeks=14, adoption_week=7, author_offset=10 * k), seed=k)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "r0", root / "r1"], store_path=store)
    api.export("parquet", root / "pq", store_path=store)
    spark = (SparkSession.builder.master("local[2]").appName("loopmeter-parity")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
             .config("spark.log.level", "ERROR").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.adaptive.enabled", "false").getOrCreate())  # as engine.spark_session's own
    yield store, root / "pq"
    spark.stop()


def _close(a, b, path="doc"):
    """Equal; floats to 1e-9 (Spark sums in another order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (path, set(a) ^ set(b))
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9), path
    else:
        assert a == b, (path, a, b)


def test_the_report_document_on_spark_equals_duckdbs(exported):
    """`report --engine spark --from-parquet DIR` prints the document `report` prints from the store:
    exact counts, the same quantiles (exact on both), the same lift designs and intervals."""
    store, pq = exported
    here = api.report_from_store(store_path=store, as_of=AS_OF)
    there = api.report_from_store(engine="spark", parquet=pq, as_of=AS_OF)
    here.pop("generated_at"), there.pop("generated_at")
    assert here["totals"]["changes"] > 100 and here["totals"]["ai_assisted_changes"] > 10
    assert here["cycle_time_hours"]["p50"] is not None and here["cycle_time_hours"]["n"] > 100
    assert [d["design"] for d in here["lift_designs"]["designs"]]
    _close(here, there)


def test_changes_on_spark_equal_duckdbs_row_by_row(exported):
    store_path, pq = exported
    window = Window(as_of=AS_OF, rule="newest landing in the data")
    with Store.open_read(store_path) as store:
        con = backend(store)
        here = con.execute(changes(con, window).select(*COLUMNS, "cycle_hours").order_by("item_id")).to_dict("records")
    with open_export(pq, "spark") as (_, engine):
        there = engine.execute(changes(engine, window).select(*COLUMNS, "cycle_hours").order_by("item_id")).to_dict("records")
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


def test_sql_percentiles_are_exact_on_spark(exported):
    """The one portable percentile (DuckDB's quantile_cont, transpiled) is Spark's exact `percentile`,
    equal to numpy's linear quantile, not `percentile_approx` (which returns a value of the data)."""
    _, pq = exported
    q = f"select {quantile_sql('cast(size_lines as double)', 0.85)} as p from items where kind = 'change'"
    with open_export(pq, "spark") as (driver, engine):
        sizes = [v for (v,) in driver.con.execute("select size_lines from items where kind = 'change'").fetchall()
                 if v is not None]
        got = engine.execute(portable.sql(engine, q))["p"].iloc[0]
    want = float(np.quantile(np.asarray(sizes, dtype=float), 0.85))
    assert want not in set(map(float, sizes))  # an interpolated value: an approximation would miss it
    assert got == pytest.approx(want, rel=1e-12)

"""The metrics on PySpark (local[2], through Ibis) over the Parquet export equal DuckDB's on the store
they were exported from (issue 14 items 4-5): the whole `report --json` document (its lift designs and
its `flow` key included: the store holds pull requests, reviews, CI runs, deployments, incidents,
releases, bugs and tracker tickets beside the git history, so every flow query runs on Spark;
`lift --from-parquet` shares the plumbing, tests/test_engines.py), per change every column of
`changes()`, a repository's flow scope, and an export read from a URL.

Needs the `test` extra's PySpark and Java 17 (scripts/test.sh installs Java when it is missing);
skipped only where PySpark is not installed. One Spark session for the module: starting it is most
of the cost (~10 s on an idle machine, more under load), hence slow.
"""

from __future__ import annotations

import math
import shutil
from datetime import datetime, timedelta

import numpy as np
import pytest

pytest.importorskip("pyspark")

import loopmeter  # noqa: E402
from canon import Canon  # noqa: E402
from lift_sim import Team, write_repo  # noqa: E402
from test_flow_metrics import _busy_pr, _ci_history, _dora_history  # noqa: E402  (hand-worked histories)
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
    add_flow_rows(store)
    # An event log: its `event_logs` entry is computed on Spark as well.
    log = root / "orders.csv"
    log.write_text("case,activity,timestamp\n" + "".join(
        f"o{k},{act},2024-03-{1 + k % 9:02d}T{h:02d}:{k:02d}:00Z\n"
        for k in range(12) for act, h in (("received", 8), ("packed", 9 + k % 5), ("shipped", 15 + k % 3))))
    api.ingest_events(log, store_path=store)
    api.export("parquet", root / "pq", store_path=store)
    spark = (SparkSession.builder.master("local[2]").appName("loopmeter-parity")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
             .config("spark.log.level", "ERROR").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.adaptive.enabled", "false").getOrCreate())  # as engine.spark_session's own
    yield store, root / "pq"
    spark.stop()


def add_flow_rows(store_path) -> None:
    """Pull requests, reviews, CI runs, deployments, incidents, releases, bugs and tracker tickets
    beside the git history, so that every part of `flow` has rows (tests/test_flow_metrics.py works
    the same histories by hand): the flow metrics then run on the engine too."""
    c = Canon(store_path)
    try:
        for who in ("alice", "bob", "carol"):
            c.actor(who)
        c.actor("dependabot[bot]", "bot")
        _busy_pr(c)
        _dora_history(c)
        # An AI-attributed PR, a draft still open and waiting for review at as_of, one open and approved.
        p = c.pr(21, author="bob", opened="2024-03-06 09:00", merged="2024-03-06 14:00", merge_sha="m21",
                 head_sha="h21", first_commit="2024-03-05 16:00")
        c.attribution(p, "codex")
        c.event(p, "2024-03-06 10:00", "review_requested", "bob")
        c.event(p, "2024-03-06 11:00", "reviewed", "carol", state="approved")
        d = c.pr(30, author="carol", opened="2024-03-15 09:00", draft=True, head_sha="h30")
        c.event(d, "2024-03-16 09:00", "ready_for_review", "carol")
        c.event(d, "2024-03-16 10:00", "review_requested", "carol", reviewer="alice")
        o = c.pr(31, author="alice", opened="2024-03-18 09:00", head_sha="h31", title="<b>open</b>")
        c.event(o, "2024-03-18 12:00", "reviewed", "bob", state="approved")
        # A deployment of a real commit of r0 ships its ancestors too (the walk over `commits`).
        # A later one ships the commits landed since: their lead times (git changes, no PR) are known.
        shipped = c.store.con.execute("select sha, committer_time from commits where repo = 'r0' "
                                      "order by committer_time, sha").fetchall()
        for n, (sha, at) in ((1, shipped[40]), (2, shipped[70])):
            c.deployment(n, sha=sha, at=str(at + timedelta(hours=5))[:16], repo="acme/r0")
        c.item("github:acme/r0:release:1", "release", created="2024-03-10 00:00", state="published", tag="v1",
               sha=shipped[40][0], repo="acme/r0")
        # PRs that are `same_as` r0 changes: acme/api is then r0's tracker (its deployments judge
        # r0's change failures in the lift designs, its waits are r0's changes' waits).
        for n, (change,) in zip((20, 21), c.store.con.execute(
                "select item_id from items where kind = 'change' and repo = 'r0' "
                "and done_at >= '2024-03-04' order by done_at, item_id limit 2").fetchall()):
            c.link(f"github:acme/api:pr:{n}", change, "same_as")
        c.repo = "acme/ci"  # the CI history's run numbers are the busy PR's own
        _ci_history(c)
        c.repo = "acme/api"
        bugs = [c.item(f"github:acme/api:issue:{n}", "issue", created=f"2024-03-0{n} 10:00", state="open", labels=lab)
                for n, lab in ((1, ["bug"]), (2, ["type: bug", "ui"]), (3, ["enhancement"]), (4, []))]
        c.link("github:acme/api:pr:20", bugs[0], "fixes")
        c.link("github:acme/api:pr:21", bugs[1], "closes")
        c.link("github:acme/api:pr:3", bugs[3], "fixes")
        c.event(bugs[2], "2024-03-07 00:00", "closed", "bob")
        c.event(bugs[2], "2024-03-08 00:00", "reopened", "carol")
        for key, moves in (("J-1", [("2024-03-01 09:00", "new", "indeterminate"), ("2024-03-03 09:00", "indeterminate", "done")]),
                           ("J-2", [("2024-03-02 00:00", "new", "indeterminate"), ("2024-03-02 12:00", "indeterminate", "done"),
                                    ("2024-03-03 00:00", "done", "indeterminate"), ("2024-03-05 00:00", "indeterminate", "done")])):
            iid = c.item(f"jira:{key}", "issue", created="2024-03-01 00:00", state="open", source="jira")
            for at_, frm, to in moves:
                c.event(iid, at_, "transitioned", "alice", from_category=frm, to_category=to)
    finally:
        c.close()


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
    # Every part of `flow` has rows, so the flow metrics' SQL and intermediates ran on Spark too.
    f = here["flow"]
    assert f["pr_cycle"]["merged"] == 5 and f["waiting_now"]["longest"]
    assert f["dora"]["change_failure_rate"]["failed"] >= 2 and f["dora"]["lead_time_hours"]["n"] >= 1
    assert f["issues"]["bug_fix"]["bugs"] >= 3 and f["issues"]["reopen"]["reopened"] >= 1
    assert f["ci"]["flaky"]["flaky"] >= 1
    assert [(e["name"], e["cases"], e["case_duration_hours"]["n"]) for e in here["event_logs"]] == [("orders", 12, 12)]
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


def test_a_repositorys_flow_scope_is_the_same_items_on_spark(exported):
    """`--repo r0` gives flow r0's items and the tracker repositories linked to them (acme/api by
    `same_as` pull requests, acme/r0 by a deployment of an r0 commit; not acme/ci, whose runs are of
    no r0 commit), as a view on the engine: the same rows on Spark as on DuckDB."""
    from loopmeter.metrics.flow import _scope

    def scoped(con) -> list[str]:
        scratch = portable.Scratch(con)
        try:
            return sorted(con.execute(con.table(_scope(scratch, ["r0"])).select("item_id"))["item_id"])
        finally:
            scratch.close()

    store_path, pq = exported
    with Store.open_read(store_path) as store:
        here = scoped(backend(store))
    with open_export(pq, "spark") as (_, engine):
        there = scoped(engine)
    assert here == there
    assert {"github:acme/r0:deployment:1", "github:acme/api:pr:20", "github:acme/api:issue:1"} <= set(here)
    assert not any(i.startswith("github:acme/ci:") for i in here)


def test_an_export_at_a_url_is_read_whole_through_spark(exported):
    """An export at a URL: Spark opens it as given, and the driver's tables, read through Spark (as
    for s3a:// or gs://, whose connectors cannot be installed here), equal DuckDB's over the files."""
    from loopmeter.engine import driver_store, driver_store_from_spark, spark_session
    from loopmeter.export.parquet import TABLES

    _, pq = exported
    url = pq.as_uri()  # file:///...
    local, remote = driver_store(pq), driver_store_from_spark(spark_session(), url + "/")
    try:
        for name in TABLES:
            q = f"select * from {name} order by all"
            assert local.con.execute(q).fetchall() == remote.con.execute(q).fetchall(), name
        n_items = local.con.execute("select count(*) from items").fetchone()[0]
    finally:
        local.close(), remote.close()
    assert n_items > 100
    with open_export(url, "spark") as (_, engine):
        assert int(engine.execute(engine.table("items").count())) == n_items

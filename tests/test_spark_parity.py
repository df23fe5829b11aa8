"""The metrics on PySpark (local[2], through Ibis) over the Parquet export equal DuckDB's on the store
they were exported from (issue 14 items 4-5): the whole `report --json` document (its lift designs and
its `flow` key included: the store holds pull requests, reviews, CI runs, deployments, incidents,
releases, bugs and tracker tickets beside the git history, so every flow query runs on Spark; and
an MLflow experiment, incidents and a repository's tracker and CI facts, so `experiments`,
`incidents` and legibility's store facts are read there too;
`lift --from-parquet` shares the plumbing, tests/test_engines.py), per change every column of
`changes()`, a repository's flow scope, and an export read from a URL.

Needs the `test` extra's PySpark and Java 17 (scripts/test.sh installs Java when it is missing);
skipped only where PySpark is not installed. One Spark session for the module: starting it is most
of the cost (~10 s on an idle machine, more under load), hence slow.
"""

from __future__ import annotations

import math
import shutil
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")

import loopmeter  # noqa: E402
from lift_sim import Team, write_repo  # noqa: E402
from spark_fixture import add_flow_rows, add_loops  # noqa: E402
from loopmeter import api  # noqa: E402
from loopmeter.config import load_config  # noqa: E402
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
    """(store, Parquet export, loopmeter.toml) of two simulated repositories, flow rows and two event
    logs (tests/spark_fixture.py), and the module's Spark session."""
    if shutil.which("java") is None:
        pytest.fail("PySpark is installed but Java is not: install Java 17 (scripts/test.sh does)")
    from pyspark.sql import SparkSession

    root = tmp_path_factory.mktemp("spark")
    for k in range(2):
        write_repo(root / f"r{k}", Team(authors=3, weeks=14, adoption_week=7, author_offset=10 * k), seed=k)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "r0", root / "r1"], store_path=store)
    add_flow_rows(store)
    # Event logs: their `event_logs` entries and work loops are computed on Spark as well.
    config = add_loops(store, root)
    # With names: the desk's [[log.resource]] rules match resource names (metrics/log_loops.py).
    api.export("parquet", root / "pq", store_path=store, show_names=True)
    spark = (SparkSession.builder.master("local[2]").appName("loopmeter-parity")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
             .config("spark.log.level", "ERROR").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.adaptive.enabled", "false").getOrCreate())  # as engine.spark_session's own
    yield store, root / "pq", load_config(config)
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
    store, pq, config = exported
    here = api.report_from_store(store_path=store, as_of=AS_OF, config=config)
    there = api.report_from_store(engine="spark", parquet=pq, as_of=AS_OF, config=config)
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
    # Both event logs are loops, measured on Spark: cycle times (the desk's to fractions of a
    # second), rework, waiting, agents and bots, and the lift designs over the cases.
    logs = {e["name"]: e for e in here["event_logs"]}
    assert {n: (e["cases"], e["case_duration_hours"]["n"]) for n, e in logs.items()} == {
        "desk": (39, 39), "orders": (12, 12), "pagerduty:pd": (5, 5)}
    desk = logs["desk"]
    assert desk["cycle_time_hours"]["n"] > 20 and desk["cycle_time_hours"]["open"] >= 2
    assert desk["cycle_time_hours"]["unknown_start"] >= 3
    assert desk["ai_share"]["ai_handled"] >= 5 and desk["ai_share"]["bot_handled"] >= 5
    assert desk["waiting"]["rule"] == "activities" and desk["waiting"]["p85_hours"] > 0
    assert sum(w["reworked"] for w in desk["weekly"]) >= 4
    assert [d["design"] for d in desk["lift"]["designs"]] and logs["orders"]["waiting"]["rule"] == "handoff"
    # The MLflow experiment's runs, the incidents and r0's legibility facts are read on Spark too
    # (tests/spark_fixture.py; the numbers worked by hand from its rows).
    (churn,) = here["experiments"]
    assert (churn["runs"], churn["run_minutes"]["n"], churn["failed_share"]) == (36, 35, round(5 / 35, 4))
    assert churn["objective"]["improvements"] >= 1 and [d["design"] for d in churn["lift"]["designs"]]
    inc = here["incidents"]
    assert (inc["total"]["incidents"], inc["total"]["open"]) == (5, 1)
    # acknowledged after 601 s, 95 s and 1,800 s: the median 601 s
    assert inc["total"]["time_to_acknowledge_hours"] == {"p50": round(601 / 3600, 4), "p85": 0.4001, "n": 3}
    assert [(s["service"], s["repo"], s["incidents"]) for s in inc["services"]] == [
        ("checkout-api", "r0", 2), ("checkout-web", "r0", 1), ("search", None, 2)]
    card = {d["id"]: d for q in here["legibility"]["r0"]["checks"] for d in q["details"]}
    assert here["legibility"]["r0"]["store"]["names"] == ["acme/r0", "r0"]
    # finished CI runs of 12.5, 20, 7.25 and 31 minutes; one of three commit-workflow pairs flaky
    assert (card["ci_latency"]["value"], card["ci_flakiness"]["value"]) == (16.25, round(1 / 3, 4))
    assert card["ticket_states"]["status"] == "met" and "states Doing, Done, To do" in card["ticket_states"]["evidence"][0]
    assert "store: 1 changes reverted, 1 issues or pull requests reopened" in card["reverts"]["evidence"]
    _close(here, there)


def test_changes_on_spark_equal_duckdbs_row_by_row(exported):
    store_path, pq, _ = exported
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


def test_event_log_cases_on_spark_equal_duckdbs_row_by_row(exported):
    """Each log's per-case frame (metrics/log_loops.py `case_frame`, the one query a loop's numbers
    come from) computed on Spark over the export equals the store's, case by case: times to the
    microsecond, hours to 1e-9 (the desk's events have fractions of a second, which Spark's
    `unix_timestamp` would drop), flags and resources exactly; so do an agent's cases (`--agent`).
    The loops' statistics over these frames are in the report document (the test above); `lift
    --log` computes the same entry (its plumbing over an export: tests/test_engines.py)."""
    from loopmeter.metrics.log_loops import LogWindow, case_frame, resource_kinds
    from loopmeter.metrics.loop_slice import agent_cases

    store_path, pq, config = exported
    cols = ["item_id", "start_ts", "done_ts", "last_ts", "week", "cycle_hours", "waiting_hours", "reworked",
            "ai", "bot", "resource", "cluster", "done", "pending", "validated"]

    def frames(store, engine):
        out = {}
        for log in ("desk", "orders"):
            settings = config.logs.for_log(log)
            kinds = resource_kinds(store, log, settings, engine)
            df, as_of = case_frame(store, log, settings, LogWindow(7), kinds, engine)
            out[log] = (kinds.to_dict("records"), df[cols].to_dict("records"), as_of)
            if log == "desk":
                out["agent"] = agent_cases(store, log, kinds, "agent-7", engine).sort_values("item_id").to_dict("records")
        return out

    with Store.open_read(store_path) as store:
        here = frames(store, None)
    with open_export(pq, "spark") as (driver, engine):
        there = frames(driver, engine)
    assert here["desk"][0] == there["desk"][0] and here["agent"] == there["agent"] and len(here["agent"]) >= 3
    for log in ("desk", "orders"):
        (_, a, as_a), (_, b, as_b) = here[log], there[log]
        assert as_a == as_b and len(a) == len(b) == {"desk": 39, "orders": 12}[log]
        for x, y in zip(a, b):
            for c in cols:
                u, v = x[c], y[c]
                if isinstance(u, float) and not math.isnan(u):
                    assert v == pytest.approx(u, rel=1e-9, abs=1e-9), (log, x["item_id"], c)
                else:
                    assert (u == v) or (pd.isna(u) and pd.isna(v)), (log, x["item_id"], c, u, v)
    # A cycle time with a fraction of a second in it: the microseconds reached Spark's sums too.
    assert any(not float(h * 3600).is_integer() for h in (r["cycle_hours"] for r in here["desk"][1]) if h == h)


def test_sql_percentiles_are_exact_on_spark(exported):
    """The one portable percentile (DuckDB's quantile_cont, transpiled) is Spark's exact `percentile`,
    equal to numpy's linear quantile, not `percentile_approx` (which returns a value of the data)."""
    _, pq, _ = exported
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

    store_path, pq, _ = exported
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

    _, pq, _ = exported
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


def test_agent_changes_move_to_the_same_people_on_spark(exported, tmp_path):
    """An agent account's changes count as their delegators' (metrics/delegation.py) on Spark as in
    the store: the export carries the store's delegations (a report over the export once moved none
    on Spark, and on DuckDB keyed co-authors without the pseudonym salt)."""
    from test_delegation import AS_OF, build_store

    store, _, _ = build_store(tmp_path)
    api.export("parquet", tmp_path / "pq", store_path=store)
    mine = api.lift(store_path=store, design="ai-vs-human", as_of=AS_OF, n_boot=50, seed=1)
    theirs = api.lift(store_path=None, parquet=tmp_path / "pq", engine="spark", design="ai-vs-human", as_of=AS_OF,
                      n_boot=50, seed=1)
    assert mine["clusters"] == {"by": "author, an agent's change by its delegator", "agent_changes": 8,
                                "co_author": 5, "merger": 1, "committer": 1, "kept_agent": 1}
    _close(mine, theirs)



def test_contributors_count_the_same_people_on_spark(exported, tmp_path):
    """A person's linked addresses (store/identity_links.py) are one contributor on Spark as in the
    store: the export carries `identity_links`, and the counts join them on the engine
    (tests/test_people_counts.py works the numbers out by hand)."""
    from test_people_counts import AS_OF, build_store

    store = build_store(tmp_path)
    api.export("parquet", tmp_path / "pq", store_path=store)
    here = api.report_from_store(store_path=store, as_of=AS_OF)
    there = api.report_from_store(engine="spark", parquet=tmp_path / "pq", as_of=AS_OF)
    here.pop("generated_at"), there.pop("generated_at")
    assert here["totals"]["contributors"] == 4
    assert {r["repo"]: r["totals"]["contributors"] for r in here["repos"]} == {"app": 3, "lib": 2}
    assert [w["contributors"] for w in here["weekly"]] == [3, 3, 2]
    _close(here, there)


def test_weekly_people_are_the_delegators_on_spark(tmp_path):
    """The weekly table's people and the totals' contributors count an agent account's work as its
    delegators' on Spark as on DuckDB: the panel is the lift's, built on the driver over the
    export's delegations (tests/test_weekly_people.py counts them by hand)."""
    from test_weekly_people import ADOPTION, AS_OF, WEEKS, build_store

    store = build_store(tmp_path)
    api.export("parquet", tmp_path / "pq", store_path=store)
    here = api.report_from_store(store_path=store, as_of=AS_OF, adoption_date=ADOPTION, by="repo")
    there = api.report_from_store(engine="spark", parquet=tmp_path / "pq", as_of=AS_OF, adoption_date=ADOPTION,
                                  by="repo")
    here.pop("generated_at"), there.pop("generated_at")
    got = [(w["week_start"], w["validated"], w["contributors"], w["validated_per_contributor"]) for w in there["weekly"]]
    assert got == WEEKS and there["totals"]["contributors"] == 3
    _close(here, there)


def test_a_team_slice_follows_identity_links_and_delegations_on_spark(exported, tmp_path, monkeypatch):
    """`report --team` over the export on Spark is the store's own: the ids a member's links bring
    and the changes delegated to them (tests/test_team_links.py counts them by hand). The export is
    written with names: it holds no pseudonym salt, so members are found by their addresses."""
    from test_team_links import build_store

    store = build_store(tmp_path)
    api.export("parquet", tmp_path / "pq", store_path=store, show_names=True)
    (tmp_path / "loopmeter.toml").write_text('[[team]]\nname = "core"\nmembers = ["alice@work.example"]\n')
    monkeypatch.chdir(tmp_path)
    for team, expected in (("core", (6, 2, 1)), ("unassigned", (4, 2, 1))):
        here = api.report_from_store(store_path=store, team=team, by="repo", as_of=datetime(2024, 3, 1))
        there = api.report_from_store(engine="spark", parquet=tmp_path / "pq", team=team, by="repo",
                                      as_of=datetime(2024, 3, 1))
        here.pop("generated_at"), there.pop("generated_at")
        t = here["totals"]
        assert (t["changes"], t["ai_assisted_changes"], t["contributors"]) == expected
        _close(here, there)

"""`loopmeter export`: the canonical log as OCEL 2.0, XES and Parquet, checked by reading it back
with loopmeter (round trip) and with pm4py (an independent reader, test-only: AGPL)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from stores import rows, snapshot
from test_event_logs import CSV, OCEL_JSON, run

from loopmeter import api
from loopmeter.errors import ConfigError
from loopmeter.sources.eventlog import Mapping
from loopmeter.store.db import Store

ITEM_COLS = "item_id, source, kind, repo, team, title, created_at, started_at, done_at, state, size_lines, author_id, attrs"


def _norm(value):
    return None if value is None else json.loads(value)


def items(store: Path) -> list[tuple]:
    return [r[:-1] + (_norm(r[-1]),) for r in rows(store, f"select {ITEM_COLS} from items order by item_id")]


def events(store: Path) -> list[tuple]:
    got = rows(store, "select item_id, ts, activity, actor_id, attrs from events")
    return sorted((r[:-1] + (json.dumps(_norm(r[-1]), sort_keys=True),) for r in got), key=repr)


def links(store: Path) -> list[tuple]:
    return sorted(rows(store, "select src, dst, kind from links where src in (select item_id from items) "
                              "and dst in (select item_id from items)"))


def loopmeter_durations(store: Path) -> dict[str, float]:
    return dict(rows(store, "select item_id, epoch(max(ts) - min(ts)) / 3600.0 from events "
                            "where item_id in (select item_id from items) group by item_id"))


@pytest.fixture
def full_store(tmp_path, demo_repo) -> Path:
    """Git changes (with links and attributions), a CSV log and an OCEL log in one store."""
    store = tmp_path / "full.duckdb"
    api.ingest([demo_repo[0]], store_path=store)
    (tmp_path / "tickets.csv").write_text(CSV)
    api.ingest_events(tmp_path / "tickets.csv", store_path=store, mapping=Mapping(actor="actor"))
    (tmp_path / "orders.jsonocel").write_text(json.dumps(OCEL_JSON))
    api.ingest_events(tmp_path / "orders.jsonocel", store_path=store)
    return store


@pytest.mark.parametrize("fmt", ["ocel-json", "ocel-sqlite"])
def test_ocel_export_ingests_back_to_the_same_items_events_and_links(tmp_path, full_store, fmt):
    out = tmp_path / f"log.{fmt}"
    s = api.export(fmt, out, store_path=full_store)
    assert s.items == len(items(full_store)) and s.events == len(events(full_store))
    back = tmp_path / "back.duckdb"
    r = api.ingest_events(out, store_path=back, fmt="ocel", log_name="restored")
    assert r.skipped == []
    assert items(back) == items(full_store)
    assert events(back) == events(full_store)
    assert links(back) == links(full_store) and links(back)  # the OCEL log's o1 -> i1/i2 at least
    kinds = {i[2] for i in items(back)}
    assert {"change", "case"} <= kinds


def _who_and_ai(store: Path) -> tuple[list[tuple], list[tuple]]:
    """Kinds of the actors the items and events name, and the items' AI attributions."""
    actors = rows(store, "select actor_id, kind, agent from actors where actor_id in "
                         "(select author_id from items union select actor_id from events) order by actor_id")
    attributions = rows(store, "select item_id, agent, evidence, signal, confidence from attributions "
                               "where item_id in (select item_id from items) order by all")
    return actors, attributions


@pytest.mark.parametrize("fmt", ["ocel-json", "ocel-sqlite"])
def test_a_restored_export_keeps_who_is_a_bot_and_which_changes_are_ai_assisted(tmp_path, full_store, fmt):
    # Without actor kinds a bot's change counts as human work; without attributions every AI-assisted
    # change does: the restored store would report different totals and lift than the original.
    out = tmp_path / f"log.{fmt}"
    api.export(fmt, out, store_path=full_store)
    back = tmp_path / "back.duckdb"
    api.ingest_events(out, store_path=back, fmt="ocel", log_name="restored")
    actors, attributions = _who_and_ai(full_store)
    assert {k for _, k, _ in actors} >= {"bot", "human"} and attributions  # the demo has both
    assert _who_and_ai(back) == (actors, attributions)


def _quiet_pm4py():
    warnings.filterwarnings("ignore")
    import pm4py

    return pm4py


def _pm4py_case_hours(df) -> dict[str, float]:
    from pm4py.statistics.traces.generic.pandas import case_statistics

    desc = case_statistics.get_cases_description(df)
    return {case: d["caseDuration"] / 3600.0 for case, d in desc.items()}


@pytest.mark.parametrize("fmt", ["ocel-json", "ocel-sqlite", "xes"])
def test_pm4py_reads_the_export_and_finds_the_same_case_durations(tmp_path, full_store, fmt):
    pm4py = _quiet_pm4py()
    out = tmp_path / f"log.{'xes' if fmt == 'xes' else fmt.replace('-', '.')}"
    api.export(fmt, out, store_path=full_store)
    if fmt == "xes":
        df = pm4py.read_xes(str(out))
    else:
        ocel = pm4py.read_ocel2_json(str(out)) if fmt == "ocel-json" else pm4py.read_ocel2_sqlite(str(out))
        # one flattened case log per object type; a case is an object, as in loopmeter
        import pandas as pd

        df = pd.concat([pm4py.ocel_flattening(ocel, t) for t in pm4py.ocel_get_object_types(ocel)])
    theirs = _pm4py_case_hours(df)
    ours = loopmeter_durations(full_store)
    assert set(theirs) == set(ours)
    for case, hours in ours.items():
        assert theirs[case] == pytest.approx(hours, abs=1e-6), case
    # and the report's percentiles of the CSV log are the same quantiles of pm4py's durations
    doc = api.report_from_store(store_path=full_store)
    (log,) = [g for g in doc["event_logs"] if g["name"] == "tickets"]
    mine = [h for c, h in theirs.items() if c.startswith("events:tickets:")]
    assert log["case_duration_hours"]["p50"] == pytest.approx(np.percentile(mine, 50))
    assert log["case_duration_hours"]["p85"] == pytest.approx(np.percentile(mine, 85))


def _dataset(path: Path) -> list[dict]:
    """A table of the Parquet export read by pyarrow (an independent reader), Hive partitions as text."""
    import pyarrow.dataset as ds

    part = ds.partitioning(flavor="hive", schema=None) if any(p.is_dir() for p in path.iterdir()) else None
    if part is None:
        return ds.dataset(path, format="parquet").to_table().to_pylist()
    fields = [f.split("=", 1)[0] for f in _partition_dirs(path)]
    import pyarrow as pa

    schema = pa.schema([(f, pa.string()) for f in fields])
    return ds.dataset(path, format="parquet", partitioning=ds.partitioning(schema, flavor="hive")).to_table().to_pylist()


def _partition_dirs(path: Path) -> list[str]:
    """The partition keys of a Hive directory, outermost first (`repo=x/month=y` -> [repo=x, month=y])."""
    out = []
    while True:
        dirs = [p for p in path.iterdir() if p.is_dir()]
        if not dirs:
            return out
        out.append(dirs[0].name)
        path = dirs[0]


def test_parquet_writes_every_table_partitioned_by_month_without_names(tmp_path, full_store):
    out = tmp_path / "pq"
    api.export("parquet", out, store_path=full_store)
    names = {p.name for p in out.iterdir()}
    assert {"items", "events", "links", "attributions", "actors", "repos", "commits", "commit_files",
            "event_logs", "event_log_items", "meta"} <= names
    assert not names & {"http_cache", "api_cursors", "api_progress", "line_state", "schema_migrations"}
    got = _dataset(out / "items")
    assert len(got) == len(items(full_store))
    # Each item sits under the month it landed (else started, else was created), its repository a column.
    want = {(i, r, m) for i, r, m in rows(full_store, "select item_id, repo, strftime(coalesce(done_at, started_at, "
                                                      "created_at), '%Y-%m') from items")}
    assert {(r["item_id"], r["repo"], r["month"]) for r in got} == want
    months = {m for _, _, m in want}
    assert {p.name for p in (out / "items").iterdir()} == {f"month={m}" for m in months}
    # No folder per repository anywhere: an organisation's repositories would multiply the folders.
    assert not [p for p in out.rglob("repo=*")]
    assert all(p.name.startswith("month=") for p in (out / "commits").iterdir())
    assert [p.name for p in (out / "commit_files").iterdir()] == ["data_0.parquet"]
    assert len(_dataset(out / "events")) == len(events(full_store))
    actors = _dataset(out / "actors")
    assert actors and all(a["name"] is None and a["email"] is None for a in actors if a["kind"] == "human")
    assert "dependabot[bot]" in {a["name"] for a in actors if a["kind"] == "bot"}  # not a person
    commits = _dataset(out / "commits")
    assert len(commits) == rows(full_store, "select count(*) from commits")[0][0] > 0
    assert all(c[k] is None for c in commits for k in ("author_name", "author_email", "committer_name",
                                                         "committer_email"))
    assert all(c["author_id"] for c in commits)
    # The pseudonym salt stays in the store: with it, pseudonyms could be matched to e-mail addresses.
    assert "salt" not in {m["key"] for m in _dataset(out / "meta")}
    assert [r["repo"] for r in _dataset(out / "repos")] == [r for (r,) in rows(full_store, "select repo from repos")]
    api.export("parquet", out, store_path=full_store, show_names=True)
    named = {a["name"] for a in _dataset(out / "actors")}
    assert {"Alice Example", "ann"} <= named
    assert "Alice Example" in {c["author_name"] for c in _dataset(out / "commits")}


def test_parquet_partitions_survive_awkward_repository_names_and_empty_tables(tmp_path):
    """A slash, an equals sign, a number and no repository at all come back as they went in; an
    empty table is one file with its columns."""
    from loopmeter.engine import driver_store

    store = tmp_path / "s.duckdb"
    with Store.open(store) as s:
        for n, repo in enumerate(["acme/api", "x=y %20", "2024", None]):
            s.con.execute("insert into items (item_id, source, kind, repo, done_at) values (?, 'git', 'change', ?, ?)",
                          [f"i{n}", repo, None if n == 3 else f"2024-0{n + 1}-05 10:00:00"])
    out = tmp_path / "pq"
    api.export("parquet", out, store_path=store)
    assert sorted((r["item_id"], r["repo"], r["month"]) for r in _dataset(out / "items")) == [
        ("i0", "acme/api", "2024-01"), ("i1", "x=y %20", "2024-02"), ("i2", "2024", "2024-03"), ("i3", None, None)]
    assert [p.name for p in (out / "attributions").iterdir()] == ["data_0.parquet"]
    back = driver_store(out)
    try:
        assert back.con.execute("select item_id, repo, done_at from items order by item_id").fetchall() == \
            rows(store, "select item_id, repo, done_at from items order by item_id")
        assert back.con.execute("select count(*) from attributions").fetchone() == (0,)
    finally:
        back.close()


def test_the_change_metrics_run_on_another_ibis_engine_reading_only_the_parquet_export(tmp_path, full_store):
    """The export holds every table `metrics.changes` reads, and the metrics take any Ibis backend:
    a separate engine that has only the Parquet files (read as any Hive-aware reader reads them)
    gives the store's rows."""
    from datetime import datetime

    import ibis

    from loopmeter.metrics.changes import Window, active_weeks, backend, changes

    out = tmp_path / "pq"
    api.export("parquet", out, store_path=full_store)
    engine = ibis.duckdb.connect()
    for t in out.iterdir():
        engine.read_parquet(f"{t}/**/*.parquet", table_name=t.name, hive_partitioning=True, hive_types_autocast=False)
    window = Window(as_of=datetime(2024, 1, 20), rule="newest landing in the data")
    store = Store.open(full_store, read_only=True)
    try:
        con = backend(store)

        def frame(c, t, keys):
            return [tuple(map(repr, r)) for r in c.execute(t.order_by(keys)).itertuples(index=False)]

        here = frame(con, changes(con, window), "item_id")
        there = frame(engine, changes(backend(engine), window), "item_id")
        assert here == there and len(here) >= 5
        keys = ["author_id", "week"]
        assert frame(con, active_weeks(con, window), keys) == frame(engine, active_weeks(engine, window), keys)
    finally:
        store.close()


def test_a_report_from_the_parquet_export_equals_the_stores(tmp_path, full_store):
    """`report --engine duckdb --from-parquet DIR`: the whole document, event logs included, as the
    store gives it (the round trip the Spark parity test relies on)."""
    from datetime import datetime

    out = tmp_path / "pq"
    api.export("parquet", out, store_path=full_store)
    here = api.report_from_store(store_path=full_store, as_of=datetime(2024, 1, 20))
    there = api.report_from_store(parquet=out, engine="duckdb", as_of=datetime(2024, 1, 20))
    here.pop("generated_at"), there.pop("generated_at")
    assert here["totals"]["changes"] >= 5 and len(here["event_logs"]) == 2
    assert here == there


def test_xes_export_survives_control_characters_and_markup_in_titles(tmp_path):
    store = tmp_path / "s.duckdb"
    p = tmp_path / "weird.csv"
    p.write_text('case,activity,timestamp\n"a<b>&\x1b[31m""q",open,2024-01-01T00:00:00Z\n')
    api.ingest_events(p, store_path=store)
    out = tmp_path / "weird.xes"
    api.export("xes", out, store_path=store)
    pm4py = _quiet_pm4py()
    df = pm4py.read_xes(str(out))
    assert list(df["case:concept:name"]) == ['events:weird:a<b>&\ufffd[31m"q']


def test_export_bad_format_or_missing_store_exits_2(tmp_path, full_store):
    with pytest.raises(ConfigError, match="--format"):
        api.export("csv", tmp_path / "x", store_path=full_store)
    r = run("export", "--store", tmp_path / "nope.duckdb", "--format", "xes", tmp_path / "x.xes", cwd=tmp_path)
    assert r.returncode == 2 and "no store here" in r.stderr
    assert not (tmp_path / "x.xes").exists()
    r = run("export", "--store", full_store, "--format", "ocel-json", tmp_path / "y.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "items" in r.stdout and json.loads((tmp_path / "y.json").read_text())["objects"]


def test_pm4py_stays_a_test_only_dependency():
    """pm4py is AGPL: loopmeter's own code never imports it (the tests above use it as a reader)."""
    src = Path(__file__).resolve().parent.parent / "src"
    offenders = [p for p in src.rglob("*.py") if "pm4py" in p.read_text(encoding="utf-8").replace("pm4py)", "")
                 and any(line.lstrip().startswith(("import pm4py", "from pm4py")) for line in p.read_text().splitlines())]
    assert offenders == []


def test_an_ocel_export_never_replaces_another_sources_items(tmp_path, full_store):
    """Restoring into the store it came from would swap git's own change items: refused, nothing lost."""

    from loopmeter.sources.eventlog import EventLogError

    out = tmp_path / "log.jsonocel"
    api.export("ocel-json", out, store_path=full_store)
    before = snapshot(full_store)
    with pytest.raises(EventLogError, match="already in the store from another source .first: git:"):
        api.ingest_events(out, store_path=full_store, log_name="again")
    assert snapshot(full_store) == before


def test_xes_export_writes_no_empty_traces(tmp_path):
    from gitrepo import GitRepo

    r = GitRepo(tmp_path / "tagged")
    r.commit("one", date="2024-01-01T10:00:00+00:00")
    r.tag("v1.0")
    r.commit("two", date="2024-01-02T10:00:00+00:00")
    store = tmp_path / "s.duckdb"
    api.ingest([r.path], store_path=store)
    out = tmp_path / "log.xes"
    api.export("xes", out, store_path=store)
    text = out.read_text()
    with Store.open(store) as st:
        with_events = st.con.execute("select count(distinct item_id) from events").fetchone()[0]
        releases = st.con.execute("select count(*) from items where kind = 'release'").fetchone()[0]
    assert releases == 1 and text.count("<trace>") == with_events
    back = tmp_path / "back.duckdb"
    api.ingest_events(out, store_path=back, fmt="xes")
    with Store.open(back) as st:
        skipped, reasons = st.con.execute("select skipped_rows, skipped_reasons from event_logs").fetchone()
    assert skipped == 0 and "trace with no events" not in str(reasons)


def test_parquet_export_of_many_repository_months_fits_the_stores_memory_limit(tmp_path, monkeypatch):
    """300 repository-months of 100 changes each: DuckDB's partitioned write held every partition's
    rows until half a million had come (eight real repositories, 604 repository-months, ran out of
    the store's 256 MB); the export now writes them out every few thousand rows. Measured: without
    that, this store needs more than 96 MB; with it, it fits 48 MB."""
    store = tmp_path / "s.duckdb"
    with Store.open(store) as s:
        s.con.execute(
            "insert into items (item_id, source, kind, repo, title, created_at, started_at, done_at, state, size_lines) "
            "select 'git:' || (i // 15000) || ':' || i, 'git', 'change', 'repo-' || (i // 15000), 'change number ' || i, "
            "t, t, t, 'merged', i % 97 from (select i, timestamp '2010-01-01' + to_months((i % 15000) // 100) "
            "+ to_minutes(i % 100) as t from range(30000) r(i))")
    monkeypatch.setenv("LOOPMETER_MEMORY_LIMIT", "48MB")
    out = tmp_path / "pq"
    api.export("parquet", out, store_path=store)
    got = _dataset(out / "items")
    want = rows(store, "select item_id, repo, strftime(done_at, '%Y-%m') from items")
    assert len(want) == 30000 and len({(r, m) for _, r, m in want}) == 300
    assert sorted((r["item_id"], r["repo"], r["month"]) for r in got) == sorted(want)


def test_an_export_in_the_older_repository_and_month_layout_still_reads_the_same(tmp_path, full_store):
    """Exports written before the layout went to month only (`repo=R/month=M/`, issue 14) are read
    as well: the report over one rewritten in that layout equals the report over the new one."""
    import shutil
    from datetime import datetime

    import duckdb

    new, old = tmp_path / "pq", tmp_path / "old"
    api.export("parquet", new, store_path=full_store)
    con = duckdb.connect()
    old.mkdir()
    rewritten = 0
    for table in sorted(p for p in new.iterdir() if p.is_dir()):
        if not any(d.name.startswith("month=") for d in table.iterdir()):
            shutil.copytree(table, old / table.name)
            continue
        src = f"read_parquet('{table}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)"
        cols = [r[0] for r in con.execute(f"describe select * from {src}").fetchall()]
        by = "repo, month" if "repo" in cols else "month"
        con.execute(f"copy (select * from {src}) to '{old / table.name}' (format parquet, partition_by ({by}))")
        rewritten += by == "repo, month"
    assert rewritten >= 3 and any((old / "items").glob("repo=*/month=*/*.parquet"))
    as_of = datetime(2024, 1, 20)
    there = api.report_from_store(parquet=new, engine="duckdb", as_of=as_of)
    before = api.report_from_store(parquet=old, engine="duckdb", as_of=as_of)
    there.pop("generated_at"), before.pop("generated_at")
    assert before == there

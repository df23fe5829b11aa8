"""Event logs as work loops (metrics/log_loops.py, metrics/log_lift.py): a CSV written here, ingested
into a real store, every expected number worked by hand from the file below."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import loopmeter
from loopmeter import api
from loopmeter.config import load_config
from loopmeter.errors import ConfigError, NoData
from loopmeter.log_settings import LogSettings, ResourceRule
from loopmeter.metrics.log_loops import LogWindow, log_loop
from loopmeter.sources.eventlog import Mapping
from loopmeter.store.db import Store

SRC = Path(loopmeter.__file__).resolve().parents[1]

# A: open 00:00 -> close next day 00:00 = 24 h; 'Pending' from 06:00 to the close = 18 h waiting.
# B: closed by the agent at 12:00 (12 h), reopened 3 days later (within the 7-day window): reworked.
# C: 10 h, 8 h pending; an agent closed it and a bot touched it.  D: never closed (open).
# E: 24 h, done 2024-01-21, the log's newest event: less than a window before the as-of, pending.
CSV = """case,activity,timestamp,resource
A,Open,2024-01-01T00:00:00Z,ann
A,Work,2024-01-01T04:00:00Z,bob
A,Pending,2024-01-01T06:00:00Z,bob
A,Close,2024-01-02T00:00:00Z,ann
B,Open,2024-01-02T00:00:00Z,ann
B,Close,2024-01-02T12:00:00Z,agent-7
B,Reopened,2024-01-05T00:00:00Z,ann
B,Close,2024-01-06T00:00:00Z,ann
C,Open,2024-01-08T00:00:00Z,bob
C,Pending,2024-01-08T02:00:00Z,svc-bot
C,Close,2024-01-08T10:00:00Z,agent-7
D,Open,2024-01-09T00:00:00Z,ann
E,Open,2024-01-20T00:00:00Z,ann
E,Close,2024-01-21T00:00:00Z,ann
"""
SETTINGS = LogSettings(
    name="desk", end=("close",), rework=("reopened",), waiting=("pending",),
    resources=(ResourceRule("agent-*", "agent"), ResourceRule("SVC-*", "bot")),
)
CYCLES = {"A": 24.0, "B": 12.0, "C": 10.0, "E": 24.0}
WAITS = {"A": 18.0, "B": 0.0, "C": 8.0, "E": 0.0}


def desk_store(tmp_path: Path, text: str = CSV) -> Path:
    """A store holding the CSV log `text` as log "desk", resources as actors."""
    p = tmp_path / "desk.csv"
    p.write_text(text)
    s = tmp_path / "s.duckdb"
    api.ingest_events(p, store_path=s, log_name="desk", mapping=Mapping(actor="resource"))
    return s


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return desk_store(tmp_path)


def loop(store: Path, settings: LogSettings = SETTINGS, **kw) -> dict:
    with Store.open(store, create=False, read_only=True) as s:
        return log_loop(s, "desk", settings, LogWindow(7), **kw)


def test_cycle_time_weekly_throughput_and_ai_share(store: Path):
    out = loop(store)
    assert out["as_of"] == "2024-01-21T00:00:00"  # the newest event
    # Cycle times 10, 12, 24, 24: linear p50 = 18, p85 at rank 2.55 = 24.
    assert out["cycle_time_hours"] == {"p50": 18.0, "p85": 24.0, "n": 4, "open": 1, "unknown_start": 0}
    w = {r["week_start"]: r for r in out["weekly"]}
    assert list(w) == ["2024-01-01", "2024-01-08", "2024-01-15"]
    # Week 1: A (24 h, validated) and B (12 h, reworked, agent-closed).
    assert {k: w["2024-01-01"][k] for k in ("done", "validated", "pending", "reworked", "ai_handled", "bot_handled",
                                             "ai_share", "cycle_p50_hours", "cycle_p85_hours", "waiting_p50_hours")} == {
        "done": 2, "validated": 1, "pending": 0, "reworked": 1, "ai_handled": 1, "bot_handled": 0, "ai_share": 0.5,
        "cycle_p50_hours": 18.0, "cycle_p85_hours": 12 + 0.85 * 12, "waiting_p50_hours": 9.0}
    assert (w["2024-01-08"]["validated"], w["2024-01-08"]["ai_handled"], w["2024-01-08"]["bot_handled"]) == (1, 1, 1)
    assert (w["2024-01-15"]["done"], w["2024-01-15"]["validated"], w["2024-01-15"]["pending"]) == (1, 0, 1)
    assert out["ai_share"] == {"ai_handled": 2, "bot_handled": 1, "done": 4, "share": 0.5,
                               "resources": {"human": 2, "agent": 1, "bot": 1}}


def test_waiting_in_configured_activities_and_by_default_at_handoffs(store: Path):
    out = loop(store)["waiting"]
    # 0, 0, 8, 18: p50 = 4, p85 at rank 2.55 = 8 + 0.55 * 10; 26 of 70 cycle hours.
    assert out == {"rule": "activities", "activities": ["pending"], "p50_hours": 4.0, "p85_hours": 13.5, "n": 4,
                   "share_of_cycle": round(26 / 70, 4)}
    handoff = loop(store, LogSettings(**{**SETTINGS.__dict__, "waiting": ()}))["waiting"]
    # A: ann->bob 4 h, bob->bob no, bob->ann 18 h = 22; B: ann->agent 12 h; C: bob->svc 2 h, svc->agent 8 h = 10;
    # E: ann->ann 0. Sorted 0, 10, 12, 22: p50 = 11.
    assert handoff["rule"] == "handoff"
    assert handoff["p50_hours"] == 11.0
    assert handoff["share_of_cycle"] == round(44 / 70, 4)


def test_start_activity_and_no_end_activity(store: Path):
    # Start at 'Work' (only A has one): A runs 04:00 -> last event 00:00 = 20 h; the others have no start.
    out = loop(store, LogSettings(start=("work",), rework=("reopened",)))
    assert out["cycle_time_hours"]["n"] == 1
    assert out["cycle_time_hours"]["p50"] == 20.0
    # Without end activities done is each case's last event, so D (one event) is done too,
    # and B, which has a Reopened event anywhere, is not validated.
    assert out["cycle_time_hours"]["unknown_start"] == 4
    assert sum(w["done"] for w in out["weekly"]) == 5
    assert sum(w["reworked"] for w in out["weekly"]) == 1


def test_lift_designs_match_an_independent_computation(store: Path):
    out = loop(store, adoption_date=date(2024, 1, 8), n_boot=200)
    ba, ai = out["lift"]["designs"]
    assert ba["design"] == "before-after" and ba["adoption"]["source"] == "given"
    med = next(r for r in ba["results"] if r["estimator"] == "ratio_of_medians")
    after, before = [CYCLES["C"], CYCLES["E"]], [CYCLES["A"], CYCLES["B"]]
    assert med["ratio"] == pytest.approx(np.median(after) / np.median(before))
    assert (med["n_a"], med["n_b"], med["comparison"]) == (2, 2, "after/before")
    ols = next(r for r in ba["results"] if r["estimator"].startswith("log_duration"))
    geo = np.exp(np.mean(np.log(after)) - np.mean(np.log(before)))
    assert ols["ratio"] == pytest.approx(geo)
    # Settled weeks: 2024-01-01 (1 validated) before, 2024-01-08 (1 validated) after; 01-15 is pending.
    rate = next(r for r in ba["results"] if r["metric"] == "validated_cases_per_week")
    assert (rate["ratio"], rate["n_weeks_a"], rate["n_weeks_b"]) == (1.0, 1, 1)
    # AI-handled (B 12 h, C 10 h) against only-human (A 24 h, E 24 h); C, touched by a bot, is still AI.
    med = next(r for r in ai["results"] if r["estimator"] == "ratio_of_medians")
    assert med["ratio"] == pytest.approx(11 / 24)
    assert "selection" in med["caveat_codes"]


def test_adoption_is_detected_from_agent_resources(tmp_path: Path):
    # Weeks 0-3 human only, weeks 4-9 an agent closes half the cases: adoption = week 4's Monday.
    lines = ["case,activity,timestamp,resource"]
    for wk in range(10):
        for i in range(4):
            day = np.datetime64("2024-01-01") + np.timedelta64(7 * wk + i, "D")
            who = "agent-1" if wk >= 4 and i % 2 else "ann"
            lines += [f"c{wk}_{i},Open,{day}T00:00:00Z,ann", f"c{wk}_{i},Close,{day}T0{1 + i}:00:00Z,{who}"]
    p = tmp_path / "l.csv"
    p.write_text("\n".join(lines) + "\n")
    s = tmp_path / "s.duckdb"
    api.ingest_events(p, store_path=s, log_name="desk", mapping=Mapping(actor="resource"))
    out = loop(s, LogSettings(end=("close",), resources=(ResourceRule("agent-*", "agent"),)), n_boot=100)
    assert out["lift"]["designs"][0]["adoption"] == {
        "date": "2024-01-29", "source": "detected", "rule": out["lift"]["designs"][0]["adoption"]["rule"],
        "exposure_after": 0.5}  # the agent closed 2 of the 4 cases of each week from week 4
    assert [w["ai_share"] for w in out["weekly"]] == [0.0] * 4 + [0.5] * 6


def test_log_settings_from_loopmeter_toml(tmp_path: Path):
    p = tmp_path / "loopmeter.toml"
    p.write_text('[[log]]\nname = "desk"\nend = ["Close"]\nwaiting = "Pending"\nadoption_date = 2024-01-08\n'
                 '[[log.resource]]\npattern = "agent-*"\nkind = "agent"\n'
                 '[[log]]\nname = "other"\ncluster = "team"\n')
    c = load_config(p)
    s = c.logs.for_log("desk")
    assert (s.end, s.waiting, s.adoption_date, s.resources[0].kind) == (("close",), ("pending",), date(2024, 1, 8), "agent")
    assert c.logs.for_log("other").cluster == "team"
    assert c.logs.for_log("unknown").end == ()
    p.write_text('[[log.resource]]\npattern = "x"\nkind = "robot"\n')
    with pytest.raises(ConfigError, match=r"log.resource\[0\].kind must be one of human, agent, bot, not 'robot'"):
        load_config(p)
    p.write_text('[[log]]\nend = ["x"]\n')
    with pytest.raises(ConfigError, match=r"log\[0\] has no name"):
        load_config(p)


def run(*args, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "loopmeter", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_cli_lift_log_and_report_keys(store: Path):
    cwd = store.parent
    (cwd / "loopmeter.toml").write_text('[[log]]\nname = "desk"\nend = ["Close"]\nrework = ["Reopened"]\n'
                                        'waiting = ["Pending"]\n[[log.resource]]\npattern = "agent-*"\nkind = "agent"\n')
    r = run("lift", "--log", "desk", "--adoption-date", "desk=2024-01-08", "--window-days", "7", "--json",
            "--store", store, cwd=cwd)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["design"] == "log" and doc["log"] == "desk"
    assert [d["design"] for d in doc["designs"]] == ["before-after", "ai-vs-human"]
    assert doc["cycle_time_hours"]["p50"] == 18.0
    with pytest.raises(NoData, match=r"no event log named 'nope' in the store \(it has: desk\)"):
        api.log_lift("nope", store_path=store)
    with pytest.raises(ConfigError, match="LOG=YYYY-MM-DD"):
        api.log_lift("desk", store_path=store, adoption_dates=["desk=2024-13-01"])
    entry = api.report_from_store(store_path=store, window_days=7, config=load_config(cwd / "loopmeter.toml"))["event_logs"][0]
    for key in ("weekly", "cycle_time_hours", "waiting", "ai_share", "lift"):
        assert key in entry
    assert entry["waiting"]["p50_hours"] == 4.0


def test_team_cluster_comes_from_the_cases_team_attribute(tmp_path: Path):
    from loopmeter.metrics.log_loops import case_frame

    p = tmp_path / "t.csv"
    p.write_text("case,activity,timestamp,resource,squad\nA,Open,2024-01-01T00:00:00Z,ann,red\n"
                 "A,Close,2024-01-01T05:00:00Z,bob,\nB,Open,2024-01-02T00:00:00Z,ann,\n"
                 "B,Close,2024-01-02T01:00:00Z,ann,\n")
    s = tmp_path / "s.duckdb"
    api.ingest_events(p, store_path=s, log_name="desk", mapping=Mapping(actor="resource"))
    with Store.open(s, create=False, read_only=True) as store:
        df, _ = case_frame(store, "desk", LogSettings(end=("close",), cluster="team", team_attribute="squad"), LogWindow(7))
    assert dict(zip(df["item_id"], df["cluster"])) == {"events:desk:A": "red", "events:desk:B": "(no team)"}
    assert dict(zip(df["item_id"], df["cycle_hours"])) == {"events:desk:A": 5.0, "events:desk:B": 1.0}


def test_a_store_connection_never_draws_duckdb_progress_on_stdout(store: Path, monkeypatch):
    # A query past two seconds (a ten-million-event log's per-case query) drew DuckDB's progress
    # bar into `report --json`'s document wherever the client had it on. Here it is on, and shown
    # at once, for every connection the store makes: the store must turn it off.
    import duckdb

    from loopmeter.store import db

    real = duckdb.connect

    def connect(*a, **k):
        con = real(*a, **k)
        con.execute("set enable_progress_bar = true; set progress_bar_time = 0")
        return con

    monkeypatch.setattr(db.duckdb, "connect", connect)
    for open_ in (lambda: Store.open(store), lambda: Store.open_read(store)):
        with open_() as s:
            assert s.con.execute("select current_setting('enable_progress_bar')").fetchone()[0] is False


# T: Approve (amy) and Pending (bob) both at 02:00: Approve sorts first, so Pending is the last
# event at 02:00 and waits until the next time, 05:00: 3 h (the other order would make it 0).
# Archive (amy) and Close (zed) both at 05:00, the done time: the case was closed by the done
# event, Close, so by zed, though Archive sorts first. U: no end events configured below, so
# done is the last time, 03:00, where Close (zed) sorts before Note (amy): zed again.
TIES = ("case,activity,timestamp,resource\n"
        "T,Open,2024-01-01T00:00:00Z,ann\nT,Pending,2024-01-01T02:00:00Z,bob\n"
        "T,Approve,2024-01-01T02:00:00Z,amy\nT,Close,2024-01-01T05:00:00Z,zed\n"
        "T,Archive,2024-01-01T05:00:00Z,amy\n"
        "U,Open,2024-01-02T00:00:00Z,ann\nU,Note,2024-01-02T03:00:00Z,amy\n"
        "U,Close,2024-01-02T03:00:00Z,zed\n")
# Each case's activities in the documented order (time, activity, resource), by hand.
TIES_ORDER = {"events:desk:T": ["Open", "Approve", "Pending", "Archive", "Close"],
              "events:desk:U": ["Open", "Close", "Note"]}


def _ties_store(tmp_path: Path) -> Path:
    return desk_store(tmp_path, TIES)


def _check_ties(s: Path) -> None:
    from loopmeter.metrics.log_loops import case_frame

    with Store.open(s, create=False, read_only=True) as st:
        stored = st.con.execute("select item_id, list(activity order by seq) from events group by item_id").fetchall()
        assert dict(stored) == TIES_ORDER
        # Each event's successor time and handoff (a different known resource next), stored at ingest.
        rows = st.con.execute("select activity, strftime(next_ts, '%H'), handoff from events "
                              "where item_id = 'events:desk:U' order by seq").fetchall()
        assert rows == [("Open", "03", True), ("Close", "03", True), ("Note", None, False)]
        names = dict(st.con.execute("select actor_id, name from actors").fetchall())
        ended = LogSettings(name="desk", end=("close",), waiting=("pending",))
        df, _ = case_frame(st, "desk", ended, LogWindow(7))
        t = df.set_index("item_id").loc["events:desk:T"]
        assert (t["cycle_hours"], t["waiting_hours"], names[t["resource"]]) == (5.0, 3.0, "zed")
        df, _ = case_frame(st, "desk", LogSettings(name="desk"), LogWindow(7))
        u = df.set_index("item_id").loc["events:desk:U"]
        assert (u["cycle_hours"], names[u["resource"]]) == (3.0, "zed")


def test_events_at_the_same_time_are_ordered_by_activity_then_resource(tmp_path: Path):
    _check_ties(_ties_store(tmp_path))


def test_a_store_from_before_the_stored_order_gets_it_computed(tmp_path: Path):
    # An older store: events without `seq` (migration 007) nor case numbers, successor times and
    # handoffs (013) (a git change's events, not a log's, must stay without them).
    import duckdb

    s = _ties_store(tmp_path)
    con = duckdb.connect(str(s))
    for col in ("seq", "case_no", "next_ts", "handoff"):
        con.execute(f"alter table events drop column {col}")
    con.execute("alter table event_log_items drop column case_no")
    con.execute("delete from schema_migrations where name in ('007_event_order', '013_event_case_no')")
    con.execute("insert into events values ('git:r:change:1', '2024-01-01', 'landed', null, null)")
    con.close()
    with Store.open(s, create=False) as st:
        assert {"007_event_order", "013_event_case_no"} <= set(st.migrations())
        assert st.con.execute("select seq, case_no, next_ts, handoff from events "
                              "where item_id = 'git:r:change:1'").fetchall() == [(None,) * 4]
        st.con.execute("delete from events where item_id = 'git:r:change:1'")
    _check_ties(s)


def test_a_parquet_export_with_or_without_the_stored_order_gives_the_same_loop(tmp_path: Path):
    # The export carries `seq`; one written before it was stored has none, and its views read it as
    # null (engine.driver_store): either way the case order is the documented one.
    import duckdb

    from loopmeter.engine import driver_store

    s = _ties_store(tmp_path)
    settings = LogSettings(name="desk", end=("close",), waiting=("pending",))
    with Store.open(s, create=False, read_only=True) as st:
        want = log_loop(st, "desk", settings, LogWindow(7), lift=False)
    out = tmp_path / "pq"
    api.export("parquet", out, store_path=s)
    for strip in (False, True):
        if strip:
            for f in (out / "events").rglob("*.parquet"):
                con = duckdb.connect()
                con.execute(f"copy (select * exclude (seq) from read_parquet('{f}')) to '{f}.x' (format parquet)")
                con.close()
                f.unlink()
                Path(f"{f}.x").rename(f)
        back = driver_store(out)
        try:
            assert back.con.execute("select count(seq) from events").fetchone()[0] == (0 if strip else 8)
            assert log_loop(back, "desk", settings, LogWindow(7), lift=False) == want
        finally:
            back.close()


def test_logs_sharing_a_store_keep_their_own_case_numbers_and_loops(tmp_path: Path):
    # Each log's cases take their own case numbers; ingesting one log again (renumbered after the
    # other's) leaves every loop as a store holding that log alone gives it.
    other = tmp_path / "o.csv"
    other.write_text("case,activity,timestamp,resource\nT,Open,2024-03-01T00:00:00Z,kim\n"
                     "T,Close,2024-03-01T09:00:00Z,kim\nZ,Open,2024-03-02T00:00:00Z,lee\n")
    ties = tmp_path / "t.csv"
    ties.write_text(TIES)
    settings = LogSettings(name="desk", end=("close",), waiting=("pending",))
    (tmp_path / "alone").mkdir()
    alone = _ties_store(tmp_path / "alone")
    with Store.open(alone, create=False, read_only=True) as st:
        want = log_loop(st, "desk", settings, LogWindow(7), lift=False)
    s = tmp_path / "both.duckdb"
    for path, name in ((ties, "desk"), (other, "ops"), (ties, "desk")):
        api.ingest_events(path, store_path=s, log_name=name, mapping=Mapping(actor="resource"))
    with Store.open(s, create=False, read_only=True) as st:
        nos = st.con.execute("select log, list(case_no order by item_id) from event_log_items group by log").fetchall()
        assert dict(nos) == {"ops": [3, 4], "desk": [5, 6]}  # desk had 1-2 before it was ingested again
        assert st.con.execute("select count(*) from events e join event_log_items li on li.item_id = e.item_id "
                              "where e.case_no is distinct from li.case_no").fetchone()[0] == 0
        assert log_loop(st, "desk", settings, LogWindow(7), lift=False) == want
        ops = log_loop(st, "ops", LogSettings(name="ops", end=("close",)), LogWindow(7), lift=False)
        assert (ops["cycle_time_hours"]["p50"], ops["cycle_time_hours"]["open"]) == (9.0, 1)


def test_a_log_read_incrementally_around_another_keeps_only_its_own_cases(tmp_path: Path):
    # A log merged into (an incremental read, write_log(merge=True)) after another log was ingested
    # has case numbers on both sides of the other's: its range holds the other's case, which its
    # loop must leave out (store/event_logs.py numbering; metrics/log_loops.py `_log_rows`).
    from datetime import datetime

    from loopmeter.attribution import Matcher
    from loopmeter.store.event_logs import Rows, write_log
    from loopmeter.store.git_load import Identities

    def case(log: str, key: str, hours: int) -> Rows:
        iid, t0 = f"events:{log}:{key}", datetime(2024, 1, 1)
        return Rows(items=[{"item_id": iid, "source": f"events:{log}", "kind": "case", "title": key,
                            "created_at": t0, "started_at": t0, "done_at": t0.replace(hour=hours), "state": "closed"}],
                    events=[(iid, t0, "open", f"{log}-actor", None), (iid, t0.replace(hour=hours), "close", None, None)])

    s = tmp_path / "s.duckdb"
    with Store.open(s) as st:
        ids = Identities(st.meta("salt") or "", Matcher.load(None))
        for log, key, hours, merge in (("a", "1", 2, False), ("b", "1", 7, False), ("a", "2", 4, True)):
            write_log(st, name=log, path="x", fmt="test", rows=case(log, key, hours), skipped=[], ids=ids, merge=merge)
        assert st.con.execute("select log, list(case_no order by case_no) from event_log_items group by log "
                              "order by log").fetchall() == [("a", [1, 3]), ("b", [2])]
    with Store.open(s, create=False, read_only=True) as st:
        got = log_loop(st, "a", LogSettings(name="a", end=("close",)), LogWindow(7), lift=False)
    assert (got["cycle_time_hours"]["n"], got["cycle_time_hours"]["p50"]) == (2, 3.0)  # 2 h and 4 h, not b's 7 h
    assert got["ai_share"]["resources"] == {"human": 1, "agent": 0, "bot": 0}  # a's one resource, not b's

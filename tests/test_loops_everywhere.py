"""Every loop gets the same adoption rule and the same verdict wherever it is shown (issue 12):
`report`'s JSON, its terminal view and its HTML page, and `lift --log`, for a store that holds a
git repository, an event log and an MLflow experiment; and `--from/--to` cut the loops.

The log and the runs are the planted ones of test_loop_verdict.py (their numbers are checked
there); here every expected date and count is worked from what the test wrote."""

from __future__ import annotations

import html as html_lib
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from browser import chromium_page, needs_chromium
from gitrepo import GitRepo
from loopmeter import api
from loopmeter.cli import app
from loopmeter.config import load_config
from loopmeter.errors import ConfigError
from loopmeter.lift.inputs import Adoption
from loopmeter.lift.loop_adoption import LoopAdoption, parse_loop_dates, split_adoption
from loopmeter.report.html import render_page
from loopmeter.report.terminal import render_terminal
from loopmeter.sources import mlflow_runs
from loopmeter.sources.eventlog import Mapping
from loopmeter.sources.mlflow_runs import Experiment
from test_loop_verdict import runs, write_log

D_LOG, D_EXP, D_REPO = date(2024, 3, 4), date(2024, 3, 11), date(2024, 2, 5)
TOML = ('[[log]]\nname = "desk"\nend = ["Close"]\nrework = ["Reopened"]\n'
        '[[log.resource]]\npattern = "agent-*"\nkind = "agent"\n')


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("loops")
    repo = GitRepo(root / "api")
    for i in range(6):
        repo.commit(f"change {i}", date=f"2024-0{1 + i // 2}-{10 + i:02d}T10:00:00+00:00", files={f"f{i}.txt": "x"})
    store = root / "s.duckdb"
    api.ingest([repo.path], store_path=store)
    hours = write_log(root / "desk.csv", speedup=0.5, resources=12, seed=1)
    api.ingest_events(root / "desk.csv", store_path=store, log_name="desk", mapping=Mapping(actor="resource"))
    planted, _ = runs(users=12, seed=5)
    with pytest.MonkeyPatch.context() as mp:
        # MLflow's client itself is exercised in test_mlflow_experiments.py (200 runs through it would
        # take most of a minute); these are the runs it would hand over.
        mp.setattr(mlflow_runs, "read_runs", lambda uri, names=None: [Experiment("1", "tuning", planted)])
        api.ingest_mlflow("sqlite:///nowhere.db", store_path=store)
    (root / "loopmeter.toml").write_text(TOML)
    return {"root": root, "store": store, "config": load_config(root / "loopmeter.toml"), "runs": planted,
            "csv": root / "desk.csv", "hours": hours}


def before_after(entry: dict) -> dict:
    return next(d for d in entry["lift"]["designs"] if d["design"] == "before-after")["adoption"]


def test_the_rule_most_specific_first():
    given = parse_loop_dates(["2024-01-01", "desk=2024-02-01"])
    assert given.date_for("desk", date(2024, 3, 1)) == (date(2024, 2, 1), "given")  # NAME=DATE wins
    assert given.date_for("other", date(2024, 3, 1)) == (date(2024, 1, 1), "given")  # then the bare date
    assert LoopAdoption().date_for("desk", date(2024, 3, 1)) == (date(2024, 3, 1), "loopmeter.toml")
    assert LoopAdoption().date_for("desk") == (None, None)  # detected from the loop's own data
    with pytest.raises(ConfigError, match="'desk=2024-13-01' is not YYYY-MM-DD or LOG=YYYY-MM-DD"):
        parse_loop_dates(["desk=2024-13-01"], meta="LOG")
    # A report's parsed dates: loop names go to the loops, repository names stay, a shared name both.
    mixed = Adoption(default=None, per_repo={"api": D_REPO, "desk": D_LOG, "both": D_EXP}, source="given per repository")
    repo_part, loops = split_adoption(mixed, loops=["desk", "both"], units=["api", "both"])
    assert repo_part.per_repo == {"api": D_REPO, "both": D_EXP}
    assert dict(loops.named) == {"desk": D_LOG, "both": D_EXP} and loops.default is None
    only_loop, loops = split_adoption(Adoption(per_repo={"desk": D_LOG}), loops=["desk"], units=["api"])
    assert only_loop is None and dict(loops.named) == {"desk": D_LOG}
    bare, loops = split_adoption(D_REPO, loops=["desk"], units=["api"])
    assert bare == D_REPO and loops.date_for("desk") == (D_REPO, "given")
    bad = CliRunner().invoke(app, ["serve", "--store", "nowhere.duckdb", "--adoption-date", "desk=2024-13-01"])
    assert bad.exit_code == 2 and "'desk=2024-13-01' is not YYYY-MM-DD or NAME=YYYY-MM-DD" in bad.output
    # A --repo slice sets aside the dates of repositories outside it (one serve list, every slice).
    kept, _ = split_adoption(Adoption(per_repo={"api": D_REPO, "web": D_EXP}), loops=[], units=["api", "web"],
                             sliced=["web"])
    assert kept.per_repo == {"web": D_EXP}
    with pytest.raises(ConfigError, match=r"no repository, event log or experiment named 'nope' "
                                          r"\(repositories: api; event logs and experiments: desk\)"):
        split_adoption(Adoption(per_repo={"nope": D_LOG}), loops=["desk"], units=["api"])


def test_named_dates_reach_every_loop_and_every_view_agrees(world):
    doc = api.report_from_store(store_path=world["store"], config=world["config"], window_days=7,
                                adoption_date=[f"desk={D_LOG}", f"tuning={D_EXP}", f"api={D_REPO}"])
    (log,) = doc["event_logs"]
    (exp,) = doc["experiments"]
    assert (before_after(log)["date"], before_after(log)["source"]) == (D_LOG.isoformat(), "given")
    assert (before_after(exp)["date"], before_after(exp)["source"]) == (D_EXP.isoformat(), "given")
    # The repository's own date, untouched by the loops'.
    assert doc["adoption"]["per_repo"] == {"api": D_REPO.isoformat()}
    # `lift --log` follows the same rule, so it gives the log the same verdict.
    alone = api.log_lift("desk", store_path=world["store"], config=world["config"], window_days=7,
                         adoption_dates=[f"desk={D_LOG}", f"tuning={D_EXP}"])
    assert alone["verdict"] == log["verdict"]
    with pytest.raises(ConfigError, match="'tuning' is an MLflow experiment"):
        api.log_lift("tuning", store_path=world["store"], config=world["config"])
    sentences = [v["sentence"] for v in log["verdict"] + exp["verdict"]]
    assert len(sentences) == 3 + 4
    console = Console(record=True, width=400)
    render_terminal(doc, console)
    text = console.export_text()
    page = html_lib.unescape(re.sub(r"<[^>]+>", " ", render_page(doc, [])))
    for s in sentences:
        assert s in text and s in page
    # The experiment section: one row with the runs, their calendar-week rate and the given date.
    weeks = {(r.start.date() - timedelta(days=r.start.weekday())) for r in world["runs"]}
    n_weeks = (max(weeks) - min(weeks)).days // 7 + 1
    per_week = round(len(world["runs"]) / n_weeks, 2)
    row = next(line for line in text.splitlines() if line.startswith("│ tuning"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[1:4] == [str(len(world["runs"])), str(n_weeks), f"{per_week:.2f}"]
    assert cells[-1] == f"{D_EXP} (given)"
    assert text.index("experiment loops") < text.index("run duration, after vs before AI adoption")


def test_bare_date_and_loopmeter_toml(world, tmp_path: Path):
    doc = api.report_from_store(store_path=world["store"], config=world["config"], window_days=7,
                                adoption_date=D_EXP.isoformat())
    for entry in doc["event_logs"] + doc["experiments"]:
        assert (before_after(entry)["date"], before_after(entry)["source"]) == (D_EXP.isoformat(), "given")
    (tmp_path / "loopmeter.toml").write_text(TOML.replace('rework', f'adoption_date = "{D_LOG}"\nrework'))
    doc = api.report_from_store(store_path=world["store"], config=load_config(tmp_path / "loopmeter.toml"),
                                window_days=7)
    assert (before_after(doc["event_logs"][0])["date"], before_after(doc["event_logs"][0])["source"]) == (
        D_LOG.isoformat(), "loopmeter.toml")
    with pytest.raises(ConfigError, match="no repository, event log or experiment named 'desks'"):
        api.report_from_store(store_path=world["store"], config=world["config"], adoption_date=["desks=2024-03-01"])


def test_dates_cut_the_loops(world):
    since, until = date(2024, 2, 1), date(2024, 3, 31)
    doc = api.report_from_store(store_path=world["store"], config=world["config"], window_days=7,
                                since=since, until=until)
    # Cases done in [since, until] (a case's done time is its Close event), read back from the CSV.
    lines = world["csv"].read_text().splitlines()[1:]
    closes = [datetime.fromisoformat(line.split(",")[2].rstrip("Z")) for line in lines if ",Close," in line]
    lo, hi = datetime(2024, 2, 1), datetime(2024, 4, 1)
    (log,) = doc["event_logs"]
    assert log["cycle_time_hours"]["n"] == sum(lo <= c < hi for c in closes)
    assert log["cycle_time_hours"]["n"] < len(closes)
    assert log["dates"] == {"from": "2024-02-01", "to": "2024-03-31"}
    assert sum(w["done"] for w in log["weekly"]) == log["cycle_time_hours"]["n"]
    (exp,) = doc["experiments"]
    assert exp["runs"] == sum(lo <= r.start < hi for r in world["runs"])
    assert log["cases"] == len(closes)  # the log's own size is the whole file's (documented)


HOSTILE = '<img src=x onerror="window.__pwned = 1">'


@pytest.mark.browser
@needs_chromium
def test_dashboard_shows_every_loop_with_the_reports_verdict(world, tmp_path: Path):
    """The dashboard in real headless Chromium: a section per log and per experiment whose verdict
    rows are the report's, a date filter that cuts them, a repository filter that cannot (each loop
    named as left out), and a hostile log name kept as text."""
    import shutil
    import threading


    from loopmeter.web import Dashboard

    store = tmp_path / "s.duckdb"
    shutil.copy(world["store"], store)
    (tmp_path / "h.csv").write_text("case,activity,timestamp,resource\nA,Open,2024-01-01T00:00:00Z,ann\n"
                                    "A,Close,2024-01-02T00:00:00Z,ann\n")
    api.ingest_events(tmp_path / "h.csv", store_path=store, log_name=HOSTILE, mapping=Mapping(actor="resource"))
    expected = {}
    for q in ({}, {"since": date(2024, 2, 1), "until": date(2024, 3, 31)}):
        doc = api.report_from_store(store_path=store, config=world["config"], read_only=True,
                                    adoption_date=[f"desk={D_LOG}"], **q)
        expected[bool(q)] = {e["name"]: [v["sentence"] for v in e.get("verdict") or []]
                             for e in doc["event_logs"] + doc["experiments"]}
        expected[bool(q), "runs"] = doc["experiments"][0]["runs"]
    # `serve --adoption-date desk=...` hands the dates to every view, as `report --adoption-date` does.
    d = Dashboard(("127.0.0.1", 0), store, config=world["config"], report_options={"adoption_date": [f"desk={D_LOG}"]})
    threading.Thread(target=d.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{d.server_address[1]}"
    errors: list[str] = []
    read = """() => [...document.querySelectorAll('#loop-list article')].map(a => ({
        name: a.dataset.name, kind: a.dataset.kind, adoption: a.querySelector('.adoption').textContent,
        numbers: Object.fromEntries([...a.querySelectorAll('dl div')].map(d => [d.querySelector('dt').textContent,
                                                                            d.querySelector('dd').textContent])),
        statuses: [...a.querySelectorAll('li')].map(li => li.dataset.status),
        sentences: [...a.querySelectorAll('li .sentence')].map(s => s.textContent)}))"""
    try:
        with chromium_page(errors) as (browser, page):
            for cut, query in ((False, ""), (True, "?from=2024-02-01&to=2024-03-31")):
                page.goto(url + "/" + query)
                page.wait_for_selector("#status:has-text('As of')", timeout=120_000)
                page.wait_for_selector("#loop-list article", timeout=120_000)
                shown = {a["name"]: a for a in page.evaluate(read)}
                assert {n: a["sentences"] for n, a in shown.items()} == expected[cut]
                assert shown["desk"]["kind"] == "event log" and shown["tuning"]["kind"] == "experiment"
                assert all(s in {"improved", "worsened", "no_detectable_change", "not_enough_data", "inconsistent"}
                           for a in shown.values() for s in a["statuses"])
                assert shown["tuning"]["numbers"]["runs"] == f"{expected[cut, 'runs']:,}"
                assert ("cut to 2024-02-01 to 2024-03-31" in shown["desk"]["adoption"]) == cut
                assert shown["desk"]["adoption"].startswith(f"Adoption: {D_LOG} (given)")
                assert HOSTILE in shown  # the name as text, never as markup
            # A repository slice cannot cut the loops: each is named as left out, with why.
            page.goto(url + "/?repo=api")
            page.wait_for_selector("#loop-left-out p", timeout=120_000)
            notes = page.evaluate("() => [...document.querySelectorAll('#loop-left-out p')].map(p => p.textContent)")
            assert "Left out of this view: event log desk: an event log's cases have no repository, so --repo " \
                   "cannot cut them" in notes
            assert any(n.startswith("Left out of this view: experiment tuning: ") for n in notes)
            assert any(HOSTILE in n for n in notes)
            assert page.evaluate("document.querySelectorAll('#loop-list article').length") == 0
            assert page.evaluate("typeof window.__pwned") == "undefined"
    finally:
        d.shutdown()
        d.server_close()
    assert errors == []


def test_a_bot_that_only_touches_cases_leaves_them_with_the_people(tmp_path: Path):
    """A queue account on every case is automation, not the work: the case stays in the human group;
    a case the bot closed is in neither (hand-worked: AI {12 h} against human {24 h, 48 h})."""
    from loopmeter.log_settings import LogSettings, ResourceRule
    from loopmeter.metrics.log_loops import LogWindow, log_loop
    from loopmeter.store.db import Store

    (tmp_path / "q.csv").write_text(
        "case,activity,timestamp,resource\n"
        "A,Queued,2024-01-01T00:00:00Z,queue\nA,Close,2024-01-02T00:00:00Z,ann\n"
        "B,Queued,2024-01-01T00:00:00Z,queue\nB,Work,2024-01-01T06:00:00Z,agent-1\nB,Close,2024-01-01T12:00:00Z,bob\n"
        "C,Queued,2024-01-01T00:00:00Z,queue\nC,Close,2024-01-01T01:00:00Z,queue\n"
        "D,Open,2024-01-01T00:00:00Z,ann\nD,Close,2024-01-03T00:00:00Z,ann\n")
    s = tmp_path / "q.duckdb"
    api.ingest_events(tmp_path / "q.csv", store_path=s, log_name="q", mapping=Mapping(actor="resource"))
    settings = LogSettings(end=("close",), resources=(ResourceRule("agent-*", "agent"), ResourceRule("queue", "bot")))
    with Store.open(s, create=False, read_only=True) as store:
        out = log_loop(store, "q", settings, LogWindow(7), n_boot=50)
    avh = next(d for d in out["lift"]["designs"] if d["design"] == "ai-vs-human")
    med = next(r for r in avh["results"] if r["estimator"] == "ratio_of_medians")
    assert (med["n_a"], med["n_b"]) == (1, 2) and med["ratio"] == pytest.approx(12 / 36)
    assert out["ai_share"]["bot_handled"] == 3  # A, B and C: the queue touched them all


def test_rates_per_calendar_week():
    """Quiet weeks count; a week still holding pending cases ends the validated rate."""
    from loopmeter.report.loop_view import experiment_rows, log_rows

    weekly = [{"week_start": "2024-01-01", "validated": 3, "pending": 0},
              {"week_start": "2024-01-15", "validated": 5, "pending": 0},  # 2024-01-08: no case done
              {"week_start": "2024-01-22", "validated": 1, "pending": 2}]
    (row,) = log_rows({"event_logs": [{"name": "q", "cycle_time_hours": {}, "weekly": weekly}]})
    assert row.numbers["validated_per_week"] == round(8 / 3, 2)
    runs_weekly = [{"week_start": "2024-01-01", "runs": 4}, {"week_start": "2024-01-29", "runs": 6}]
    (row,) = experiment_rows({"experiments": [{"name": "e", "weekly": runs_weekly}]})
    assert row.numbers["runs_per_week"] == 2.0  # 10 runs over 5 calendar weeks


def test_the_digest_carries_every_loop(world):
    """`report --format markdown` on a loop: its verdict table with the loop's own nouns (cases,
    resources or weeks, not changes and people)."""
    from loopmeter.report.markdown import render_markdown

    doc = api.report_from_store(store_path=world["store"], config=world["config"], window_days=7,
                                adoption_date=[f"desk={D_LOG}"])
    text = render_markdown(doc)
    desk = text[text.index("#### desk (event log)"):text.index("#### tuning (experiment)")]
    assert f"Adoption {D_LOG} (given)." in desk
    v = {e["question"]: e for e in doc["event_logs"][0]["verdict"]}
    h = v["validated_cases_after_vs_before"]["headline"]
    assert f"{h['n_a']:,} vs {h['n_b']:,}, {h['n_clusters']} weeks" in desk
    h = v["cycle_time_after_vs_before"]["headline"]
    assert f"{h['n_a']:,} vs {h['n_b']:,}, 12 resources" in desk
    share = v["cycle_time_after_vs_before"]["exposure"]["ai_share_after"]
    assert f"AI in {share * 100:.0f}% of cases after adoption" in desk
    for e in doc["event_logs"][0]["verdict"] + doc["experiments"][0]["verdict"]:
        assert e["sentence"].replace("*", "\\*") in text or e["sentence"] in text

"""`report --team/--agent/--repo` and the loops that are not git (metrics/loop_slice.py): each is
cut where its data can say who or where, or left out of the slice with a line saying why, never
shown whole under a filter it ignored. A git repository, two event logs, an MLflow experiment and
an incident export, all written here into a real store; every expected count is read back from
what the test wrote."""

from __future__ import annotations

import html as html_lib
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from gitrepo import GitRepo
from loopmeter import api
from loopmeter.config import load_config
from loopmeter.report.html import render_page
from loopmeter.report.loop_view import loops_document
from loopmeter.report.terminal import render_terminal
from loopmeter.sources import mlflow_runs
from loopmeter.sources.eventlog import Mapping
from loopmeter.sources.mlflow_runs import Experiment
from test_loop_verdict import runs

T0 = datetime(2024, 1, 1)
TOML = """[[team]]
name = "payments"
members = ["alice@example.com"]

[[team]]
name = "search"
members = ["bob@example.com"]

[[log]]
name = "desk"
end = ["Close"]

[[log.resource]]
pattern = "claude-*"
kind = "agent"
agent = "claude"

[[log.resource]]
pattern = "copilot-*"
kind = "agent"
agent = "copilot"

[[incidents.service]]
service = "checkout-*"
repo = "api"
team = "payments"
"""


def write_desk(path: Path, seed: int = 3) -> list[dict]:
    """120 cases over 12 weeks, each of team payments, search or none; one in three worked on by
    claude-1, one in six by copilot-1 only, the rest by people alone. Returns what was written."""
    rng = np.random.default_rng(seed)
    lines, cases = ["case,activity,timestamp,resource,team"], []
    for n in range(120):
        start = T0 + timedelta(hours=float(rng.uniform(0, 12 * 7 * 24)))
        hours = float(rng.uniform(2, 48))
        team = ("payments", "search", "")[n % 3]
        agent = ("claude-1", None, "copilot-1", None, "claude-1", None)[n % 6]
        who = f"person{n % 7}"
        lines.append(f"c{n},Open,{start.isoformat()}Z,{who},{team}")
        if agent:
            lines.append(f"c{n},Work,{(start + timedelta(hours=hours / 2)).isoformat()}Z,{agent},{team}")
        lines.append(f"c{n},Close,{(start + timedelta(hours=hours)).isoformat()}Z,{who},{team}")
        cases.append({"team": team, "agent": agent, "done": start + timedelta(hours=hours)})
    path.write_text("\n".join(lines) + "\n")
    return cases


INCIDENTS = """id,description,service_name,status,created_on,resolved_on
P1,DB down,checkout-api,resolved,2024-01-03T10:00:00Z,2024-01-03T12:00:00Z
P2,Slow,checkout-web,resolved,2024-01-10T10:00:00Z,2024-01-10T10:30:00Z
P3,Disk,search,resolved,2024-01-17T00:00:00Z,2024-01-17T05:00:00Z
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    (root / "loopmeter.toml").write_text(TOML)
    config = load_config(root / "loopmeter.toml")
    repo = GitRepo(root / "api")
    for i in range(6):  # alice (payments), bob (search), carol (no team)
        who = (("Alice Example", "alice@example.com"), ("Bob Example", "bob@example.com"),
               ("Carol Example", "carol@example.com"))[i % 3]
        repo.commit(f"change {i}", author=who, date=f"2024-01-{10 + i:02d}T10:00:00+00:00")
    store = root / "s.duckdb"
    api.ingest([repo.path], store_path=store, config=config)
    cases = write_desk(root / "desk.csv")
    api.ingest_events(root / "desk.csv", store_path=store, log_name="desk", config=config,
                      mapping=Mapping(actor="resource"))
    (root / "plain.csv").write_text("case,activity,timestamp,resource\n" + "".join(
        f"p{n},Open,2024-01-{1 + n:02d}T00:00:00Z,ann\np{n},Close,2024-01-{1 + n:02d}T05:00:00Z,ann\n" for n in range(5)))
    api.ingest_events(root / "plain.csv", store_path=store, log_name="plain", config=config,
                      mapping=Mapping(actor="resource"))
    planted, _ = runs(users=12, seed=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mlflow_runs, "read_runs", lambda uri, names=None: [Experiment("1", "tuning", planted)])
        api.ingest_mlflow("sqlite:///nowhere.db", store_path=store, config=config)
    (root / "pd.csv").write_text(INCIDENTS)
    api.ingest_incidents(root / "pd.csv", provider="pagerduty", store_path=store, config=config)
    return {"store": store, "config": config, "cases": cases}


def report(world, **kw) -> dict:
    return api.report_from_store(store_path=world["store"], config=world["config"], window_days=7, **kw)


def log(doc: dict, name: str) -> dict | None:
    return next((g for g in doc["event_logs"] if g["name"] == name), None)


def left(doc: dict) -> dict[tuple[str, str], str]:
    return {(x["section"], x["name"]): x["why"] for x in doc.get("left_out") or []}


def test_unsliced_report_leaves_nothing_out(world):
    doc = report(world)
    assert "left_out" not in doc
    assert log(doc, "desk")["cycle_time_hours"]["n"] == 120
    assert doc["incidents"]["total"]["incidents"] == 3


def test_team_cuts_a_log_by_its_cases_team_and_leaves_out_what_it_cannot_cut(world):
    doc = report(world, team="payments")
    desk = log(doc, "desk")
    mine = [c for c in world["cases"] if c["team"] == "payments"]
    assert desk["cycle_time_hours"]["n"] == len(mine) == 40
    assert desk["ai_share"]["ai_handled"] == sum(c["agent"] is not None for c in mine)
    assert desk["slice"] == {"team": "payments", "agent": None}
    assert log(doc, "plain") is None and "experiments" not in doc
    why = left(doc)
    assert why[("event_logs", "plain")].startswith("the log records no team (no case or event attribute 'team'")
    assert why[("experiments", "tuning")] == "an MLflow run has no team, so --team cannot cut the runs"
    # Incidents linked to the team by [[incidents.service]]: P1 and P2 (checkout-*), not P3.
    assert doc["incidents"]["total"]["incidents"] == 2
    unassigned = log(report(world, team="unassigned"), "desk")
    assert unassigned["cycle_time_hours"]["n"] == sum(c["team"] == "" for c in world["cases"])


def test_agent_keeps_its_cases_and_the_peoples(world):
    doc = report(world, agent="claude")
    desk = log(doc, "desk")
    kept = [c for c in world["cases"] if c["agent"] != "copilot-1"]
    assert desk["cycle_time_hours"]["n"] == len(kept) == 100
    assert desk["ai_share"]["ai_handled"] == sum(c["agent"] == "claude-1" for c in kept) == 40
    assert log(doc, "plain")["cycle_time_hours"]["n"] == 5  # no agent at all: every case stays
    why = left(doc)
    assert set(why) == {("experiments", "tuning"), ("incidents", "incidents")}
    assert "incidents" not in doc and "experiments" not in doc


def test_an_agent_resource_with_no_agent_name_is_known_by_its_own(world, tmp_path):
    """`kind = "agent"` and no `agent`: `--agent` takes the resource's name (what a user types)."""
    toml = TOML.replace('pattern = "copilot-*"\nkind = "agent"\nagent = "copilot"\n', 'pattern = "copilot-*"\nkind = "agent"\n')
    (tmp_path / "loopmeter.toml").write_text(toml)
    config = load_config(tmp_path / "loopmeter.toml")
    doc = api.report_from_store(store_path=world["store"], config=config, window_days=7, agent="copilot-1")
    kept = [c for c in world["cases"] if c["agent"] != "claude-1"]
    assert log(doc, "desk")["cycle_time_hours"]["n"] == len(kept) == 80
    with pytest.raises(Exception, match=r"--agent: no change or event-log case in the store is attributed to 'copilot' "
                                        r"\(agents: claude, copilot-1\)"):
        api.report_from_store(store_path=world["store"], config=config, window_days=7, agent="copilot")


def test_repo_leaves_the_logs_and_runs_out_and_cuts_incidents(world):
    doc = report(world, repos=["api"])
    assert [g for g in doc["event_logs"] if g.get("cycle_time_hours")] == []
    why = left(doc)
    assert why[("event_logs", "desk")] == "an event log's cases have no repository, so --repo cannot cut them"
    assert ("experiments", "tuning") in why
    # The incident export's own loop view is not cut either; its incidents are (below).
    assert why[("event_logs", "pagerduty:pd")].startswith("the loop view of an incident log is not cut by --repo")
    assert doc["incidents"]["total"]["incidents"] == 2  # P1, P2 are linked to api
    # Every view says it: the terminal, the HTML page and the dashboard's /api/loops.
    console = Console(record=True, width=300)
    render_terminal(doc, console)
    text = console.export_text()
    assert ("left out of this slice: event log desk: an event log's cases have no repository, so --repo cannot "
            "cut them") in text
    assert "left out of this slice: experiment tuning: an MLflow run has no repository" in text
    page = re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", render_page(doc, []))))
    assert "Left out of this slice: event log desk: an event log's cases have no repository" in page
    assert loops_document(doc)["left_out"] == doc["left_out"]


def test_dates_cut_incidents_too(world):
    doc = report(world, since=datetime(2024, 1, 5).date(), until=datetime(2024, 1, 10).date())
    assert doc["incidents"]["total"]["incidents"] == 1  # P2 only: triggered 2024-01-10

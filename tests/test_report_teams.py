"""The report per team (`loopmeter report --by team`, the default once loopmeter.toml defines
`[[team]]`) and the week in progress flagged as partial.

A simulated organisation of two teams in ONE repository (lift_sim.py, a real git repository written
by git fast-import) is ingested into a real DuckDB store; the report, the lift command and the HTML
page in real Chromium are compared with each other and with the planted adoption weeks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from browser import load_page, needs_chromium
from lift_sim import START, Team, email, write_teams
from rich.console import Console

import loopmeter
from loopmeter.config import load_config
from loopmeter.errors import ConfigError
from loopmeter.lift.options import choose_unit
from loopmeter.metrics.partial_weeks import week_is_partial
from loopmeter.report.terminal import render_terminal

SRC = Path(__file__).resolve().parent.parent / "src"
HOSTILE = "<img src=x onerror=alert(1)>"
# Small teams over 14 weeks keep the simulation, the ingest and the report to a few seconds.
EARLY = Team(name="early", authors=5, weeks=14, adoption_week=3, cycle_ratio=0.6)
LATE = Team(name=HOSTILE, authors=5, weeks=14, adoption_week=9, cycle_ratio=0.6, author_offset=50)
MEMBERS = {"early": [email(a) for a in range(5)], HOSTILE: [email(50 + a) for a in range(5)]}
AS_OF = START + timedelta(weeks=EARLY.weeks + 3)  # a Monday; every simulated change is past the window


def _toml(teams: dict[str, list[str]]) -> str:
    return "".join(f"[[team]]\nname = {json.dumps(name)}\nmembers = {json.dumps(ms)}\n\n" for name, ms in teams.items())


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "loopmeter", *args], check=False, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """Two teams in one repository, the second named like an HTML injection; loopmeter.toml in
    `root` (the working directory of the CLI runs) names both."""
    root = tmp_path_factory.mktemp("org")
    write_teams(root / "mono", [EARLY, LATE], seed=5)
    store = root / "lm.duckdb"
    loopmeter.ingest([root / "mono"], store_path=store)
    (root / "loopmeter.toml").write_text(_toml(MEMBERS))
    return store, root


@pytest.fixture(scope="module")
def team_report(org):
    """`loopmeter report --json --html` without --by, next to a loopmeter.toml with teams."""
    store, root = org
    r = _cli("report", "--json", "--store", str(store), "--as-of", AS_OF.isoformat(), "--html", "r.html", cwd=root)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), root / "r.html"


def test_default_unit_is_team_when_teams_are_configured_and_dates_equal_the_lift_commands(org, team_report):
    store, root = org
    doc, _ = team_report
    ld = doc["lift_designs"]
    assert ld["unit"] == "team"
    lift = _cli("lift", "--by", "team", "--json", "--store", str(store), "--as-of", AS_OF.isoformat(), cwd=root)
    assert lift.returncode == 0, lift.stderr
    lifted = json.loads(lift.stdout)
    # The same dates, the same team list, from the same code path as `loopmeter lift --by team`.
    assert ld["adoption"] == lifted["adoption"]
    assert ld["teams"] == lifted["teams"]
    # ... and they are the planted weeks: each team found at its own adoption week.
    assert ld["adoption"]["per_team"] == {"early": (START + timedelta(weeks=3)).date().isoformat(),
                                          HOSTILE: (START + timedelta(weeks=9)).date().isoformat()}
    before_after = next(d for d in ld["designs"] if d["design"] == "before-after")
    assert before_after["adoption"]["per_team"] == ld["adoption"]["per_team"]
    # Every change of the repository is one of the teams' members' (git's own count, no bots here).
    n_commits = int(subprocess.run(["git", "-C", str(root / "mono"), "rev-list", "--count", "HEAD"],
                                   capture_output=True, text=True, check=True).stdout)
    assert sum(t["changes"] for t in ld["teams"]) == n_commits
    assert [t["authors"] for t in ld["teams"]] == [5, 5]


def test_by_repo_given_explicitly_keeps_the_per_repository_key_unchanged(org, midweek):
    store, root = org
    without, _ = midweek  # the same store and as_of, no loopmeter.toml
    with_teams = loopmeter.report_from_store(store_path=store, as_of=MIDWEEK, by="repo",
                                             config=load_config(root / "loopmeter.toml"))
    assert "unit" not in with_teams["lift_designs"] and "teams" not in with_teams["lift_designs"]
    # Equal up to the last bits of a float: two runs of the same report differ there (the regression's
    # sums are taken in the order DuckDB returns rows), with or without teams.
    _assert_same(with_teams["lift_designs"], without["lift_designs"])
    # One date for the whole repository: the early team's, which blurs the other team's.
    assert with_teams["lift_designs"]["designs"][0]["adoption"]["per_repo"] == {
        "mono": (START + timedelta(weeks=3)).date().isoformat()}


def _assert_same(a, b, path="lift_designs"):
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def test_the_unit_is_chosen_by_by_else_by_whether_teams_exist(org):
    _, root = org
    teams = load_config(root / "loopmeter.toml").teams
    assert choose_unit(None, teams) == "team"
    assert choose_unit(None, []) == "repo"
    assert choose_unit("repo", teams) == "repo" and choose_unit("codeowners", []) == "codeowners"
    with pytest.raises(ConfigError, match=r"^--by: 'person' is not one of repo, team, codeowners$"):
        choose_unit("person", teams)


def test_by_team_without_teams_is_one_line_and_exit_2(org, tmp_path):
    store, _ = org
    r = _cli("report", "--by", "team", "--store", str(store), cwd=tmp_path)  # no loopmeter.toml here
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --by team: loopmeter.toml defines no team ([[team]] with name and members)"]
    # analyze says so before reading anything: no store is created.
    r = _cli("analyze", str(store.parent / "mono"), "--by", "team", "--store", "fresh.duckdb", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--by team" in r.stderr
    assert not (tmp_path / "fresh.duckdb").exists()


def test_terminal_names_the_teams_and_their_dates(team_report):
    doc, _ = team_report
    console = Console(record=True, width=400)
    render_terminal(doc, console)
    line = " ".join(console.export_text().split())
    assert "lift per team (team; --by repo for per repository): early" in line
    assert f"adopted {(START + timedelta(weeks=9)).date().isoformat()}" in line
    assert HOSTILE in line  # printed as text (markup escaped), not swallowed as a style tag


@pytest.mark.browser
@needs_chromium
def test_page_shows_the_teams_table_with_a_hostile_name_as_text(team_report):
    doc, html = team_report
    loaded = load_page(html, wait_for="#chart-ld-forest", timeout_ms=30000, evaluate={
        "rows": "[...document.querySelectorAll('#lift-teams tbody tr')].map(r => [...r.cells].map(c => c.textContent))",
        "imgs": "document.querySelectorAll('#lift-teams img').length",
        "unit": "document.querySelector('#lift-unit').textContent",
        "forest": "[...document.querySelectorAll('#chart-ld-forest .ytick text')].map(t => t.textContent).join('|')",
    })
    assert loaded.errors == [] and loaded.requests == [] and loaded.pwned == "undefined"
    assert loaded.dialogs == []
    per = doc["lift_designs"]["adoption"]["per_team"]
    assert loaded.values["rows"] == [[t["team"], f"{t['changes']:,}", str(t["authors"]), per[t["team"]]]
                                     for t in doc["lift_designs"]["teams"]]
    assert loaded.values["rows"][1][0] == HOSTILE and loaded.values["imgs"] == 0
    assert "team (loopmeter.toml)" in loaded.values["unit"] and "[[team]]" in loaded.values["unit"]
    # The forest plot says its rows pool the teams, and names them (the hostile one as text).
    assert f"per team: early, {HOSTILE}" in loaded.values["forest"]


# --------------------------------------------------------------------------- the week in progress


def test_a_week_is_partial_from_its_monday_until_the_next():
    monday = START + timedelta(weeks=2)
    assert week_is_partial(monday.date().isoformat(), monday)
    assert week_is_partial(monday.date().isoformat(), monday + timedelta(days=6, hours=23, minutes=59))
    assert not week_is_partial(monday.date().isoformat(), monday + timedelta(days=7))
    assert not week_is_partial(monday.date().isoformat(), monday - timedelta(seconds=1))


MIDWEEK = START + timedelta(weeks=6, days=2, hours=12)  # a Wednesday noon


@pytest.fixture(scope="module")
def midweek(org, tmp_path_factory):
    """The report by repository with as_of in the middle of a week, and its HTML page."""
    store, root = org
    out = tmp_path_factory.mktemp("midweek") / "r.html"
    doc = loopmeter.report_from_store(store_path=store, as_of=MIDWEEK, by="repo", html_path=out,
                                      config=load_config(root / "absent.toml"))
    return doc, out


def test_the_week_holding_as_of_is_flagged_partial_and_counts_only_its_days_so_far(org, midweek):
    _, root = org
    doc, _ = midweek
    partial = [w for w in doc["weekly"] if w.get("partial")]
    assert [w["week_start"] for w in partial] == [(START + timedelta(weeks=6)).date().isoformat()]
    assert all(w.get("partial") is None for w in doc["weekly"] if w is not partial[0])
    # Hand check with git: the week's changes are the commits landed from its Monday up to as_of.
    log = subprocess.run(["git", "-C", str(root / "mono"), "log", "--format=%ct"], capture_output=True, text=True,
                         check=True).stdout.split()
    landed = [datetime(1970, 1, 1) + timedelta(seconds=int(t)) for t in log]
    monday = START + timedelta(weeks=6)
    assert partial[0]["changes"] == sum(monday <= t <= MIDWEEK for t in landed)
    # ... fewer than a full week has: exactly the look of a drop the flag is there to explain.
    full = sum(monday - timedelta(weeks=1) <= t < monday for t in landed)
    assert partial[0]["changes"] < full


def test_partial_week_bars_are_drawn_hatched_with_a_note(midweek):
    _, out = midweek
    html = out.read_text()
    start = html.index('data-figure-for="chart-throughput"')
    fig = json.loads(html[html.index(">", start) + 1:html.index("</script>", start)])
    bars = [t for t in fig["data"] if t["type"] == "bar"]
    week = (START + timedelta(weeks=6)).date().isoformat()
    assert bars
    for t in bars:
        i = t["x"].index(week)
        assert t["marker"]["opacity"][i] < 1 and t["marker"]["pattern"]["shape"][i] == "/"
        assert all(o == 1 for j, o in enumerate(t["marker"]["opacity"]) if j != i)
    assert any(s.get("line", {}).get("dash") == "dash" and s["x0"] == week for s in fig["layout"]["shapes"])
    assert "week in progress" in json.dumps(fig["layout"]["annotations"])
    assert "not over, so its counts cover only part of it" in html


def test_waiting_weekly_flags_the_week_in_progress(demo_repo, tmp_path):
    from test_flow_report import add_flow_rows

    store = tmp_path / "flow.duckdb"
    loopmeter.ingest([demo_repo[0]], store_path=store)
    add_flow_rows(store)
    # The PR of add_flow_rows waits from Monday 2024-02-05 10:00 to its merge on Tuesday 10:00.
    out = tmp_path / "r.html"
    doc = loopmeter.report_from_store(store_path=store, as_of=datetime(2024, 2, 7, 12), html_path=out, by="repo",
                                      config=load_config(tmp_path / "absent.toml"))
    weekly = doc["flow"]["waiting_on_humans"]["weekly"]
    assert weekly and all(w["week_start"] == "2024-02-05" and w["partial"] is True for w in weekly)
    html = out.read_text()
    start = html.index('data-figure-for="chart-flow-waiting"')
    fig = json.loads(html[html.index(">", start) + 1:html.index("</script>", start)])
    assert all(t["marker"]["pattern"]["shape"] == ["/"] * len(weekly) for t in fig["data"])
    assert "in progress (partial)" in json.dumps(fig["layout"]["annotations"])


def test_docs_name_the_partial_flag_and_the_team_keys():
    root = Path(__file__).resolve().parent.parent
    text = (root / "docs" / "json-report.md").read_text()
    for key in ("partial", "unit", "teams", "per_team"):
        assert f'"{key}"' in text, key



def test_every_per_team_key_of_the_reports_lift_designs_is_documented_where_the_report_is(team_report):
    doc, _ = team_report
    text = (Path(__file__).resolve().parent.parent / "docs" / "json-report.md").read_text()
    block = text[text.index('  "lift_designs": {'):text.index('  "legibility": {')]
    for key in doc["lift_designs"]:
        assert f'"{key}"' in block, key



def test_teams_that_name_nobody_here_leave_an_unasked_report_per_repository_with_a_warning(org, tmp_path):
    # One organisation-wide loopmeter.toml in the working directory, a store of another team's
    # repository: the report did not ask for teams (no --by), so it is made, per repository.
    store, _ = org
    (tmp_path / "loopmeter.toml").write_text(_toml({"web": ["zed@example.com"]}))
    r = _cli("report", "--json", "--store", str(store), "--as-of", AS_OF.isoformat(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "unit" not in doc["lift_designs"] and doc["lift_designs"]["designs"]
    assert any("loopmeter.toml line 3" in w and "per repository" in w for w in doc["warnings"]), doc["warnings"]
    assert "zed@example.com" not in r.stdout  # output names positions, never members
    asked = _cli("report", "--json", "--by", "team", "--store", str(store), "--as-of", AS_OF.isoformat(), cwd=tmp_path)
    assert asked.returncode == 2 and asked.stderr.count("\n") == 1, asked.stderr


# --------------------------------------------------------------------------- every weekly series


def _flagged(rows: list[dict]) -> list[str]:
    """The Mondays of the entries flagged partial (agent_loops name theirs by `week`)."""
    return sorted({r.get("week_start") or r["week"] for r in rows if r.get("partial")})


def _mondays(rows: list[dict]) -> list[str]:
    return sorted({r.get("week_start") or r["week"] for r in rows})


def _figure(html: str, chart_id: str) -> dict:
    start = html.index(f'data-figure-for="{chart_id}"')
    return json.loads(html[html.index(">", start) + 1:html.index("</script>", start)])


@pytest.fixture
def flow_midweek(demo_repo, tmp_path):
    """add_flow_rows (tests/canon.py): deployments on Thu 2024-02-01 and Tue 2024-02-06, a PR merged Tue
    2024-02-06, CI runs on Mon 2024-02-05; as_of Wednesday 2024-02-07 noon, so the week of Monday
    2024-02-05 is in progress and the week of Monday 2024-01-29 is over."""
    from test_flow_report import add_flow_rows

    store = tmp_path / "flow.duckdb"
    loopmeter.ingest([demo_repo[0]], store_path=store)
    add_flow_rows(store)
    out = tmp_path / "r.html"
    doc = loopmeter.report_from_store(store_path=store, as_of=datetime(2024, 2, 7, 12), html_path=out, by="repo",
                                      config=load_config(tmp_path / "absent.toml"))
    return doc, out, store


def test_flow_weekly_series_flag_exactly_the_week_in_progress(flow_midweek, tmp_path):
    doc, _, store = flow_midweek
    f = doc["flow"]
    assert _mondays(f["dora"]["weekly"]) == ["2024-01-29", "2024-02-05"]  # a full week beside the partial one
    for series in (f["pr_cycle"]["weekly"], f["dora"]["weekly"], f["ci"]["weekly"], f["waiting_on_humans"]["weekly"]):
        assert _flagged(series) == ["2024-02-05"]
        assert all(r["partial"] is True for r in series if r.get("partial") is not None)
    assert "partial" not in f["dora"]["weekly"][0]
    # The following Monday at midnight: the week of 2024-02-05 is over, and nothing is flagged.
    later = loopmeter.report_from_store(store_path=store, as_of=datetime(2024, 2, 12), by="repo",
                                        config=load_config(tmp_path / "absent.toml"))
    for key in ("pr_cycle", "dora", "ci", "waiting_on_humans"):
        rows = later["flow"][key]["weekly"]
        assert rows and _flagged(rows) == [], key


def test_flow_charts_draw_the_week_in_progress_hatched_with_a_note(flow_midweek):
    _, out, _ = flow_midweek
    html = out.read_text()
    dep = _figure(html, "chart-flow-deployments")
    for t in dep["data"]:
        # x is the week's Monday: 2024-01-29 full, 2024-02-05 in progress.
        assert t["x"] == ["2024-01-29", "2024-02-05"]
        assert t["marker"]["opacity"] == [1, 0.4] and t["marker"]["pattern"]["shape"] == ["", "/"]
    assert [(s["x0"], s["line"]["dash"]) for s in dep["layout"]["shapes"]] == [("2024-02-05", "dash")]
    ci = _figure(html, "chart-flow-ci")
    bar, line = ci["data"]
    assert bar["marker"]["pattern"]["shape"] == ["/"] and line["marker"]["symbol"] == ["circle-open"]
    phases = _figure(html, "chart-flow-phases")
    assert all(t["marker"]["pattern"]["shape"] == ["/"] for t in phases["data"])
    assert "2024-W06 is in progress (partial)" in json.dumps(phases["layout"]["annotations"])
    # Each chart's note says what the hatching means.
    for chart in ("phases", "deployments", "ci"):
        i = html.index("</script>", html.index(f'data-figure-for="chart-flow-{chart}"'))
        note = html[i:html.index("</p>", i)]
        assert "not over, so its counts cover only part of it" in note, chart


def test_agent_loop_weeks_flag_exactly_the_week_in_progress(tmp_path):
    from test_agent_sessions import _ingested

    # The three fixture sessions start Mon 2026-03-02 .. Wed 2026-03-04 15:00; as_of Wed 16:00.
    _, _, store = _ingested(tmp_path)
    out = tmp_path / "a.html"
    doc = loopmeter.report_from_store(store_path=store, as_of=datetime(2026, 3, 4, 16), html_path=out,
                                      config=load_config(tmp_path / "absent.toml"))
    loops = doc["agent_loops"]
    assert _flagged(loops["weekly"]) == ["2026-03-02"] == _mondays(loops["weekly"])
    assert _flagged(loops["per_validated_change"]["weekly"]) == ["2026-03-02"]
    html = out.read_text()
    fig = _figure(html, "chart-agent-interventions")
    i = html.index("</script>", html.index('data-figure-for="chart-agent-interventions"'))
    assert "not over, so its counts cover only part of it" in html[i:html.index("</p>", i)]
    bar = next(t for t in fig["data"] if t["type"] == "bar")
    assert bar["marker"]["pattern"]["shape"] == ["/"] and bar["marker"]["opacity"] == [0.4]
    assert "2026-03-02 is in progress (partial)" in json.dumps(fig["layout"]["annotations"])
    # as_of the next Monday noon: the sessions' week is over and no entry is flagged.
    later = loopmeter.report_from_store(store_path=store, as_of=datetime(2026, 3, 9, 12),
                                        config=load_config(tmp_path / "absent.toml"))
    assert _flagged(later["agent_loops"]["weekly"]) == []
    assert _flagged(later["agent_loops"]["per_validated_change"]["weekly"]) == []


@needs_chromium
def test_deployments_chart_shows_the_week_in_progress_in_chromium(flow_midweek):
    _, out, _ = flow_midweek
    loaded = load_page(out, wait_for="#chart-flow-deployments", timeout_ms=30000, evaluate={
        "opacity": "[...document.querySelectorAll('#chart-flow-deployments .trace.bars .point path')]"
                   ".map(p => getComputedStyle(p).opacity)",
        "patterned": "[...document.querySelectorAll('#chart-flow-deployments .trace.bars .point path')]"
                     ".map(p => (p.style.fill || p.getAttribute('fill') || '').includes('url('))",
        "dashed": "[...document.querySelectorAll('#chart-flow-deployments .shapelayer path')]"
                  ".map(p => getComputedStyle(p).strokeDasharray).filter(d => d && d !== 'none').length",
        "label": "[...document.querySelectorAll('#chart-flow-deployments .annotation-text')].map(t => t.textContent).join('|')",
    })
    assert loaded.errors == [] and loaded.requests == []
    assert "week in progress" in loaded.values["label"] and "(partial)" in loaded.values["label"]
    assert loaded.values["dashed"] >= 1
    # Two traces (deployment days, failed changes) over two weeks; only the second week is light and hatched.
    ops = [float(o) for o in loaded.values["opacity"]]
    pats = loaded.values["patterned"]
    assert sorted(ops) == [0.4, 0.4, 1.0, 1.0] and sum(pats) == 2
    assert all((o < 1) == p for o, p in zip(ops, pats))

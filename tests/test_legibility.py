"""The legibility scorecard on repositories built here with the git CLI, every score worked out by hand.

Points per check are in docs/legibility.md; a check that cannot be measured is left out of its
question's denominator: score = 10 * earned / points of the measured checks, one decimal.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from browser import load_page, needs_chromium
from conftest import ALICE, BOB, CAROL, DAVE
from gitrepo import GitRepo
from typer.testing import CliRunner

import loopmeter
from loopmeter import api
from loopmeter.cli import app
from loopmeter.legibility import scorecard

ROOT = Path(__file__).resolve().parent.parent


def _by_id(card: dict) -> dict[str, dict]:
    return {d["id"]: d for c in card["checks"] for d in c["details"]}


def _scores(card: dict) -> dict[str, float | None]:
    return {c["question"]: c["score"] for c in card["checks"]}


# --------------------------------------------------------------------------- fixtures

PYPROJECT = """\
[project]
name = "featured"
dependencies = ["opentelemetry-api>=1.20", "sentry-sdk"]
maintainers = [{ name = "Core Team" }]

[tool.coverage.run]
branch = true

[tool.mypy]
strict = true
"""
WORKFLOW = """\
name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: pytest --cov
"""
CODEOWNERS = """\
# owners
*.md @writers
/src/ @core
/src/app/io.py
docs/* @docs
.github/ @ops
"""
TEMPLATE = "---\nname: Task\n---\n## What\n\n## Acceptance criteria\n- [ ] ...\n"


def build_featured(path: Path) -> GitRepo:
    """23 tracked files; six landings in the year before HEAD (2024-01-07), one older root commit.

    first-parent, newest first: c6 revert (Bob), c5 "Fix util ABC-12" (Carol), M PR #2 (brings c4,
    Carol, "fixes #10"), c3 squash "(#1)" (Bob), c2 (Alice), c1 (Alice); c0 (Dave, 2022) is older.
    """
    r = GitRepo(path)
    r.commit("Legacy import", author=DAVE, date="2022-01-01T10:00:00+00:00", files={"legacy/old.txt": "old\n"})
    r.commit("Set up project", author=ALICE, date="2024-01-01T10:00:00+00:00", files={
        "README.md": "# featured\n", "Makefile": ".PHONY: test lint\ntest:\n\tpytest\nlint:\n\truff check\n",
        "uv.lock": "version = 1\n", "Dockerfile": "FROM python:3.12\n", "AGENTS.md": "Run make test.\n",
        "scripts/release.sh": "#!/bin/sh\n", "pyproject.toml": PYPROJECT, ".github/workflows/ci.yml": WORKFLOW,
        ".github/ISSUE_TEMPLATE/task.md": TEMPLATE, ".pre-commit-config.yaml": "repos: []\n",
        ".github/CODEOWNERS": CODEOWNERS, "docs/guide.md": "guide\n", "docs/api/ref.txt": "ref\n",
    })
    notes = r.commit("Add notes", author=ALICE, date="2024-01-02T10:00:00+00:00", files={"notes.txt": "n\n"})
    r.commit("Add core (#1)", author=BOB, date="2024-01-03T10:00:00+00:00", files={
        **{f"src/app/{n}.py": f"# {n}\n" for n in ("__init__", "core", "a", "b", "c", "d")},
        "tests/test_core.py": "def test_core():\n    pass\n"})
    r.checkout("io", new=True)
    r.commit("Add io, fixes #10", author=CAROL, date="2024-01-04T10:00:00+00:00", files={"src/app/io.py": "# io\n"})
    r.checkout("main")
    r.merge("io", "Merge pull request #2 from carol/io\n\nAdd io", date="2024-01-05T10:00:00+00:00")
    r.commit("Fix util ABC-12", author=CAROL, date="2024-01-06T10:00:00+00:00", files={"src/app/util.py": "# util\n"})
    r.git("rm", "-q", "notes.txt")
    r.commit(f'Revert "Add notes"\n\nThis reverts commit {notes}.\n', author=BOB, date="2024-01-07T10:00:00+00:00", files={})
    return r


@pytest.fixture
def featured(tmp_path) -> Path:
    path = tmp_path / "featured"
    build_featured(path)
    return path


# Hand-worked expectations for `featured` without a store.
OBSERVABLE = round(10 * (4 * 0.5 / 0.8 + 2 * (2 / 6) / 0.5 + 2) / 8, 1)  # linked 3/6, refs 2/6, telemetry; tickets unknown
CALLABLE = round(3 * 2 / 3 + 2 + 1 + 2 + 2, 1)  # test+lint, no build; uv.lock; Dockerfile; AGENTS.md; scripts/
MEASURABLE = round(4 * (1 / 8) / 0.25 + 3 + 2 + 1, 1)  # 1 test file / 8 sources; CI; --cov + mypy; acceptance criteria
FEEDBACK = round(10 * (3 + 2 + 1 + 1) / 7, 1)  # PR trigger, pre-commit, a revert, sentry; latency/flakiness unknown
OWNED = round(4 * (13 / 23) / 0.9 + 2 + 2 * (2 - 1) / 2 + 2 * 4 / 5, 1)  # 13 of 23 owned; maintainers; bus factor 2; 4/5 fresh (.github aside)


# --------------------------------------------------------------------------- whole scorecards


def test_featured_repository_scores_as_worked_by_hand(featured):
    card = scorecard(featured)
    assert _scores(card) == {"observable": OBSERVABLE, "callable": CALLABLE, "measurable": MEASURABLE,
                             "feedback": FEEDBACK, "owned": OWNED}
    assert (OBSERVABLE, CALLABLE, MEASURABLE, FEEDBACK, OWNED) == (7.3, 9.0, 8.0, 10.0, 7.1)
    assert card["score"] == round((7.3 + 9.0 + 8.0 + 10.0 + 7.1) / 5, 1) == 8.3
    assert card["limiting_question"] == "owned"
    assert card["effective_agency"]["score"] == 7.1 and card["effective_agency"]["tied_with"] == []
    d = _by_id(card)
    assert d["linked_changes"]["value"] == 0.5 and d["linked_changes"]["earned"] == 2.5
    assert d["issue_references"]["value"] == round(2 / 6, 4)
    assert d["bus_factor"]["value"] == 2.0
    assert d["codeowners"]["value"] == round(13 / 23, 4)
    assert d["fresh_areas"]["missing"] == ["untouched for a year: legacy"]
    assert d["task_commands"]["missing"] == ["no discoverable build command"]
    assert d["ticket_states"]["status"] == d["ci_latency"]["status"] == d["ci_flakiness"]["status"] == "unknown"
    # the OpenSSF-style fields, on every question
    for c in card["checks"]:
        assert set(c) >= {"question", "score", "reason", "evidence", "missing", "remediation"}
    owned = next(c for c in card["checks"] if c["question"] == "owned")
    # lost points: CODEOWNERS 4 - 2.51, bus factor 1, fresh areas 0.4: the biggest gap first
    assert [r.split(" ")[0] for r in owned["remediation"]] == ["Add", "Spread", "Assign"]
    assert "CODEOWNERS" in owned["remediation"][0] and "First fix: Add a CODEOWNERS" in card["effective_agency"]["explanation"]


def test_bare_minimum_repository_scores_zero_everywhere(tmp_path):
    r = GitRepo(tmp_path / "bare-minimum")
    r.commit("initial", author=ALICE, date="2024-01-01T10:00:00+00:00", files={"README.md": "x\n", "app.py": "x = 1\n"})
    card = scorecard(r.path)
    assert _scores(card) == {q: 0.0 for q in ("observable", "callable", "measurable", "feedback", "owned")}
    d = _by_id(card)
    assert d["fresh_areas"]["status"] == "unknown"  # no top-level folder
    assert d["bus_factor"]["value"] == 1.0 and d["bus_factor"]["earned"] == 0
    assert card["limiting_question"] == "observable"  # ties go to the first question
    assert card["effective_agency"]["tied_with"] == ["callable", "measurable", "feedback", "owned"]


def test_bare_mirror_reads_the_tree_and_config_files_from_head(featured, tmp_path):
    bare = tmp_path / "featured.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(featured), str(bare)], check=True)
    a, b = scorecard(featured), scorecard(bare)
    assert b["kind"] == "bare" and a["kind"] == "worktree"
    assert a["checks"] == b["checks"]


def test_plain_directory_leaves_history_checks_unmeasured(tmp_path):
    d = tmp_path / "plain"
    for name, text in {"README.md": "x", "Makefile": "test:\n\tpytest\n", "x.py": "", "tests/test_x.py": "",
                       "node_modules/dep/index.js": ""}.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    card = scorecard(d)
    assert card["kind"] == "directory" and card["head"] is None
    assert _scores(card) == {"observable": 0.0, "callable": round(10 * (3 * 1 / 3) / 10, 1), "measurable": 4.0,
                             "feedback": 0.0, "owned": 0.0}
    det = _by_id(card)
    assert {k for k, v in det.items() if v["status"] == "unknown"} == {
        "linked_changes", "issue_references", "ticket_states", "ci_latency", "ci_flakiness", "reverts", "bus_factor",
        "fresh_areas"}
    assert det["tests"]["value"] == 1.0  # node_modules is not the project's code


def test_scorecard_is_deterministic(featured):
    assert json.dumps(scorecard(featured)) == json.dumps(scorecard(featured))


# --------------------------------------------------------------------------- single checks


def test_linked_share_ramp_and_squash_suffix_is_not_an_issue_reference(tmp_path):
    r = GitRepo(tmp_path / "r")
    r.commit("Add a (#5)", author=ALICE, date="2024-01-01T10:00:00+00:00", files={"a": "1"})
    r.commit("See gh-7 for why", author=ALICE, date="2024-01-02T10:00:00+00:00", files={"b": "1"})
    r.commit("Bump to UTF-8 and SHA-256", author=ALICE, date="2024-01-03T10:00:00+00:00", files={"c": "1"})
    r.commit("Tidy", author=ALICE, date="2024-01-04T10:00:00+00:00", files={"d": "1"})
    d = _by_id(scorecard(r.path))
    # linked: the squash (PR) and gh-7 (ticket): 2 of 4 = 0.5 -> 4 * 0.5 / 0.8
    assert d["linked_changes"]["earned"] == 2.5
    # issue references: only gh-7 (the squash suffix names the PR itself; UTF-8 is no ticket): 1/4 -> 2 * 0.25 / 0.5
    assert d["issue_references"]["earned"] == 1.0


def test_a_byte_order_mark_does_not_hide_the_trigger(tmp_path):
    r = GitRepo(tmp_path / "r")
    r.commit("ci", author=ALICE, files={".github/workflows/ci.yml": "\ufeffon: pull_request\r\njobs: {}\r\n"})
    assert _by_id(scorecard(r.path))["ci_on_pr"]["earned"] == 3


def test_workflow_without_pull_request_trigger_earns_nothing_for_ci_on_pr(tmp_path):
    r = GitRepo(tmp_path / "r")
    r.commit("ci", author=ALICE, files={".github/workflows/nightly.yml": "on:\n  schedule:\n    - cron: '0 0 * * *'\n"})
    d = _by_id(scorecard(r.path))
    assert d["ci_on_pr"]["earned"] == 0 and d["ci_config"]["earned"] == 3
    assert d["ci_on_pr"]["missing"] == ["none of 1 GitHub workflows is triggered by pull_request"]


def test_lock_file_partial_credit_from_pinned_requirements(tmp_path):
    r = GitRepo(tmp_path / "r")
    r.commit("reqs", author=ALICE, files={"requirements.txt": "a==1.0\nb>=2\n# comment\nc==3 # pinned\n-r other.txt\n"})
    d = _by_id(scorecard(r.path))
    # 2 of 3 requirement lines pinned, no lock file: 0.5 * 2/3 of 2 points
    assert d["lock_file"]["earned"] == round(2 * 0.5 * 2 / 3, 2)


def test_tsconfig_without_strict_earns_a_quarter_of_type_checking(tmp_path):
    r = GitRepo(tmp_path / "r")
    r.commit("ts", author=ALICE, files={"tsconfig.json": '{"compilerOptions": {}}', "a.ts": "", "a.test.ts": ""})
    d = _by_id(scorecard(r.path))
    assert d["coverage_typecheck"]["earned"] == 2 * 0.25
    assert d["tests"]["value"] == 1.0


def test_agent_instructions_and_contributor_guides(tmp_path):
    r = GitRepo(tmp_path / "r")
    r.commit("guide", author=ALICE, files={"CONTRIBUTING.md": "x"})
    assert _by_id(scorecard(r.path))["agent_instructions"]["earned"] == 1.0
    r.commit("rules", author=ALICE, files={".cursor/rules/style.mdc": "x"})
    assert _by_id(scorecard(r.path))["agent_instructions"]["earned"] == 2.0


def test_bus_factor_leaves_bots_out(tmp_path):
    r = GitRepo(tmp_path / "r")
    bot = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")
    for i in range(5):
        r.commit(f"bump {i}", author=bot, date=f"2024-01-0{i + 1}T10:00:00+00:00", files={f"b{i}": "1"})
    for i, who in enumerate((ALICE, ALICE, BOB, CAROL)):
        r.commit(f"work {i}", author=who, date=f"2024-02-0{i + 1}T10:00:00+00:00", files={f"w{i}": "1"})
    d = _by_id(scorecard(r.path))["bus_factor"]
    # people: Alice 2, Bob 1, Carol 1 -> Alice alone makes half of 4: bus factor 1
    assert d["value"] == 1.0 and "5 bot or agent commits left out" in d["evidence"][0]


OUR_AGENT_TOML = """\
[[attribution.signature]]
agent = "our-agent"
evidence = "author"
email = "agent@build.example.com"
confidence = 1.0
"""


def test_bus_factor_leaves_out_agents_configured_in_loopmeter_toml(tmp_path, monkeypatch):
    r = GitRepo(tmp_path / "r")
    agent = ("Build Agent", "agent@build.example.com")  # no built-in signature knows this account
    for i in range(4):
        r.commit(f"agent work {i}", author=agent, date=f"2024-01-0{i + 1}T10:00:00+00:00", files={f"a{i}": "1"})
    for i, who in enumerate((ALICE, BOB, CAROL, DAVE)):
        r.commit(f"work {i}", author=who, date=f"2024-02-0{i + 1}T10:00:00+00:00", files={f"w{i}": "1"})
    # Without the configuration the agent is a person with 4 of 8 commits: bus factor 1.
    assert _by_id(api.legibility(r.path))["bus_factor"]["value"] == 1.0
    # With it, the agent is left out like a built-in one: people 1 + 1 + 1 + 1, two make half of 4.
    work = tmp_path / "work"
    work.mkdir()
    (work / "loopmeter.toml").write_text(OUR_AGENT_TOML)
    monkeypatch.chdir(work)
    d = _by_id(api.legibility(r.path))["bus_factor"]
    assert d["value"] == 2.0 and "4 bot or agent commits left out" in d["evidence"][0]
    res = CliRunner().invoke(app, ["legibility", str(r.path), "--json"])
    assert res.exit_code == 0, res.output
    assert _by_id(json.loads(res.output))["bus_factor"]["value"] == 2.0
    # The report's scorecard reads the same configuration.
    doc = loopmeter.analyze([r.path], store_path=tmp_path / "lm.duckdb", html_path=None, as_of=datetime(2024, 3, 1))
    (card,) = doc["legibility"].values()
    assert _by_id(card)["bus_factor"]["value"] == 2.0


# --------------------------------------------------------------------------- the store


def _insert(con, item_id, kind, repo, created, done, state, attrs, started=None):
    con.execute("insert into items (item_id, source, kind, repo, created_at, started_at, done_at, state, attrs) "
                "values (?, 'github', ?, ?, ?, ?, ?, ?, ?)", [item_id, kind, repo, created, started, done, state, json.dumps(attrs)])


def test_store_adds_tickets_and_ci_latency_and_flakiness(featured, demo_repo, tmp_path):
    from loopmeter.store.db import Store

    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([featured], store_path=store)
    head_sha = subprocess.run(["git", "-C", str(featured), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    day = datetime(2024, 1, 6, 9, 0)

    def at(minutes: int) -> datetime:
        return day + timedelta(minutes=minutes)

    with Store.open(store) as s:
        con = s.con
        # (sha, event, state, minutes): the run on HEAD ties "acme/featured" to this repository by sha.
        runs = [(head_sha, "push", "success", 12), ("f1", "pull_request", "failure", 20), ("f1", "pull_request", "success", 50),
                ("s3", "push", "success", 30), ("s4", "push", "success", 35), ("s5", "push", "failure", 36),
                ("s6", "push", "success", 40), ("s7", "push", "success", 45), ("s8", "push", "success", 5),
                ("s9", "push", "success", 6), ("s10", "push", "success", 70)]
        for i, (sha, event, state, minutes) in enumerate(runs):
            _insert(con, f"github:acme/featured:run:{i}:1", "ci_run", "acme/featured", day, at(minutes), state,
                    {"sha": sha, "workflow": "ci", "event": event, "attempt": 1})
        _insert(con, "github:acme/featured:issue:1", "issue", "acme/featured", day, None, "open",
                {"status": "In Progress", "status_category": "indeterminate"}, started=day)
        _insert(con, "github:acme/featured:issue:2", "issue", "acme/featured", day, None, "open", {"status": "Todo"})
        _insert(con, "github:other/repo:issue:3", "issue", "other/repo", day, None, "open", {"status": "Doing"})
        con.execute("insert into events (item_id, ts, activity, actor_id, attrs) values ('github:acme/featured:issue:2', ?, 'reopened', null, null)", [day])

    card = api.legibility(featured, store_path=store)
    d = _by_id(card)
    assert card["store"]["names"] == ["acme/featured", "featured"]
    assert d["linked_changes"]["evidence"][0].startswith("store: 3 of 6 changes")
    assert d["ticket_states"]["earned"] == 2.0 and "2 issues" in d["ticket_states"]["evidence"][0]
    # minutes sorted: 5 6 12 20 30 35 36 40 45 50 70 -> median 35 -> 1.5 * (35 - 60) / (10 - 60)
    assert d["ci_latency"]["value"] == 35.0 and d["ci_latency"]["earned"] == 0.75
    # 10 sha-workflow pairs, one (f1) failed and passed: 0.1 -> 1.5 * (0.1 - 0.2) / (0 - 0.2)
    assert d["ci_flakiness"]["value"] == 0.1 and d["ci_flakiness"]["earned"] == 0.75
    assert "1 issues or pull requests reopened" in d["reverts"]["evidence"][1]
    scores = _scores(card)
    assert scores["observable"] == round(10 * (2.5 + 2 * (2 / 6) / 0.5 + 2 + 2) / 10, 1) == 7.8
    assert scores["feedback"] == round(3 + 0.75 + 0.75 + 2 + 1 + 1, 1) == 8.5
    # A report reads every repository's facts in the same three queries (store_facts.facts_of),
    # each in its own window and with its own names: the featured card is unchanged beside the demo's.
    from loopmeter.legibility.score import for_report

    loopmeter.ingest([demo_repo[0]], store_path=store)
    with Store.open_read(store) as s:
        cards = for_report(s, [("featured", str(featured)), ("demo", str(demo_repo[0])), ("gone", None)])
    assert cards["featured"] == card and cards["gone"] is None
    demo = _by_id(cards["demo"])
    assert cards["demo"]["store"] == {"repo": "demo", "names": ["demo"]}
    assert demo["linked_changes"]["evidence"][0].startswith("store: 4 of 8 changes")
    assert demo["ci_latency"]["status"] == "unknown" and demo["ticket_states"]["status"] == "unknown"


# --------------------------------------------------------------------------- bad input and escaping


def test_bad_paths_are_one_line_and_exit_2(tmp_path):
    runner = CliRunner()
    (tmp_path / "f.txt").write_text("x")
    for arg, words in ((tmp_path / "nope", "no such file"), (tmp_path / "f.txt", "not a directory")):
        res = runner.invoke(app, ["legibility", str(arg)])
        assert res.exit_code == 2
        out = res.output.strip()
        assert out.startswith("error:") and words in out and len(out.splitlines()) == 1


def test_store_that_does_not_exist_is_an_error_not_created(featured, tmp_path):
    res = CliRunner().invoke(app, ["legibility", str(featured), "--store", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and "no store here" in res.output
    assert not (tmp_path / "none.duckdb").exists()


def _evil_repo(path: Path) -> Path:
    r = GitRepo(path)
    evil = "<img src=x onerror=alert(1)>"
    r.commit("old", author=ALICE, date="2022-01-01T10:00:00+00:00", files={f"{evil}/a.txt": "x", "[bold red]x\x1b[31m/b.txt": "y"})
    r.commit("new", author=ALICE, date="2024-01-01T10:00:00+00:00", files={"src/x.py": ""})
    return r.path


def test_file_names_are_escaped_in_terminal_and_json(tmp_path):
    path = _evil_repo(tmp_path / "evil")
    res = CliRunner().invoke(app, ["legibility", str(path)], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert "\x1b[31m" not in res.output and "\ufffd" in res.output
    assert "[bold red]x" in res.output  # shown literally, not taken as markup
    card = json.loads(CliRunner().invoke(app, ["legibility", str(path), "--json"]).output)
    assert "<img src=x onerror=alert(1)>" in _by_id(card)["fresh_areas"]["missing"][0]


def test_file_names_are_escaped_in_the_html_page(tmp_path):
    path = _evil_repo(tmp_path / "evil")
    out = tmp_path / "leg.html"
    res = CliRunner().invoke(app, ["legibility", str(path), "--html", str(out), "--brief"])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'id="chart-legibility"' in html and "Content-Security-Policy" in html


# --------------------------------------------------------------------------- the report


def test_report_carries_a_scorecard_per_repository_and_null_when_the_path_is_gone(demo_repo, store_path, tmp_path):
    path, _ = demo_repo
    html = tmp_path / "report.html"
    doc = loopmeter.analyze([path], store_path=store_path, html_path=html, as_of=datetime(2024, 3, 1))
    (repo, card), = doc["legibility"].items()
    assert repo == "demo" and card["store"]["repo"] == "demo"
    assert card == api.legibility(path, store_path=store_path)  # the same scorecard through the API
    # the demo's 8 landings, from the store: the PR #1 merge and the squashes (#2), (#3) carry a PR number,
    # and the revert's subject 'Revert "Add thing (#2)"' names #2; the other four name nothing
    assert _by_id(card)["linked_changes"]["evidence"][0].startswith("store: 4 of 8 changes")
    assert 'id="legibility"' in html.read_text()
    res = CliRunner().invoke(app, ["report", "--store", str(store_path), "--as-of", "2024-03-01"], env={"COLUMNS": "300"})
    assert res.exit_code == 0 and f"agent legibility of demo: {card['score']:g}/10, limited by {card['limiting_question']}" in res.output
    shutil.rmtree(path)
    doc = loopmeter.report_from_store(store_path=store_path, as_of=datetime(2024, 3, 1))
    assert doc["legibility"] == {"demo": None}


# --------------------------------------------------------------------------- the rules and their docs


def test_docs_state_every_check_with_its_points():
    from loopmeter.legibility.rules import CHECKS

    text = (ROOT / "docs" / "legibility.md").read_text()
    for c in CHECKS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{c.id}`")), None)
        assert row is not None, c.id
        assert f"| {c.points:g} |" in row, c.id
        if c.ramp is not None:
            assert f"ramp {c.ramp[0]:g} → {c.ramp[1]:g}" in row, c.id


# --------------------------------------------------------------------------- in a real browser

@pytest.mark.browser
@needs_chromium
def test_legibility_page_renders_its_chart_offline_and_runs_no_file_name(tmp_path):
    r = GitRepo(tmp_path / "hostile")
    evil = "<img src=x onerror=\"window.__pwned = 1\">"
    r.commit("old", author=ALICE, date="2022-01-01T10:00:00+00:00", files={f"{evil}/a.txt": "x"})
    r.commit("new", author=ALICE, date="2024-01-01T10:00:00+00:00", files={"src/x.py": ""})
    out = tmp_path / "leg.html"
    assert CliRunner().invoke(app, ["legibility", str(r.path), "--html", str(out), "--brief"]).exit_code == 0

    def open_details(page) -> None:
        page.click("table.legibility details summary >> nth=4")
        page.screenshot(path=str(tmp_path / "leg.png"), full_page=True)

    page = load_page(out, wait_for="#chart-legibility", act=open_details,
                     evaluate={"bars": "document.querySelectorAll('#chart-legibility .bars .point').length"})
    assert page.errors == [] and page.requests == []
    assert page.values["bars"] == 5 and page.pwned == "undefined"
    assert evil in page.text  # shown as text


# --------------------------------------------------------------------------- odd repositories


def test_work_tree_without_commits_is_scored_from_its_index(tmp_path):
    r = GitRepo(tmp_path / "fresh")
    (r.path / "Makefile").write_text("test:\n\tpytest\n")
    r.git("add", "Makefile")
    card = scorecard(r.path)
    assert card["head"] is None and card["files"] == 1
    d = _by_id(card)
    assert d["linked_changes"]["status"] == "unknown" and d["task_commands"]["earned"] == 1.0


def test_bare_repository_without_commits_is_an_error(tmp_path):
    bare = tmp_path / "empty.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    res = CliRunner().invoke(app, ["legibility", str(bare)])
    assert res.exit_code == 2 and "has no commits" in res.output


def test_file_names_that_are_not_utf8_are_shown_with_a_replacement_character(tmp_path):
    r = GitRepo(tmp_path / "latin")
    name = "caf\xe9".encode("latin-1")
    top = name + b"/x.txt"
    import os

    os.makedirs(os.path.join(bytes(r.path), name))
    with open(os.path.join(bytes(r.path), top), "wb") as f:
        f.write(b"x")
    r.git("add", "-A")
    r.commit("old", author=ALICE, date="2022-01-01T10:00:00+00:00", files={})
    r.commit("new", author=ALICE, date="2024-01-01T10:00:00+00:00", files={"src/a.py": ""})
    out = tmp_path / "p.html"
    res = CliRunner().invoke(app, ["legibility", str(r.path), "--html", str(out)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "caf\ufffd" in res.output and "caf\ufffd" in out.read_text(encoding="utf-8")


def test_report_chart_groups_the_five_scores_by_repository(featured, tmp_path):
    from loopmeter.legibility.render import figure

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("")
    cards = {"featured": scorecard(featured), "plain": scorecard(plain), "gone": None}
    fig = figure(cards)
    assert [t.name for t in fig.data] == ["featured", "plain"]
    assert list(fig.data[0].y) == [OBSERVABLE, CALLABLE, MEASURABLE, FEEDBACK, OWNED]
    assert figure({"gone": None}) is None


def test_a_busy_year_is_read_as_its_newest_commits(tmp_path, monkeypatch):
    from loopmeter.legibility import history

    r = GitRepo(tmp_path / "busy")
    for i, msg in enumerate(["a", "b", "c (#1)", "d #2", "e"]):
        r.commit(msg, author=ALICE, date=f"2024-01-0{i + 1}T10:00:00+00:00", files={f"f{i}": "x"})
    monkeypatch.setattr(history, "MAX_COMMITS", 3)
    card = scorecard(r.path)
    assert card["history_truncated"] is True
    # the newest three: "e", "d #2", "c (#1)": two name a PR or ticket
    assert _by_id(card)["linked_changes"]["value"] == round(2 / 3, 4)


def test_a_pull_request_linked_same_as_a_direct_change_makes_it_linked(featured, tmp_path):
    from loopmeter.store.db import Store

    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([featured], store_path=store)
    with Store.open(store) as s:
        (change,) = s.con.execute("select item_id from items where kind = 'change' and title = 'Set up project'").fetchone()
        s.con.execute("insert into links values ('github:acme/featured:pr:9', ?, 'same_as')", [change])
    d = _by_id(api.legibility(featured, store_path=store))
    # 3 of 6 by their messages, plus the one a pull request says it landed as
    assert d["linked_changes"]["evidence"][0].startswith("store: 4 of 6 changes")
    assert d["linked_changes"]["earned"] == round(4 * (4 / 6) / 0.8, 2)

"""`report --team/--agent/--from/--to`: the slice of changes, checked on the hand-worked demo history
(tests/conftest.py build_demo), whose changes and their states are listed there."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loopmeter import api
from loopmeter.cli import app

runner = CliRunner()


@pytest.fixture
def demo_store(demo_repo, store_path):
    path, _ = demo_repo
    api.ingest([path], store_path=store_path)
    return store_path


def _doc(store, *args):
    r = runner.invoke(app, ["report", "--store", str(store), "--json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_dates_cut_changes_but_reverts_after_the_slice_still_count(demo_store):
    # Only S2 landed on 2024-01-05; R1 (2024-01-11, outside the slice) reverted it.
    d = _doc(demo_store, "--from", "2024-01-05", "--to", "2024-01-05")
    assert d["filters"] == {"repo": [], "team": None, "agent": None, "from": "2024-01-05", "to": "2024-01-05"}
    assert (d["totals"]["changes"], d["totals"]["reverted_changes"]) == (1, 1)
    # 01-08 .. 01-15 holds S3, R1 and D2 (D2 lands 01-15 20:00 UTC: the last day is inclusive).
    d = _doc(demo_store, "--from", "2024-01-08", "--to", "2024-01-15")
    assert d["totals"]["changes"] == 3
    assert [w["changes"] for w in d["weekly"] if w["changes"]] == [2, 1]


def test_agent_keeps_humans_and_that_agents_changes(demo_store):
    full = _doc(demo_store)
    assert full["attribution"]["changes_by_agent"] == {"claude-code": 1, "cursor": 1}
    d = _doc(demo_store, "--agent", "cursor")
    # M1 (claude-code only) is left out; S3 (cursor) and the six others stay.
    assert d["totals"]["changes"] == full["totals"]["changes"] - 1
    assert d["totals"]["ai_assisted_changes"] == 1
    assert d["attribution"]["changes_by_agent"] == {"cursor": 1}


def test_team_from_loopmeter_toml(demo_store, tmp_path, monkeypatch):
    (tmp_path / "loopmeter.toml").write_text('[[team]]\nname = "core"\nmembers = ["bob@example.com", "eve@example.com"]\n')
    monkeypatch.chdir(tmp_path)
    d = _doc(demo_store, "--team", "core", "--by", "repo")
    # Bob authored M1 ("Add the feature") and D2, Eve S3: three changes, two of them AI-assisted.
    assert d["filters"]["team"] == "core"
    assert (d["totals"]["changes"], d["totals"]["ai_assisted_changes"]) == (3, 2)
    assert d["totals"]["contributors"] == 2
    rest = _doc(demo_store, "--team", "unassigned", "--by", "repo")
    assert (rest["totals"]["changes"], rest["totals"]["ai_assisted_changes"]) == (5, 0)


@pytest.mark.parametrize("args, message", [
    (["--agent", "nope"], "--agent: no change or event-log case in the store is attributed to 'nope' (agents: claude-code, cursor)"),
    (["--from", "2024-02-01", "--to", "2024-01-01"], "--from 2024-02-01 is after --to 2024-01-01"),
    (["--from", "yesterday"], "--from: 'yesterday' is not a date (YYYY-MM-DD)"),
    (["--team", "core"], "--team: 'core' is not a team of loopmeter.toml"),
])
def test_bad_filters_are_one_line(demo_store, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["report", "--store", str(demo_store), "--json", *args])
    assert r.exit_code == 2
    assert message in r.output and len(r.output.strip().splitlines()) == 1

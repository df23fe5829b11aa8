"""An organisation's legibility: past `summary.CARDS` repositories a report carries the summary
(distribution, least legible, checks failing most often) instead of a scorecard each, and
`loopmeter legibility --store S --json` gives every scorecard."""

from __future__ import annotations

import json
import re

import pytest
from browser import load_page, needs_chromium
from rich.console import Console
from test_report_org import NAMES, org  # noqa: F401 (the fixture: three small repositories)
from typer.testing import CliRunner

from loopmeter import api
from loopmeter.cli import app
from loopmeter.legibility import summary
from loopmeter.legibility.rules import CHECKS, QUESTIONS
from loopmeter.report.terminal import render_terminal


def _card(score: float, limiting: str, statuses: dict[str, str], fix: str = "fix it") -> dict:
    """A scorecard with only what the summary reads; every check 'met' unless `statuses` says."""
    checks = []
    for q in QUESTIONS:
        details = [{"id": c.id, "status": statuses.get(c.id, "met")} for c in CHECKS if c.question == q]
        checks.append({"question": q, "score": score, "details": details,
                       "remediation": [fix, "later"] if q == limiting else []})
    return {"path": f"/src/{score}", "score": score, "limiting_question": limiting,
            "effective_agency": {"score": score - 1}, "checks": checks}


def test_summary_worked_by_hand():
    cards = {
        "b": _card(5.5, "owned", {"bus_factor": "missing", "codeowners": "partial"}),
        "a": _card(2.0, "observable", {"bus_factor": "missing", "telemetry": "missing", "ci_latency": "unknown"}),
        "c": _card(10.0, "feedback", {}),
        "d": _card(5.5, "owned", {"codeowners": "missing"}),
        "gone": None,
    }
    s = summary.summary(cards, worst=3)
    assert (s["repositories"], s["scored"], s["not_scored"], s["not_scored_repos"]) == (5, 4, 1, ["gone"])
    # 2.0 in [2, 3); 5.5 twice in [5, 6); 10 in the last bin, [9, 10].
    assert s["score"] == {"min": 2.0, "median": 5.5, "max": 10.0, "histogram": [0, 0, 1, 0, 0, 2, 0, 0, 0, 1]}
    # Worst first, ties by name; the first fix is the limiting question's first remediation.
    assert [(w["repo"], w["score"], w["limiting_question"], w["limiting_score"], w["first_fix"]) for w in s["worst"]] == [
        ("a", 2.0, "observable", 1.0, "fix it"), ("b", 5.5, "owned", 4.5, "fix it"), ("d", 5.5, "owned", 4.5, "fix it")]
    assert s["questions"]["owned"] == {"median": 5.5, "scored": 4, "limiting": 2}
    assert s["questions"]["callable"]["limiting"] == 0
    by_id = {c["id"]: c for c in s["checks"]}
    assert by_id["bus_factor"] | {} == {**by_id["bus_factor"], "missing": 2, "partial": 0, "met": 2, "unknown": 0}
    assert (by_id["codeowners"]["missing"], by_id["codeowners"]["partial"]) == (1, 1)
    assert by_id["ci_latency"]["unknown"] == 1 and by_id["ci_latency"]["met"] == 3
    # Most often missing first (bus factor 2), then missing 1 with a partial before missing 1 alone.
    assert [c["id"] for c in s["checks"][:3]] == ["bus_factor", "codeowners", "telemetry"]
    assert sum(c["met"] + c["partial"] + c["missing"] + c["unknown"] for c in s["checks"]) == 4 * len(CHECKS)
    empty = summary.summary({"gone": None})
    assert empty["scored"] == 0 and empty["score"]["median"] is None and empty["worst"] == []


@pytest.fixture(scope="module")
def summarised(org):  # noqa: F811
    """The org's report with the limit at two repositories: (store, document, HTML page)."""
    root, store = org
    page = root / "summary.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(summary, "CARDS", 2)
        doc = api.report_from_store(store_path=store, html_path=page)
    return store, doc, page


def test_past_the_limit_the_report_carries_the_summary_and_the_cli_every_card(summarised):
    store, doc, page = summarised
    every = api.legibility(None, store_path=store)
    assert sorted(every) == sorted(NAMES) and all(c is not None for c in every.values())
    res = CliRunner().invoke(app, ["legibility", "--store", str(store), "--json"])
    assert res.exit_code == 0 and json.loads(res.output) == every

    assert doc["legibility"] is None
    s = doc["legibility_summary"]
    assert s == summary.summary(every)
    by_score = sorted(every.items(), key=lambda rc: (rc[1]["score"], rc[0]))
    assert [w["repo"] for w in s["worst"]] == [r for r, _ in by_score]

    console = Console(width=300, record=True, force_terminal=False, color_system=None)
    render_terminal(doc, console)
    text = console.export_text(styles=False)
    assert f"agent legibility of 3 repositories: median {s['score']['median']:g}/10" in text
    assert "most often missing:" in text and "loopmeter legibility --json" in text

    html = page.read_text()
    section = html[html.index('id="legibility"'):]
    section = section[:section.index("<h2", 10)]
    # The summary, not a table per repository; every name escaped.
    assert "The least legible repositories" in section and "The checks that fail most often" in section
    assert "Overall (mean of the five)" not in section
    assert "web&lt;b&gt;&amp;x" in section and "<b>&x" not in section
    assert len(re.findall(r"<tr><td>", section[:section.index("The checks that fail")])) == 3


@needs_chromium
def test_the_summary_chart_draws_offline(summarised):
    seen = load_page(summarised[2], wait_for="#chart-legibility",
                     evaluate={"bars": "document.querySelectorAll('#chart-legibility .bars .point').length"})
    assert seen.errors == [] and seen.requests == []
    assert seen.values["bars"] == 10  # one bar per point of score, empty ones included


def test_no_path_and_no_store_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["legibility", "--json"])
    assert res.exit_code != 0 and res.output.strip().count("\n") == 0
    assert "give a PATH to score, or --store STORE" in res.output

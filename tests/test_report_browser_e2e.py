"""From a real repository with hostile commit messages to the HTML report in real headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from browser import in_chromium, load_page
from conftest import ALICE, BOB, CLAUDE_TRAILER
from gitrepo import GitRepo

SCRIPT_TITLE = "</script><script>window.__pwned = 'script'</script> fix"
IMG_TITLE = '<img src=x onerror="window.__pwned = \'img\'"> tweak'

pytestmark = in_chromium


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    r = GitRepo(root / "hostile")
    r.commit("Base", author=ALICE, date="2024-01-01T09:00:00+00:00")
    r.checkout("topic", new=True)
    r.commit("Work", author=BOB, date="2024-01-02T09:00:00+00:00")
    r.commit(f"More work\n\n{CLAUDE_TRAILER}", author=BOB, date="2024-01-03T09:00:00+00:00")
    r.checkout("main")
    r.merge("topic", f"Merge pull request #1 from bob/topic\n\n{SCRIPT_TITLE}", date="2024-01-04T09:00:00+00:00")
    r.commit(IMG_TITLE, author=ALICE, date="2024-01-05T09:00:00+00:00", commit_date="2024-01-05T12:00:00+00:00")
    out = root / "report.html"
    store = str(root / "s.duckdb")
    subprocess.run([sys.executable, "-m", "loopmeter", "ingest", str(r.path), "--store", store], check=True, capture_output=True)
    # An agent session that worked in the repository and saw its tests pass: the agent-loop charts.
    session = [
        {"type": "user", "sessionId": SCRIPT_TITLE, "cwd": str(r.path), "timestamp": "2024-01-02T08:00:00Z",
         "message": {"role": "user", "content": IMG_TITLE}},
        {"type": "assistant", "sessionId": SCRIPT_TITLE, "cwd": str(r.path), "timestamp": "2024-01-02T08:01:00Z",
         "message": {"id": "m1", "role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "pytest -q"}}]}},
        {"type": "user", "sessionId": SCRIPT_TITLE, "cwd": str(r.path), "timestamp": "2024-01-02T08:04:00Z",
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "3 passed"}]}},
    ]
    (root / "session.jsonl").write_text("\n".join(json.dumps(x) for x in session) + "\n")
    subprocess.run([sys.executable, "-m", "loopmeter", "ingest", "--sessions", str(root / "session.jsonl"), "--store", store],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "loopmeter", "report", "--store", store, "--html", str(out), "--as-of", "2024-03-01"],
                   check=True, capture_output=True)
    return load_page(out, wait_for=".js-plotly-plot", at_least=8, open_details=True, evaluate={
        "figures": "document.querySelectorAll('script[data-figure-for]').length",
        "ids": "Array.from(document.querySelectorAll('.js-plotly-plot')).map(e => e.id)",
        "agent_week_ticks": "Array.from(document.querySelectorAll('#chart-agent-interventions .xtick text'))"
                            ".map(t => t.textContent)",
    })


def test_charts_render_without_errors_or_network(report_page):
    # Five of the report's own, the legibility scorecard, the agent loops' time to green and
    # interventions (the cost chart is empty: a transcript carries no cost), plus whatever the
    # lift-designs section could estimate here; every embedded figure became a chart.
    assert {"chart-throughput", "chart-cycle", "chart-ai-share", "chart-size", "chart-lift"} <= set(report_page.values["ids"])
    assert report_page.charts == report_page.values["figures"] >= 8
    assert report_page.errors == []
    assert report_page.requests == []


def test_a_single_week_of_agent_sessions_is_labelled_by_its_date(report_page):
    # With one week of sessions, Plotly zoomed a date axis to milliseconds around the bar
    # ("23:59:59.9996"); a short series gets whole weeks, one dated tick per week.
    ticks = report_page.values["agent_week_ticks"]
    assert ticks and all(":" not in t for t in ticks), ticks
    assert any("2024" in t or "Jan" in t for t in ticks), ticks


def test_hostile_commit_messages_are_shown_as_text_and_never_run(report_page):
    assert report_page.pwned == "undefined"
    assert "<script>window.__pwned = 'script'</script>" in report_page.text
    assert '<img src=x onerror="window.__pwned = \'img\'">' in report_page.text

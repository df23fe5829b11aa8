"""From a real repository with hostile commit messages to the HTML report in real headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ALICE, BOB, CLAUDE_TRAILER
from gitrepo import GitRepo

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT_TITLE = "</script><script>window.__pwned = 'script'</script> fix"
IMG_TITLE = '<img src=x onerror="window.__pwned = \'img\'"> tweak'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


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
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route(lambda url: not url.startswith("file:"), lambda route: (requests.append(route.request.url), route.abort()))
        page.goto(out.as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 8", timeout=20000)
        result = {
            "charts": page.evaluate("document.querySelectorAll('.js-plotly-plot').length"),
            "figures": page.evaluate("document.querySelectorAll('script[data-figure-for]').length"),
            "ids": page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot')).map(e => e.id)"),
            "pwned": page.evaluate("typeof window.__pwned"),
            "agent_week_ticks": page.evaluate(
                "Array.from(document.querySelectorAll('#chart-agent-interventions .xtick text')).map(t => t.textContent)"),
            "text": page.inner_text("body"),
            "errors": errors,
            "requests": requests,
        }
        browser.close()
    return result


def test_charts_render_without_errors_or_network(report_page):
    # Five of the report's own, the legibility scorecard, the agent loops' time to green and
    # interventions (the cost chart is empty: a transcript carries no cost), plus whatever the
    # lift-designs section could estimate here; every embedded figure became a chart.
    assert {"chart-throughput", "chart-cycle", "chart-ai-share", "chart-size", "chart-lift"} <= set(report_page["ids"])
    assert report_page["charts"] == report_page["figures"] >= 8
    assert report_page["errors"] == []
    assert report_page["requests"] == []


def test_a_single_week_of_agent_sessions_is_labelled_by_its_date(report_page):
    # With one week of sessions, Plotly zoomed a date axis to milliseconds around the bar
    # ("23:59:59.9996"); the week is a day-wide category of its own.
    ticks = report_page["agent_week_ticks"]
    assert ticks and all(":" not in t for t in ticks), ticks
    assert any("2024" in t or "Jan" in t for t in ticks), ticks


def test_hostile_commit_messages_are_shown_as_text_and_never_run(report_page):
    assert report_page["pwned"] == "undefined"
    assert "<script>window.__pwned = 'script'</script>" in report_page["text"]
    assert '<img src=x onerror="window.__pwned = \'img\'">' in report_page["text"]

"""The event-log section of the HTML report in real headless Chromium, from a store holding only an
event log whose name is hostile markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_event_logs import CSV, run

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = '<img src=x onerror="window.__pwned = 1">'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


def test_event_log_section_shows_the_numbers_and_runs_nothing(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    store, out = tmp_path / "s.duckdb", tmp_path / "r.html"
    r = run("ingest", "--store", store, "--events", tmp_path / "t.csv", "--log-name", HOSTILE, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run("report", "--store", store, "--html", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert HOSTILE in r.stdout  # the terminal shows it as text too

    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.route(lambda url: not url.startswith("file:"), lambda route: route.abort())
        page.goto(out.as_uri())
        rows = page.eval_on_selector_all("#event-logs + p + .table-wrap tbody tr",
                                         "rs => rs.map(r => Array.from(r.cells).map(c => c.innerText))")
        pwned = page.evaluate("typeof window.__pwned")
        browser.close()
    assert pwned == "undefined" and errors == []
    (row,) = rows
    assert row[0] == HOSTILE and row[1] == "csv" and row[2:5] == ["3", "7", "24.0 h"]
    assert row[6].splitlines()[0] == "3" and "1 × unparseable timestamp" in row[6]

"""The event-log section of the HTML report in real headless Chromium, from a store holding only an
event log whose name is hostile markup."""

from __future__ import annotations

from browser import in_chromium, load_page
from test_event_logs import CSV, run

HOSTILE = '<img src=x onerror="window.__pwned = 1">'

pytestmark = in_chromium


def test_event_log_section_shows_the_numbers_and_runs_nothing(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    store, out = tmp_path / "s.duckdb", tmp_path / "r.html"
    r = run("ingest", "--store", store, "--events", tmp_path / "t.csv", "--log-name", HOSTILE, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run("report", "--store", store, "--html", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert HOSTILE in r.stdout  # the terminal shows it as text too

    page = load_page(out, evaluate={"rows": "Array.from(document.querySelectorAll('#event-logs + p + .table-wrap tbody tr'))"
                                            ".map(r => Array.from(r.cells).map(c => c.innerText))"})
    assert page.pwned == "undefined" and page.errors == []
    (row,) = page.values["rows"]
    assert row[0] == HOSTILE and row[1] == "csv" and row[2:5] == ["3", "7", "24.0 h"]
    assert row[6].splitlines()[0] == "3" and "1 × unparseable timestamp" in row[6]

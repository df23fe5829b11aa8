"""The work-loop and incident sections of the HTML report in real headless Chromium, from a store
holding an event log and incidents whose names are hostile markup."""

from __future__ import annotations

from browser import in_chromium, load_page
from test_incidents import PAGERDUTY
from test_log_loops import CSV, run

HOSTILE = '<img src=x onerror="window.__pwned = 1">'

pytestmark = in_chromium


def test_loop_and_incident_sections_show_the_numbers_and_run_nothing(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    (tmp_path / "pd.csv").write_text(PAGERDUTY.replace("checkout-api", HOSTILE.replace(",", ";").replace('"', "'")))
    (tmp_path / "loopmeter.toml").write_text('[log]\nend = ["Close"]\nrework = ["Reopened"]\nwaiting = ["Pending"]\n'
                                             '[[log.resource]]\npattern = "agent-*"\nkind = "agent"\n')
    store, out = tmp_path / "s.duckdb", tmp_path / "r.html"
    r = run("ingest", "--store", store, "--events", tmp_path / "t.csv", "--actor", "resource", "--log-name", HOSTILE,
            "--pagerduty-csv", tmp_path / "pd.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run("report", "--store", store, "--html", out, "--window-days", "7", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = ".map(r => Array.from(r.cells).map(c => c.innerText))"
    page = load_page(out, evaluate={
        "loops": f"Array.from(document.querySelectorAll('#work-loops + p + .table-wrap tbody tr')){rows}",
        "incidents": f"Array.from(document.querySelectorAll('#incidents + p + .table-wrap tbody tr')){rows}"})
    assert page.pwned == "undefined" and page.errors == []
    loops = {r[0]: r for r in page.values["loops"]}
    # The desk log (test_log_loops.py): 4 done, 1 open, p50 18 h; AI-handled 2 of 4. The incident
    # log is a loop too (triggered -> resolved).
    row = loops[HOSTILE]
    assert row[1:5] == ["4", "1", "18.0 h", "24.0 h"] and row[8] == "50.0%"
    services = {r[0]: r for r in page.values["incidents"]}
    assert services["search"][2:4] == ["1", "1"]  # P3, open (the row without an id is skipped)
    assert HOSTILE.replace(",", ";").replace('"', "'") in services

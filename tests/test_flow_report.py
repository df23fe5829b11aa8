"""The `flow` key end to end: a real git repository plus canonical tracker/CI/deployment rows in the
same store, through the report document, the terminal, the CLI and the HTML report in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from browser import load_page, needs_chromium
from canon import Canon
from rich.console import Console

import loopmeter
from loopmeter.report.terminal import render_terminal

AS_OF = datetime(2024, 3, 1)
HOSTILE = "<script>window.__pwned = 1</script>"


def add_flow_rows(store_path: Path) -> None:
    """One reviewed PR deployed by a descendant, one CI flake, one bug fixed by the PR."""
    c = Canon(store_path)
    try:
        for who in ("alice", "bob"):
            c.actor(who)
        c.deployment(1, sha="old", at="2024-02-01 00:00")
        p = c.pr(1, author="alice", first_commit="2024-02-05 08:00", opened="2024-02-05 10:00",
                 merged="2024-02-06 10:00", merge_sha="m1", head_sha="h1", title=HOSTILE)
        c.event(p, "2024-02-05 11:00", "review_requested", "alice")
        c.event(p, "2024-02-05 12:00", "reviewed", "bob", state="approved")
        c.ci_run(1, sha="h1", queued="2024-02-05 10:00", verdict_at="2024-02-05 10:10", ok=False)
        c.ci_run(1, sha="h1", queued="2024-02-05 10:20", verdict_at="2024-02-05 10:30", ok=True, attempt=2)
        c.deployment(2, sha="m1", at="2024-02-06 16:00")
        bug = c.item("github:acme/api:issue:7", "issue", created="2024-02-04 10:00", state="closed", labels=["bug"])
        c.event(bug, "2024-02-06 10:00", "closed", "alice")
        c.link(p, bug, "fixes")
    finally:
        c.close()


@pytest.fixture
def flow_store(demo_repo, store_path):
    loopmeter.ingest([demo_repo[0]], store_path=store_path)
    add_flow_rows(store_path)
    return store_path


def test_report_carries_flow_beside_the_git_metrics(flow_store, tmp_path):
    doc = loopmeter.report_from_store(store_path=flow_store, as_of=AS_OF, html_path=tmp_path / "r.html")
    assert doc["totals"]["changes"] == 8  # the git part is untouched
    f = doc["flow"]
    ph = f["pr_cycle"]["phases_hours"]
    # coding 2 h, pickup 10:00 -> 12:00 = 2 h, review 22 h, deploy 6 h
    assert [ph[k]["p50"] for k in ("coding", "draft", "pickup", "review", "deploy")] == [2.0, 0.0, 2.0, 22.0, 6.0]
    assert f["waiting_on_humans"]["states"]["review_requested"]["total_hours"] == 1.0
    assert f["waiting_on_humans"]["states"]["approved_not_merged"]["total_hours"] == 22.0
    assert f["waiting_on_humans"]["states"]["ci_green_not_merged"]["total_hours"] == pytest.approx(23.5)
    assert f["dora"]["lead_time_hours"]["p50"] == 32.0
    assert f["dora"]["deployment_frequency"]["deployment_days"] == 2
    assert f["ci"]["flaky"] == {"pairs": 1, "flaky": 1, "share": 1.0}
    assert f["issues"]["bug_fix"]["fix_hours"]["p50"] == 48.0
    assert f["issues"]["bug_fix"]["shipped_hours"]["p50"] == 54.0
    assert f["issues"]["reopen"] == {"closed": 1, "reopened": 0, "rate": 0.0}
    json.dumps(doc)  # plain JSON all the way down
    html = (tmp_path / "r.html").read_text()
    assert 'id="flow"' in html and "chart-flow-phases" in html and "Deployment days per week" in html
    assert "<script>window.__pwned" not in html


def test_terminal_shows_flow_lines(flow_store):
    doc = loopmeter.report_from_store(store_path=flow_store, as_of=AS_OF)
    console = Console(record=True, width=200)
    render_terminal(doc, console)
    text = console.export_text()
    assert "PR cycle, median per phase" in text and "pickup 2.0 h" in text
    assert "change failure rate" in text and "window 24 h, incidents: linked" in text
    assert "flaky (fail, then pass on the same commit)" in text and "100.0%" in text


def test_a_git_only_store_has_null_flow_and_says_so(demo_repo, store_path, tmp_path):
    doc = loopmeter.analyze([demo_repo[0]], store_path=store_path, html_path=tmp_path / "r.html", as_of=AS_OF)
    assert doc["flow"] is None
    console = Console(record=True, width=200)
    render_terminal(doc, console)
    assert "flow (" not in console.export_text()
    assert "holds no pull requests, deployments, issues or CI runs" in (tmp_path / "r.html").read_text()


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loopmeter", *map(str, args)], check=False, capture_output=True, text=True,
                          env={"PYTHONPATH": str(Path(__file__).parent.parent / "src"), "COLUMNS": "200",
                               "PATH": "/usr/bin:/bin"})


def test_cli_failure_window_and_incident_rule_are_options_with_clear_errors(flow_store):
    ok = _cli("report", "--store", flow_store, "--as-of", "2024-03-01", "--json", "--failure-window", "6",
              "--incident-rule", "repo")
    assert ok.returncode == 0, ok.stderr
    d = json.loads(ok.stdout)["flow"]["dora"]
    assert d["failure_window_hours"] == 6.0 and d["incident_rule"] == "repo"
    bad = _cli("report", "--store", flow_store, "--failure-window", "0")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: --failure-window")
    bad = _cli("report", "--store", flow_store, "--incident-rule", "nearby")
    assert bad.returncode == 2 and "--incident-rule" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.browser
@needs_chromium
def test_flow_charts_render_in_chromium_without_errors(flow_store, tmp_path):
    out = tmp_path / "r.html"
    loopmeter.report_from_store(store_path=flow_store, as_of=AS_OF, html_path=out)
    page = load_page(out, wait_for="[id^=chart-flow-]", at_least=4, timeout_ms=30000, text_of="#flow ~ section.cards",
                     evaluate={"bars": "document.querySelectorAll('#chart-flow-phases .bars path').length"})
    assert page.errors == [] and page.requests == []  # and it works offline
    assert page.values["bars"] >= 4  # coding, pickup, review, deploy of the one human week (draft is zero)
    assert "change failure rate" in page.text.lower()


def test_html_compares_human_and_ai_phases(flow_store, tmp_path):
    out = tmp_path / "r.html"
    loopmeter.report_from_store(store_path=flow_store, as_of=AS_OF, html_path=out)
    html = out.read_text()
    # the one (human) PR: pickup 2 h; no AI-assisted PR, so its medians are unknown
    assert "<tr><td>pickup</td><td class=\"num\">2.0 h</td><td class=\"num\">unknown</td></tr>" in html
    assert "review requested 1.0 h / unknown" in html

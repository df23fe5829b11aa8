"""The dashboard's HTTP answers, from a real server on 127.0.0.1 over real stores of real git repositories.

The contract: /api/report answers exactly what `loopmeter report --json` prints with the same
filters; bad values are a 400 with one line of JSON; one computation per view and store state.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from typer.testing import CliRunner

from conftest import ALICE, BOB, CLAUDE_TRAILER, build_demo
from gitrepo import GitRepo
from loopmeter import api
from loopmeter.cli import app
from loopmeter.config import load_config
from loopmeter.web import Dashboard

runner = CliRunner()
# The first answer of a view computes a report: seconds on a busy 2-core machine.
get = functools.partial(httpx.get, timeout=120)
post = functools.partial(httpx.post, timeout=120)
XSS = '<img src=x onerror="window.__pwned=1">'


def build_other(path) -> GitRepo:
    r = GitRepo(path)
    r.commit(f"Other {XSS} one", author=ALICE, date="2024-01-02T09:00:00+00:00")
    r.commit(f"Other two\n\n{CLAUDE_TRAILER}\n", author=BOB, date="2024-01-09T09:00:00+00:00")
    r.commit("Other three", author=BOB, date="2024-01-30T09:00:00+00:00")
    return r


@pytest.fixture(scope="module")
def two_repo_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash")
    build_demo(root / "demo")
    build_other(root / "other")
    store = root / "lm.duckdb"
    api.ingest([root / "demo", root / "other"], store_path=store)
    return root, store


def start(store, **kw) -> tuple[Dashboard, str]:
    d = Dashboard(("127.0.0.1", 0), store, config=load_config(), **kw)
    threading.Thread(target=d.serve_forever, daemon=True).start()
    return d, f"http://127.0.0.1:{d.server_address[1]}"


@pytest.fixture(scope="module")
def served(two_repo_store):
    root, store = two_repo_store
    d, url = start(store)
    yield d, url, store
    d.shutdown()
    d.server_close()


@pytest.mark.parametrize("query, args", [
    ("", []),
    ("repo=other&agent=claude-code&from=2024-01-02&to=2024-01-20",
     ["--repo", "other", "--agent", "claude-code", "--from", "2024-01-02", "--to", "2024-01-20"]),
])
def test_api_report_is_what_report_json_prints(served, query, args):
    _, url, store = served
    r = get(f"{url}/api/report?{query}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    cli = runner.invoke(app, ["report", "--store", str(store), "--json", *args])
    assert cli.exit_code == 0, cli.output
    # the same text, apart from the time each was generated
    strip = lambda t: "\n".join(x for x in t.splitlines() if '"generated_at"' not in x)  # noqa: E731
    assert strip(r.text) == strip(cli.stdout)
    assert json.loads(cli.stdout)["filters"]["repo"] == (["other"] if args else [])


def test_repo_filter_changes_the_numbers(served):
    _, url, _ = served
    both = get(f"{url}/api/report").json()["totals"]["changes"]
    other = get(f"{url}/api/report?repo=other").json()["totals"]["changes"]
    demo = get(f"{url}/api/report?repo=demo").json()["totals"]["changes"]
    assert (other, demo, both) == (3, 8, 11)


@pytest.mark.parametrize("query, status, message", [
    ("from=2024-13-01", 400, "from: '2024-13-01' is not a date (YYYY-MM-DD)"),
    ("from=2024-02-01&to=2024-01-01", 400, "from 2024-02-01 is after to 2024-01-01"),
    ("colour=red", 400, "'colour' is not a filter here (filters: repo, team, agent, from, to)"),
    ("agent=nope", 400, "agent: no change or event-log case in the store is attributed to 'nope' (agents: claude-code, cursor)"),
    ("team=core", 400, "team: 'core' is not a team of loopmeter.toml"),
    ("repo=%3Cscript%3E", 400, "the store holds none of the repositories <script>"),
    ("agent=a&agent=b", 400, "agent: give it once"),
])
def test_bad_queries_are_a_400_with_one_line_of_json(served, query, status, message):
    _, url, _ = served
    r = get(f"{url}/api/report?{query}")
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert message in r.json()["error"] and r.text.count("\n") == 1 and "Traceback" not in r.text


def test_week_drill_down_lists_that_weeks_changes_newest_first(served):
    _, url, store = served
    week = get(f"{url}/api/changes?week=2024-01-08&repo=demo").json()
    # demo's week of 2024-01-08: S3 (01-10) and R1 (01-11); build_demo's docstring
    assert [c["title"] for c in week["changes"]] == ['Revert "Add thing (#2)"', "Feature three (#3)"]
    assert week["changes"][1]["agents"] == ["cursor"] and week["changes"][1]["cycle_hours"] == 53.5
    both = get(f"{url}/api/changes?week=2024-01-08").json()["changes"]
    assert len(both) == 3  # and other's "Other two"
    assert get(f"{url}/api/changes?week=2024-01-09").json()["error"] == "week: 2024-01-09 is not a Monday"
    assert get(f"{url}/api/changes").status_code == 400


def test_pages_and_unknown_paths(served):
    _, url, _ = served
    page = get(f"{url}/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert get(f"{url}/static/dashboard.js").headers["content-type"].startswith("text/javascript")
    assert get(f"{url}/static/..%2Fserver.py").status_code == 404
    r = get(f"{url}/nope")
    assert r.status_code == 404 and r.json() == {"error": "no such page '/nope'"}
    assert post(f"{url}/api/report").status_code == 405
    report = get(f"{url}/report?repo=other")
    assert report.status_code == 200 and "<html" in report.text[:500].lower()
    assert XSS not in report.text  # the commit title is escaped in the page
    # The verdict-first page, with the slice's change rows: its week list (the page's own
    # drill-down) is there, which a page rendered from the document alone would not have.
    assert 'id="verdict"' in report.text and 'id="week-select"' in report.text
    assert 'id="lm-week-changes"' in report.text
    # a loopback server answers only to loopback host names (DNS rebinding)
    assert get(f"{url}/api/filters", headers={"Host": "evil.example:80"}).status_code == 403
    assert get(f"{url}/api/filters").json() == {"repos": ["demo", "other"], "teams": [], "agents": ["claude-code", "cursor"]}


def test_one_computation_per_view_and_a_new_one_when_the_store_changes(tmp_path):
    build_other(tmp_path / "r")
    store = tmp_path / "lm.duckdb"
    api.ingest([tmp_path / "r"], store_path=store)
    d, url = start(store)
    try:
        fp = get(f"{url}/api/fingerprint").json()["fingerprint"]
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: get(f"{url}/api/report?repo=r"), range(12)))
        assert {a.status_code for a in answers} == {200} and d.cache.builds == 1
        assert answers[0].json()["totals"]["changes"] == 3
        r = GitRepo.__new__(GitRepo)
        r.path, r._n = tmp_path / "r", 10
        r.commit("Other four", author=ALICE, date="2024-02-06T09:00:00+00:00")
        api.ingest([tmp_path / "r"], store_path=store)
        assert get(f"{url}/api/fingerprint").json()["fingerprint"] != fp
        assert get(f"{url}/api/report?repo=r").json()["totals"]["changes"] == 4
        assert d.cache.builds == 2
    finally:
        d.shutdown()
        d.server_close()


def test_a_token_is_required_when_given(two_repo_store):
    _, store = two_repo_store
    d, url = start(store, token="s3cret-token")
    try:
        r = get(f"{url}/api/filters")
        assert r.status_code == 401 and "bearer token" in r.json()["error"]
        assert get(f"{url}/api/filters", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert get(f"{url}/api/filters", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        # a link with the token sets a cookie and drops the token from the address
        r = get(f"{url}/?token=s3cret-token&repo=demo", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/?repo=demo"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert get(f"{url}/api/filters", cookies={"loopmeter_token": "s3cret-token"}).status_code == 200
    finally:
        d.shutdown()
        d.server_close()


def test_a_damaged_store_is_one_line_never_a_traceback(tmp_path):
    store = tmp_path / "bad.duckdb"
    store.write_bytes(b"not a database" * 100)
    d, url = start(store)
    try:
        r = get(f"{url}/api/report")
        assert r.status_code == 500 and "not a readable loopmeter store" in r.json()["error"]
        assert "Traceback" not in r.text and r.text.count("\n") == 1
    finally:
        d.shutdown()
        d.server_close()


def test_serve_refuses_a_non_loopback_address_without_a_token(two_repo_store, monkeypatch):
    _, store = two_repo_store
    r = subprocess.run([sys.executable, "-m", "loopmeter", "serve", "--host", "0.0.0.0", "--store", str(store)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: --host 0.0.0.0: not a loopback address; give --token-env NAME, an environment "
                                "variable holding the bearer token clients must send")
    r = subprocess.run([sys.executable, "-m", "loopmeter", "serve", "--host", "0.0.0.0", "--otlp", "--token-env",
                        "LM_UNSET_TOKEN", "--store", str(store)], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in __import__("os").environ.items() if k != "LM_UNSET_TOKEN"})
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --token-env: the environment variable LM_UNSET_TOKEN is not set or empty"


def test_serve_runs_the_dashboard_and_the_receiver_together(two_repo_store, tmp_path):
    import shutil

    store = tmp_path / "copy.duckdb"
    shutil.copy(two_repo_store[1], store)
    proc = subprocess.Popen([sys.executable, "-m", "loopmeter", "serve", "--otlp", "--dashboard", "--port", "0",
                             "--otlp-port", "0", "--store", str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        otlp = re.search(r"http://\S+", proc.stdout.readline()).group(0).rstrip("/")
        web = re.search(r"http://\S+", proc.stdout.readline()).group(0).rstrip("/")
        assert otlp.startswith("http://127.0.0.1:") and web.startswith("http://127.0.0.1:")
        assert post(f"{otlp}/v1/logs", json={"resourceLogs": []}).status_code == 200
        assert get(f"{web}/api/report?repo=other", timeout=120).json()["totals"]["changes"] == 3
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""The GitHub source against a real HTTP server on 127.0.0.1 replaying hand-written responses.

The fixture repository acme/widgets (tests/fixtures/github/) holds, by hand:
  PR #1 bob, closed unmerged after close 02-21, reopen 02-22, close 02-25
  PR #2 alice, branch claude/add-cache, Claude footer in the body, Claude trailer in a commit,
        "Closes acme/widgets#7", review requested 03-01 10:05, changes requested, approved 03-03 11:00,
        merged by carol 03-03 15:00 as 2222...
  PR #3 Copilot (Bot), branch copilot/fix-login-timeout, opened as draft 03-04 09:00, ready 12:00,
        "Fixes #6", a bot comment, approved 03-05 10:00, merged 03-05 16:00 as 3333...
  PR #5 dependabot[bot], open
  issue #6 bug: closed 03-05, reopened 03-07, closed 03-08; issue #7 incident, open, assigned
  runs: 101 (attempt 1 failed, attempt 2 passed), 102 push passed, 103 in progress
  releases: v1.0.0 published, v1.1.0 draft; deployments: 401 production success, 402 staging failure
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from apiserver import FixtureServer, Reply
from stores import rows as q

from loopmeter import api
from loopmeter.errors import LoopmeterError
from loopmeter.sources.http import ApiError, AuthError, NotFound
from loopmeter.store.db import Store

TOKEN = "ghp_TESTtoken0123456789abcdefSECRET"
REPO = "acme/widgets"
P = "/repos/acme/widgets"
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def server():
    with FixtureServer("github", token=TOKEN) as srv:
        yield srv


@pytest.fixture(autouse=True)
def token_env(monkeypatch):
    monkeypatch.setenv("LM_TEST_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)


class Waits:
    """Records rate-limit and retry waits instead of sleeping (the server and requests are real)."""

    def __init__(self):
        self.slept: list[float] = []
        self.shown: list[tuple[float, str]] = []

    def sleep(self, s: float) -> None:
        self.slept.append(s)

    def wait(self, s: float, reason: str) -> None:
        self.shown.append((s, reason))

    # the Progress interface the runner calls
    def start(self, *a) -> None: ...
    def advance(self, n) -> None: ...
    def note(self, m) -> None: ...


def ingest(server, store, waits=None, **kw):
    waits = waits or Waits()
    return api.ingest_github([REPO], store_path=store, url=server.url, token_env="LM_TEST_TOKEN",
                             sleep=waits.sleep, progress=waits, **kw)


def dump(store_path) -> dict[str, list]:
    """Every canonical row, with the per-store salted actor ids replaced by the account names."""
    with Store.open(store_path, create=False, read_only=True) as s:
        names = dict(s.con.execute("select actor_id, name || '/' || kind || '/' || coalesce(agent, '') from actors").fetchall())
        out = {}
        for table, order in (("items", "item_id"), ("events", "item_id, ts, activity"), ("links", "src, dst, kind"),
                             ("attributions", "item_id, agent, evidence"), ("actors", "name")):
            cols = "* exclude (actor_id)" if table == "actors" else "*"
            rows = s.con.execute(f"select {cols} from {table} order by {order}").fetchall()
            text = [re.sub(r"\ba[0-9a-f]{15}\b", lambda m: "@" + names.get(m.group(0), "?"), repr(r)) for r in rows]
            out[table] = sorted(text)
        return out


# ----------------------------------------------------------------------------------- mapping


def test_pull_requests_follow_the_shared_vocabulary(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    rows = {r[0]: r[1:] for r in q(db, "select item_id, kind, state, created_at, started_at, done_at, attrs from items "
                                         "where kind = 'pull_request'")}
    kind, state, created, started, done, attrs = rows["github:acme/widgets:pr:3"]
    attrs = json.loads(attrs)
    assert (kind, state) == ("pull_request", "merged")
    assert (created, started, done) == (datetime(2024, 3, 4, 9), datetime(2024, 3, 4, 8, 30), datetime(2024, 3, 5, 16))
    # Opened as a draft: its first draft change is "ready_for_review", though the listing says draft=false now.
    assert attrs["draft"] is True
    assert attrs["merge_sha"] == "3" * 40 and attrs["branch"] == "copilot/fix-login-timeout" and attrs["labels"] == ["bug"]
    assert rows["github:acme/widgets:pr:1"][1] == "closed" and json.loads(rows["github:acme/widgets:pr:1"][5])["merge_sha"] is None
    assert rows["github:acme/widgets:pr:5"][1] == "open"

    ev = q(db, "select e.activity, e.ts, a.name, e.attrs from events e left join actors a using (actor_id) "
               "where item_id = 'github:acme/widgets:pr:2' order by ts, activity")
    assert [(a, t, n) for a, t, n, _ in ev] == [
        ("committed", datetime(2024, 2, 28, 14), None),
        ("committed", datetime(2024, 3, 1, 9), None),
        ("opened", datetime(2024, 3, 1, 10), "alice"),
        ("review_requested", datetime(2024, 3, 1, 10, 5), "alice"),
        ("commented", datetime(2024, 3, 2, 9), "bob"),
        ("reviewed", datetime(2024, 3, 2, 9, 30), "bob"),
        ("reviewed", datetime(2024, 3, 3, 11), "bob"),
        ("merged", datetime(2024, 3, 3, 15), "carol"),  # GitHub's "closed" of the merge is not a second event
    ]
    assert [json.loads(e[3])["state"] for e in ev if e[0] == "reviewed"] == ["changes_requested", "approved"]
    reviewer = json.loads(ev[3][3])["reviewer"]
    assert q(db, "select name from actors where actor_id = ?", [reviewer]) == [("bob",)]
    # An unmerged pull request keeps every close and reopen.
    assert [r[0] for r in q(db, "select activity from events where item_id = 'github:acme/widgets:pr:1' order by ts")] == [
        "committed", "opened", "closed", "reopened", "closed"]


def test_attribution_links_and_actors(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    ev = {(i.rsplit(":", 1)[1], a, e) for i, a, e in q(db, "select item_id, agent, evidence from attributions")}
    assert ev == {("2", "claude-code", "branch"), ("2", "claude-code", "footer"), ("2", "claude-code", "trailer"),
                  ("3", "copilot", "branch"), ("3", "copilot", "author")}
    # every row has its class: the agent-opened PR and the agents' branches and co-author are
    # "authored", the Claude Code footer "assisted"
    classes = {(i.rsplit(":", 1)[1], e, c) for i, e, c in q(db, "select item_id, evidence, evidence_class from attributions")}
    assert classes == {("2", "branch", "authored"), ("2", "footer", "assisted"), ("2", "trailer", "authored"),
                       ("3", "branch", "authored"), ("3", "author", "authored")}
    assert set(q(db, "select src, dst, kind from links where kind in ('fixes', 'closes', 'part_of')")) == {
        ("github:acme/widgets:pr:3", "github:acme/widgets:issue:6", "fixes"),
        ("github:acme/widgets:pr:2", "github:acme/widgets:issue:7", "closes"),
        ("github:acme/widgets:run:101:1", "github:acme/widgets:pr:3", "part_of"),
        ("github:acme/widgets:run:101:2", "github:acme/widgets:pr:3", "part_of"),
        ("github:acme/widgets:run:103:1", "github:acme/widgets:pr:5", "part_of"),
    }
    assert dict(q(db, "select name, kind from actors")) == {
        "alice": "human", "bob": "human", "carol": "human", "Copilot": "agent",
        "dependabot[bot]": "bot", "github-actions[bot]": "bot"}
    # The body is read for links and attribution, never stored.
    assert not q(db, "select * from items where cast(attrs as varchar) like '%session check%' or title like '%session check%'")


def test_issues_runs_releases_deployments(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    items = {r[0].split(":", 2)[2]: r[1:] for r in q(db, "select item_id, kind, state, done_at from items where kind <> 'pull_request'")}
    assert items == {
        "issue:6": ("issue", "closed", datetime(2024, 3, 8, 10)),
        "issue:7": ("incident", "open", None),
        "run:101:1": ("ci_run", "failure", datetime(2024, 3, 4, 12, 8)),
        "run:101:2": ("ci_run", "success", datetime(2024, 3, 4, 13, 6)),
        "run:102:1": ("ci_run", "success", datetime(2024, 3, 5, 16, 9)),
        "run:103:1": ("ci_run", "running", None),
        "release:301": ("release", "published", datetime(2024, 3, 6, 9, 5)),  # the draft is not a release
        "deployment:401": ("deployment", "success", datetime(2024, 3, 4, 8, 10)),
        "deployment:402": ("deployment", "failure", datetime(2024, 3, 6, 10, 15)),
    }
    assert [r[0] for r in q(db, "select activity from events where item_id = 'github:acme/widgets:issue:6' order by ts")] == [
        "opened", "labeled", "closed", "reopened", "closed"]
    assert q(db, "select activity, attrs from events where item_id = 'github:acme/widgets:run:101:1' order by ts") == [
        ("ci_started", '{"attempt": 1, "sha": "c3a0000000000000000000000000000000000003"}'),
        ("ci_failed", '{"attempt": 1, "conclusion": "failure", "sha": "c3a0000000000000000000000000000000000003"}')]
    prod = q(db, "select json_extract(attrs, '$.production')::boolean, json_extract_string(attrs, '$.sha') from items "
                 "where kind = 'deployment' order by item_id")
    assert prod == [(True, "2" * 40), (False, "3" * 40)]
    assert set(q(db, "select src, dst from links where kind = 'deploys'")) == {
        ("github:acme/widgets:deployment:401", "github:acme/widgets:pr:2"),
        ("github:acme/widgets:deployment:402", "github:acme/widgets:pr:3")}


def test_pull_request_is_same_as_the_git_change_with_its_merge_sha(server, tmp_path):
    db = tmp_path / "s.duckdb"
    with Store.open(db) as s:  # a git change landed by PR #2's merge sha, as the git source derives it
        s.con.execute("insert into items (item_id, source, kind, repo, state) values "
                      "('git:widgets:change:2222222222222222222222222222222222222222', 'git', 'change', 'widgets', 'landed')")
    ingest(server, db)
    assert q(db, "select src, dst from links where kind = 'same_as'") == [
        ("github:acme/widgets:pr:2", "git:widgets:change:2222222222222222222222222222222222222222")]
    assert ("github:acme/widgets:deployment:401", "git:widgets:change:" + "2" * 40) in q(
        db, "select src, dst from links where kind = 'deploys'")


# -------------------------------------------------------------------------- incremental runs


def test_second_daily_run_makes_only_not_modified_requests(server, tmp_path):
    db = tmp_path / "s.duckdb"
    first = ingest(server, db)[0]
    before = dump(db)
    n = len(server.requests())
    second = ingest(server, db)[0]
    later = server.requests()[n:]
    # One conditional request per listing (and the repository check), each a 304; the runs are read
    # a week past their mark for reruns, which here is both of their pages.
    assert [r.status for r in later] == [304] * 7
    assert sorted((r.path, r.query.get("page", "1")) for r in later) == sorted([
        (P, "1"), (f"{P}/pulls", "1"), (f"{P}/issues", "1"), (f"{P}/actions/runs", "1"), (f"{P}/actions/runs", "2"),
        (f"{P}/releases", "1"), (f"{P}/deployments", "1")])
    assert all(r.headers.get("If-None-Match") for r in later)
    assert second.requests == 7 and second.not_modified == 7 and first.requests == n
    assert dump(db) == before


def test_changed_items_are_read_again_without_duplicates(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    # A day later: PR #5 got a review and CI run 103 finished.
    pulls = server.data[f"{P}/pulls"]
    pulls[0] = {**pulls[0], "updated_at": "2024-03-11T09:00:00Z"}
    server.data[f"{P}/issues/5/timeline"].append(
        {"id": 90503, "event": "reviewed", "user": {"login": "carol", "id": 1003, "type": "User"},
         "state": "approved", "submitted_at": "2024-03-11T09:00:00Z"})
    runs = server.data[f"{P}/actions/runs"]["workflow_runs"]
    runs[0] = {**runs[0], "status": "completed", "conclusion": "failure", "updated_at": "2024-03-10T11:09:00Z"}
    n = len(server.requests())
    ingest(server, db)
    later = [(r.path, r.status) for r in server.requests()[n:]]
    # PR #3 on the same page is unchanged (same updated_at), so only #5's timeline (two pages now) is read again.
    assert sorted(later) == sorted([
        (P, 304), (f"{P}/pulls", 200), (f"{P}/issues/5/timeline", 200), (f"{P}/issues/5/timeline", 200), (f"{P}/issues", 304),
        (f"{P}/actions/runs", 200), (f"{P}/actions/runs", 304), (f"{P}/releases", 304), (f"{P}/deployments", 304)])
    assert q(db, "select count(*) from items where item_id = 'github:acme/widgets:pr:5'") == [(1,)]
    assert q(db, "select activity from events where item_id = 'github:acme/widgets:pr:5' order by ts, activity") == [
        ("committed",), ("labeled",), ("opened",), ("reviewed",)]
    assert q(db, "select state, done_at from items where item_id = 'github:acme/widgets:run:103:1'") == [
        ("failure", datetime(2024, 3, 10, 11, 9))]
    assert q(db, "select count(*) from events where item_id = 'github:acme/widgets:run:103:1'") == [(2,)]


def test_since_skips_older_items(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db, since=datetime(2024, 3, 5))
    assert sorted(r[0].split(":", 2)[2] for r in q(db, "select item_id from items where kind in ('pull_request', 'issue', 'incident')")) == [
        "issue:6", "issue:7", "pr:3", "pr:5"]
    assert not [r for r in server.requests() if r.path == f"{P}/issues/1/timeline"]


# ---------------------------------------------------------------------- limits and failures


def test_rate_limits_are_waited_out_and_server_errors_retried(server, tmp_path):
    now = float(int(time.time()))
    reset = int(now) + 42
    server.fault(f"{P}/pulls", Reply(403, {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                                           "x-ratelimit-reset": str(reset), "Content-Type": "application/json"},
                                     {"message": "API rate limit exceeded for user ID 1."}), page=2)
    server.fault(f"{P}/issues", Reply(403, {"retry-after": "7", "Content-Type": "application/json"},
                                      {"message": "You have exceeded a secondary rate limit."}))
    server.fault(f"{P}/issues/6/timeline", Reply(502, {}, "<html>Bad gateway</html>"))
    server.fault(f"{P}/releases", Reply(403, {"Content-Type": "application/json"},
                                        {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}))
    waits = Waits()
    db = tmp_path / "s.duckdb"
    ingest(server, db, waits, clock=lambda: now)
    assert waits.slept == [43.0, 7.0, 1.0, 60.0]  # until the reset plus a second; Retry-After; backoff; a minute
    assert waits.shown[0] == (43.0, "rate limited")
    assert [r for _, r in waits.shown] == ["rate limited", "rate limited", "server error 502, retrying", "rate limited"]
    clean = tmp_path / "clean.duckdb"
    ingest(server, clean)
    assert dump(db) == dump(clean)


def test_server_errors_give_up_after_bounded_retries(server, tmp_path):
    server.fault(f"{P}/pulls", *[Reply(503, {}, "unavailable")] * 5)
    waits = Waits()
    with pytest.raises(ApiError, match=r"GitHub: http://127\.0\.0\.1:\d+/repos/acme/widgets/pulls answered 503 .* after 4 retries"):
        ingest(server, tmp_path / "s.duckdb", waits)
    assert waits.slept == [1.0, 2.0, 4.0, 8.0]


def test_malformed_json_is_one_error_naming_the_url_without_its_query(server, tmp_path):
    server.fault(f"{P}/issues", Reply(200, {"Content-Type": "application/json"}, b'[{"number": 6, "title": "trunc'))
    with pytest.raises(ApiError) as e:
        ingest(server, tmp_path / "s.duckdb")
    msg = str(e.value)
    assert re.fullmatch(r"GitHub: http://127\.0\.0\.1:\d+/repos/acme/widgets/issues: the response is not valid JSON \(.*\)", msg)
    assert "per_page" not in msg and "\n" not in msg
    # What was stored before the bad page stays.
    assert q(tmp_path / "s.duckdb", "select count(*) from items where kind = 'pull_request'") == [(4,)]


def test_errors_redact_a_token_the_server_echoes(server, tmp_path):
    server.fault(f"{P}/pulls", Reply(422, {"Content-Type": "application/json"}, {"message": f"token {TOKEN} is odd"}))
    with pytest.raises(ApiError) as e:
        ingest(server, tmp_path / "s.duckdb")
    assert TOKEN not in str(e.value) and "[token]" in str(e.value)


def test_bad_token_missing_scope_and_unknown_repository(server, tmp_path, monkeypatch):
    db = tmp_path / "s.duckdb"
    monkeypatch.setenv("LM_TEST_TOKEN", "ghp_wrong")
    with pytest.raises(AuthError, match=r"^GitHub rejected the token \(401\)"):
        ingest(server, db)
    monkeypatch.setenv("LM_TEST_TOKEN", TOKEN)
    server.fault(f"{P}/actions/runs", Reply(403, {"x-accepted-oauth-scopes": "repo", "x-oauth-scopes": "read:org",
                                                  "Content-Type": "application/json"},
                                            {"message": "Resource not accessible by integration"}))
    with pytest.raises(AuthError, match=r"lacks a scope .*needs repo, has read:org"):
        ingest(server, db)
    with pytest.raises(NotFound, match=r"^github: acme/nope not found or not visible to this token$"):
        api.ingest_github(["acme/nope"], store_path=db, url=server.url, token_env="LM_TEST_TOKEN")


# ----------------------------------------------------------------------------------- the CLI


def cli(*args, env=None, timeout=60):
    e = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "loopmeter", "ingest", *args], capture_output=True, text=True,
                          env=e, timeout=timeout, check=False)


def test_cli_errors_are_one_line_exit_2_and_keep_the_store(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ok = cli("--github", REPO, "--url", server.url, "--token-env", "LM_TEST_TOKEN", "--store", str(db))
    assert ok.returncode == 0, ok.stderr
    assert "github:acme/widgets: 4 pulls, 6 issues, 3 runs, 2 releases, 2 deployments" in ok.stdout
    before = dump(db)
    scope = Reply(403, {"x-accepted-oauth-scopes": "repo", "x-oauth-scopes": "", "Content-Type": "application/json"},
                  {"message": "Resource not accessible by personal access token"})
    cases = [
        ({"LM_TEST_TOKEN": "ghp_wrong"}, REPO, r"error: GitHub rejected the token \(401\)"),
        ({}, "acme/nope", r"error: github: acme/nope not found or not visible to this token"),
        ({}, REPO, r"error: GitHub: the token lacks a scope for \S+/repos/acme/widgets/actions/runs \(403\): needs repo, has none"),
    ]
    server.fault(f"{P}/actions/runs", scope)  # only the third case gets that far
    for env, repo, pattern in cases:
        r = cli("--github", repo, "--url", server.url, "--token-env", "LM_TEST_TOKEN", "--store", str(db), env=env)
        assert r.returncode == 2, (repo, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and re.match(pattern, lines[0]), r.stderr
        assert dump(db) == before
    # Checked before the store is opened (the CLI turns these into the same one line and exit 2).
    with pytest.raises(LoopmeterError, match=r"^--github: 'not-a-repo' is not OWNER/REPO$"):
        api.ingest_github(["not-a-repo"], store_path=tmp_path / "new.duckdb", url=server.url)
    with pytest.raises(LoopmeterError, match=r"^--token-env: the environment variable NO_SUCH_VAR is not set or empty$"):
        api.ingest_github([REPO], store_path=tmp_path / "new.duckdb", url=server.url, token_env="NO_SUCH_VAR")
    assert not (tmp_path / "new.duckdb").exists()


def test_cli_shows_the_rate_limit_wait_and_never_the_token(server, tmp_path):
    server.fault(f"{P}/pulls", Reply(429, {"Retry-After": "1"}, {"message": "secondary rate limit"}), page=2)
    server.fault(f"{P}/releases", Reply(500, {"Content-Type": "application/json"}, {"message": f"boom {TOKEN}"}))  # retried once
    server.fault(f"{P}/deployments", Reply(418, {"Content-Type": "application/json"}, {"message": f"teapot {TOKEN}"}))
    db = tmp_path / "s.duckdb"
    r = cli("--github", REPO, "--url", server.url, "--token-env", "LM_TEST_TOKEN", "--store", str(db), "--debug")
    assert "rate limited, waiting 1 s" in r.stderr
    assert r.returncode != 0 and "teapot [token]" in r.stderr  # --debug: the traceback is shown, redacted
    r2 = cli("--github", REPO, "--url", server.url, "--token-env", "LM_TEST_TOKEN", "--store", str(db))
    assert r2.returncode == 0, r2.stderr
    for text in (r.stdout, r.stderr, r2.stdout, r2.stderr):
        assert TOKEN not in text
    assert TOKEN.encode() not in db.read_bytes()
    wal = db.with_name(db.name + ".wal")
    assert not wal.exists() or TOKEN.encode() not in wal.read_bytes()
    # The token travelled only in the Authorization header, never in a URL.
    for req in server.requests():
        assert req.headers.get("Authorization") == f"Bearer {TOKEN}"
        assert TOKEN not in json.dumps(req.query)
        assert all(TOKEN not in v for k, v in req.headers.items() if k.lower() != "authorization")


def test_killed_ingest_resumes_to_the_same_rows(server, tmp_path):
    clean = tmp_path / "clean.duckdb"
    assert cli("--github", REPO, "--url", server.url, "--token-env", "LM_TEST_TOKEN", "--store", str(clean)).returncode == 0
    db = tmp_path / "s.duckdb"
    server.stalls.add((f"{P}/issues", 2))  # the walk hangs on the second page of issues
    e = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "loopmeter", "ingest", "--github", REPO, "--url", server.url,
                             "--token-env", "LM_TEST_TOKEN", "--store", str(db)], env=e,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert server.stalled.wait(60), "the ingest never reached the stalled page"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert q(db, "select stream, pages from api_progress") == [("issues", 1)]
    assert q(db, "select count(*) from items where kind = 'pull_request'") == [(4,)]
    server.release.set()
    n = len(server.requests())
    r = cli("--github", REPO, "--url", server.url, "--token-env", "LM_TEST_TOKEN", "--store", str(db))
    assert r.returncode == 0, r.stderr
    resumed = server.requests()[n:]
    # It goes on from the second page of issues, and reads no pull request again.
    assert next(x for x in resumed if x.path == f"{P}/issues").query.get("page") == "2"
    assert not [x for x in resumed if x.path.endswith("/timeline") and x.path in
                {f"{P}/issues/{k}/timeline" for k in (1, 2, 3, 5)}]
    assert dump(db) == dump(clean)
    assert q(db, "select count(*) from api_progress") == [(0,)]


def test_a_pending_deployment_is_looked_at_again_when_its_listing_has_not_changed(server, tmp_path):
    dep = {"id": 403, "sha": "3" * 40, "ref": "main", "task": "deploy", "environment": "production",
           "production_environment": True, "creator": {"login": "alice", "id": 1001, "type": "User"},
           "created_at": "2024-03-07T10:00:00Z", "updated_at": "2024-03-07T10:00:00Z"}
    server.data[f"{P}/deployments"].insert(0, dep)
    server.data[f"{P}/deployments/403"] = dep
    server.data[f"{P}/deployments/403/statuses"] = [
        {"id": 4031, "state": "in_progress", "creator": dep["creator"], "created_at": "2024-03-07T10:01:00Z"}]
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    assert q(db, "select state from items where item_id = 'github:acme/widgets:deployment:403'") == [("pending",)]
    # The pending deployment holds the high-water mark at its creation.
    assert q(db, "select high_water from api_cursors where stream = 'deployments'") == [(datetime(2024, 3, 7, 10),)]
    n = len(server.requests())
    ingest(server, db)  # nothing changed: the listing and the statuses answer 304
    assert [(r.path, r.status) for r in server.requests()[n:] if "deployments" in r.path] == [
        (f"{P}/deployments", 304), (f"{P}/deployments/403/statuses", 304)]
    # The deployment finishes; GitHub adds a status and leaves the deployment (and its listing) as it was.
    server.data[f"{P}/deployments/403/statuses"].insert(
        0, {"id": 4032, "state": "success", "creator": dep["creator"], "created_at": "2024-03-07T10:20:00Z"})
    ingest(server, db)
    assert q(db, "select state, done_at from items where item_id = 'github:acme/widgets:deployment:403'") == [
        ("success", datetime(2024, 3, 7, 10, 20))]
    assert q(db, "select count(*) from items where kind = 'deployment'") == [(3,)]
    assert q(db, "select high_water from api_cursors where stream = 'deployments'") == [(datetime(2024, 3, 7, 10),)]


def test_same_as_links_survive_a_later_git_ingest(server, tmp_path):
    from gitrepo import GitRepo

    db = tmp_path / "s.duckdb"
    ingest(server, db)
    repo = GitRepo(tmp_path / "widgets")
    sha = repo.commit("Add a response cache", author=("Alice Example", "alice@example.com"), date="2024-03-03T15:00:00+00:00")
    # The pull request's merge sha is that commit (as if GitHub had merged it so).
    pulls = server.data[f"{P}/pulls"]
    pulls.insert(0, {**pulls.pop(2), "merge_commit_sha": sha, "updated_at": "2024-03-12T00:00:00Z"})  # newest update first
    ingest(server, db)
    api.ingest([repo.path], store_path=db)
    assert q(db, "select src, dst from links where kind = 'same_as'") == [("github:acme/widgets:pr:2", f"git:widgets:change:{sha}")]
    api.ingest([repo.path], store_path=db)  # the change derivation runs again: the link is rebuilt with it
    assert q(db, "select src, dst from links where kind = 'same_as'") == [("github:acme/widgets:pr:2", f"git:widgets:change:{sha}")]


def test_closing_keywords():
    from loopmeter.sources.github import closing_links

    body = "Fixes #12, resolved: #13 and closes other/repo#4.\nSee #5; hotfixes #6; prefixes #7; Closed #8"
    assert closing_links(body, REPO) == [
        ("fixes", "github:acme/widgets:issue:12"), ("fixes", "github:acme/widgets:issue:13"),
        ("closes", "github:other/repo:issue:4"), ("closes", "github:acme/widgets:issue:8")]


def test_an_item_gone_since_it_was_listed_keeps_its_listing_fields(server, tmp_path):
    del server.data[f"{P}/issues/7/timeline"]  # transferred away between the listing and the timeline read
    db = tmp_path / "s.duckdb"
    result = ingest(server, db)[0]
    assert q(db, "select kind, state from items where item_id = 'github:acme/widgets:issue:7'") == [("incident", "open")]
    assert q(db, "select activity from events where item_id = 'github:acme/widgets:issue:7'") == [("opened",)]
    assert result.warnings == [("github:acme/widgets: 1 timelines or status lists were gone (404/410) when read; "
                                "those items keep only their listing's fields")]
    assert all(r.headers.get("X-GitHub-Api-Version") == "2022-11-28" for r in server.requests())


def test_a_rerun_of_an_older_run_is_read_on_the_next_day(server, tmp_path):
    runs = server.data[f"{P}/actions/runs"]["workflow_runs"]
    runs[1] = {**runs[1], "conclusion": "failure"}  # run 102 (created 03-05) failed ...
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    # ... and is rerun days later: same run, attempt 2, still listed by its creation time, five days
    # before the newest run (the mark).
    server.data[f"{P}/actions/runs/102/attempts/1"] = dict(runs[1])
    runs[1] = {**runs[1], "conclusion": "success", "run_attempt": 2, "run_started_at": "2024-03-11T08:00:00Z",
               "updated_at": "2024-03-11T08:05:00Z"}
    ingest(server, db)
    assert q(db, "select item_id, state, started_at from items where item_id like '%:run:102:%' order by 1") == [
        ("github:acme/widgets:run:102:1", "failure", datetime(2024, 3, 5, 16, 1)),
        ("github:acme/widgets:run:102:2", "success", datetime(2024, 3, 11, 8))]
    # The first attempt was stored already and finished: it is not asked for again.
    assert not [r for r in server.requests() if r.path == f"{P}/actions/runs/102/attempts/1"]


def test_a_store_with_only_github_data_reports_its_flow(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    doc = api.report_from_store(store_path=db, html_path=tmp_path / "r.html", as_of=datetime(2024, 4, 1))
    assert doc["repos"] == [] and doc["flow"] is not None
    # Runs 101 and 102 have verdicts, 103 still runs; 101 failed and then passed on a rerun of the
    # same commit: one flaky (commit, workflow) pair of two.
    assert doc["flow"]["ci"]["flaky"]["flaky"] == 1 and doc["flow"]["ci"]["flaky"]["pairs"] == 2
    assert 'id="flow"' in (tmp_path / "r.html").read_text()

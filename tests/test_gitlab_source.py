"""The GitLab source against a real HTTP server on 127.0.0.1 replaying hand-written REST v4 answers.

The fixture project acme/shop (tests/fixtures/gitlab/) holds, by hand:
  MR !11 bob, closed 03-21, reopened 03-21 12:00, closed 03-22, unmerged
  MR !12 alice, branch codex/retry-payments, opened 04-01 10:00+02:00 (08:00 UTC) as a draft (its first
         draft note says "ready"), first commit 03-31 16:00+02:00 (14:00 UTC) with a Claude trailer,
         review requested from bob 04-01 09:05, bob comments 04-02 10:00 and approves 04-03 11:00,
         merged by carol 04-03 15:00 as 4444...; "Closes #20"
  MR !13 a project bot, open
  issue #20 bug, closed 04-03 15:00; issue #21 incident (issue_type), open
  pipelines: 501 on refs/merge-requests/12/head passed, 502 on main failed
  deployments: 601 production success, 602 review environment failed
The server sends only `X-Next-Page` (no Link header), two entries per page.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
from apiserver import FixtureServer, Reply
from stores import rows as q

from loopmeter import api
from loopmeter.sources.gitlab import closing_links
from loopmeter.sources.http import AuthError, NotFound

TOKEN = "glpat-TESTtoken0123456789SECRET"
P = "/api/v4/projects/acme%2Fshop"


@pytest.fixture
def server():
    with FixtureServer("gitlab", token=TOKEN, link=False) as srv:
        yield srv


@pytest.fixture(autouse=True)
def token_env(monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)


def ingest(server, db, slept=None, **kw):
    slept = [] if slept is None else slept
    return api.ingest_gitlab(["acme/shop"], store_path=db, url=server.url, sleep=slept.append, **kw)


def test_merge_requests_follow_the_shared_vocabulary(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    row = q(db, "select kind, state, created_at, started_at, done_at, attrs from items where item_id = 'gitlab:acme/shop:mr:12'")[0]
    attrs = json.loads(row[5])
    assert row[:5] == ("pull_request", "merged", datetime(2024, 4, 1, 8), datetime(2024, 3, 31, 14), datetime(2024, 4, 3, 15))
    assert attrs["draft"] is True and attrs["merge_sha"] == "4" * 40 and attrs["branch"] == "codex/retry-payments"
    ev = q(db, "select e.activity, e.ts, a.name, e.attrs from events e left join actors a using (actor_id) "
               "where item_id = 'gitlab:acme/shop:mr:12' order by ts, activity")
    assert [(a, t, n) for a, t, n, _ in ev] == [
        ("committed", datetime(2024, 3, 31, 14), None),
        ("opened", datetime(2024, 4, 1, 8), "alice"),
        ("labeled", datetime(2024, 4, 1, 8, 1), "alice"),
        ("ready_for_review", datetime(2024, 4, 1, 9), "alice"),
        ("review_requested", datetime(2024, 4, 1, 9, 5), "alice"),
        ("commented", datetime(2024, 4, 2, 10), "bob"),
        ("committed", datetime(2024, 4, 2, 12), None),
        ("reviewed", datetime(2024, 4, 3, 11), "bob"),
        ("merged", datetime(2024, 4, 3, 15), "carol"),
    ]
    assert json.loads(ev[7][3]) == {"state": "approved"}
    assert q(db, "select name from actors where actor_id = ?", [json.loads(ev[4][3])["reviewer"]]) == [("bob",)]
    assert [r[0] for r in q(db, "select activity from events where item_id = 'gitlab:acme/shop:mr:11' order by ts")] == [
        "committed", "opened", "closed", "reopened", "closed"]
    assert q(db, "select state from items where item_id = 'gitlab:acme/shop:mr:13'") == [("open",)]
    assert dict(q(db, "select name, kind from actors")) == {
        "alice": "human", "bob": "human", "carol": "human", "project_42_bot_3f2a": "bot"}
    assert {(a, e) for a, e in q(db, "select agent, evidence from attributions where item_id = 'gitlab:acme/shop:mr:12'")} == {
        ("codex", "branch"), ("claude-code", "trailer")}


def test_issues_pipelines_deployments_and_links(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    items = {r[0].split(":", 2)[2]: r[1:] for r in q(db, "select item_id, kind, state, started_at, done_at from items "
                                                          "where kind <> 'pull_request'")}
    assert items == {
        "issue:20": ("issue", "closed", None, datetime(2024, 4, 3, 15)),
        "issue:21": ("incident", "open", None, None),
        "pipeline:501": ("ci_run", "success", datetime(2024, 4, 2, 12, 2), datetime(2024, 4, 2, 12, 9)),
        "pipeline:502": ("ci_run", "failure", datetime(2024, 4, 3, 15, 3), datetime(2024, 4, 3, 15, 12)),
        "deployment:601": ("deployment", "success", datetime(2024, 4, 3, 15, 20), datetime(2024, 4, 3, 15, 30)),
        "deployment:602": ("deployment", "failure", datetime(2024, 4, 2, 12, 10), datetime(2024, 4, 2, 12, 14)),
    }
    assert q(db, "select json_extract_string(attrs, '$.type') from items where item_id = 'gitlab:acme/shop:issue:20'") == [("bug",)]
    assert set(q(db, "select src, dst, kind from links")) == {
        ("gitlab:acme/shop:mr:12", "gitlab:acme/shop:issue:20", "closes"),
        ("gitlab:acme/shop:pipeline:501", "gitlab:acme/shop:mr:12", "part_of"),
        ("gitlab:acme/shop:deployment:601", "gitlab:acme/shop:mr:12", "deploys"),
    }
    assert q(db, "select json_extract(attrs, '$.production')::boolean from items where kind = 'deployment' order by item_id") == [
        (True,), (False,)]


def test_closing_patterns():
    assert closing_links("Closes #20, fixes other/proj#3 and implements #4. See #5.", "acme/shop") == [
        ("closes", "gitlab:acme/shop:issue:20"), ("fixes", "gitlab:other/proj:issue:3"), ("fixes", "gitlab:acme/shop:issue:4")]


def test_second_daily_run_is_five_not_modified_requests(server, tmp_path):
    db = tmp_path / "s.duckdb"
    ingest(server, db)
    before = q(db, "select * from items order by item_id")
    n = len(server.requests())
    second = ingest(server, db)[0]
    later = server.requests()[n:]
    assert [r.status for r in later] == [304] * 5 and second.requests == 5
    assert q(db, "select * from items order by item_id") == before


def test_gitlab_rate_limit_headers_and_retry_after(server, tmp_path):
    now = time.time()
    reset = int(now) + 30
    server.fault(f"{P}/merge_requests", Reply(429, {"RateLimit-Limit": "600", "RateLimit-Remaining": "0",
                                                    "RateLimit-Reset": str(reset)}, {"message": "Retry later"}), page=2)
    server.fault(f"{P}/pipelines", Reply(429, {"Retry-After": "5"}, "Retry later"))
    slept: list[float] = []
    db = tmp_path / "s.duckdb"
    ingest(server, db, slept, clock=lambda: float(int(now)))
    assert slept == [31.0, 5.0]  # until the reset, plus a second for the server's clock
    assert q(db, "select count(*) from items") == [(9,)]


def test_missing_scope_bad_token_and_unknown_project(server, tmp_path, monkeypatch):
    db = tmp_path / "s.duckdb"
    server.fault(P, Reply(403, {"WWW-Authenticate": 'Bearer realm="gitlab", error="insufficient_scope", scope="read_api"'},
                          {"error": "insufficient_scope", "error_description": "The request requires higher privileges.",
                           "scope": "read_api"}))
    with pytest.raises(AuthError, match=r"^GitLab: the token lacks a scope for .*acme%2Fshop \(403\): needs read_api$"):
        ingest(server, db)
    with pytest.raises(NotFound, match=r"^gitlab: acme/nope not found or not visible to this token$"):
        api.ingest_gitlab(["acme/nope"], store_path=db, url=server.url)
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-wrong")
    with pytest.raises(AuthError, match=r"^GitLab rejected the token \(401\)"):
        ingest(server, db)
    assert q(db, "select count(*) from items") == [(0,)]
    assert TOKEN.encode() not in db.read_bytes()

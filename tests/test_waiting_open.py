"""Waiting on humans for pull requests still open at as_of: their waits run to as_of (right-censored),
count in the weeks they passed in, and make up the `waiting_now` snapshot. Hand-worked examples on
canonical rows (tests/canon.py); times UTC. 2024-05-20 and 2024-05-27 are Mondays, as_of is
Saturday 2024-06-01 00:00."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from canon import Canon
from rich.console import Console

from loopmeter.metrics.changes import backend
from loopmeter.metrics.flow import flow
from loopmeter.report.document import display_name

AS_OF = datetime(2024, 6, 1)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def c(tmp_path):
    canon = Canon(tmp_path / "lm.duckdb")
    for who in ("alice", "bob", "carol"):
        canon.actor(who)
    canon.actor("dependabot[bot]", "bot")
    yield canon
    canon.close()


def report(c: Canon, as_of: datetime = AS_OF) -> dict:
    return flow(c.store, backend(c.store), as_of)


def _never_reviewed(c: Canon, n: int = 40, **kw) -> str:
    """Opened Wednesday 2024-05-22 00:00 with a review asked of bob at once, never reviewed."""
    p = c.pr(n, author="alice", opened="2024-05-22 00:00", **kw)
    c.event(p, "2024-05-22 00:00", "review_requested", "alice", reviewer="bob")
    return p


def test_a_review_requested_ten_days_before_as_of_and_never_reviewed_waits_240_censored_hours(c):
    _never_reviewed(c)
    # A merged PR beside it: review requested 2 h, so the merged-only median is 2 h, not 121 h.
    q = c.pr(41, author="bob", opened="2024-05-21 09:00", merged="2024-05-21 12:00")
    c.event(q, "2024-05-21 09:00", "review_requested", "bob", reviewer="alice")
    c.event(q, "2024-05-21 11:00", "reviewed", "alice", state="commented")
    w = report(c)["waiting_on_humans"]
    assert w["prs"] == 2
    assert w["states"]["review_requested"] == {"total_hours": 242.0, "prs": 2, "p50": 2.0, "p85": 2.0}
    assert w["censored"] == {"prs": 1, "states": {"review_requested": {"total_hours": 240.0, "prs": 1},
                                                  "approved_not_merged": {"total_hours": 0.0, "prs": 0},
                                                  "ci_green_not_merged": {"total_hours": 0.0, "prs": 0}}}
    now = report(c)["waiting_now"]
    assert (now["open_prs"], now["waiting_prs"]) == (1, 1)
    assert now["states"]["review_requested"] == {"prs": 1, "p50_hours": 240.0, "oldest_hours": 240.0}
    assert now["by_group"]["human"]["review_requested"]["prs"] == 1
    assert now["by_group"]["ai"]["review_requested"] == {"prs": 0, "p50_hours": None, "oldest_hours": None}
    assert now["longest"] == [{"repo": "acme/api", "number": 40, "title": "PR 40",
                               "author": display_name("alice", "alice", "human", False), "group": "human",
                               "state": "review_requested", "hours": 240.0, "states": ["review_requested"],
                               "draft": False}]
    assert now["longest"][0]["author"] != "alice"  # pseudonymous


def test_an_approved_pr_still_open_waits_for_the_merge_until_as_of(c):
    # Review requested Tuesday 05-28 10:00, approved by bob 05-29 10:00 (a finished 24 h wait), CI
    # green on its head at 05-29 12:00; not merged by as_of: approved 62 h and CI green 60 h, censored.
    p = c.pr(42, author="carol", opened="2024-05-28 09:00", head_sha="h42", title="Approved, waiting")
    c.attribution(p, "codex")
    c.event(p, "2024-05-28 10:00", "review_requested", "carol", reviewer="bob")
    c.event(p, "2024-05-29 10:00", "reviewed", "bob", state="approved")
    c.ci_run(1, sha="h42", queued="2024-05-29 11:50", verdict_at="2024-05-29 12:00", ok=True)
    # A newer open PR, review requested 1 h and 3 h before as_of by two reviewers: one stretch, 3 h.
    q = c.pr(43, author="bob", opened="2024-05-31 20:00")
    c.event(q, "2024-05-31 21:00", "review_requested", "bob", reviewer="alice")
    c.event(q, "2024-05-31 23:00", "review_requested", "bob", reviewer="carol")
    f = report(c)
    st = f["waiting_on_humans"]["states"]
    assert st["review_requested"]["total_hours"] == 24.0 + 3.0
    assert st["approved_not_merged"] == {"total_hours": 62.0, "prs": 1, "p50": None, "p85": None}  # none merged
    assert st["ci_green_not_merged"]["total_hours"] == 60.0
    now = f["waiting_now"]
    assert now["states"]["review_requested"] == {"prs": 1, "p50_hours": 3.0, "oldest_hours": 3.0}  # #42's ended
    assert now["states"]["approved_not_merged"] == {"prs": 1, "p50_hours": 62.0, "oldest_hours": 62.0}
    assert now["states"]["ci_green_not_merged"] == {"prs": 1, "p50_hours": 60.0, "oldest_hours": 60.0}
    assert now["by_group"]["ai"]["approved_not_merged"]["prs"] == 1
    assert [(r["number"], r["state"], r["hours"], r["states"], r["group"]) for r in now["longest"]] == [
        (42, "approved_not_merged", 62.0, ["approved_not_merged", "ci_green_not_merged"], "ai"),
        (43, "review_requested", 3.0, ["review_requested"], "human"),
    ]


def test_waiting_now_marks_the_pull_requests_that_are_drafts_at_as_of(c):
    # By the state definitions a draft with green CI is "CI green, not merged" (the next move is a
    # person's: its author's); the list says it is a draft so a reader can tell.
    for n, events in ((60, []), (61, ["ready_for_review"]), (62, ["ready_for_review", "converted_to_draft"])):
        p = c.pr(n, author="alice", opened="2024-05-30 00:00", draft=True, head_sha=f"h{n}")
        for i, activity in enumerate(events):
            c.event(p, f"2024-05-30 0{i + 1}:00", activity, "alice")
        c.ci_run(n, sha=f"h{n}", queued="2024-05-30 11:00", verdict_at="2024-05-30 12:00", ok=True)
    now = report(c)["waiting_now"]
    assert {r["number"]: (r["draft"], r["state"], r["hours"]) for r in now["longest"]} == {
        60: (True, "ci_green_not_merged", 36.0), 61: (False, "ci_green_not_merged", 36.0),
        62: (True, "ci_green_not_merged", 36.0)}


def test_a_pr_closed_without_merging_is_abandoned_not_waiting_now(c):
    _never_reviewed(c, 44, closed="2024-05-25 00:00")  # closed before as_of: abandoned
    _never_reviewed(c, 45, closed="2024-06-03 00:00")  # closed after as_of: open at as_of, 240 h
    _never_reviewed(c, 46, merged="2024-06-02 00:00")  # merged after as_of: open at as_of, 240 h
    b = c.pr(47, author="dependabot[bot]", opened="2024-05-22 00:00")  # a bot's: left out
    c.event(b, "2024-05-22 00:00", "review_requested", "dependabot[bot]", reviewer="bob")
    f = report(c)
    now = f["waiting_now"]
    assert now["open_prs"] == 2
    assert sorted(r["number"] for r in now["longest"]) == [45, 46]
    assert now["states"]["review_requested"] == {"prs": 2, "p50_hours": 240.0, "oldest_hours": 240.0}
    w = f["waiting_on_humans"]
    assert w["states"]["review_requested"]["total_hours"] == 480.0  # not #44's 72 h
    # The lift designs take the same PRs as open (one rule, metrics/open_prs.py).
    from loopmeter.metrics.changes import Window
    from loopmeter.lift.inputs import _open_items

    c.store.con.execute("insert into repos (repo) values ('acme/api')")
    opened = _open_items(backend(c.store), Window(as_of=AS_OF), None)
    assert sorted(opened["item_id"]) == ["github:acme/api:pr:45", "github:acme/api:pr:46"]


def test_a_pr_closed_at_as_of_and_reopened_later_was_not_open_then(c):
    # Closed unmerged Saturday 05-25, reopened 06-03 (after as_of) and still open: at as_of it was
    # closed (abandoned then), although its stored state is open and it has no closed_at any more.
    p = _never_reviewed(c, 49)
    c.event(p, "2024-05-25 00:00", "closed", "alice")
    c.event(p, "2024-06-03 00:00", "reopened", "alice")
    # Closed 05-23 and reopened 05-24, before as_of: open at as_of again.
    q = c.pr(52, author="bob", opened="2024-05-20 00:00")
    c.event(q, "2024-05-23 00:00", "closed", "bob")
    c.event(q, "2024-05-24 00:00", "reopened", "bob")
    now = report(c)["waiting_now"]
    assert now["open_prs"] == 1
    later = report(c, datetime(2024, 6, 4))["waiting_now"]
    assert later["open_prs"] == 2
    from loopmeter.metrics.changes import Window
    from loopmeter.lift.inputs import _open_items

    c.store.con.execute("insert into repos (repo) values ('acme/api')")
    opened = _open_items(backend(c.store), Window(as_of=AS_OF), None)
    assert sorted(opened["item_id"]) == ["github:acme/api:pr:52"]


def test_weekly_hours_count_in_the_week_they_passed_in_open_and_merged_alike(c):
    _never_reviewed(c)  # Wed 05-22 00:00 -> Mon 05-27 00:00 = 120 h in W21; -> Sat 06-01 = 120 h in W22
    # Merged: approved Sunday 05-19 20:00, merged Monday 05-20 04:00: 4 h in W20, 4 h in W21.
    q = c.pr(48, author="bob", opened="2024-05-19 10:00", merged="2024-05-20 04:00")
    c.attribution(q, "claude-code")
    c.event(q, "2024-05-19 20:00", "reviewed", "carol", state="approved")
    rows = {(r["week"], r["group"]): r for r in report(c)["waiting_on_humans"]["weekly"]}
    assert set(rows) == {("2024-W20", "ai"), ("2024-W21", "ai"), ("2024-W21", "human"), ("2024-W22", "human")}
    assert rows[("2024-W21", "human")]["review_requested_hours"] == 120.0
    assert rows[("2024-W22", "human")]["review_requested_hours"] == 120.0
    assert rows[("2024-W22", "human")]["week_start"] == "2024-05-27"
    assert rows[("2024-W20", "ai")]["approved_not_merged_hours"] == 4.0
    assert rows[("2024-W21", "ai")]["approved_not_merged_hours"] == 4.0
    assert all(r["prs"] == 1 for r in rows.values())
    # Every hour lands in exactly one week.
    assert sum(r["review_requested_hours"] + r["approved_not_merged_hours"] for r in rows.values()) == 248.0


def test_a_stretch_ended_before_as_of_is_not_waiting_now_and_later_events_do_not_exist_yet(c):
    p = _never_reviewed(c)
    c.event(p, "2024-06-05 00:00", "reviewed", "bob", state="approved")  # after as_of: not yet
    assert report(c)["waiting_now"]["states"]["review_requested"]["oldest_hours"] == 240.0
    # Judged from 06-10, the request ended at bob's review (14 days: 336 h) and the approval waits 120 h.
    later = report(c, datetime(2024, 6, 10))
    assert later["waiting_now"]["states"]["review_requested"]["prs"] == 0
    assert later["waiting_now"]["states"]["approved_not_merged"]["oldest_hours"] == 120.0
    assert later["waiting_on_humans"]["states"]["review_requested"]["total_hours"] == 336.0


def test_the_json_report_doc_names_every_waiting_key(c):
    _never_reviewed(c)
    f = report(c)
    text = (ROOT / "docs" / "json-report.md").read_text()
    w, now = f["waiting_on_humans"], f["waiting_now"]
    keys = (list(f) + list(w) + list(w["censored"]) + list(w["censored"]["states"]["review_requested"])
            + list(w["weekly"][0]) + list(now) + list(now["states"]["review_requested"]) + list(now["longest"][0]))
    for key in keys:
        assert f'"{key}"' in text, key
    assert "open_prs.py" in (ROOT / "docs" / "metrics.md").read_text()


# -- rendering: untrusted titles --------------------------------------------------------------------

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned = 1</script>'
TERMINAL_HOSTILE = "[bold red]fake[/bold red] \x1b[31mred\x1b[0m"


def _open_hostile_prs(store_path: Path) -> None:
    c = Canon(store_path)
    try:
        for who in ("alice", "bob"):
            c.actor(who)
        p = c.pr(50, author="alice", opened="2024-02-20 00:00", title=HOSTILE)
        c.event(p, "2024-02-20 00:00", "review_requested", "alice", reviewer="bob")
        q = c.pr(51, author="bob", opened="2024-02-25 00:00", title=TERMINAL_HOSTILE)
        c.event(q, "2024-02-25 00:00", "review_requested", "bob", reviewer="alice")
    finally:
        c.close()


@pytest.fixture
def hostile_store(demo_repo, store_path):
    import loopmeter

    loopmeter.ingest([demo_repo[0]], store_path=store_path)
    _open_hostile_prs(store_path)
    return store_path


def test_terminal_shows_waiting_now_with_titles_escaped(hostile_store):
    import loopmeter
    from loopmeter.report.terminal import render_terminal

    doc = loopmeter.report_from_store(store_path=hostile_store, as_of=datetime(2024, 3, 1))
    console = Console(record=True, width=250)
    render_terminal(doc, console)
    text = console.export_text()
    assert "waiting now (open PRs)" in text
    assert "review requested 2: 7.5 d / 10.0 d" in text  # 240 h and 120 h: median 180 h
    assert "10.0 d review requested: acme/api#50" in text
    assert "[bold red]fake[/bold red]" in text  # shown as text, not markup
    assert "\x1b[31mred" not in text and "\ufffd[31mred" in text  # no raw escape reaches the terminal


def test_html_lists_the_longest_waiting_with_a_hostile_title_inert_in_chromium(hostile_store, tmp_path):
    import loopmeter
    from browser import CHROMIUM, load_page

    out = tmp_path / "r.html"
    loopmeter.report_from_store(store_path=hostile_store, as_of=datetime(2024, 3, 1), html_path=out)
    html = out.read_text()
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert re.search(r"<td>acme/api#50</td><td>&lt;img src=x", html)
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    page = load_page(out, text_of="#waiting-longest")
    assert page.errors == [] and page.requests == []
    assert page.pwned == "undefined"
    assert HOSTILE in page.text and "a review" in page.text and "10.0 days" in page.text


# -- end to end through the GitHub source ------------------------------------------------------------

GH_TOKEN = "ghp_TESTtoken0123456789abcdefSECRET"


def _with_an_open_pr(server) -> None:
    """A copy of the fixture acme/widgets with one more pull request, #8, still open: bob's, opened
    Sunday 2024-03-10 09:00, review asked of alice at 12:00 and never given."""
    user = {"login": "bob", "id": 1002, "type": "User"}
    pr = {"url": "https://api.github.com/repos/acme/widgets/pulls/8", "id": 5008, "number": 8, "state": "open",
          "locked": False, "title": "Retry the <b>flaky</b> upload", "user": user, "body": "", "labels": [],
          "created_at": "2024-03-10T09:00:00Z", "updated_at": "2024-03-19T08:00:00Z", "closed_at": None,
          "merged_at": None, "merge_commit_sha": None, "draft": False,
          "head": {"label": "acme:retry-upload", "ref": "retry-upload", "sha": "c8a0000000000000000000000000000000000008"},
          "base": {"label": "acme:main", "ref": "main", "sha": "9000000000000000000000000000000000000009"},
          "html_url": "https://github.com/acme/widgets/pull/8", "author_association": "MEMBER"}
    issue = {k: pr[k] for k in ("id", "number", "state", "title", "user", "body", "labels", "created_at",
                                "updated_at", "closed_at")}
    issue["pull_request"] = {"url": pr["url"], "merged_at": None}
    timeline = [
        {"sha": "c8a0000000000000000000000000000000000008", "node_id": "C_8a", "event": "committed",
         "author": {"name": "Bob Builder", "email": "bob@example.com", "date": "2024-03-10T08:30:00Z"},
         "committer": {"name": "Bob Builder", "email": "bob@example.com", "date": "2024-03-10T08:30:00Z"},
         "message": "Retry the upload", "parents": []},
        {"id": 90801, "event": "review_requested", "actor": user, "created_at": "2024-03-10T12:00:00Z",
         "requested_reviewer": {"login": "alice", "id": 1001, "type": "User"}},
    ]
    base = "/repos/acme/widgets"
    server.data[f"{base}/pulls"] = [pr, *server.data[f"{base}/pulls"]]
    server.data[f"{base}/issues"] = [issue, *server.data[f"{base}/issues"]]
    server.data[f"{base}/issues/8/timeline"] = timeline


def test_an_open_pull_request_from_the_github_source_waits_until_as_of(tmp_path, monkeypatch):
    import apiserver

    from loopmeter import api
    from loopmeter.store.db import Store

    monkeypatch.setenv("LM_WAIT_TOKEN", GH_TOKEN)
    store_path = tmp_path / "lm.duckdb"
    with apiserver.FixtureServer("github", token=GH_TOKEN) as server:
        _with_an_open_pr(server)
        api.ingest_github(["acme/widgets"], store_path=store_path, url=server.url, token_env="LM_WAIT_TOKEN",
                          sleep=lambda s: None)
    with Store.open(store_path) as store:
        f = flow(store, backend(store), datetime(2024, 3, 20))
        # On 02-24 #1 (closed 02-21, reopened 02-22, closed for good 02-25: GitHub's closed_at) was open.
        before = flow(store, backend(store), datetime(2024, 2, 24))
    assert (before["waiting_now"]["open_prs"], before["waiting_now"]["waiting_prs"]) == (1, 0)
    # #8 waits from 03-10 12:00 to as_of 03-20 00:00: 228 h, censored. #1 was closed unmerged and
    # #5 is dependabot's: neither is waiting now.
    now = f["waiting_now"]
    assert (now["open_prs"], now["waiting_prs"]) == (1, 1)
    assert now["states"]["review_requested"] == {"prs": 1, "p50_hours": 228.0, "oldest_hours": 228.0}
    [row] = now["longest"]
    assert (row["repo"], row["number"], row["title"], row["state"], row["hours"], row["group"]) == (
        "acme/widgets", 8, "Retry the <b>flaky</b> upload", "review_requested", 228.0, "human")
    assert row["author"].startswith("dev-") and "bob" not in row["author"]
    w = f["waiting_on_humans"]
    # Merged #2 and #3 as in test_flow_github_e2e, plus #8's censored 228 h.
    assert w["states"]["review_requested"]["total_hours"] == pytest.approx(23 + 25 / 60 + 21 + 59 / 60 + 228)
    assert w["states"]["review_requested"]["p50"] == pytest.approx((23 + 25 / 60 + 21 + 59 / 60) / 2)
    assert w["censored"]["prs"] == 1
    # Sunday 12:00 -> Monday 03-11 00:00 is 12 h in W10, a whole week in W11, Monday 03-18 -> 03-20 48 h.
    human = {r["week"]: r["review_requested_hours"] for r in w["weekly"] if r["group"] == "human"}
    assert human == {"2024-W10": 12.0, "2024-W11": 168.0, "2024-W12": 48.0}


# -- reopened pull requests: a close pauses the waits, a reopen resumes those still pending ---------

def _stretches(c: Canon, as_of: datetime = AS_OF) -> list[tuple]:
    from loopmeter.metrics.waiting import stretches_sql

    return [(st, item.rsplit(":", 1)[1], s.strftime("%m-%d %H:%M"), e.strftime("%m-%d %H:%M"), cen)
            for st, item, s, e, cen in c.store.con.execute(
                f"select * from ({stretches_sql(as_of)}) order by state, item_id, s").fetchall()]


def test_a_review_request_pending_at_a_close_resumes_at_the_reopen(c):
    # #70: review asked of bob Mon 05-20 00:00, closed Wed 05-22 00:00 (48 h), reopened Fri 05-24
    # 00:00 and never reviewed: waits again from the reopen to as_of, 192 h censored; 240 h in all.
    p = c.pr(70, author="alice", opened="2024-05-20 00:00")
    c.event(p, "2024-05-20 00:00", "review_requested", "alice", reviewer="bob")
    c.event(p, "2024-05-22 00:00", "closed", "alice")
    c.event(p, "2024-05-24 00:00", "reopened", "alice")
    # #71: the same request, but bob reviewed while it was closed (05-23): nothing left to resume.
    q = c.pr(71, author="alice", opened="2024-05-20 00:00")
    c.event(q, "2024-05-20 00:00", "review_requested", "alice", reviewer="bob")
    c.event(q, "2024-05-22 00:00", "closed", "alice")
    c.event(q, "2024-05-23 00:00", "reviewed", "bob", state="commented")
    c.event(q, "2024-05-24 00:00", "reopened", "alice")
    assert _stretches(c) == [
        ("review_requested", "70", "05-20 00:00", "05-22 00:00", False),
        ("review_requested", "70", "05-24 00:00", "06-01 00:00", True),
        ("review_requested", "71", "05-20 00:00", "05-22 00:00", False),
    ]
    f = report(c)
    assert f["waiting_on_humans"]["states"]["review_requested"]["total_hours"] == 48.0 + 192.0 + 48.0
    now = f["waiting_now"]
    assert (now["open_prs"], now["waiting_prs"]) == (2, 1)
    assert now["states"]["review_requested"] == {"prs": 1, "p50_hours": 192.0, "oldest_hours": 192.0}
    # Judged while both were closed (05-23 00:00), neither is open or waiting: no PR to report on,
    # and #70's request stopped at the close, not censored.
    assert report(c, datetime(2024, 5, 23))["waiting_now"] is None
    assert _stretches(c, datetime(2024, 5, 23))[0] == ("review_requested", "70", "05-20 00:00", "05-22 00:00", False)


def test_an_approval_standing_at_a_close_resumes_at_the_reopen_unless_dismissed_meanwhile(c):
    # #72: approved by bob Tue 05-21 00:00, CI green on its head 05-20 12:00, closed Wed 05-22 00:00,
    # reopened Thu 05-23 00:00, merged 05-23 06:00: approved 24 + 6 = 30 h, CI green 36 + 6 = 42 h.
    p = c.pr(72, author="alice", opened="2024-05-20 00:00", merged="2024-05-23 06:00", head_sha="h72")
    c.event(p, "2024-05-21 00:00", "reviewed", "bob", state="approved")
    c.event(p, "2024-05-22 00:00", "closed", "alice")
    c.event(p, "2024-05-23 00:00", "reopened", "alice")
    c.ci_run(72, sha="h72", queued="2024-05-20 11:00", verdict_at="2024-05-20 12:00", ok=True)
    # #73: the same, but the approval was dismissed while closed (05-22 12:00): 24 h only.
    q = c.pr(73, author="alice", opened="2024-05-20 00:00", merged="2024-05-24 00:00", head_sha="h73")
    c.event(q, "2024-05-21 00:00", "reviewed", "bob", state="approved")
    c.event(q, "2024-05-22 00:00", "closed", "alice")
    c.event(q, "2024-05-22 12:00", "reviewed", "bob", state="dismissed")
    c.event(q, "2024-05-23 00:00", "reopened", "alice")
    st = report(c)["waiting_on_humans"]["states"]
    assert st["approved_not_merged"] == {"total_hours": 54.0, "prs": 2, "p50": 27.0, "p85": pytest.approx(29.1)}
    assert st["ci_green_not_merged"]["total_hours"] == 42.0
    assert _stretches(c)[:2] == [
        ("approved_not_merged", "72", "05-21 00:00", "05-22 00:00", False),
        ("approved_not_merged", "72", "05-23 00:00", "05-23 06:00", False),
    ]


def test_a_pr_closed_for_good_stops_waiting_at_the_close(c):
    # #74: review asked 05-20 00:00, approved by carol 05-20 06:00, closed 05-21 00:00 and never
    # reopened: the request waited 6 h, the approval 18 h; nothing after the close, nothing now.
    p = c.pr(74, author="alice", opened="2024-05-20 00:00", closed="2024-05-21 00:00")
    c.event(p, "2024-05-20 00:00", "review_requested", "alice", reviewer="bob")
    c.event(p, "2024-05-20 06:00", "reviewed", "carol", state="approved")
    assert _stretches(c) == [
        ("approved_not_merged", "74", "05-20 06:00", "05-21 00:00", False),
        ("review_requested", "74", "05-20 00:00", "05-20 06:00", False),
    ]
    assert report(c)["waiting_now"] is None  # closed unmerged: no PR in the waiting population


# -- two populations at as_of, each named: open for review (waiting) and work in progress (lift) ----

def test_a_pr_committed_before_as_of_but_opened_after_is_in_progress_not_open_for_review(c):
    from loopmeter.metrics.changes import Window
    from loopmeter.lift.inputs import _open_items
    from loopmeter.metrics.open_prs import in_progress_at_sql, open_for_review_at_sql
    from loopmeter.metrics.waiting import waiting_sql

    # #80: first commit Thu 05-30 00:00, opened Mon 06-03 (after as_of 06-01), review asked at once.
    p = c.pr(80, author="alice", opened="2024-06-03 00:00", first_commit="2024-05-30 00:00")
    c.event(p, "2024-06-03 00:00", "review_requested", "alice", reviewer="bob")
    _never_reviewed(c, 81)  # opened 05-22: open for review and in progress alike
    rule = {name: sorted(r[0] for r in c.store.con.execute(
        f"select item_id from items i where {sql('i', '$as_of')}", {"as_of": AS_OF}).fetchall())
        for name, sql in (("review", open_for_review_at_sql), ("progress", in_progress_at_sql))}
    assert rule == {"review": ["github:acme/api:pr:81"],
                    "progress": ["github:acme/api:pr:80", "github:acme/api:pr:81"]}
    # Waiting on a reviewer needs the PR opened: #80 is not in the waiting rows at all.
    rows = c.store.con.execute(f"select number, open_now from ({waiting_sql(AS_OF)}) order by 1").fetchall()
    assert rows == [(81, True)]
    # The lift's right-censored cycle time starts at the first commit: #80 had been in progress 48 h.
    c.store.con.execute("insert into repos (repo) values ('acme/api')")
    opened = _open_items(backend(c.store), Window(as_of=AS_OF), None).set_index("item_id")
    assert opened.loc["github:acme/api:pr:80", "cycle_hours"] == 48.0
    assert opened.loc["github:acme/api:pr:81", "cycle_hours"] == 240.0


# -- --show-names: the waiting-now list names people like the changes table does ---------------------

def test_show_names_names_the_waiting_now_authors_in_the_json_and_the_html(demo_repo, store_path, tmp_path):
    import loopmeter

    loopmeter.ingest([demo_repo[0]], store_path=store_path)
    c = Canon(store_path)
    try:
        c.actor("u-alice", name="Alice Liddell")
        c.actor("u-bob", name="Bob Builder")
        p = c.pr(90, author="u-alice", opened="2024-02-20 00:00")
        c.event(p, "2024-02-20 00:00", "review_requested", "u-alice", reviewer="u-bob")
    finally:
        c.close()
    pseudonym = display_name("u-alice", "Alice Liddell", "human", False)
    for show, expected, absent in ((True, "Alice Liddell", pseudonym), (False, pseudonym, "Alice Liddell")):
        out = tmp_path / f"r-{show}.html"
        doc = loopmeter.report_from_store(store_path=store_path, as_of=datetime(2024, 3, 1), html_path=out,
                                          show_names=show)
        [row] = doc["flow"]["waiting_now"]["longest"]
        assert row["author"] == expected
        html = out.read_text()
        table = html[html.index('id="waiting-longest"'):]
        table = table[:table.index("</table>")]
        assert f"<td>{expected}</td>" in table and absent not in table


# -- one definition of "opened as a draft" ------------------------------------------------------------

def test_the_at_opening_draft_flag_is_defined_once_and_both_parts_agree_on_it(c):
    from loopmeter.metrics import pr_cycle
    from loopmeter.metrics.waiting import waiting_sql

    sources = {p.name: p.read_text() for p in (ROOT / "src" / "loopmeter" / "metrics").glob("*.py")}
    assert [name for name, text in sources.items() if "'$.draft'" in text] == ["pr_cycle.py"]
    assert "opened_as_draft_sql" in sources["waiting.py"]
    # Drafts at opening (attrs.draft true, a JSON string "true" too), not drafts, and no flag at all.
    c.pr(95, author="alice", opened="2024-05-30 00:00", draft=True)
    c.item("github:acme/api:pr:96", "pull_request", created="2024-05-30 00:00", state="open", author="alice",
           number=96, draft="true")
    c.pr(97, author="alice", opened="2024-05-30 00:00")
    c.item("github:acme/api:pr:98", "pull_request", created="2024-05-30 00:00", state="open", author="alice",
           number=98)
    cycle = dict(c.store.con.execute(
        f"select item_id, opened_as_draft from ({pr_cycle.pr_rows_sql(AS_OF)})").fetchall())
    now = dict(c.store.con.execute(f"select item_id, draft_now from ({waiting_sql(AS_OF)})").fetchall())
    expected = {f"github:acme/api:pr:{n}": d for n, d in ((95, True), (96, True), (97, False), (98, False))}
    assert cycle == expected and now == expected


def test_a_merge_at_as_of_itself_ends_the_waits_and_a_wait_resolved_at_once_is_zero_hours(c):
    # #75: review asked Fri 05-31 19:00, CI green 20:00, merged exactly at as_of (06-01 00:00):
    # 5 h and 4 h, ended by the merge, not censored. #76: asked and reviewed the same instant: 0 h.
    p = c.pr(75, author="alice", opened="2024-05-31 18:00", merged="2024-06-01 00:00", head_sha="h75")
    c.event(p, "2024-05-31 19:00", "review_requested", "alice", reviewer="bob")
    c.ci_run(75, sha="h75", queued="2024-05-31 19:30", verdict_at="2024-05-31 20:00", ok=True)
    q = c.pr(76, author="alice", opened="2024-05-30 00:00", merged="2024-05-30 12:00")
    c.event(q, "2024-05-30 01:00", "review_requested", "alice", reviewer="bob")
    c.event(q, "2024-05-30 01:00", "reviewed", "bob", state="commented")
    assert _stretches(c) == [
        ("ci_green_not_merged", "75", "05-31 20:00", "06-01 00:00", False),
        ("review_requested", "75", "05-31 19:00", "06-01 00:00", False),
        ("review_requested", "76", "05-30 01:00", "05-30 01:00", False),
    ]
    st = report(c)["waiting_on_humans"]["states"]
    assert st["review_requested"] == {"total_hours": 5.0, "prs": 2, "p50": 2.5, "p85": pytest.approx(4.25)}

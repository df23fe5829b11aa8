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
                               "state": "review_requested", "hours": 240.0, "states": ["review_requested"]}]
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
    from loopmeter.metrics.lift_inputs import _open_items

    c.store.con.execute("insert into repos (repo) values ('acme/api')")
    opened = _open_items(backend(c.store), Window(as_of=AS_OF), None)
    assert sorted(opened["item_id"]) == ["github:acme/api:pr:45", "github:acme/api:pr:46"]


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
    assert HOSTILE in page.text and "review requested" in page.text and "10.0 days" in page.text

"""Flow metrics over canonical rows written directly (tests/canon.py): every number worked by hand.

Percentiles are continuous (linear interpolation): for sorted x0..x(n-1), q sits at position
q*(n-1). Times are UTC.
"""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from canon import Canon

from loopmeter.metrics.changes import backend
from loopmeter.metrics.deploys import register
from loopmeter.metrics.dora import FailureRule
from loopmeter.metrics.flow import flow
from loopmeter.metrics.pr_cycle import pull_requests

AS_OF = datetime(2024, 6, 1)


@pytest.fixture
def c(tmp_path):
    canon = Canon(tmp_path / "lm.duckdb")
    for who in ("alice", "bob", "carol"):
        canon.actor(who)
    canon.actor("dependabot[bot]", "bot")
    canon.actor("copilot-reviewer", "agent", agent="copilot")
    yield canon
    canon.close()


def prs(c: Canon, as_of: datetime = AS_OF) -> dict[int, dict]:
    con = backend(c.store)
    register(c.store.con, as_of)
    df = con.execute(pull_requests(con, as_of))
    out = {}
    for r in df.to_dict("records"):
        out[int(r["item_id"].rsplit(":", 1)[1])] = {k: (None if math.isnan(v) else v) if isinstance(v, float) else v
                                                    for k, v in r.items()}
    return out


def report(c: Canon, as_of: datetime = AS_OF, **rule) -> dict | None:
    return flow(c.store, backend(c.store), as_of, FailureRule(**rule) if rule else None)


# -- PR cycle ---------------------------------------------------------------------------------


def test_phases_run_from_first_commit_to_the_first_production_deployment_containing_the_merge(c):
    # history: a0 <- m1 (the merge) <- d1 (deployed). a0 was deployed first, so the repository
    # had a visible deployment before PR 1 merged.
    c.commit("a0", [], "2024-03-01 00:00")
    c.commit("m1", ["a0"], "2024-03-05 12:00")
    c.commit("d1", ["m1"], "2024-03-05 13:00")
    c.deployment(1, sha="a0", at="2024-03-01 06:00")
    c.deployment(2, sha="d1", at="2024-03-05 18:00", production=False)  # staging ships nothing
    c.deployment(3, sha="d1", at="2024-03-05 19:00", ok=False)  # a failed attempt ships nothing
    c.deployment(4, sha="d1", at="2024-03-05 20:00")
    p = c.pr(1, author="alice", first_commit="2024-03-04 08:00", opened="2024-03-04 10:00",
             merged="2024-03-05 12:00", merge_sha="m1")
    c.event(p, "2024-03-04 14:00", "reviewed", "bob", state="approved")
    r = prs(c)[1]
    assert (r["coding"], r["draft"], r["pickup"], r["review"], r["deploy"]) == (2.0, 0.0, 4.0, 22.0, 8.0)
    assert r["lead"] == 36.0  # the phases add up
    assert r["deployment_id"] == "github:acme/api:deployment:4"
    doc = report(c)
    assert doc["pr_cycle"]["deployed"] == 1
    assert doc["dora"]["lead_time_hours"] == {"p50": 36.0, "p85": 36.0, "n": 1}


def test_a_draft_waits_for_pickup_only_from_ready_for_review(c):
    p = c.pr(2, author="alice", first_commit="2024-03-04 09:00", opened="2024-03-04 10:00", draft=True,
             merged="2024-03-05 10:00", merge_sha="m2")
    c.event(p, "2024-03-04 11:00", "commented", "bob")  # during the draft: not a pickup
    c.event(p, "2024-03-04 15:00", "ready_for_review", "alice")
    c.event(p, "2024-03-04 18:00", "reviewed", "bob", state="commented")
    r = prs(c)[2]
    assert (r["coding"], r["draft"], r["pickup"], r["review"]) == (1.0, 5.0, 3.0, 16.0)


def test_a_draft_never_marked_ready_has_unknown_draft_pickup_and_review(c):
    p = c.pr(3, author="alice", opened="2024-03-04 10:00", draft=True, merged="2024-03-05 10:00", merge_sha="m3")
    c.event(p, "2024-03-04 12:00", "reviewed", "bob", state="approved")
    r = prs(c)[3]
    assert (r["draft"], r["pickup"], r["review"]) == (None, None, None)
    assert r["coding"] is None  # no commit known


def test_bots_agents_and_the_author_do_not_end_pickup(c):
    p = c.pr(4, author="alice", opened="2024-03-04 10:00", merged="2024-03-04 20:00", merge_sha="m4")
    c.event(p, "2024-03-04 10:05", "commented", "dependabot[bot]")
    c.event(p, "2024-03-04 10:30", "reviewed", "copilot-reviewer", state="commented")
    c.event(p, "2024-03-04 11:00", "commented", "alice")
    c.event(p, "2024-03-04 11:30", "commented", None)  # nobody known: not a pickup
    c.event(p, "2024-03-04 13:00", "commented", "carol")
    r = prs(c)[4]
    assert (r["pickup"], r["review"]) == (3.0, 7.0)


def test_a_pr_merged_without_review_has_unknown_pickup_and_review_and_is_counted(c):
    p = c.pr(5, author="alice", first_commit="2024-03-04 09:00", opened="2024-03-04 10:00",
             merged="2024-03-04 12:00", merge_sha="m5")
    c.event(p, "2024-03-04 11:00", "commented", "alice")
    c.event(p, "2024-03-04 13:00", "commented", "bob")  # after the merge: not a review of it
    p6 = c.pr(6, author="bob", opened="2024-03-04 10:00", merged="2024-03-04 16:00", merge_sha="m6")
    c.event(p6, "2024-03-04 12:00", "reviewed", "alice", state="approved")
    r = prs(c)[5]
    assert (r["coding"], r["pickup"], r["review"], r["reviewed"]) == (1.0, None, None, False)
    doc = report(c)["pr_cycle"]
    assert doc["merged"] == 2 and doc["merged_without_review"] == 1
    assert doc["phases_hours"]["pickup"] == {"p50": 2.0, "p85": 2.0, "n": 1, "unknown": 1}


def test_squash_and_rebase_merges_are_found_by_their_merge_sha_not_the_pr_commits(c):
    # PR 7 squash: its commits p1, p2 never reach main; s7 is the squash commit. PR 8 rebase: the
    # rebased copy r8 is not a PR commit either. The deployment ships x, a descendant of both.
    c.commit("base", [], "2024-03-01 00:00")
    c.commit("s7", ["base"], "2024-03-04 12:00")
    c.commit("r8", ["s7"], "2024-03-04 14:00")
    c.commit("x", ["r8"], "2024-03-04 15:00")
    c.deployment(1, sha="base", at="2024-03-01 01:00")
    c.deployment(2, sha="x", at="2024-03-05 00:00")
    p7 = c.pr(7, author="alice", first_commit="2024-03-03 12:00", opened="2024-03-04 00:00",
              merged="2024-03-04 12:00", merge_sha="s7", head_sha="p2")
    c.event(p7, "2024-03-03 13:00", "committed", "alice", sha="p2")
    c.pr(8, author="bob", first_commit="2024-03-04 08:00", opened="2024-03-04 09:00",
         merged="2024-03-04 14:00", merge_sha="r8", head_sha="q8")
    r = prs(c)
    assert (r[7]["deploy"], r[7]["lead"]) == (12.0, 36.0)
    assert (r[8]["deploy"], r[8]["lead"]) == (10.0, 16.0)


def test_without_git_history_only_an_exact_sha_match_deploys_a_merge(c):
    c.deployment(1, sha="old", at="2024-03-01 00:00")
    c.deployment(2, sha="m9", at="2024-03-05 00:00")
    c.deployment(3, sha="after-m10", at="2024-03-06 00:00")  # a descendant, but the graph is unknown
    c.pr(9, author="alice", opened="2024-03-04 00:00", merged="2024-03-04 12:00", merge_sha="m9")
    c.pr(10, author="alice", opened="2024-03-04 00:00", merged="2024-03-05 12:00", merge_sha="m10")
    r = prs(c)
    assert r[9]["deploy"] == 12.0
    assert r[10]["deploy"] is None


def test_changes_merged_before_the_first_visible_deployment_have_an_unknown_deploy_phase(c):
    c.commit("m11", [], "2024-03-04 12:00")
    c.commit("m12", ["m11"], "2024-03-06 12:00")
    c.deployment(1, sha="m11", at="2024-03-05 00:00")  # the repository's first deployment we can see
    c.deployment(2, sha="m12", at="2024-03-07 00:00")
    c.pr(11, author="alice", opened="2024-03-04 00:00", merged="2024-03-04 12:00", merge_sha="m11")
    c.pr(12, author="alice", opened="2024-03-06 00:00", merged="2024-03-06 12:00", merge_sha="m12")
    r = prs(c)
    assert r[11]["deploy"] is None and r[11]["deployment_id"] is None
    assert r[12]["deploy"] == 12.0


def test_weekly_phase_medians_split_human_and_ai_and_leave_bots_out(c):
    # week of 2024-03-04: human PRs 13 (pickup 2 h) and 14 (pickup 6 h); AI PR 15 (pickup 1 h,
    # attribution on the git change it is the same as); bot PR 16 left out.
    for n, author, pick in ((13, "alice", 2), (14, "bob", 6), (15, "carol", 1), (16, "dependabot[bot]", 1)):
        p = c.pr(n, author=author, opened="2024-03-05 00:00", merged="2024-03-05 20:00", merge_sha=f"m{n}")
        c.event(p, f"2024-03-05 {pick:02d}:00", "reviewed", "alice" if author != "alice" else "bob", state="approved")
    c.item("git:api:change:m15", "change", done="2024-03-05 20:00", source="git", repo="api", sha="m15")
    c.link("github:acme/api:pr:15", "git:api:change:m15", "same_as")
    c.attribution("git:api:change:m15", "claude-code")
    doc = report(c)["pr_cycle"]
    assert doc["pull_requests"] == 3 and doc["bot_pull_requests"] == 1 and doc["merged"] == 3
    weekly = {w["group"]: w for w in doc["weekly"]}
    assert weekly["human"]["merged"] == 2 and weekly["human"]["pickup_p50"] == 4.0
    assert weekly["human"]["review_p50"] == 16.0  # (18 + 14) / 2
    assert weekly["ai"]["merged"] == 1 and weekly["ai"]["pickup_p50"] == 1.0
    assert weekly["human"]["week"] == "2024-W10" and weekly["human"]["week_start"] == "2024-03-04"
    assert doc["by_group"]["human"]["pickup"] == {"p50": 4.0, "p85": pytest.approx(5.4), "n": 2}  # 2 + .85*4
    assert doc["phases_hours"]["pickup"]["p50"] == 2.0  # 1, 2, 6


# -- waiting on humans ---------------------------------------------------------------------------


def _busy_pr(c: Canon) -> str:
    """Hand-worked: review requested 3 h + 2 h, approved 2 h + 12 h, CI green 12.5 h."""
    p = c.pr(20, author="alice", opened="2024-03-04 09:00", merged="2024-03-05 08:00", merge_sha="m20",
             head_sha="h2")
    c.event(p, "2024-03-04 10:00", "review_requested", "alice", reviewer="bob")
    c.event(p, "2024-03-04 11:00", "review_requested", "alice", reviewer="carol")  # overlaps: counted once
    c.event(p, "2024-03-04 12:00", "reviewed", "dependabot[bot]", state="commented")  # a bot: still waiting
    c.event(p, "2024-03-04 12:30", "reviewed", "alice", state="commented")  # the author: still waiting
    c.event(p, "2024-03-04 13:00", "reviewed", "bob", state="commented")  # 10:00 -> 13:00 = 3 h
    c.event(p, "2024-03-04 14:00", "review_requested", "alice", reviewer="carol")
    c.event(p, "2024-03-04 16:00", "reviewed", "carol", state="approved")  # 14:00 -> 16:00 = 2 h
    c.event(p, "2024-03-04 18:00", "reviewed", "bob", state="changes_requested")  # approved 16 -> 18 = 2 h
    c.event(p, "2024-03-04 20:00", "reviewed", "bob", state="approved")  # 20:00 -> merge 08:00 = 12 h
    # CI: an older head h1 passed early (ignored); on h2, "ci" passed at 19:00 and "lint" failed,
    # then passed on its rerun at 19:30: green from 19:30 to the merge at 08:00 = 12.5 h.
    c.ci_run(1, sha="h1", queued="2024-03-04 09:00", verdict_at="2024-03-04 09:10", ok=True)
    c.ci_run(2, sha="h2", queued="2024-03-04 18:30", verdict_at="2024-03-04 19:00", ok=True)
    c.ci_run(3, sha="h2", queued="2024-03-04 18:30", verdict_at="2024-03-04 19:10", ok=False, workflow="lint")
    c.ci_run(3, sha="h2", queued="2024-03-04 19:15", verdict_at="2024-03-04 19:30", ok=True, workflow="lint", attempt=2)
    return p


def test_waiting_on_humans_counts_each_state_by_hand(c):
    _busy_pr(c)
    w = report(c)["waiting_on_humans"]
    assert w["prs"] == 1
    assert w["states"]["review_requested"] == {"total_hours": 5.0, "prs": 1, "p50": 5.0, "p85": 5.0}
    assert w["states"]["approved_not_merged"]["total_hours"] == 14.0
    assert w["states"]["ci_green_not_merged"]["total_hours"] == 12.5


def test_waiting_per_week_splits_human_and_ai_with_percentiles(c):
    _busy_pr(c)
    # An AI-attributed PR the same week: review requested 1 h, approved 3 h, no CI on its head.
    p = c.pr(21, author="bob", opened="2024-03-06 09:00", merged="2024-03-06 14:00", merge_sha="m21", head_sha="h21")
    c.attribution(p, "codex")
    c.event(p, "2024-03-06 10:00", "review_requested", "bob")
    c.event(p, "2024-03-06 11:00", "reviewed", "carol", state="approved")
    # A human PR the next week whose CI never went green on its head: no CI-green stretch.
    q = c.pr(22, author="carol", opened="2024-03-11 09:00", merged="2024-03-11 12:00", merge_sha="m22", head_sha="h22")
    c.event(q, "2024-03-11 09:00", "review_requested", "carol")
    c.event(q, "2024-03-11 09:30", "reviewed", "alice", state="approved")
    c.ci_run(9, sha="h22", queued="2024-03-11 09:00", verdict_at="2024-03-11 09:20", ok=False)
    w = report(c)["waiting_on_humans"]
    assert w["prs"] == 3
    rr = w["states"]["review_requested"]  # 5, 1, 0.5
    assert rr["total_hours"] == 6.5 and rr["p50"] == 1.0 and rr["p85"] == pytest.approx(1 + 0.7 * 4)
    assert w["states"]["ci_green_not_merged"]["prs"] == 1
    assert w["by_group"]["ai"]["approved_not_merged"] == {"total_hours": 3.0, "prs": 1, "p50": 3.0, "p85": 3.0}
    assert w["by_group"]["human"]["approved_not_merged"]["total_hours"] == 14.0 + 2.5
    rows = {(r["week"], r["group"]): r for r in w["weekly"]}
    assert set(rows) == {("2024-W10", "human"), ("2024-W10", "ai"), ("2024-W11", "human")}
    assert rows[("2024-W10", "ai")]["review_requested_hours"] == 1.0
    assert rows[("2024-W11", "human")]["ci_green_not_merged_hours"] == 0.0
    assert rows[("2024-W10", "human")]["approved_not_merged_hours"] == 14.0


# -- DORA -------------------------------------------------------------------------------------------


def _dora_history(c: Canon) -> None:
    """Deployments A-E (production, successful), F a failed attempt, S staging.

    A 03-04 09:00 ships PR 1 (merged 08:00), reverted by PR 2 at 20:00 (+11 h)   -> failed
    B 03-04 15:00: an incident not linked to anything opens 03-05 09:00 (+18 h)   -> ok unless rule=repo
    C 03-06 10:00: hotfix PR 3 merged 20:00 (+10 h)                                -> failed
    F 03-07 12:00 deploy_failed
    D 03-19 10:00: incident linked to D opens 12:00 (+2 h)                         -> failed
    E 03-20 10:00: as of 03-20 20:00 it is younger than a 24 h window              -> pending
    """
    c.pr(1, author="alice", opened="2024-03-04 07:00", merged="2024-03-04 08:00", merge_sha="m1")
    c.pr(2, author="alice", opened="2024-03-04 19:00", merged="2024-03-04 20:00", merge_sha="m2", title="Revert PR 1")
    c.link("github:acme/api:pr:2", "github:acme/api:pr:1", "reverts")
    c.pr(3, author="bob", opened="2024-03-06 19:00", merged="2024-03-06 20:00", merge_sha="m3",
         title="Null check", branch="hotfix/null-check")
    c.deployment(1, sha="m1", at="2024-03-04 09:00")  # A
    c.deployment(2, sha="m1", at="2024-03-04 15:00")  # B
    c.deployment(3, sha="m2", at="2024-03-06 10:00")  # C
    c.deployment(4, sha="m2", at="2024-03-07 12:00", ok=False)  # F
    c.deployment(5, sha="m3", at="2024-03-19 10:00")  # D
    c.deployment(6, sha="m3", at="2024-03-20 10:00")  # E
    c.deployment(7, sha="m3", at="2024-03-05 10:00", production=False)  # S
    c.item("github:acme/api:issue:50", "incident", created="2024-03-05 09:00", state="open")
    c.item("github:acme/api:issue:51", "incident", created="2024-03-19 12:00", state="open")
    c.link("github:acme/api:issue:51", "github:acme/api:deployment:5", "caused_by")


AS_OF_DORA = datetime(2024, 3, 20, 20, 0)


def test_deployment_frequency_counts_production_deployment_days_per_week(c):
    _dora_history(c)
    d = report(c, AS_OF_DORA)["dora"]
    # days 03-04, 03-06, 03-19, 03-20 over ISO weeks 10, 11 (none), 12
    assert d["deployment_frequency"] == {"deployments": 5, "deployment_days": 4, "weeks": 3,
                                         "days_per_week": pytest.approx(4 / 3)}
    weekly = {w["week"]: w for w in d["weekly"]}
    assert list(weekly) == ["2024-W10", "2024-W11", "2024-W12"]  # the empty week is a zero, not a gap
    assert weekly["2024-W11"]["deployments"] == 0
    assert weekly["2024-W10"]["deployment_days"] == 2 and weekly["2024-W10"]["deployments"] == 3
    assert weekly["2024-W10"]["failed_attempts"] == 1
    assert [w["failed"] for w in d["weekly"]] == [2, 0, 1]  # A and C; D


def test_change_failure_rate_with_linked_incidents_and_a_24_hour_window(c):
    _dora_history(c)
    d = report(c, AS_OF_DORA)["dora"]
    assert d["change_failure_rate"] == {"rate": 0.75, "failed": 3, "judged": 4, "pending": 1}
    assert d["failure_window_hours"] == 24.0 and d["incident_rule"] == "linked"
    assert d["failed_attempts"] == 1


def test_change_failure_rate_counts_any_incident_in_the_repository_under_the_repo_rule(c):
    _dora_history(c)
    d = report(c, AS_OF_DORA, incident_rule="repo")["dora"]
    assert d["change_failure_rate"]["failed"] == 4 and d["change_failure_rate"]["rate"] == 1.0


def test_a_shorter_failure_window_misses_later_signals_and_judges_younger_deployments(c):
    _dora_history(c)
    d = report(c, AS_OF_DORA, window_hours=6)["dora"]
    # only D's incident (+2 h) is inside 6 h; E (10:00 + 6 h < 20:00) is now judged
    assert d["change_failure_rate"] == {"rate": 0.2, "failed": 1, "judged": 5, "pending": 0}


def test_recovery_runs_from_the_failed_deployment_to_the_next_success_after_the_failure(c):
    _dora_history(c)
    d = report(c, AS_OF_DORA)["dora"]
    # A -> C (after the 20:00 revert) 49 h; C -> D 312 h; D -> E 24 h; F -> D 286 h
    assert d["recovery_hours"]["n"] == 4 and d["recovery_hours"]["unrecovered"] == 0
    assert d["recovery_hours"]["p50"] == pytest.approx((49 + 286) / 2)
    assert d["recovery_hours"]["p85"] == pytest.approx(286 + 0.55 * 26)


# -- issues -----------------------------------------------------------------------------------------


def _issue(c: Canon, key: str, reported: str, **attrs) -> str:
    return c.item(f"github:acme/api:issue:{key}", "issue", created=reported, state="open", **attrs)


def test_bug_fix_cycle_to_merge_and_to_shipping(c):
    c.deployment(1, sha="zz", at="2024-02-01 00:00")
    c.item("github:acme/api:release:0", "release", created="2024-02-01 00:00", state="published", tag="v0", sha="yy")
    b1 = _issue(c, "1", "2024-03-01 10:00", labels=["bug"])
    b2 = _issue(c, "2", "2024-03-05 00:00", labels=[], type="bug")
    _issue(c, "3", "2024-03-07 00:00", labels=["type: bug"])  # never fixed
    f4 = _issue(c, "4", "2024-03-07 00:00", labels=["enhancement"])  # closed by a PR, not a bug
    b5 = _issue(c, "5", "2024-03-08 00:00", labels=[])  # a bug because a PR `fixes` it
    _issue(c, "6", "2024-03-08 00:00", labels=["debug-tools"])  # not a bug label
    for n, merged, sha, target, kind in ((10, "2024-03-02 10:00", "f1", b1, "fixes"),
                                         (11, "2024-03-05 12:00", "f2", b2, "closes"),
                                         (12, "2024-03-07 12:00", "f4", f4, "closes"),
                                         (13, "2024-03-08 06:00", "f5", b5, "fixes")):
        c.pr(n, author="alice", opened=merged, merged=merged, merge_sha=sha)
        c.link(f"github:acme/api:pr:{n}", target, kind)
    c.deployment(2, sha="f1", at="2024-03-03 10:00")
    c.item("github:acme/api:release:1", "release", created="2024-03-06 00:00", state="published", tag="v1", sha="f2")
    b = report(c)["issues"]["bug_fix"]
    assert b["bugs"] == 4 and b["fixed"] == 3
    assert b["fix_hours"] == {"p50": 12.0, "p85": pytest.approx(12 + 0.7 * 12), "n": 3}  # 6, 12, 24
    assert b["shipped_hours"] == {"p50": 36.0, "p85": pytest.approx(24 + 0.85 * 24), "n": 2}  # 24, 48


def test_ticket_cycle_runs_from_first_start_to_the_last_done_and_reopens_are_counted(c):
    def jira(key: str, moves: list[tuple[str, str, str]]) -> str:
        iid = c.item(f"jira:{key}", "issue", created="2024-03-01 00:00", state="open", source="jira")
        for at, frm, to in moves:
            c.event(iid, at, "transitioned", "alice", from_category=frm, to_category=to)
        return iid

    jira("J-1", [("2024-03-01 09:00", "new", "indeterminate"), ("2024-03-03 09:00", "indeterminate", "done")])
    jira("J-2", [("2024-03-02 00:00", "new", "indeterminate"), ("2024-03-02 12:00", "indeterminate", "done"),
                 ("2024-03-03 00:00", "done", "indeterminate"), ("2024-03-05 00:00", "indeterminate", "done")])
    jira("J-3", [("2024-03-02 00:00", "new", "indeterminate")])  # not done: no cycle, never closed
    g1 = _issue(c, "1", "2024-03-01 00:00")
    c.event(g1, "2024-03-02 00:00", "closed", "bob")
    c.event(g1, "2024-03-03 00:00", "reopened", "carol")
    g2 = _issue(c, "2", "2024-03-01 00:00")
    c.event(g2, "2024-03-02 00:00", "closed", "bob")
    g3 = _issue(c, "3", "2024-03-01 00:00")
    c.event(g3, "2024-03-02 00:00", "reopened", "bob")  # reopened without a close we saw: not counted
    i = report(c)["issues"]
    assert i["ticket_cycle_hours"] == {"p50": 60.0, "p85": pytest.approx(48 + 0.85 * 24), "n": 2}  # 48, 72
    assert i["reopen"] == {"closed": 4, "reopened": 2, "rate": 0.5}  # J-1, J-2*, G1*, G2


# -- CI ---------------------------------------------------------------------------------------------


def _ci_history(c: Canon) -> None:
    # s1: "ci" fails (10:02-10:12) then passes on attempt 2 (10:31-10:41): flaky; "lint" passes 10:01-10:05
    c.ci_run(1, sha="s1", queued="2024-03-04 10:00", started="2024-03-04 10:02", verdict_at="2024-03-04 10:12", ok=False)
    c.ci_run(1, sha="s1", queued="2024-03-04 10:30", started="2024-03-04 10:31", verdict_at="2024-03-04 10:41", ok=True,
             attempt=2)
    c.ci_run(2, sha="s1", queued="2024-03-04 10:00", started="2024-03-04 10:01", verdict_at="2024-03-04 10:05", ok=True,
             workflow="lint")
    c.ci_run(3, sha="s2", queued="2024-03-04 11:00", verdict_at="2024-03-04 11:30", ok=True)
    c.ci_run(4, sha="s3", queued="2024-03-04 12:00", started="2024-03-04 12:10", verdict_at="2024-03-04 12:20", ok=False)
    c.ci_run(5, sha="s4", queued="2024-03-04 13:00", verdict_at=None, ok=None)  # still running


def test_ci_feedback_latency_duration_and_flakiness_by_hand(c):
    _ci_history(c)
    x = report(c)["ci"]
    assert x["runs"] == 6 and x["shas"] == 4
    # latency per sha: s1 5 min (lint's verdict), s2 30 min, s3 20 min; s4 has none yet
    assert x["feedback_latency_hours"] == {"p50": pytest.approx(20 / 60), "p85": pytest.approx((20 + 0.7 * 10) / 60), "n": 3}
    # durations 4, 10, 10, 10, 30 min
    assert x["duration_hours"] == {"p50": pytest.approx(10 / 60), "p85": pytest.approx(18 / 60), "n": 5}
    assert x["flaky"] == {"pairs": 4, "flaky": 1, "share": 0.25}
    assert x["weekly"] == [{"week": "2024-W10", "week_start": "2024-03-04", "shas": 4,
                            "latency_p50_hours": pytest.approx(20 / 60), "flaky": 1, "verdict_pairs": 4}]


def test_empty_store_has_no_flow(c):
    assert report(c) is None


def test_validated_also_requires_the_merge_ci_to_have_passed_where_ci_ran(c):
    from loopmeter.metrics.changes import Window, changes

    _ci_history(c)
    for sha, done in (("s2", "2024-03-04 12:00"), ("s3", "2024-03-04 13:00"), ("s9", "2024-03-04 14:00"),
                      ("s5", "2024-03-04 15:00")):
        c.item(f"git:api:change:{sha}", "change", done=done, source="git", repo="api", author="alice", sha=sha)
    # s5 itself never ran CI, but the pull request it is the same as passed on its head s1 (after a rerun)
    c.pr(30, author="alice", opened="2024-03-04 09:00", merged="2024-03-04 15:00", merge_sha="s5", head_sha="s1")
    c.link("github:acme/api:pr:30", "git:api:change:s5", "same_as")
    con = backend(c.store)
    df = con.execute(changes(con, Window(as_of=AS_OF)))
    got = {r["item_id"].rsplit(":", 1)[1]: (r["merge_ci"], r["state"], bool(r["validated"])) for r in df.to_dict("records")}
    assert got == {
        "s2": ("passed", "validated", True),
        "s3": ("failed", "ci_failed", False),
        "s9": (None, "validated", True),  # no CI on it at all: unknown does not refute
        "s5": ("passed", "validated", True),
    }
    from loopmeter.metrics.summary import totals

    c.store.con.execute("insert into repos (repo, head_commits) values ('api', 4)")
    t = totals(con, Window(as_of=AS_OF))
    assert (t["validated_changes"], t["ci_failed_changes"], t["pending_changes"]) == (3, 1, 0)
    assert report(c)["ci"]["merge_ci"] == {"passed": 2, "failed": 1}


def test_lead_time_also_covers_git_changes_that_no_pull_request_stands_for(c):
    c.commit("a", [], "2024-03-01 00:00")
    c.commit("b", ["a"], "2024-03-02 00:00")
    c.commit("d", ["b"], "2024-03-03 00:00")
    c.deployment(1, sha="a", at="2024-03-01 01:00")
    c.deployment(2, sha="d", at="2024-03-03 12:00")
    # a direct push started 03-01 12:00, landed as b: shipped by deployment 2 -> 48 h
    c.item("git:api:change:b", "change", started="2024-03-01 12:00", done="2024-03-02 00:00", source="git",
           repo="api", author="alice", sha="b")
    # the git twin of PR 1 is counted once, through the PR (first commit 03-02 06:00 -> 36 h)
    c.item("git:api:change:d", "change", started="2024-03-02 00:00", done="2024-03-03 00:00", source="git",
           repo="api", author="alice", sha="d")
    c.pr(1, author="alice", first_commit="2024-03-02 00:00", opened="2024-03-02 06:00", merged="2024-03-03 00:00",
         merge_sha="d")
    c.link("github:acme/api:pr:1", "git:api:change:d", "same_as")
    # a bot's direct push is left out
    c.item("git:api:change:a", "change", started="2024-02-28 00:00", done="2024-03-01 00:00", source="git",
           repo="api", author="dependabot[bot]", sha="a")
    lead = report(c)["dora"]["lead_time_hours"]
    assert lead == {"p50": 42.0, "p85": pytest.approx(36 + 0.85 * 12), "n": 2}  # 36, 48


def test_a_deployment_that_failed_then_succeeded_ships_at_its_success(c):
    c.deployment(1, sha="old", at="2024-03-01 00:00")
    d = c.deployment(2, sha="m40", at="2024-03-05 10:00", ok=False)
    c.event(d, "2024-03-05 12:00", "deployed", None, environment="production", sha="m40")  # a retried status
    c.pr(40, author="alice", opened="2024-03-04 00:00", merged="2024-03-05 00:00", merge_sha="m40")
    assert prs(c)[40]["deploy"] == 12.0
    freq = report(c)["dora"]["deployment_frequency"]
    assert freq["deployments"] == 2 and freq["deployment_days"] == 2


def test_a_success_state_without_a_status_time_ships_nothing_for_lead_time_or_frequency(c):
    # A source that gives only a final state: `success` with no status event ships at done_at. One
    # with no done_at either has no ship time: neither the deploy phase nor the DORA counts may
    # invent one from its creation time (the same rule, deploys.production_attempts_sql, for both).
    c.deployment(1, sha="old", at="2024-03-01 00:00")
    c.item("github:acme/api:deployment:2", "deployment", created="2024-03-02 00:00", state="success", sha="m41",
           environment="production", production=True)
    c.item("github:acme/api:deployment:3", "deployment", created="2024-03-03 00:00", done="2024-03-03 06:00",
           state="success", sha="m42", environment="production", production=True)
    c.pr(41, author="alice", opened="2024-03-01 00:00", merged="2024-03-01 12:00", merge_sha="m41")
    c.pr(42, author="alice", opened="2024-03-01 00:00", merged="2024-03-02 12:00", merge_sha="m42")
    r = prs(c, datetime(2024, 3, 10))
    assert r[41]["deploy"] is None and r[42]["deploy"] == 18.0
    d = report(c, datetime(2024, 3, 10))["dora"]
    assert d["deployment_frequency"]["deployments"] == 2 and d["deployment_frequency"]["deployment_days"] == 2
    assert d["failed_attempts"] == 0


def test_a_pending_deployment_is_neither_shipped_nor_failed(c):
    c.deployment(1, sha="a", at="2024-03-01 00:00")
    c.item("github:acme/api:deployment:2", "deployment", created="2024-03-02 00:00", state="pending", sha="b",
           environment="production", production=True)
    d = report(c, datetime(2024, 3, 10))["dora"]
    assert d["deployment_frequency"]["deployments"] == 1 and d["failed_attempts"] == 0
    assert d["change_failure_rate"] == {"rate": 0.0, "failed": 0, "judged": 1, "pending": 0}


def test_a_git_hotfix_counts_for_the_repository_that_deployed_it_and_a_fix_link_blames_nothing(c):
    c.commit("a", [], "2024-03-01 00:00")
    c.commit("b", ["a"], "2024-03-02 00:00")
    c.commit("h", ["b"], "2024-03-02 18:00")
    c.deployment(1, sha="a", at="2024-03-01 00:00")
    c.deployment(2, sha="b", at="2024-03-02 10:00")
    c.deployment(3, sha="h", at="2024-03-03 09:00")
    # the hotfix is a git change (repository "api"), shipped by deployment 3 of "acme/api"
    c.item("git:api:change:h", "change", done="2024-03-02 18:00", source="git", repo="api", title="Hotfix: crash",
           sha="h")
    # an incident opened after deployment 3 that h fixes: h is its cure, so deployment 3 did not fail
    c.item("github:acme/api:issue:70", "incident", created="2024-03-03 12:00", state="open")
    c.link("git:api:change:h", "github:acme/api:issue:70", "fixes")
    d = report(c, datetime(2024, 3, 10))["dora"]
    assert d["change_failure_rate"] == {"rate": pytest.approx(1 / 3), "failed": 1, "judged": 3, "pending": 0}
    assert d["recovery_hours"] == {"p50": 23.0, "p85": 23.0, "n": 1, "unrecovered": 0}  # 10:00 -> next day 09:00


def test_the_intermediate_tables_do_not_outlive_the_report(c):
    _ci_history(c)
    c.pr(1, author="alice", opened="2024-03-04 00:00", merged="2024-03-04 12:00", merge_sha="s1")
    assert report(c) is not None
    left = c.store.con.execute("select view_name from duckdb_views() where view_name like '%lm%'").fetchall()
    assert left == []


def test_a_report_on_some_repositories_takes_only_their_tracker_and_deployment_items(c):
    c.commit("a", [], "2024-03-01 00:00")  # git repository "api"
    c.item("git:api:change:a", "change", done="2024-03-04 12:00", source="git", repo="api", sha="a")
    c.pr(1, author="alice", opened="2024-03-04 00:00", merged="2024-03-04 12:00", merge_sha="a")
    c.link("github:acme/api:pr:1", "git:api:change:a", "same_as")  # acme/api is api's tracker
    c.pr(2, author="bob", opened="2024-03-04 00:00", merged="2024-03-04 12:00", merge_sha="w", repo="acme/web")
    c.deployment(1, sha="a", at="2024-03-05 00:00", repo="acme/deploys")  # ships a commit of api
    c.deployment(2, sha="w", at="2024-03-05 00:00", repo="acme/web")
    c.item("github:acme/api:issue:1", "issue", created="2024-03-01 00:00", state="open", labels=["bug"])
    c.item("github:acme/web:issue:1", "issue", created="2024-03-01 00:00", state="open", labels=["bug"],
           repo="acme/web")
    con = backend(c.store)
    scoped = flow(c.store, con, AS_OF, None, ["api"])
    assert scoped["pr_cycle"]["merged"] == 1
    assert scoped["dora"]["deployment_frequency"]["deployments"] == 1
    assert scoped["issues"]["bug_fix"]["bugs"] == 1
    whole = flow(c.store, con, AS_OF)
    assert (whole["pr_cycle"]["merged"], whole["dora"]["deployment_frequency"]["deployments"],
            whole["issues"]["bug_fix"]["bugs"]) == (2, 2, 2)
    assert flow(c.store, con, AS_OF, None, ["elsewhere"]) is None


def test_a_release_that_names_a_branch_ships_the_commit_of_its_git_tag(c):
    c.commit("t0", [], "2024-02-01 00:00")
    c.commit("f9", ["t0"], "2024-03-02 00:00")
    c.commit("t1", ["f9"], "2024-03-03 00:00")
    c.store.con.execute("insert into git_tags values ('api', 'v0', 't0', null), ('api', 'v1', 't1', null)")
    c.item("github:acme/api:release:0", "release", created="2024-02-01 00:00", state="published", tag="v0", target="main")
    c.item("github:acme/api:release:1", "release", created="2024-03-04 00:00", state="published", tag="v1", target="main")
    bug = c.item("github:acme/api:issue:9", "issue", created="2024-03-01 00:00", state="open", labels=["bug"])
    c.pr(9, author="alice", opened="2024-03-01 12:00", merged="2024-03-02 00:00", merge_sha="f9")
    c.link("github:acme/api:pr:9", bug, "fixes")
    b = report(c)["issues"]["bug_fix"]
    assert b["fix_hours"]["p50"] == 24.0 and b["shipped_hours"]["p50"] == 72.0  # released 03-04 00:00


def test_a_review_asked_of_an_ai_reviewer_does_not_wait_on_a_person(c):
    p = c.pr(23, author="alice", opened="2024-03-04 09:00", merged="2024-03-04 20:00", merge_sha="m23")
    c.event(p, "2024-03-04 10:00", "review_requested", "alice", reviewer="copilot-reviewer")
    c.event(p, "2024-03-04 10:10", "reviewed", "copilot-reviewer", state="commented")
    c.event(p, "2024-03-04 12:00", "review_requested", "alice", reviewer="bob")
    c.event(p, "2024-03-04 15:00", "reviewed", "bob", state="approved")
    st = report(c)["waiting_on_humans"]["states"]
    assert st["review_requested"]["total_hours"] == 3.0  # only bob's: 12:00 -> 15:00
    assert st["approved_not_merged"]["total_hours"] == 5.0

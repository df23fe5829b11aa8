"""Flow metrics through the real GitHub source: the hand-written fixture repository acme/widgets
(tests/fixtures/github/, served by a real HTTP server on 127.0.0.1) ingested, then measured.

Worked by hand from the fixture (times UTC):
  PR #2 alice, claude/ branch (AI): first commit 02-28 14:00, opened 03-01 10:00 (coding 44 h: 2024 has a 29 February);
     review requested 10:05; bob comments 03-02 09:00 (pickup 23 h), requests changes 09:30
     (review requested for 23 h 25 min), approves 03-03 11:00; merged 15:00 as 2222... (review 30 h,
     approved-not-merged 4 h). Deployment 401 (production, success 03-04 08:10) ships 2222..., but it
     is the repository's first production deployment we can see, so PR #2's deploy phase is unknown.
  PR #3 Copilot (an agent): first commit 03-04 08:30, opened as draft 09:00 (coding 30 min), ready
     12:00 (draft 3 h), review requested 12:01; a bot's comment does not pick it up; alice approves
     03-05 10:00 (pickup 22 h, review requested 21 h 59 min), merged 16:00 (review 6 h, approved 6 h).
     CI on its head c3a...: attempt 1 failed 12:08, attempt 2 passed 13:06, so green from 13:06 to
     the merge: 26 h 54 min. It merged without a production deployment (402 is staging).
  CI: c3a... queued 12:02, first verdict 12:08 (6 min); 3333... 16:01 -> 16:09 (8 min); run 103 still
     running. Durations 6, 6, 8 min. (c3a..., CI) failed then passed: flaky, 1 of 2.
  Issue #6 (bug) reported 03-02 08:00, fixed by PR #3 ("Fixes #6") merged 03-05 16:00: 80 h; closed
     03-05, reopened 03-07: 1 of 1 closed issues reopened.
"""

from __future__ import annotations

from datetime import datetime

import apiserver
import pytest

from loopmeter import api
from loopmeter.metrics.changes import backend
from loopmeter.metrics.flow import flow
from loopmeter.store.db import Store

TOKEN = "ghp_TESTtoken0123456789abcdefSECRET"
AS_OF = datetime(2024, 3, 20)


@pytest.fixture
def doc(tmp_path, monkeypatch):
    monkeypatch.setenv("LM_FLOW_TOKEN", TOKEN)
    store_path = tmp_path / "lm.duckdb"
    with apiserver.FixtureServer("github", token=TOKEN) as server:
        api.ingest_github(["acme/widgets"], store_path=store_path, url=server.url, token_env="LM_FLOW_TOKEN",
                          sleep=lambda s: None)
    with Store.open(store_path) as store:
        return flow(store, backend(store), AS_OF)


def test_pr_phases_from_the_github_source(doc):
    pr = doc["pr_cycle"]
    assert pr["pull_requests"] == 3 and pr["bot_pull_requests"] == 1  # #1 #2 #3; dependabot's #5
    assert pr["merged"] == 2 and pr["merged_without_review"] == 0 and pr["deployed"] == 0
    ph = pr["phases_hours"]
    assert ph["coding"]["p50"] == pytest.approx((44 + 0.5) / 2)
    assert ph["draft"]["p50"] == pytest.approx(1.5)  # 0 (not a draft) and 3
    assert ph["pickup"]["p50"] == pytest.approx(22.5)  # 23 and 22
    assert ph["review"]["p50"] == pytest.approx(18.0)  # 30 and 6
    assert ph["deploy"] == {"p50": None, "p85": None, "n": 0, "unknown": 2}
    assert pr["by_group"]["ai"]["merged"] == 2  # a claude/ branch and the Copilot agent


def test_waiting_on_humans_from_the_github_source(doc):
    st = doc["waiting_on_humans"]["states"]
    assert st["review_requested"]["total_hours"] == pytest.approx(23 + 25 / 60 + 21 + 59 / 60)
    assert st["approved_not_merged"]["total_hours"] == pytest.approx(4 + 6)
    assert st["ci_green_not_merged"] == {"total_hours": pytest.approx(26.9), "prs": 1,
                                         "p50": pytest.approx(26.9), "p85": pytest.approx(26.9)}


def test_dora_ci_and_issues_from_the_github_source(doc):
    d = doc["dora"]
    assert d["deployment_frequency"] == {"deployments": 1, "deployment_days": 1, "weeks": 1, "days_per_week": 1.0}
    assert d["change_failure_rate"] == {"rate": 0.0, "failed": 0, "judged": 1, "pending": 0}
    assert d["failed_attempts"] == 0  # 402 failed, but on staging
    ci = doc["ci"]
    assert ci["runs"] == 4 and ci["shas"] == 3
    assert ci["feedback_latency_hours"] == {"p50": pytest.approx(7 / 60), "p85": pytest.approx((6 + 0.85 * 2) / 60), "n": 2}
    assert ci["duration_hours"]["p50"] == pytest.approx(6 / 60)
    assert ci["flaky"] == {"pairs": 2, "flaky": 1, "share": 0.5}
    bug = doc["issues"]["bug_fix"]
    assert (bug["bugs"], bug["fixed"], bug["fix_hours"]["p50"]) == (1, 1, 80.0)
    assert doc["issues"]["reopen"] == {"closed": 1, "reopened": 1, "rate": 1.0}

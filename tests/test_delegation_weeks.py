"""The before/after design counts an agent account's work as its delegators' (metrics/delegation.py):
in the weekly contributor panel (validated changes per contributor-week) and in the change
frame's clusters, on a real git repository with hand-worked counts.

Weeks (Mondays) of January 2024: W1 = Jan 1, W2 = Jan 8, W3 = Jan 15, W4 = Jan 22; adoption Jan 8.

- Ann, Bob and Cat each land a change of their own in W1; Cat another in W3, and in W3 she merges a
  branch she began in W1 on which the agent pushed a commit in W2 (her change, the agent's commit).
- The Copilot account lands five changes:
  a1 (W2) and a2 (W3) with Ann's Co-authored-by trailer (merged from the web);
  b1 (W2) committed by Bob (he landed it by hand);
  b2 authored in W3, landed by Bob in W4;
  n1 (W4) merged from the web with nothing saying who asked for it.

Delegated panel (repo, person, week: validated): Ann W1 1, W2 1, W3 1; Bob W1 1, W2 1, W3 0 (the
agent's commit of b2), W4 1; Cat W1 1, W2 0 (the agent's commit on her branch), W3 2; the agent
W4 1 (n1). Before: 3 validated in 3 contributor-weeks; after: 7 in 8, a ratio of 7/8. Taking the
agent as an author instead: after, agent W2 2, W3 1, W4 2 and Cat W3 2: 7 in 4, a ratio of 1.75
-- the distortion this fixes.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from gitrepo import GitRepo

import loopmeter
from loopmeter.api import lift
from loopmeter.lift.inputs import weekly_activity
from loopmeter.lift.results import CYCLE, THROUGHPUT
from loopmeter.metrics.changes import Window, backend
from loopmeter.store.db import Store

COPILOT = ("Copilot", "198982749+Copilot@users.noreply.github.com")
AGENT_TRAILER = "Co-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>"
WEB = ("GitHub", "noreply@github.com")
ANN, BOB, CAT = ("Ann", "ann@example.com"), ("Bob", "bob@example.com"), ("Cat", "cat@example.com")
AS_OF = datetime(2024, 3, 1)
W1, W2, W3, W4 = date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15), date(2024, 1, 22)


def _at(day: int, hour: int) -> str:
    return f"2024-01-{day:02d}T{hour:02d}:00:00+00:00"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("delegation_weeks")
    repo = GitRepo(root / "repo")
    repo.commit("Ann's own change", author=ANN, date=_at(2, 8), commit_date=_at(2, 12))
    repo.commit("Bob's own change", author=BOB, date=_at(3, 8), commit_date=_at(3, 13))
    repo.commit("Cat's own change", author=CAT, date=_at(4, 8), commit_date=_at(4, 14))
    asked_by_ann = f"\n\n{AGENT_TRAILER}\nCo-authored-by: {ANN[0]} <{ANN[1]}>\n"
    repo.commit(f"Agent task a1 (#11){asked_by_ann}", author=COPILOT, committer=WEB, date=_at(9, 6),
                commit_date=_at(9, 9))
    repo.commit(f"Agent task b1\n\n{AGENT_TRAILER}\n", author=COPILOT, committer=BOB, date=_at(10, 6),
                commit_date=_at(10, 10))
    repo.commit(f"Agent task a2 (#12){asked_by_ann}", author=COPILOT, committer=WEB, date=_at(16, 6),
                commit_date=_at(16, 11))
    repo.commit("Cat's second change", author=CAT, date=_at(17, 8), commit_date=_at(17, 15))
    repo.checkout("cat-feature", new=True)
    repo.commit("Cat starts a feature", author=CAT, date=_at(3, 9))
    repo.commit("Apply review suggestion", author=COPILOT, date=_at(10, 9))
    repo.checkout("main")
    repo.merge("cat-feature", "Merge pull request #14 from cat/feature", date=_at(18, 9))
    repo.commit(f"Agent task b2\n\n{AGENT_TRAILER}\n", author=COPILOT, committer=BOB, date=_at(19, 6),
                commit_date=_at(23, 10))
    repo.commit("Agent task n1 (#13)", author=COPILOT, committer=WEB, date=_at(24, 6), commit_date=_at(24, 12))
    path = root / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=path)
    return path


def _who(s) -> dict[str, str]:
    """actor id -> name, from the store's commits."""
    return dict(s.con.execute("select author_id, author_name from commits").fetchall())


def _panel(s, delegated: bool) -> dict[tuple[str, date], int]:
    con = backend(s)
    act = weekly_activity(con, Window(as_of=AS_OF), None, delegated=delegated)
    who = _who(s)
    # The panel holds salt-free keys: "<first item or commit id>\x00<actor id>".
    return {(who[a.split("\x00")[-1]], w): int(v) for a, w, v in zip(act["author_id"], act["week"], act["validated"])}


def test_the_weekly_panel_puts_an_agents_work_in_its_delegators_weeks(store):
    with Store.open(store, create=False, read_only=True) as s:
        delegated, own = _panel(s, True), _panel(s, False)
    assert delegated == {("Ann", W1): 1, ("Ann", W2): 1, ("Ann", W3): 1,
                         ("Bob", W1): 1, ("Bob", W2): 1, ("Bob", W3): 0, ("Bob", W4): 1,
                         ("Cat", W1): 1, ("Cat", W2): 0, ("Cat", W3): 2,
                         ("Copilot", W4): 1}
    # The account as its own author (what the design used to count).
    assert own == {("Ann", W1): 1, ("Bob", W1): 1, ("Cat", W1): 1, ("Cat", W3): 2,
                   ("Copilot", W2): 2, ("Copilot", W3): 1, ("Copilot", W4): 2}
    # Nothing is lost or invented: the same validated changes either way.
    assert sum(delegated.values()) == sum(own.values()) == 10


def test_the_before_after_design_counts_delegators_and_says_how_many_moved(store):
    doc = lift(store_path=store, design="before-after", adoption_dates=["2024-01-08"], as_of=AS_OF, n_boot=50,
               seed=1)
    c = doc["clusters"]
    assert (c["agent_changes"], c["co_author"], c["committer"], c["merger"], c["kept_agent"]) == (5, 2, 2, 0, 1)
    assert c["agent_contributor_weeks"] == 1  # n1's week: no person found for it
    row = next(r for r in doc["results"] if r["metric"] == THROUGHPUT and r["estimator"] == "ratio_of_rates")
    assert row["ratio"] == pytest.approx((7 / 8) / (3 / 3))
    assert (row["n_clusters_a"], row["n_clusters_b"]) == (4, 3)  # Ann, Bob, Cat and the agent after; three before
    weeks = {s["event_week"]: (s["validated"], s["contributor_weeks"]) for s in doc["weekly"]}
    assert weeks[-1] == (3, 3) and weeks[0] == (2, 3) and weeks[1] == (3, 3) and weeks[2] == (2, 2)
    # The cycle-time clusters: three people and the agent account's one unexplained change.
    cyc = next(r for r in doc["results"] if r["metric"] == CYCLE and r["estimator"] == "log_duration_regression_size")
    assert cyc["n_clusters"] == 4

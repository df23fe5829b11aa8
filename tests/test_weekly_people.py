"""The weekly table's people (`weekly.contributors`, `validated_per_contributor`) and the totals'
contributors are the lift's contributor-weeks: an agent account's work counts in the weeks of the
person who delegated it (metrics/delegation.py), and the weeks the account keeps in its own name
(a change no person was found for) are no person's. Hand-counted on a real git repository.

Weeks (Mondays) of January 2024: W1 = Jan 1, W2 = Jan 8, W3 = Jan 15; adoption Jan 8.

- W1: Ann and Bob each land a change of their own.
- W2: the Copilot account lands a1 with Ann's Co-authored-by trailer (Ann commits nothing herself
  that week) and b1 with Bob's, and Bob lands a change of his own.
- W3: Ann lands a change of her own; the Copilot account lands d1 with Dee's trailer (Dee never
  commits), e1 with Bob's (Bob commits nothing himself that week) and n1 with nothing saying who
  asked for it.

People per week: W1 Ann, Bob (2 validated); W2 Ann (a1), Bob (b1 and his own: one week) -- 3
validated in 2; W3 Ann, Dee, Bob -- 3 credited (n1 is nobody's) in 3. The account as a person
(what the table counted before): W2 Copilot, Bob (3 in 2); W3 Copilot, Ann (4 in 2).
The lift's contributor-weeks: W1 2, W2 2, W3 4 (Ann, Dee, Bob and the account's week of n1) = 8,
of which 1 is the account's own: 2 + 2 + 3 = 8 - 1.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from gitrepo import GitRepo

import loopmeter
from loopmeter.api import report_from_store
from loopmeter.lift.results import THROUGHPUT

COPILOT = ("Copilot", "198982749+Copilot@users.noreply.github.com")
AGENT_TRAILER = "Co-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>"
WEB = ("GitHub", "noreply@github.com")
ANN, BOB, DEE = ("Ann", "ann@example.com"), ("Bob", "bob@example.com"), ("Dee", "dee@example.com")
AS_OF = datetime(2024, 3, 1)
ADOPTION = "2024-01-08"


def _at(day: int, hour: int) -> str:
    return f"2024-01-{day:02d}T{hour:02d}:00:00+00:00"


def _asked_by(who: tuple[str, str]) -> str:
    return f"\n\n{AGENT_TRAILER}\nCo-authored-by: {who[0]} <{who[1]}>\n"


def build_store(root: Path) -> Path:
    """The repository above, ingested; returns the store's path."""
    repo = GitRepo(root / "repo")
    repo.commit("Ann's change", author=ANN, date=_at(2, 8), commit_date=_at(2, 12))
    repo.commit("Bob's change", author=BOB, date=_at(3, 8), commit_date=_at(3, 13))
    repo.commit(f"Agent task a1 (#11){_asked_by(ANN)}", author=COPILOT, committer=WEB, date=_at(9, 6),
                commit_date=_at(9, 9))
    repo.commit(f"Agent task b1 (#12){_asked_by(BOB)}", author=COPILOT, committer=WEB, date=_at(10, 6),
                commit_date=_at(10, 9))
    repo.commit("Bob's second change", author=BOB, date=_at(11, 8), commit_date=_at(11, 12))
    repo.commit("Ann's second change", author=ANN, date=_at(16, 8), commit_date=_at(16, 12))
    repo.commit(f"Agent task d1 (#13){_asked_by(DEE)}", author=COPILOT, committer=WEB, date=_at(17, 6),
                commit_date=_at(17, 9))
    repo.commit(f"Agent task e1 (#15){_asked_by(BOB)}", author=COPILOT, committer=WEB, date=_at(18, 2),
                commit_date=_at(18, 4))
    repo.commit("Agent task n1 (#14)", author=COPILOT, committer=WEB, date=_at(18, 6), commit_date=_at(18, 9))
    path = root / "lm.duckdb"
    loopmeter.ingest([repo.path], store_path=path)
    return path


#: (week_start, validated, contributors, validated_per_contributor), by hand (the module's docstring).
WEEKS = [("2024-01-01", 2, 2, 2 / 2), ("2024-01-08", 3, 2, 3 / 2), ("2024-01-15", 4, 3, 3 / 3)]


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    path = build_store(tmp_path_factory.mktemp("weekly_people"))
    return report_from_store(store_path=path, as_of=AS_OF, adoption_date=ADOPTION, by="repo")


def test_weekly_people_are_the_delegators_not_the_agent_account(doc):
    got = [(w["week_start"], w["validated"], w["contributors"], w["validated_per_contributor"]) for w in doc["weekly"]]
    assert got == WEEKS
    # Ann, Bob and Dee: Dee is a person through the change she asked for, with no commit of her own.
    assert doc["totals"]["contributors"] == 3


def test_weekly_contributor_weeks_are_the_lifts_exposure_less_the_agent_accounts_own(doc):
    ba = next(d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after")
    row = next(r for r in ba["results"] if r["metric"] == THROUGHPUT and r["estimator"] == "ratio_of_rates")
    period = next(iter(row["periods"].values()))
    assert (period["before_from"], period["adoption"], period["after_until"]) == ("2024-01-01", "2024-01-08",
                                                                                   "2024-01-22")
    exposure = sum(s["contributor_weeks"] for s in ba["weekly"])
    assert exposure == 8
    in_periods = [w for w in doc["weekly"] if period["before_from"] <= w["week_start"] < period["after_until"]]
    assert sum(w["contributors"] for w in in_periods) == exposure - ba["clusters"]["agent_contributor_weeks"] == 7
    # Per week too: the table's people are the lift's contributor-weeks but for the account's week of n1.
    lift_weeks = {s["week_start"]: s["contributor_weeks"] for s in ba["weekly"]}
    assert {w["week_start"]: w["contributors"] for w in in_periods} == {**lift_weeks, "2024-01-15": 4 - 1}


def _agent_fix_on_ann_s_change(tmp_path: Path) -> Path:
    """Bob's base commit; Ann's pull request, to which the agent pushes a fix the week after her
    commit, merged the week after; Bob's change. No change is delegated to the agent."""
    ann, bob = ("Ann", "ann@example.com"), ("Bob", "bob@example.com")
    r = GitRepo(tmp_path / "repo")
    r.commit("base", author=bob, date="2023-12-27T09:00:00+00:00")
    r.checkout("feature", new=True)
    r.commit("Ann's work", author=ann, date="2024-01-02T09:00:00+00:00")
    r.commit("Fix tests", author=COPILOT, date="2024-01-09T09:00:00+00:00")
    r.checkout("main")
    r.merge("feature", "Merge pull request #5 from ann/feature", date="2024-01-16T09:00:00+00:00")
    r.commit("Bob's change", author=bob, date="2024-01-17T09:00:00+00:00")
    store = tmp_path / "lm.duckdb"
    loopmeter.ingest([r.path], store_path=store)
    return store


def test_an_agent_fix_on_a_person_s_own_change_is_that_person_s_week_with_no_delegation_at_all(tmp_path):
    # No change in this store is delegated to the agent: its one commit, a fix pushed to Ann's
    # pull request in the week of 2024-01-08 (she did not commit that week), is still Ann's week.
    # By hand: 2023-12-25 Bob (base); 2024-01-01 Ann (her work); 2024-01-08 Ann (the agent's fix on
    # her change); 2024-01-15 Ann (the merge lands her change) and Bob (his change): 1, 1, 1, 2.
    store = _agent_fix_on_ann_s_change(tmp_path)
    d = report_from_store(store_path=store, as_of=datetime(2024, 3, 1))
    assert [(w["week_start"], w["contributors"]) for w in d["weekly"]] == [
        ("2023-12-25", 1), ("2024-01-01", 1), ("2024-01-08", 1), ("2024-01-15", 2)]
    assert d["totals"]["contributors"] == 2


def test_in_a_team_slice_the_agent_s_fix_is_the_team_s_week(tmp_path, monkeypatch):
    # The history above with Ann in team `core`: her slice holds the week of the agent's fix on her
    # change (2024-01-08, hers), `unassigned` holds Bob's weeks only; together they are the whole.
    from loopmeter.config import load_config

    store = _agent_fix_on_ann_s_change(tmp_path)
    (tmp_path / "loopmeter.toml").write_text('[[team]]\nname = "core"\nmembers = ["ann@example.com"]\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(tmp_path / "loopmeter.toml")

    def weeks(team):
        d = report_from_store(store_path=store, as_of=datetime(2024, 3, 1), team=team, config=config)
        return [(w["week_start"], w["contributors"]) for w in d["weekly"] if w["contributors"]]

    assert weeks("core") == [("2024-01-01", 1), ("2024-01-08", 1), ("2024-01-15", 1)]
    assert weeks("unassigned") == [("2023-12-25", 1), ("2024-01-15", 1)]

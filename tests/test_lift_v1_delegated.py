"""The summary lift's throughput (v1, `doc["lift"]`) counts contributor-weeks on the lift designs'
panel: a Copilot-style agent account's work is in the weeks of the person who delegated it, and the
account keeps only the week of the change no person was found for, as in the before-after design.

The repository is tests/test_weekly_people.py's (its docstring tells the weeks); adoption Jan 8.
Hand-counted, (validated, contributor-weeks):

- before, W1 (Jan 1): Ann (1, 1), Bob (1, 1) -> 2 validated in 2 weeks.
- after, W2 (Jan 8): Ann through a1 (1, 1), Bob through b1 and his own change (2, 1);
  W3 (Jan 15): Ann (1, 1), Dee through d1 (1, 1), Bob through e1 (1, 1), the account's n1 (1, 1)
  -> 7 validated in 6 weeks.

Rate ratio (7 / 6) / (2 / 2) = 7/6 over 4 clusters (Ann, Bob, Dee, the account). With the account
as one contributor (what v1 counted before) the after period was 7 in 4 weeks (W2 the account and
Bob, W3 the account and Ann): 1.75.
"""

from __future__ import annotations

import pytest
from test_weekly_people import ADOPTION, AS_OF, build_store

from loopmeter.api import report_from_store
from loopmeter.lift.results import THROUGHPUT


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    path = build_store(tmp_path_factory.mktemp("v1_delegated"))
    return report_from_store(store_path=path, as_of=AS_OF, adoption_date=ADOPTION)


def _v1(doc) -> dict:
    return next(e for e in doc["lift"] if e["metric"] == THROUGHPUT)


def test_v1_counts_delegated_work_in_the_delegators_weeks(doc):
    v1 = _v1(doc)
    assert (v1["before_from"], v1["adoption_date"], v1["after_until"]) == ("2024-01-01", ADOPTION, "2024-01-22")
    assert (v1["n_a"], v1["n_b"], v1["n_clusters"]) == (7, 2, 4)
    # Exposure is what the rates were divided by: events / rate.
    assert v1["n_a"] / v1["rate_a"] == pytest.approx(6, rel=1e-12)
    assert v1["n_b"] / v1["rate_b"] == pytest.approx(2, rel=1e-12)
    assert v1["ratio"] == pytest.approx((7 / 6) / (2 / 2), rel=1e-12)


def test_v1_events_and_exposure_are_the_before_after_designs(doc):
    v1 = _v1(doc)
    ba = next(d for d in doc["lift_designs"]["designs"] if d["design"] == "before-after")
    row = next(r for r in ba["results"] if r["metric"] == THROUGHPUT and r["estimator"] == "ratio_of_rates")
    after = sum(s["contributor_weeks"] for s in ba["weekly"] if s["event_week"] >= 0)
    before = sum(s["contributor_weeks"] for s in ba["weekly"] if s["event_week"] < 0)
    assert (after, before) == (6, 2)
    assert v1["n_a"] / v1["rate_a"] == pytest.approx(after, rel=1e-12)
    assert v1["n_b"] / v1["rate_b"] == pytest.approx(before, rel=1e-12)
    # The account's own week (n1) is one of the design's contributor-weeks, and one of v1's.
    assert ba["clusters"]["agent_contributor_weeks"] == 1
    assert (v1["n_a"], v1["n_b"]) == (row["n_a"], row["n_b"])
    assert v1["ratio"] == pytest.approx(row["ratio"], rel=1e-12)

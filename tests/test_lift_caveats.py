"""Each computed caveat fires on data built to trigger it and stays silent on data built not to."""

from __future__ import annotations

import numpy as np
import pytest

from loopmeter.lift import checks as cv
from loopmeter.stats.lift import ratio_of_quantiles

LABELS = ("the period after adoption", "the period before adoption")


def test_too_few_names_the_small_group_and_the_few_authors():
    c = cv.too_few(12, 300, 4, LABELS)
    assert c is not None and c.code == "too_few"
    assert "the period after adoption has only 12 items" in c.text
    assert "only 4 authors" in c.text  # the minimum is on people, whatever the interval is clustered by
    assert "before adoption has only" not in c.text


def test_too_few_is_silent_at_the_thresholds():
    assert cv.too_few(20, 20, 10, LABELS) is None


def test_unknown_durations_are_counted_not_hidden():
    c = cv.unknown_durations(30, 120)
    assert c is not None and "30 of 120 changes (25%)" in c.text and "never counted as zero" in c.text
    assert cv.unknown_durations(0, 120) is None


def test_size_mismatch_fires_when_medians_differ_and_shows_the_adjusted_estimate():
    rng = np.random.default_rng(1)
    big = rng.lognormal(np.log(200), 0.3, 200)
    small = rng.lognormal(np.log(40), 0.3, 200)
    c = cv.size_mismatch(big, small, LABELS, {"ratio": 0.91, "ci_low": 0.8, "ci_high": 1.04})
    assert c is not None and c.code == "size_mismatch"
    assert "Adjusted for size (log lines) the ratio is 0.91x [0.80, 1.04]" in c.text
    # The ratio printed is the ratio of the medians, worked out independently.
    assert f"({np.median(big) / np.median(small):.2f}x)" in c.text


def test_size_mismatch_is_silent_for_similar_sizes_and_ignores_unknown_sizes():
    rng = np.random.default_rng(2)
    a = np.append(rng.lognormal(np.log(50), 0.3, 200), [np.nan] * 50)
    b = rng.lognormal(np.log(55), 0.3, 200)
    assert cv.size_mismatch(a, b, LABELS) is None
    # No known size on one side: the check did not run (never "looked, fine").
    assert cv.size_mismatch([np.nan], b, LABELS) == cv.NotRun("size_mismatch", "A group has no change with a known size.")


@pytest.mark.parametrize(
    ("sizes_a", "sizes_b", "fires"),
    [
        ([0, 0, 0], [1, 1, 1], True),  # medians 0 vs 1 line: no finite ratio, so "more than 1.5x"
        ([0, 1], [1, 1, 1], True),  # 0.5 vs 1 line: 2x
        ([0, 0], [0, 0, 0], False),  # equal medians
        ([100, 100], [66, 67, 68], False),  # 1.49x
        ([100, 100], [60, 61, 62], True),  # 1.64x
    ],
)
def test_size_mismatch_is_one_rule_for_the_designs_and_the_v1_and_pilot_estimates(sizes_a, sizes_b, fires):
    # docs/metrics.md: median change sizes differing by more than 1.5x between the groups, the same
    # rule wherever the caveat is computed (the v1 lift and the pilot go through stats.lift).
    designs = cv.size_mismatch(sizes_a, sizes_b, LABELS) is not None
    v1 = ratio_of_quantiles([1.0] * len(sizes_a), ["x"] * len(sizes_a), [2.0] * len(sizes_b), ["y"] * len(sizes_b),
                            n_boot=20, sizes_a=sizes_a, sizes_b=sizes_b)
    v1_fires = any("size itself moves with AI" in c for c in v1.caveats)
    assert (designs, v1_fires) == (fires, fires)


def test_selection_applies_to_observational_designs_not_to_a_randomized_pilot():
    assert cv.selection("before-after").code == "selection"
    assert "not randomized" in cv.selection("ai-vs-human").text
    assert cv.selection("experiment", randomized=True) is None
    c = cv.selection("ai-vs-human", prior_ratio=0.8, prior_labels=("the authors who later used AI", "the others"))
    assert "already had 0.80x the value of the others" in c.text


def test_novelty_fires_when_the_early_effect_fades():
    c = cv.novelty(0.6, 0.95, 40, 200)
    assert c is not None and c.code == "novelty" and "0.60x" in c.text and "0.95x" in c.text
    # Direction flips count as fading too.
    assert cv.novelty(1.4, 0.9, 40, 200) is not None


def test_novelty_is_silent_for_a_lasting_effect_no_effect_or_too_few_items():
    assert cv.novelty(0.7, 0.72, 40, 200) is None  # lasting
    assert cv.novelty(1.02, 1.0, 40, 200) is None  # nothing to fade
    assert isinstance(cv.novelty(0.6, 0.95, 5, 200), cv.NotRun)  # too few early items to judge
    assert isinstance(cv.novelty(None, 0.95, 40, 200), cv.NotRun)


def test_simpsons_paradox_fires_when_pooled_direction_opposes_most_groups():
    c = cv.simpsons_paradox(1.2, [("api", 0.8, 50), ("web", 0.7, 40), ("ops", 1.3, 30)])
    assert c is not None and c.code == "simpsons_paradox"
    assert "1.20x" in c.text and "2 of 3 repositories" in c.text and "api 0.80x" in c.text


def test_simpsons_paradox_is_silent_when_groups_agree_or_cannot_vote():
    assert cv.simpsons_paradox(0.8, [("api", 0.8, 50), ("web", 0.7, 40), ("ops", 1.3, 30)]) is None
    # One group, or groups too small to vote: nothing to compare within, so the check did not run.
    assert isinstance(cv.simpsons_paradox(1.2, [("api", 0.8, 50)]), cv.NotRun)
    assert isinstance(cv.simpsons_paradox(1.2, [("api", 0.8, 2), ("web", 0.7, 3)]), cv.NotRun)
    assert cv.simpsons_paradox(1.2, [("api", 0.8, 50), ("web", 1.3, 40)]) is None  # a tie is no majority


def test_pre_trends_fires_below_alpha_only():
    c = cv.pre_trends(0.01, source="the event study", slope=0.12)
    assert c is not None and "p = 0.010" in c.text and "rising" in c.text
    assert cv.pre_trends(0.2) is None
    assert cv.pre_trends(None, why_not="No weeks before adoption.") == cv.NotRun("pre_trends", "No weeks before adoption.")


def test_specification_spread_flags_disagreement_in_direction_and_size():
    rows = [{"ratio": 0.8}, {"ratio": 0.9}, {"ratio": 1.1}]
    rng, c = cv.specification_spread(rows)
    assert rng == {"min": 0.8, "max": 1.1, "n": 3, "intervals_disagree": False}
    assert c is not None and "both sides of 1" in c.text
    _, c = cv.specification_spread([{"ratio": 0.4}, {"ratio": 0.7}])
    assert c is not None and "its size depends on the choice" in c.text


def test_specification_spread_is_silent_when_alternatives_agree():
    rng, c = cv.specification_spread([{"ratio": 0.7}, {"ratio": 0.75}, {"ratio": None}, {"ratio": 0.8}])
    assert c is None and rng == {"min": 0.7, "max": 0.8, "n": 3, "intervals_disagree": False}
    assert cv.specification_spread([{"ratio": None}]) == (None, cv.NotRun("specification", "No alternative specification gave an estimate."))


def _flow(starts, ends, edges):
    from loopmeter.stats.flow import flow_windows

    return [w.to_dict() for w in flow_windows(np.asarray(starts, float), np.asarray(ends, float), np.asarray(edges, float))]


def test_not_steady_fires_when_work_piles_up_in_a_period():
    # Before: one item an hour, each 10 hours long. After: three an hour, still finishing one an hour.
    starts = np.r_[np.arange(0, 200, 1.0), np.arange(200, 400, 1 / 3)]
    ends = np.r_[starts[:200] + 10, 200 + 10 + np.arange(600) * 1.0]
    ends[ends > 400] = np.nan  # still open at the end of the window
    before, after = _flow(starts, ends, [20, 200, 400])
    assert before["steady"] and not after["steady"]
    c = cv.not_steady([("the period before adoption", before), ("the period after adoption", after)])
    assert c is not None and c.code == "not_steady" and "the period after adoption" in c.text and "piling up" in c.text


def test_not_steady_is_silent_for_a_steady_flow():
    starts = np.arange(0, 400, 1.0)
    before, after = _flow(starts, starts + 10, [20, 200, 380])
    assert cv.not_steady([("before", before), ("after", after)]) is None


def test_lift_documents_are_plain_json_with_unknowns_as_null():
    import json
    from datetime import date

    from loopmeter.stats.json_values import json_ready

    doc = json_ready({"a": float("nan"), "b": [np.float64(1.5), np.int64(2), float("inf")], "c": (date(2024, 1, 1),)})
    assert doc == {"a": None, "b": [1.5, 2, None], "c": ["2024-01-01"]}
    json.dumps(doc, allow_nan=False)


def test_specification_check_compares_intervals_not_only_point_estimates():
    # Point estimates 0.9 and 1.05 span less than 1.5x, but one interval is wholly below 1 and the
    # other wholly above: two credible choices give opposite answers.
    rows = [{"ratio": 0.9, "ci_low": 0.85, "ci_high": 0.95}, {"ratio": 1.05, "ci_low": 1.01, "ci_high": 1.1}]
    rng, c = cv.specification_spread(rows)
    assert rng["intervals_disagree"] is True and c.code == "specification"
    assert "1 give an interval wholly below 1 and 1 one wholly above 1" in c.text
    assert isinstance(cv.specification_spread([])[1], cv.NotRun)


def test_check_rows_say_whether_each_check_ran():
    from loopmeter.lift.results import check_rows

    found = [cv.Caveat("selection", "not random"), cv.NotRun("pre_trends", "No weeks before adoption."), None]
    rows = {r["check"]: r for r in check_rows(found, ("selection", "pre_trends", "novelty"), "m")}
    assert (rows["selection"]["status"], rows["selection"]["applies"]) == ("fired", True)
    assert (rows["pre_trends"]["status"], rows["pre_trends"]["reason"]) == ("not_run", "No weeks before adoption.")
    assert rows["pre_trends"]["applies"] is False
    assert rows["novelty"]["status"] == "not_fired" and rows["novelty"]["reason"] is None
    # The same check twice (ITS and DiD pre-trends): a firing wins over a not-run.
    both = check_rows([cv.NotRun("pre_trends", "x"), cv.Caveat("pre_trends", "trend")], ("pre_trends",), "m")
    assert both[0]["status"] == "fired"

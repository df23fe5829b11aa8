"""The verdict rules (docs/metrics.md "Verdict"), one hand-built design document per rule."""

from __future__ import annotations

import pytest

from loopmeter.lift import verdict as vd
from loopmeter.lift.results import CYCLE, REVERT_RATE, THROUGHPUT


def row(estimator, ratio, lo, hi, *, metric=CYCLE, n_a=200, n_b=200, n_clusters=30, **kw):
    return {"metric": metric, "estimator": estimator, "ratio": ratio, "ci_low": lo, "ci_high": hi, "n_a": n_a,
            "n_b": n_b, "n_clusters": n_clusters, "caveats": kw.pop("caveats", []),
            "caveat_codes": kw.pop("caveat_codes", []), "weeks_before": kw.pop("weeks_before", None),
            "weeks_after": kw.pop("weeks_after", None), **kw}


PERIODS = {"r": {"before_from": "2024-01-01", "adoption": "2024-04-01", "after_until": "2024-07-01"}}


def before_after(results, spec=(), *, exposure=0.5, quality=()):
    return {"design": "before-after", "results": list(results), "specification": list(spec),
            "quality": list(quality), "exposure": {"ai_share_after": exposure}, "adoption": {}}


def cycle(ratio, lo, hi, **kw):
    return row("log_duration_regression", ratio, lo, hi, periods=PERIODS, **kw)


def only(entries, question):
    (e,) = [e for e in entries if e["question"] == question]
    return e


def test_interval_below_one_for_cycle_time_is_improved_and_above_is_worsened():
    e = only(vd.verdict([before_after([cycle(0.7, 0.6, 0.85)])]), "cycle_time_after_vs_before")
    assert e["status"] == "improved"
    assert e["headline"]["ratio"] == 0.7 and e["headline"]["clustered"] is True
    assert "0.70x" in e["sentence"] and "0.60 to 0.85" in e["sentence"]
    e = only(vd.verdict([before_after([cycle(1.3, 1.1, 1.5)])]), "cycle_time_after_vs_before")
    assert e["status"] == "worsened"


def test_more_throughput_is_improved_fewer_reverts_is_improved():
    tp = row("poisson_author_fe", 1.4, 1.1, 1.8, metric=THROUGHPUT, weeks_before=12, weeks_after=12)
    rv = row("rate_ratio_cr1", 0.5, 0.3, 0.8, metric=REVERT_RATE, n_a=3, n_b=6, n_changes_a=300,
             n_changes_b=300, periods=PERIODS)
    out = vd.verdict([before_after([tp], quality=[rv])])
    assert only(out, "throughput_after_vs_before")["status"] == "improved"
    # Few reverts (events) are expected: the minimum is on the changes judged, not on the reverts.
    assert only(out, "revert_rate_after_vs_before")["status"] == "improved"


def test_interval_containing_one_is_no_detectable_change():
    e = only(vd.verdict([before_after([cycle(0.9, 0.7, 1.1)])]), "cycle_time_after_vs_before")
    assert e["status"] == "no_detectable_change"
    assert "includes no change" in e["sentence"]


@pytest.mark.parametrize("kw, words", [
    ({"n_b": 7}, "Only 7 changes with a known duration before adoption"),
    ({"n_clusters": 4}, "Only 4 authors"),
])
def test_below_the_minimums_is_not_enough_data_and_prints_no_ratio(kw, words):
    e = only(vd.verdict([before_after([cycle(36.27, 20.0, 58.37, **kw)])]), "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data"
    assert words in e["sentence"]
    assert "36.27" not in e["sentence"] and e["headline"]["ratio"] is None and e["headline"]["ci_low"] is None


def test_zero_width_interval_is_never_a_result():
    e = only(vd.verdict([before_after([cycle(22.61, 22.61, 22.61)])]), "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data" and "zero width" in e["sentence"]
    assert "22.61" not in e["sentence"]


def test_few_weeks_before_adoption_is_not_enough_data():
    short = {"r": {"before_from": "2024-03-18", "adoption": "2024-04-01", "after_until": "2024-07-01"}}
    e = only(vd.verdict([before_after([row("log_duration_regression", 0.5, 0.4, 0.6, periods=short)])]),
             "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data" and "Only 2 weeks before adoption" in e["sentence"]


def test_low_ai_exposure_is_not_credited_to_ai():
    e = only(vd.verdict([before_after([cycle(0.5, 0.4, 0.6)], exposure=0.04)]), "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data"
    assert "Only 4% of the changes after adoption were AI-assisted" in e["sentence"]
    assert e["exposure"] == {"ai_share_after": 0.04, "minimum": vd.MIN_EXPOSURE}
    # The attribution's own exposure, when the adoption carries it, wins over the design's.
    d = before_after([cycle(0.5, 0.4, 0.6)], exposure=0.04)
    d["adoption"] = {"exposure_after": 0.3}
    assert only(vd.verdict([d]), "cycle_time_after_vs_before")["status"] == "improved"


def test_credible_specifications_pointing_both_ways_are_inconsistent():
    spec = [row("log_duration_regression_author_fe", 1.3, 1.1, 1.6)]
    e = only(vd.verdict([before_after([cycle(0.7, 0.6, 0.85)], spec)]), "cycle_time_after_vs_before")
    assert e["status"] == "inconsistent"
    assert e["agreement"] == {"specifications": 2, "low": 0.7, "high": 1.3, "intervals_disagree": True,
                              "straddles": True, "contradicting": 1}


def test_cluster_blind_rows_neither_headline_nor_break_agreement():
    spec = [row("hodges_lehmann", 1.3, 1.1, 1.6), row("ratio_of_medians", 1.3, 1.1, 1.6, clustered=False)]
    e = only(vd.verdict([before_after([cycle(0.7, 0.6, 0.85)], spec)]), "cycle_time_after_vs_before")
    assert e["status"] == "improved" and e["agreement"]["specifications"] == 1
    # Only a cluster-blind row for the question: no headline, so no verdict from it.
    d = before_after([row("hodges_lehmann", 0.5, 0.4, 0.6, periods=PERIODS)])
    e = only(vd.verdict([d]), "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data" and e["headline"] is None


def test_small_specification_rows_do_not_count_as_credible():
    spec = [row("log_duration_regression_author_fe", 1.3, 1.1, 1.6, n_b=5)]
    e = only(vd.verdict([before_after([cycle(0.7, 0.6, 0.85)], spec)]), "cycle_time_after_vs_before")
    assert e["status"] == "improved"


def test_the_sentence_names_the_caveat_that_matters_most():
    c = cycle(0.7, 0.6, 0.85, caveats=["Changes differ in size.", "Simpson's paradox: pooled ..."],
              caveat_codes=["size_mismatch", "simpsons_paradox"])
    e = only(vd.verdict([before_after([c])]), "cycle_time_after_vs_before")
    assert e["sentence"].endswith("Main caveat: Simpson's paradox: pooled ...")
    assert e["caveats"] == c["caveats"]


def test_every_status_is_documented():
    text = open("docs/metrics.md", encoding="utf-8").read()
    section = text[text.index("## Verdict"):]
    for s in vd.STATUSES:
        assert f"`{s}`" in section
    assert f"{vd.MIN_WEEKS} weeks on each side of adoption (`MIN_WEEKS`" in section
    assert f"{vd.MIN_EXPOSURE:.0%} of the changes landed after adoption AI-assisted (`MIN_EXPOSURE`" in section
    assert f"{vd.MIN_VALUES} items in each group" in section and f"{vd.MIN_CLUSTERS} authors" in section


def test_its_with_a_zero_week_falls_back_to_the_count_model_and_still_tests_pre_trends():
    import numpy as np
    import statsmodels.api as sm

    from loopmeter.lift import checks as cv
    from loopmeter.lift.weekly import its_level_change

    rng = np.random.default_rng(4)
    counts = [int(c) for c in rng.poisson(3.0, 10)] + [int(c) for c in rng.poisson(6.0, 10)]
    counts[2] = 0  # a week with no validated change: no log rate
    series = [{"event_week": k - 10, "week_start": f"2024-01-{k + 1:02d}", "validated": c, "contributor_weeks": 4,
               "rate": c / 4} for k, c in enumerate(counts)]
    del series[5]  # and a week with no activity at all: a 0 in the count series, not a gap
    est, fits, pre = its_level_change(series)
    assert est.extra["model"] in ("count_poisson", "count_negbin") and fits is not None
    assert not isinstance(pre, cv.NotRun)  # the pre-trend check ran on the count model
    y = np.array(counts, dtype=float)
    y[5] = 0.0
    t = np.arange(20.0)
    X = sm.add_constant(np.column_stack([t, (t >= 10).astype(float), np.maximum(0, t - 10)]))
    assert est.extra["model"] == "count_poisson"  # these counts are Poisson around the trend
    fit = sm.GLM(y, X, family=sm.families.Poisson()).fit()  # the point estimate is the GLM's exp(beta_post)
    assert est.ratio == pytest.approx(float(np.exp(fit.params[2])), rel=1e-6)
    assert est.ci_low < est.ratio < est.ci_high


def test_durability_takes_the_longest_horizon_with_enough_data_and_more_survival_is_better():
    rows = [{"horizon_days": 14, "ratio": 0.8, "ci_low": 0.7, "ci_high": 0.9, "ai_changes": 300, "human_changes": 900,
             "authors": 30},
            {"horizon_days": 30, "ratio": 0.85, "ci_low": 0.75, "ci_high": 0.95, "ai_changes": 200,
             "human_changes": 600, "authors": 25},
            {"horizon_days": 90, "ratio": 1.4, "ci_low": 1.2, "ci_high": 1.6, "ai_changes": 6, "human_changes": 50,
             "authors": 4}]
    (e,) = vd.verdict([vd.durability_design(rows)])
    assert e["question"] == "durability_ai_vs_human" and e["status"] == "worsened"
    assert e["headline"]["horizon_days"] == 30 and e["headline"]["ratio"] == 0.85
    assert "survived 30 days 0.85x as often" in e["sentence"]
    # The 90-day row has too few changes to count as a credible specification pointing the other way.
    assert e["agreement"]["specifications"] == 2 and not e["agreement"]["intervals_disagree"]


def test_a_handful_of_authors_on_one_side_is_not_enough_data():
    # 78 AI-assisted changes, all by 2 people: a comparison of those two with the team.
    e = only(vd.verdict([before_after([cycle(2.38, 1.09, 5.19, n_clusters=40, n_clusters_a=2, n_clusters_b=38)])]),
             "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data"
    assert "Only 2 authors have changes with a known duration after adoption" in e["sentence"]
    assert f"{vd.MIN_GROUP_CLUSTERS} authors on each side (`MIN_GROUP_CLUSTERS`" in open(
        "docs/metrics.md", encoding="utf-8").read()


def test_one_author_making_most_changes_counts_as_few_effective_authors():
    from loopmeter.lift.results import effective_clusters

    assert effective_clusters([10, 10, 10, 10]) == 4.0  # equal authors count fully
    assert effective_clusters([70, 1, 1, 1, 1, 1, 1, 1, 1]) == pytest.approx(78 ** 2 / (70 ** 2 + 8), abs=0.01)
    e = only(vd.verdict([before_after([cycle(2.38, 1.09, 5.19, n_clusters=12, n_clusters_a=7, n_clusters_b=7,
                                             effective_clusters_a=1.2, effective_clusters_b=6.0)])]),
             "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data" and "amount to only 1.2 equal ones" in e["sentence"]
def test_an_interval_whose_width_is_rounding_noise_is_zero_width():
    # Bounds a degenerate same-author regression gave on simonw/datasette: equal to 13 digits.
    lo, hi = 8.94007619344363, 8.940076193443655
    e = only(vd.verdict([before_after([cycle(8.940076193443643, lo, hi)])]), "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data" and "zero width" in e["sentence"]
    assert vd.withheld(row("log_duration_regression_author_fe", 8.94, lo, hi)) == "zero-width interval"
    assert vd.withheld(row("log_duration_regression_author_fe", 8.94, 8.90, 8.98)) is None


def test_few_effective_clusters_are_worded_by_the_cluster_unit():
    """Another loop's clusters (lift/loop_verdict.py) are users or resources, not people at a keyboard."""
    r = cycle(2.38, 1.09, 5.19, n_clusters=12, n_clusters_a=7, n_clusters_b=3, effective_clusters_a=1.2)
    q = {**vd.QUESTIONS["cycle_time_after_vs_before"], "clusters": "users"}
    e = vd.judge("runs", before_after([r]), {"runs": q})
    assert "come from 7 users but amount to only 1.2 equal ones (a few users account for most of them" in e["sentence"]
    assert "those users, not all of them" in e["sentence"] and "people" not in e["sentence"]
    e = vd.judge("runs", before_after([{**r, "effective_clusters_a": 6.0}]), {"runs": q})
    assert "Only 3 users have" in e["sentence"] and "about those users, not all of them" in e["sentence"]


def test_a_credible_specification_that_contradicts_the_headline_makes_it_inconsistent():
    # Headline 1.5x [1.2, 1.9] (worse); a credible specification at 0.9x whose interval [0.7, 1.2]
    # excludes 1.5: it points the other way and rules the headline's answer out.
    spec = [row("ratio_of_medians", 0.9, 0.7, 1.2)]
    e = only(vd.verdict([before_after([cycle(1.5, 1.2, 1.9)], spec)]), "cycle_time_after_vs_before")
    assert e["status"] == "inconsistent"
    assert e["agreement"]["contradicting"] == 1 and e["agreement"]["straddles"] is True
    assert not e["agreement"]["intervals_disagree"]  # no interval wholly below 1: the older rule alone said worsened
    assert "1 credible specification points the other way with an interval that excludes this estimate" in e["sentence"]
    assert "from 0.90x to 1.50x" in e["sentence"]


def test_a_straddling_range_compatible_with_the_headline_keeps_the_status_and_says_why():
    # 0.95x [0.6, 1.6] is on the other side of 1 but its interval holds 1.5: no contradiction.
    spec = [row("ratio_of_medians", 0.95, 0.6, 1.6)]
    e = only(vd.verdict([before_after([cycle(1.5, 1.2, 1.9)], spec)]), "cycle_time_after_vs_before")
    assert e["status"] == "worsened"
    assert e["agreement"]["straddles"] is True and e["agreement"]["contradicting"] == 0
    assert ("Credible specifications range from 0.95x to 1.50x; those on the other side of 1 have intervals that "
            "include this estimate.") in e["sentence"]
    # All on one side: nothing to explain.
    e = only(vd.verdict([before_after([cycle(1.5, 1.2, 1.9)], [row("ratio_of_medians", 1.3, 0.9, 1.7)])]),
             "cycle_time_after_vs_before")
    assert e["status"] == "worsened" and e["agreement"]["straddles"] is False
    assert "Credible specifications range" not in e["sentence"]


def test_contradiction_needs_a_headline_interval_that_excludes_one_and_a_credible_row():
    # The headline includes 1: nothing to contradict (no_detectable_change), whatever the others say.
    spec = [row("ratio_of_medians", 0.8, 0.7, 0.95)]
    e = only(vd.verdict([before_after([cycle(1.1, 0.95, 1.3)], spec)]), "cycle_time_after_vs_before")
    assert e["status"] == "no_detectable_change" and e["agreement"]["contradicting"] == 0
    # A cluster-blind row (Hodges-Lehmann) never contradicts, however far it points.
    spec = [row("hodges_lehmann", 0.7, 0.6, 0.8, clustered=False)]
    e = only(vd.verdict([before_after([cycle(1.5, 1.2, 1.9)], spec)]), "cycle_time_after_vs_before")
    assert e["status"] == "worsened" and e["agreement"]["contradicting"] == 0


def test_beside_improved_or_worsened_the_specification_caveat_is_not_the_main_one():
    texts = ["Across 16 reasonable choices ... on both sides of 1: the direction depends on the choice.",
             "Changes differ in size."]
    c = cycle(1.5, 1.2, 1.9, caveats=texts, caveat_codes=["specification", "size_mismatch"])
    e = only(vd.verdict([before_after([c], [row("ratio_of_medians", 0.95, 0.6, 1.6)])]), "cycle_time_after_vs_before")
    assert e["status"] == "worsened" and "the direction depends on the choice" not in e["sentence"]
    assert e["sentence"].endswith("Main caveat: Changes differ in size.") and e["caveats"] == texts
    # Beside no detectable change it is the main caveat, and agrees with the status.
    c = cycle(1.1, 0.9, 1.3, caveats=texts, caveat_codes=["specification", "size_mismatch"])
    e = only(vd.verdict([before_after([c])]), "cycle_time_after_vs_before")
    assert e["sentence"].endswith("Main caveat: " + texts[0])


def test_a_headline_without_an_estimate_says_why_in_the_datas_terms():
    # aider's history starts five weeks before its detected adoption: every row of the metric is
    # empty or cluster-blind, and the sentence names the short side, not "no estimate".
    empty = row("log_duration_regression", None, None, None, weeks_before=5, weeks_after=150,
                caveats=["A group has no finished item with a known cycle time."])
    e = only(vd.verdict([before_after([empty])]), "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data" and e["headline"]["ratio"] is None
    assert e["sentence"] == "Not enough data to say: Only 5 weeks before adoption (at least 8 are needed)."
    # Enough weeks: the headline row's own reason.
    empty = {**empty, "weeks_before": 20, "weeks_after": 20}
    e = only(vd.verdict([before_after([empty])]), "cycle_time_after_vs_before")
    assert e["sentence"].endswith("A group has no finished item with a known cycle time.")
    # A point estimate with no honest interval says so (one author seen in both periods).
    fe = row("poisson_author_fe", 20.8, None, None, metric=THROUGHPUT, weeks_before=20, weeks_after=20,
             caveats=["Only 1 author is in both periods: no cluster-robust interval is possible."])
    e = only(vd.verdict([before_after([fe])]), "throughput_after_vs_before")
    assert e["status"] == "not_enough_data"
    assert e["sentence"].endswith("no cluster-robust interval is possible.") and "20.8" not in e["sentence"]
    # Nothing at all for the metric: the bare fact.
    e = vd.judge("revert_rate_after_vs_before", before_after([]))
    assert e["sentence"].endswith("There is no cluster-aware estimate for this comparison.")


def test_a_rate_with_no_events_on_a_side_says_how_few_there_were():
    # modelcontextprotocol/python-sdk: 0 reverts after adoption, 2 before; the headline's log ratio
    # is not finite, so it has no interval (stats/rates.py).
    rv = row("rate_ratio_cr1", 0.0, None, None, metric=REVERT_RATE, n_a=0, n_b=2, n_changes_a=367,
             n_changes_b=339, periods=PERIODS, weeks_before=39, weeks_after=39,
             caveats=["After adoption has no events: the ratio is 0 and its logarithm, on which the interval "
                      "is built, is not finite."])
    e = only(vd.verdict([before_after([], quality=[rv])]), "revert_rate_after_vs_before")
    assert e["status"] == "not_enough_data" and e["headline"]["ratio"] is None and e["headline"]["ci_low"] is None
    assert e["sentence"] == ("Not enough data to say: Only 0 reverted changes after adoption and 2 before (changes "
                             "judged: 367 after, 339 before): too few to compare the rates with an interval that "
                             "accounts for who made them.")
    # Only the bootstrap specification's cluster-blind exact Poisson bound: no headline at all.
    old = {**rv, "estimator": "ratio_of_rates", "ci_low": 0.0, "ci_high": 4.92, "clustered": False}
    e = only(vd.verdict([before_after([], quality=[old])]), "revert_rate_after_vs_before")
    assert e["status"] == "not_enough_data" and e["headline"] is None
    assert e["sentence"] == "Not enough data to say: There is no cluster-aware estimate for this comparison."
    # Events on both sides and an interval, but flagged cluster-blind for another reason: not this sentence.
    blind = {**rv, "n_a": 4, "ratio": 0.6, "ci_low": 0.2, "ci_high": 1.7, "clustered": False}
    e = only(vd.verdict([before_after([], quality=[blind])]), "revert_rate_after_vs_before")
    assert "too few to compare the rates" not in e["sentence"]


def test_a_headline_whose_interval_is_clustered_by_week_is_named_so():
    from loopmeter.report.lift_text import estimator_name

    wk = cycle(0.9, 0.7, 1.1, interval_clusters="week", se_by_author=0.05, se_by_week=0.12)
    e = only(vd.verdict([before_after([wk])]), "cycle_time_after_vs_before")
    assert e["headline"]["interval_clusters"] == "week"
    assert estimator_name(e["headline"]["estimator"], e["headline"]) == \
        "log-duration regression (CR2 errors by week, wider than by author)"
    by_author = cycle(0.9, 0.7, 1.1, interval_clusters="author")
    e = only(vd.verdict([before_after([by_author])]), "cycle_time_after_vs_before")
    assert estimator_name(e["headline"]["estimator"], e["headline"]) == \
        "log-duration regression (CR2 errors by author)"


def test_durability_from_a_few_equal_authors_is_not_a_verdict_and_names_its_caveats():
    rows = [{"horizon_days": 90, "ratio": 1.86, "ci_low": 1.49, "ci_high": 2.40, "ai_changes": 900,
             "human_changes": 3000, "authors": 400, "n_clusters_a": 44, "n_clusters_b": 380,
             "effective_clusters_a": 3.0, "effective_clusters_b": 40.0, "since": None}]
    (e,) = vd.verdict([vd.durability_design(rows)])
    assert e["status"] == "not_enough_data" and "3.0 equal ones" in e["sentence"]
    rows[0]["effective_clusters_a"], rows[0]["since"] = 12.0, "2024-10-28"
    (e,) = vd.verdict([vd.durability_design(rows)])
    assert e["status"] == "improved"
    assert "AI use was not randomized" in e["sentence"]  # the main caveat, named in the sentence
    assert any("since the adoption date (2024-10-28)" in c for c in e["caveats"])


def test_a_week_clustered_headline_still_needs_its_minimum_of_authors():
    # The interval is clustered by 30 weeks (n_clusters counts them, stats/wider_interval.py), but
    # only 8 people made the changes: the verdict's minimum is on people, as before.
    from loopmeter.report.verdict_view import _sizes

    few = cycle(0.6, 0.5, 0.7, interval_clusters="week", n_clusters=30, n_authors=8, n_weeks=30)
    e = only(vd.verdict([before_after([few])]), "cycle_time_after_vs_before")
    assert e["status"] == "not_enough_data" and "Only 8 authors" in e["sentence"]
    assert (e["headline"]["n_clusters"], e["headline"]["n_authors"], e["headline"]["n_weeks"]) == (30, 8, 30)
    enough = cycle(0.6, 0.5, 0.7, interval_clusters="week", n_clusters=30, n_authors=12, n_weeks=30)
    e = only(vd.verdict([before_after([enough])]), "cycle_time_after_vs_before")
    assert e["status"] == "improved"
    assert _sizes(e["headline"]) == "200 vs 200, 12 people"  # the page counts people, not weeks



def test_durability_since_dates_per_repository_says_so():
    row = {"horizon_days": 30, "ratio": 1.1, "ci_low": 0.9, "ci_high": 1.3, "ai_changes": 300, "human_changes": 900,
           "authors": 40, "since": "2024-03-04", "since_per_repo": True}
    (head,) = vd.durability_design([row])["results"]
    assert any("since each repository's adoption date (the earliest 2024-03-04)" in c for c in head["caveats"])


def test_a_rate_with_nothing_judged_before_adoption_names_the_short_side_not_zero_events():
    # anthropics/claude-code-action: adoption in its first week, so nothing before it; the revert rows
    # (which carry no periods of their own) were read as "Only 0 reverted changes after adoption and 0
    # before (changes judged: 709 after, 0 before)" though 11 changes after it were reverted.
    none = row("rate_ratio_cr1", None, None, None, metric=REVERT_RATE, n_a=0, n_b=0, n_changes_a=709,
               n_changes_b=0, n_clusters=134, clustered=False, caveats=["A period has no change old enough to know whether it was reverted."])
    cyc = row("log_duration_regression", None, None, None, periods={
        "r": {"before_from": "2025-05-19", "adoption": "2025-05-19", "after_until": "2026-08-23"}},
        caveats=["A group has no finished item with a known cycle time."])
    e = only(vd.verdict([before_after([cyc], quality=[none])]), "revert_rate_after_vs_before")
    assert e["status"] == "not_enough_data"
    assert e["sentence"] == "Not enough data to say: Only 0 weeks before adoption (at least 8 are needed)."
    # Without the design's periods, the row's own reason, never a count of zero events.
    e = only(vd.verdict([before_after([], quality=[none])]), "revert_rate_after_vs_before")
    assert e["sentence"] == ("Not enough data to say: A period has no change old enough to know whether it was "
                             "reverted.")

"""Tests of the lift estimators against independent computations.

Point estimates are checked against arithmetic done by hand, intervals against scipy's own
percentile bootstrap and against simulations with a planted effect.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest
import scipy.stats

from loopmeter.stats.bootstrap import (
    cluster_bootstrap,
    cluster_weighted_quantile,
    draw_cluster_counts,
    factorize_clusters,
    weighted_quantile,
)
from loopmeter.stats.lift import CORE_KEYS, Estimate, detect_adoption, ratio_of_quantiles, ratio_of_rates

# ------------------------------------------------------------------ simulators with a planted effect


def simulate_cycle_times(
    rng, *, ratio, n_authors=40, rows_per_author=20, sd_author=0.5, sd_author_group=0.7, sd_row=0.8
):
    """Log-normal durations (hours) with per-author random effects.

    log d = log 24 + u_author + v_author,group + eps + [group a] log(ratio). u is shared by both
    groups; v lets AI help some authors more than others, which is what makes rows of one author
    dependent in a way that does not cancel in the ratio. Every term is symmetric around 0 whatever
    the mix of authors, so the population median ratio a/b is exactly `ratio`.
    """
    u = rng.normal(0.0, sd_author, n_authors)
    out = []
    for shift in (np.log(ratio), 0.0):
        v = rng.normal(0.0, sd_author_group, n_authors)
        n_rows = rng.poisson(rows_per_author, n_authors)
        authors = np.repeat(np.arange(n_authors), n_rows)
        eps = rng.normal(0.0, sd_row, authors.size)
        out += [np.exp(np.log(24.0) + u[authors] + v[authors] + eps + shift), authors]
    return out  # values_a, clusters_a, values_b, clusters_b


def simulate_throughput(rng, *, ratio, n_authors=60):
    """Poisson changes per author-week; author rates vary (gamma), some authors join or leave.

    The expected pooled rate is E[lambda * weeks] / E[weeks] in each period, and lambda is drawn
    independently of the weeks, so the population ratio a/b is exactly `ratio`.
    """
    lam = rng.gamma(2.0, 1.0, n_authors)
    weeks_b = rng.integers(0, 13, n_authors).astype(float)
    weeks_a = rng.integers(0, 13, n_authors).astype(float)
    events_b = rng.poisson(lam * weeks_b)
    events_a = rng.poisson(ratio * lam * weeks_a)
    return events_a, weeks_a, events_b, weeks_b


def coverage(simulate, estimate, truth, n_datasets, seed):
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(n_datasets):
        est = estimate(*simulate(rng), seed=i)
        assert est.ci_low is not None and est.ci_high is not None
        hits += est.ci_low <= truth <= est.ci_high
    return hits / n_datasets


# ----------------------------------------------------------------------------- point estimates


def test_ratio_of_medians_hand_worked():
    # median a = (2 + 3) / 2 = 2.5; median b = 6 (middle of five); 2.5 / 6 = 0.41666...
    a, b = [4.0, 1.0, 3.0, 2.0], [10.0, 2.0, 8.0, 4.0, 6.0]
    est = ratio_of_quantiles(a, ["x", "y", "x", "y"], b, ["x", "y", "z", "z", "x"], n_boot=50)
    assert est.estimator == "ratio_of_medians"
    assert est.ratio == pytest.approx(2.5 / 6, rel=1e-12)
    assert (est.n_a, est.n_b, est.n_clusters) == (4, 5, 3)


def test_ratio_of_lower_quartiles_hand_worked():
    # linear quantile: position (n - 1) q in the sorted sample.
    # a = 1,2,3,4: position 3 * 0.25 = 0.75 -> 1 + 0.75 * (2 - 1) = 1.75
    # b = 2,4,6,8,10: position 4 * 0.25 = 1 -> 4;  1.75 / 4 = 0.4375
    est = ratio_of_quantiles([1, 2, 3, 4], [0, 1, 2, 3], [2, 4, 6, 8, 10], [0, 1, 2, 3, 4], q=0.25, n_boot=50)
    assert est.estimator == "ratio_of_p25"
    assert est.ratio == pytest.approx(0.4375, rel=1e-12)


def test_ratio_of_rates_hand_worked():
    # rate a = (3 + 5 + 0) / (2 + 4 + 0) = 8 / 6; rate b = (2 + 2 + 1) / (4 + 4 + 2) = 0.5
    # ratio = (8 / 6) / 0.5 = 2.6667. The fourth author has no exposure at all and does not count.
    est = ratio_of_rates([3, 5, 0, 0], [2, 4, 0, 0], [2, 2, 1, 0], [4, 4, 2, 0], n_boot=50)
    assert est.estimator == "ratio_of_rates"
    assert est.ratio == pytest.approx((8 / 6) / 0.5, rel=1e-12)
    assert (est.n_a, est.n_b, est.n_clusters) == (8, 5, 3)


def test_weighted_quantile_equals_quantile_of_repeated_sample():
    rng = np.random.default_rng(3)
    values = np.sort(rng.lognormal(size=37))
    weights = rng.integers(0, 4, size=(300, 37))
    weights[7] = 0
    for q in (0.1, 0.5, 0.9):
        got = weighted_quantile(values, weights, q)
        want = [np.quantile(np.repeat(values, w), q) if w.sum() else np.nan for w in weights]
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    assert np.isnan(weighted_quantile(values, weights, 0.5)[7])


def test_cluster_weighted_quantile_equals_weighted_quantile_to_the_last_bit():
    # The bisection over cluster counts must pick the same order statistics as the row weights
    # (ties, one-row clusters, replicates that drew nothing, every quantile used).
    rng = np.random.default_rng(11)
    cases = [(37, 5), (1, 1), (2, 2), (200, 12), (60, 60), (25, 3), (3000, 900)]  # the last: many clusters
    for n, g in cases:
        values = np.sort(np.round(rng.lognormal(size=n), 1))  # rounding makes ties
        codes = rng.integers(0, g, size=n)
        counts = draw_cluster_counts(rng, g, 400)
        counts[5] = 0
        for q in (0.1, 0.5, 0.85, 0.9):
            want = weighted_quantile(values, counts[:, codes], q)
            got = cluster_weighted_quantile(values, codes, counts, q)
            assert np.array_equal(got, want, equal_nan=True), (n, g, q)
            # And both are the quantile of the repeated sample (independent check).
            w = counts[:, codes]
            ref = [np.quantile(np.repeat(values, r), q) if r.sum() else np.nan for r in w[:50]]
            np.testing.assert_allclose(got[:50], ref, rtol=1e-12, equal_nan=True)
    assert cluster_weighted_quantile(np.array([]), np.array([], dtype=int), np.ones((3, 2), int), 0.5).shape == (3,)


def test_factorize_keeps_author_ids_distinct_across_types():
    # numpy would turn 1 into "1" when joining the arrays; they are different authors.
    (ca, cb), k = factorize_clusters(np.array([1, 2]), np.array(["1", "bob"]))
    assert k == 4 and len(set(ca) | set(cb)) == 4


# ------------------------------------------------------------- bootstrap against scipy's bootstrap


def test_cluster_bootstrap_matches_scipy_for_one_sample_median():
    x = np.random.default_rng(11).lognormal(3.0, 1.0, 300)
    order = np.argsort(x)
    res = cluster_bootstrap(
        lambda c: weighted_quantile(x[order], c[:, order], 0.5), len(x), n_boot=10_000, seed=1
    )
    ref = scipy.stats.bootstrap(
        (x,), np.median, n_resamples=10_000, method="percentile", rng=np.random.default_rng(2)
    )
    lo, hi = res.interval(0.95)
    ref_lo, ref_hi = ref.confidence_interval
    # Measured against the interval's width: with 10^4 replicates the two independent runs differ
    # by under 2% of it, while a 90% interval passed off as 95% moves an endpoint by about 7%.
    tol = 0.04 * (ref_hi - ref_lo)
    assert abs(lo - ref_lo) < tol and abs(hi - ref_hi) < tol


def test_ratio_of_medians_matches_scipy_when_each_row_is_a_cluster():
    rng = np.random.default_rng(5)
    a, b = rng.lognormal(2.5, 1.0, 250), rng.lognormal(3.0, 1.0, 300)
    ids_a, ids_b = np.arange(250), np.arange(250, 550)  # every row its own cluster
    est = ratio_of_quantiles(a, ids_a, b, ids_b, n_boot=5000, seed=3)
    ref = scipy.stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.median(x, axis=axis) / np.median(y, axis=axis),
        n_resamples=5000,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(4),
    )
    assert est.ci_low == pytest.approx(ref.confidence_interval.low, rel=0.03)
    assert est.ci_high == pytest.approx(ref.confidence_interval.high, rel=0.03)
    assert est.ci_low < est.ratio < est.ci_high


# ------------------------------------------------------------------------ clustering is honoured


def test_author_in_both_groups_is_resampled_as_one_unit():
    # Every author has one row in each group, b exactly half of a. Drawing authors jointly keeps
    # the two groups' multisets proportional, so every replicate's ratio is exactly 2. Resampling
    # the groups independently would spread the replicates widely.
    v = np.random.default_rng(0).lognormal(3.0, 1.0, 50)
    est = ratio_of_quantiles(v, np.arange(50), v / 2, np.arange(50), n_boot=500)
    assert est.ratio == pytest.approx(2.0)
    assert est.ci_low == pytest.approx(2.0) and est.ci_high == pytest.approx(2.0)


def test_duplicated_rows_within_a_cluster_do_not_narrow_the_interval():
    rng = np.random.default_rng(8)
    a, b = rng.lognormal(3.0, 1.0, 60), rng.lognormal(3.2, 1.0, 60)
    ids_a, ids_b = np.arange(60), np.arange(60, 120)
    base = ratio_of_quantiles(a, ids_a, b, ids_b, n_boot=2000, seed=1)
    # Ten identical copies of each row carry no new information when clustered correctly...
    rep_a, rep_b = np.repeat(a, 10), np.repeat(b, 10)
    clustered = ratio_of_quantiles(
        rep_a, np.repeat(ids_a, 10), rep_b, np.repeat(ids_b, 10), n_boot=2000, seed=1
    )
    # ...but look like 10x the data if every copy were its own cluster.
    naive = ratio_of_quantiles(rep_a, np.arange(600), rep_b, np.arange(600, 1200), n_boot=2000, seed=1)
    width = lambda e: np.log(e.ci_high / e.ci_low)  # noqa: E731
    assert width(clustered) == pytest.approx(width(base), rel=0.2)
    assert width(clustered) > 2 * width(naive)


def test_seed_makes_intervals_reproducible():
    args = simulate_cycle_times(np.random.default_rng(1), ratio=0.7)
    assert ratio_of_quantiles(*args, seed=9, n_boot=300) == ratio_of_quantiles(*args, seed=9, n_boot=300)
    assert ratio_of_quantiles(*args, seed=9, n_boot=300) != ratio_of_quantiles(*args, seed=10, n_boot=300)


def test_row_order_does_not_change_the_interval_of_string_author_ids():
    # The report computes the same ratio in two sections from rows fetched in different orders
    # (author ids are strings, as pandas hands them over); with one seed both must print one interval.
    a, ca, b, cb = simulate_cycle_times(np.random.default_rng(3), ratio=0.7)
    ca = np.array([f"author-{c}" for c in ca], dtype=object)
    cb = np.array([f"author-{c}" for c in cb], dtype=object)
    pa, pb = np.random.default_rng(4).permutation(len(a)), np.random.default_rng(5).permutation(len(b))
    first = ratio_of_quantiles(a, ca, b, cb, seed=9, n_boot=300)
    shuffled = ratio_of_quantiles(a[pa], ca[pa], b[pb], cb[pb], seed=9, n_boot=300)
    assert (shuffled.ci_low, shuffled.ci_high) == pytest.approx((first.ci_low, first.ci_high), rel=1e-12)


# ---------------------------------------------------------------------------- planted effects


def test_planted_cycle_time_ratio_is_recovered():
    args = simulate_cycle_times(np.random.default_rng(2024), ratio=0.7, n_authors=150, rows_per_author=15)
    est = ratio_of_quantiles(*args)
    assert est.ci_low < 0.7 < est.ci_high
    assert est.ci_high < 1.0  # the effect is large enough to be distinguished from none
    assert est.caveats == ()


def test_planted_throughput_ratio_is_recovered():
    args = simulate_throughput(np.random.default_rng(2024), ratio=1.5, n_authors=120)
    est = ratio_of_rates(*args)
    assert est.ci_low < 1.5 < est.ci_high
    assert est.ci_low > 1.0


def test_cycle_time_coverage_fast():
    cov = coverage(
        lambda rng: simulate_cycle_times(rng, ratio=0.7),
        lambda *a, seed: ratio_of_quantiles(*a, n_boot=300, seed=seed),
        0.7,
        n_datasets=60,
        seed=123,
    )
    assert 0.85 <= cov <= 1.0


def test_row_level_bootstrap_undercovers_on_the_same_simulation():
    # Guards the simulation itself: if rows of one author were not dependent, the coverage test
    # above could not tell a cluster bootstrap from a row bootstrap. Expected coverage here ~0.6.
    def rows_as_clusters(va, ca, vb, cb, seed):
        n_a, n_b = len(va), len(vb)
        return ratio_of_quantiles(va, np.arange(n_a), vb, np.arange(n_a, n_a + n_b), n_boot=300, seed=seed)

    cov = coverage(
        lambda rng: simulate_cycle_times(rng, ratio=0.7), rows_as_clusters, 0.7, n_datasets=60, seed=123
    )
    assert cov < 0.85


def test_throughput_coverage_fast():
    cov = coverage(
        lambda rng: simulate_throughput(rng, ratio=1.5),
        lambda *a, seed: ratio_of_rates(*a, n_boot=300, seed=seed),
        1.5,
        n_datasets=60,
        seed=321,
    )
    assert 0.85 <= cov <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("truth", [0.7, 1.0])
def test_cycle_time_coverage_slow(truth):
    # 250 datasets: the binomial sd of a 95% coverage is 1.4 points, so [0.90, 0.99] is > 3 sd.
    cov = coverage(
        lambda rng: simulate_cycle_times(rng, ratio=truth, n_authors=60, rows_per_author=8),
        lambda *a, seed: ratio_of_quantiles(*a, n_boot=1000, seed=seed),
        truth,
        n_datasets=250,
        seed=7,
    )
    assert 0.90 <= cov <= 0.99


@pytest.mark.slow
@pytest.mark.parametrize("truth", [1.5, 1.0])
def test_throughput_coverage_slow(truth):
    cov = coverage(
        lambda rng: simulate_throughput(rng, ratio=truth, n_authors=80),
        lambda *a, seed: ratio_of_rates(*a, n_boot=1000, seed=seed),
        truth,
        n_datasets=250,
        seed=8,
    )
    assert 0.90 <= cov <= 0.99


# --------------------------------------------------------------------------------- caveats


def test_small_groups_and_few_clusters_are_flagged():
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(size=12), rng.lognormal(size=30)
    est = ratio_of_quantiles(a, np.arange(12) % 5, b, np.arange(30) % 5, n_boot=200)
    assert est.ratio is not None and est.ci_low is not None
    assert any("Group a has only 12 values" in c for c in est.caveats)
    assert not any("Group b has only" in c for c in est.caveats)
    assert any("Only 5 clusters" in c for c in est.caveats)


def test_single_cluster_gives_ratio_but_no_interval():
    est = ratio_of_quantiles([1.0, 2.0, 3.0], ["ann"] * 3, [2.0, 4.0], ["ann"] * 2)
    assert est.ratio == pytest.approx(2.0 / 3.0)  # 2 / median(2, 4) = 2 / 3
    assert est.ci_low is None and est.ci_high is None
    assert any("no confidence interval" in c for c in est.caveats)


def test_many_replicates_with_an_empty_group_are_reported():
    # Group a lives in one author out of 20; a resample misses that author with probability
    # (19/20)^20 = 36%, far above the 5% tolerance.
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(size=30), rng.lognormal(size=200)
    est = ratio_of_quantiles(a, np.zeros(30, int), b, np.arange(200) % 20, n_boot=1000)
    assert est.ci_low is not None
    dropped = [c for c in est.caveats if "bootstrap resamples" in c]
    assert len(dropped) == 1
    share = int(re.search(r"\((\d+)%\)", dropped[0]).group(1))
    assert 30 <= share <= 42


def test_no_dropped_caveat_when_every_author_is_in_both_groups():
    args = simulate_cycle_times(np.random.default_rng(4), ratio=1.0, n_authors=40, rows_per_author=20)
    assert not any("bootstrap resamples" in c for c in ratio_of_quantiles(*args, n_boot=300).caveats)


@pytest.mark.parametrize(
    ("sizes_a", "sizes_b", "expected"),
    [
        ([100, 120, 80, np.nan], [50, 40, 60, 50, 55], "2.0x larger"),  # medians 100 vs 50
        ([30, 30, 30, 30], [60, 60, 90, 45, 60], "2.0x smaller"),  # medians 30 vs 60
        ([60, 60, 60, 60], [50, 50, 50, 50, 50], None),  # 1.2x: within tolerance
    ],
)
def test_size_mismatch_caveat(sizes_a, sizes_b, expected):
    est = ratio_of_quantiles(
        [1, 2, 3, 4], list("wxyz"), [1, 2, 3, 4, 5], list("vwxyz"),
        n_boot=100, sizes_a=sizes_a, sizes_b=sizes_b,
    )
    size_caveats = [c for c in est.caveats if "size itself moves with AI" in c]
    if expected is None:
        assert size_caveats == []
    else:
        assert len(size_caveats) == 1 and expected in size_caveats[0]


def test_to_dict_is_json_ready():
    est = ratio_of_quantiles([1.0, 2.0], ["a", "b"], [3.0, 4.0], ["a", "b"], n_boot=50)
    d = json.loads(json.dumps(est.to_dict()))
    assert d["estimator"] == "ratio_of_medians" and d["ratio"] == pytest.approx(1.5 / 3.5)
    assert isinstance(d["caveats"], list) and d["caveats"] == list(est.caveats)
    # The core keys first, in order, then the estimator's own (flat, never overwriting a core key).
    assert list(d)[: len(CORE_KEYS)] == list(CORE_KEYS)
    assert set(d) == set(CORE_KEYS) | set(est.extra)
    assert set(CORE_KEYS) >= {f for f in Estimate.__dataclass_fields__} - {"extra"}


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.0, np.nan, 3.0], "NaN"),
        ([1.0, np.inf], "infinite"),
        ([1.0, 0.0, 2.0], "zero or negative"),
        ([1.0, -5.0], "zero or negative"),
    ],
)
def test_bad_durations_raise(values, message):
    with pytest.raises(ValueError, match=message):
        ratio_of_quantiles(values, np.arange(len(values)), [1.0, 2.0], [0, 1])
    with pytest.raises(ValueError, match=message):
        ratio_of_quantiles([1.0, 2.0], [0, 1], values, np.arange(len(values)))


def test_mismatched_or_missing_cluster_ids_raise():
    with pytest.raises(ValueError, match="one id per value"):
        ratio_of_quantiles([1.0, 2.0, 3.0], [0, 1], [1.0], [0])
    with pytest.raises(ValueError, match="missing"):
        ratio_of_quantiles([1.0, 2.0], ["ann", None], [1.0], ["ann"])


def test_empty_group_gives_no_ratio():
    est = ratio_of_quantiles([], [], [1.0, 2.0], ["a", "b"])
    assert est.ratio is None and est.ci_low is None and est.ci_high is None
    assert est.n_a == 0 and any("Group a has no values" in c for c in est.caveats)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 2], [1, 1], [0, 0], [0, 0]), "Group b has no exposure"),
        (([1, 2], [1, 1], [0, 0], [3, 3]), "Group b has no events"),
        (([0, 0], [0, 0], [1, 2], [1, 1]), "Group a has no exposure"),
    ],
)
def test_rates_without_a_denominator_give_no_ratio(args, message):
    est = ratio_of_rates(*args)
    assert est.ratio is None and est.ci_low is None and est.ci_high is None
    assert any(message in c for c in est.caveats)


def test_zero_events_after_is_an_estimate_of_zero_with_an_honest_upper_bound():
    # No events in a: every bootstrap resample has none either, so the percentile interval would
    # be [0, 0], claiming certainty that the rate is zero. The upper bound is the exact one:
    # given N events in all, events in a ~ Binomial(N, p) with p = R x_a / (R x_a + x_b); with
    # none seen the Clopper-Pearson upper limit is 1 - (alpha/2)^(1/N), and
    # R = p / (1 - p) * x_b / x_a. Here N = 6, x_a = 3, x_b = 3.
    est = ratio_of_rates([0, 0, 0], [1, 1, 1], [1, 2, 3], [1, 1, 1], n_boot=100)
    p_hi = 1 - 0.025 ** (1 / 6)
    assert est.ratio == 0.0 and est.ci_low == 0.0
    assert est.ci_high == pytest.approx(p_hi / (1 - p_hi) * 3 / 3, rel=1e-9)
    assert est.extra["interval"] == "exact_poisson"
    assert any("no events" in c and "ignores" in c for c in est.caveats)
    # A 90% interval's bound is lower.
    est90 = ratio_of_rates([0, 0, 0], [2, 1, 1], [1, 2, 3], [1, 1, 1], conf=0.9, n_boot=100)
    p90 = 1 - 0.05 ** (1 / 6)
    assert est90.ci_high == pytest.approx(p90 / (1 - p90) * 3 / 4, rel=1e-9)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 2], [1, 1], [1], [1]), "one entry per cluster"),
        (([1, -2], [1, 1], [1, 1], [1, 1]), "negative"),
        (([1, np.nan], [1, 1], [1, 1], [1, 1]), "NaN"),
        (([1, 2], [1, 0], [1, 1], [1, 1]), "events but zero exposure"),
        (([1.5, 2], [1, 1], [1, 1], [1, 1]), "whole numbers"),
    ],
)
def test_bad_rate_input_raises(args, message):
    with pytest.raises(ValueError, match=message):
        ratio_of_rates(*args)


def test_single_author_rates_give_ratio_without_interval():
    est = ratio_of_rates([6], [2], [3], [3])  # (6 / 2) / (3 / 3) = 3
    assert est.ratio == pytest.approx(3.0) and est.ci_low is None
    assert est.n_clusters == 1 and any("no confidence interval" in c for c in est.caveats)


# --------------------------------------------------------------------------- adoption detection

MONDAY = dt.date(2024, 1, 1)


def weeks(n):
    return [MONDAY + dt.timedelta(weeks=i) for i in range(n)]


def test_sporadic_early_use_is_ignored_and_sustained_use_found_at_its_first_week():
    ai = [0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 4, 2, 5, 6, 4, 7, 8]
    assert detect_adoption(weeks(20), ai, [10] * 20) == MONDAY + dt.timedelta(weeks=12)


def test_gap_inside_the_span_is_tolerated():
    # Weeks 5, 6, 8 have AI and 7 does not: 3 of the 4 weeks from week 5.
    ai = [0, 0, 0, 0, 0, 1, 1, 0, 1, 0]
    assert detect_adoption(weeks(10), ai, [5] * 10) == MONDAY + dt.timedelta(weeks=5)
    # With a stricter rule the same series has no adoption.
    assert detect_adoption(weeks(10), ai, [5] * 10, min_weeks=4) is None


def test_missing_weeks_count_as_zero_not_as_adjacent():
    # Weeks 3 and 4 are absent. Read by position, weeks 1, 2, 5 would look consecutive.
    given = [0, 1, 2, 5, 6]
    ai = [0, 1, 1, 1, 1]
    starts = [MONDAY + dt.timedelta(weeks=i) for i in given]
    assert detect_adoption(starts, ai, [3] * 5) is None
    # Filling week 3 makes weeks 2, 3, 5 three AI weeks within 2..5.
    starts.append(MONDAY + dt.timedelta(weeks=3))
    assert detect_adoption(starts, ai + [1], [3] * 6) == MONDAY + dt.timedelta(weeks=1)


def test_use_starting_in_the_last_weeks_is_not_yet_sustained():
    assert detect_adoption(weeks(8), [0] * 6 + [1, 1], [4] * 8) is None


def test_min_share_ignores_token_use():
    ai = [1, 1, 1, 1, 1, 1, 30, 40, 35, 50]
    total = [100] * 10
    assert detect_adoption(weeks(10), ai, total) == MONDAY
    assert detect_adoption(weeks(10), ai, total, min_share=0.1) == MONDAY + dt.timedelta(weeks=6)


def test_order_and_date_types_do_not_matter():
    ai = [0, 0, 1, 1, 1, 0]
    expected = MONDAY + dt.timedelta(weeks=2)
    order = [5, 3, 0, 2, 4, 1]
    shuffled = [weeks(6)[i] for i in order]
    assert detect_adoption(shuffled, [ai[i] for i in order], [9] * 6) == expected
    as_np = np.array(weeks(6), dtype="datetime64[D]")
    assert detect_adoption(as_np, ai, [9] * 6) == expected
    as_dt = [dt.datetime.combine(d, dt.time(0, 0)) for d in weeks(6)]
    assert detect_adoption(as_dt, ai, [9] * 6) == expected


def test_no_data_means_no_adoption():
    assert detect_adoption([], [], []) is None
    assert detect_adoption(weeks(5), [0] * 5, [3] * 5) is None


@pytest.mark.parametrize(
    ("starts", "ai", "total", "kwargs", "message"),
    [
        ([MONDAY, MONDAY + dt.timedelta(days=3)], [1, 1], [1, 1], {}, "weekly grid"),
        ([MONDAY, MONDAY], [1, 1], [1, 1], {}, "same week twice"),
        (weeks(2), [1, 3], [1, 1], {}, "more AI-signed"),
        (weeks(2), [1], [1, 1], {}, "differ in length"),
        (weeks(2), [-1, 0], [1, 1], {}, "negative"),
        (weeks(2), [1, 1], [1, 1], {"min_weeks": 5}, "min_weeks"),
    ],
)
def test_bad_adoption_input_raises(starts, ai, total, kwargs, message):
    with pytest.raises(ValueError, match=message):
        detect_adoption(starts, ai, total, **kwargs)


def test_caveats_name_the_groups_the_caller_compares():
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(3, 0.5, 5), rng.lognormal(3, 0.5, 40)
    est = ratio_of_quantiles(a, np.arange(5), b, np.arange(40), n_boot=50,
                             sizes_a=np.full(5, 300.0), sizes_b=np.full(40, 30.0),
                             labels=("the AI-assisted group", "the human group"))
    assert any(c.startswith("The AI-assisted group has only 5 values") for c in est.caveats)
    assert any(c.startswith("Changes in the AI-assisted group are 10.0x larger than in the human group")
               for c in est.caveats)
    assert not any(re.search(r"\bgroup [ab]\b", c, re.I) for c in est.caveats)


def test_all_durations_equal_give_no_ratio_and_say_why():
    # Issue 3's bad-input list: identical durations carry no information about a ratio; ratio 1
    # with the interval [1, 1] would claim certainty that nothing differs.
    est = ratio_of_quantiles(np.full(30, 5.0), np.arange(30), np.full(25, 5.0), np.arange(25), n_boot=100)
    assert est.ratio is None and est.ci_low is None and est.ci_high is None
    assert any("every duration in both groups is 5" in c.lower() for c in est.caveats)


def test_a_zero_width_interval_is_flagged():
    # Each group constant (10 h and 5 h): every resample gives exactly 2. The interval [2, 2]
    # reflects data without variation, not a ratio known exactly, and must say so.
    est = ratio_of_quantiles(np.full(30, 10.0), np.arange(30), np.full(30, 5.0), np.arange(30, 60), n_boot=200)
    assert est.ratio == 2.0 and est.ci_low == est.ci_high == 2.0
    assert any("zero width" in c for c in est.caveats)
    varied = ratio_of_quantiles(*simulate_cycle_times(np.random.default_rng(1), ratio=0.7), n_boot=200)
    assert not any("zero width" in c for c in varied.caveats)

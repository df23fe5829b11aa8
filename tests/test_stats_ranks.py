"""Hodges-Lehmann ratio, its distribution-free interval and the Mann-Whitney p-value, against
hand-worked examples, brute force, scipy and a planted-effect simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from loopmeter.stats.ranks import (
    _select_by_counting,
    hodges_lehmann,
    kth_pairwise_difference,
    mann_whitney_null_cdf,
    moses_rank,
)

# log a = 0, 1, 3, 6, 10 and log b = -1, 2, 4, 5, 7 (no value shared). The 25 differences
# log a_i - log b_j, sorted by hand:
#   -7 -6 -5 -4 -4 -4 -3 -2 -2 -1 -1 -1 | 1 | 1 1 2 2 3 4 4 5 6 7 8 11
# median = 13th = 1, so the HL ratio is e. For 5 vs 5 the exact null of U has
# P(U <= 2) = (1 + 1 + 2) / 252 = 0.0159 <= 0.025 < P(U <= 3) = 7 / 252 = 0.0278, so C = 3 and
# the 95% interval is [exp D_(3), exp D_(23)] = [e^-5, e^7].
HAND_A = np.exp([0.0, 1.0, 3.0, 6.0, 10.0])
HAND_B = np.exp([2.0, 4.0, 5.0, 7.0, -1.0])


def test_hodges_lehmann_hand_worked():
    est = hodges_lehmann(HAND_A, HAND_B)
    assert est.estimator == "hodges_lehmann"
    assert est.ratio == pytest.approx(math.e, rel=1e-9)
    assert est.extra["ci_method"] == "exact" and est.extra["rank_c"] == 3
    assert est.ci_low == pytest.approx(math.exp(-5), rel=1e-9)
    assert est.ci_high == pytest.approx(math.exp(7), rel=1e-9)
    assert (est.n_a, est.n_b, est.n_clusters) == (5, 5, 10)
    assert est.speedup == pytest.approx(1 - math.e)


def test_exact_null_distribution_hand_worked():
    cdf = mann_whitney_null_cdf(5, 5)
    assert cdf[2] == pytest.approx(4 / 252) and cdf[3] == pytest.approx(7 / 252)
    assert cdf[-1] == pytest.approx(1.0) and cdf.size == 26
    # 4 vs 4: the most extreme arrangement has probability 1 / C(8, 4) = 1 / 70.
    assert mann_whitney_null_cdf(4, 4)[0] == pytest.approx(1 / 70)
    assert moses_rank(4, 4, 0.95) == (1, "exact")  # 1/70 <= 0.025 < 2/70
    assert moses_rank(3, 3, 0.95) == (0, "exact")  # 1/20 > 0.025: no interval exists


def test_exact_null_distribution_matches_scipy_exact_test():
    # scipy's exact two-sided p-value for an observed U is 2 P(U <= u) for u below the centre.
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=7), rng.normal(0.8, 1, size=9)
    u = scipy.stats.mannwhitneyu(a, b, method="exact").statistic
    u_low = min(u, 63 - u)
    ref = scipy.stats.mannwhitneyu(a, b, method="exact").pvalue
    assert min(1.0, 2 * mann_whitney_null_cdf(7, 9)[int(u_low)]) == pytest.approx(ref, rel=1e-9)


def test_hodges_lehmann_equals_brute_force_median_of_ratios():
    rng = np.random.default_rng(7)
    a, b = rng.lognormal(3, 1, 57), rng.lognormal(3.4, 1, 45)
    ratios = np.array([x / y for x in a for y in b])  # 2565 pairs: an odd count, one middle
    est = hodges_lehmann(a, b)
    assert est.ratio == pytest.approx(float(np.median(ratios)), rel=1e-9)
    # With an even count the two middle differences are averaged on the log scale.
    even = hodges_lehmann(a[:-1], b)
    assert even.ratio == pytest.approx(math.exp(np.median(np.log(np.outer(a[:-1], 1 / b)))), rel=1e-9)
    d = np.sort(np.log(ratios))
    c = est.extra["rank_c"]
    assert est.extra["ci_method"] == "normal"
    assert est.ci_low == pytest.approx(math.exp(d[c - 1]), rel=1e-9)
    assert est.ci_high == pytest.approx(math.exp(d[d.size - c]), rel=1e-9)


def test_normal_rank_matches_the_formula_worked_out():
    # 57 x 44: N = 101, var U = 2508 * 102 / 12 = 21318, sqrt = 146.007;
    # C = floor(1254 - 1.959964 * 146.007) = floor(967.83) = 967.
    assert moses_rank(57, 44, 0.95) == (967, "normal")


def test_counting_selection_equals_brute_force_with_ties():
    rng = np.random.default_rng(1)
    x = np.sort(np.round(rng.normal(size=700), 1))  # heavy ties
    y = np.sort(np.round(rng.normal(size=900), 1))
    d = np.sort(np.subtract.outer(x, y).ravel())
    for k in (1, 2, 5000, d.size // 2, d.size // 2 + 1, d.size - 3, d.size):
        assert _select_by_counting(x, y, k) == pytest.approx(d[k - 1], abs=1e-12)
    assert kth_pairwise_difference(x, y, [17]) == [pytest.approx(d[16], abs=1e-12)]


def test_large_samples_use_linear_memory_and_agree_with_brute_force_on_a_subsample():
    rng = np.random.default_rng(2)
    a, b = rng.lognormal(3, 1, 3000), rng.lognormal(3.2, 1, 2500)  # 7.5 M pairs: counting path
    est = hodges_lehmann(a, b)
    brute = np.median(np.subtract.outer(np.log(a), np.log(b)))
    assert est.extra["log_shift"] == pytest.approx(brute, abs=1e-12)
    assert est.ci_low < est.ratio < est.ci_high


def test_p_value_is_mann_whitney_small_exact():
    # Fully separated 4 vs 4: U = 0, exact two-sided p = 2 / 70.
    est = hodges_lehmann([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0])
    assert est.p_value == pytest.approx(2 / 70, rel=1e-12)


def test_p_value_is_mann_whitney_normal_with_ties_worked_out():
    rng = np.random.default_rng(3)
    a = np.round(rng.lognormal(2, 1, 40))
    b = np.round(rng.lognormal(2.4, 1, 50))
    a, b = a[a > 0], b[b > 0]
    pooled = np.concatenate([a, b])
    ranks = scipy.stats.rankdata(pooled)
    m, n = a.size, b.size
    u = ranks[:m].sum() - m * (m + 1) / 2
    _, t = np.unique(pooled, return_counts=True)
    sd = math.sqrt(m * n / 12 * ((m + n + 1) - (t**3 - t).sum() / ((m + n) * (m + n - 1))))
    z = (abs(u - m * n / 2) - 0.5) / sd
    want = 2 * scipy.stats.norm.sf(z)
    assert hodges_lehmann(a, b).p_value == pytest.approx(want, rel=1e-9)


def hl_coverage(n_datasets, seed, n_a, n_b):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_datasets):
        a = rng.lognormal(np.log(24 * 0.7), 1.0, n_a)
        b = rng.lognormal(np.log(24), 1.0, n_b)
        est = hodges_lehmann(a, b)
        hits += est.ci_low <= 0.7 <= est.ci_high
    return hits / n_datasets


def test_planted_ratio_coverage_with_independent_rows_fast():
    assert 0.85 <= hl_coverage(80, seed=11, n_a=40, n_b=45) <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(("n_a", "n_b"), [(40, 45), (120, 90)])  # exact and normal-approximation ranks
def test_planted_ratio_coverage_with_independent_rows_slow(n_a, n_b):
    # 400 datasets: binomial sd at 95% is 1.1 points; [0.91, 0.99] is over 3 sd either side.
    assert 0.91 <= hl_coverage(400, seed=12, n_a=n_a, n_b=n_b) <= 0.99


def test_too_small_for_an_interval_says_so():
    est = hodges_lehmann([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert est.ratio is not None and est.ci_low is None and est.ci_high is None
    assert any("Too few values for a 95% distribution-free interval" in c for c in est.caveats)


def _developer_table(seed, n_dev=15, rows=300, whole_developer=False):
    rng = np.random.default_rng(seed)
    dev = rng.integers(0, n_dev, rows)
    arm = (rng.random(n_dev) < 0.5)[dev] if whole_developer else rng.random(rows) < 0.5
    y = np.exp(1.0 + rng.normal(0, 0.6, n_dev)[dev] + math.log(0.75) * arm + rng.normal(0, 0.8, rows))
    return y, arm, dev


def _statsmodels_rank_t(y, arm, dev, shift):
    """Independent: OLS of scipy's pooled mid-ranks of log(y) - shift [treated] on the arm, with
    statsmodels' cluster-robust (CR1) covariance and t on G - 1 degrees of freedom."""
    import statsmodels.api as sm

    x = np.log(y) - shift * arm
    fit = sm.OLS(scipy.stats.rankdata(x), sm.add_constant(arm.astype(float))).fit(
        cov_type="cluster", cov_kwds={"groups": dev}, use_t=True)
    return float(fit.tvalues[1]), float(fit.pvalues[1])


@pytest.mark.parametrize("whole_developer", [False, True])
def test_clustered_rows_get_the_clustered_rank_test_checked_against_statsmodels(whole_developer):
    y, arm, dev = _developer_table(3, whole_developer=whole_developer)
    est = hodges_lehmann(y[arm], y[~arm], clusters_a=dev[arm], clusters_b=dev[~arm])
    plain = hodges_lehmann(y[arm], y[~arm])
    assert est.clustered is True and plain.clustered is False
    assert est.extra["ci_method"] == "clustered_rank_test"
    # The point estimate is the HL one either way; the row-independent interval is kept beside.
    assert est.ratio == pytest.approx(plain.ratio, rel=1e-12)
    assert (est.extra["ci_plain_low"], est.extra["ci_plain_high"], est.extra["p_value_plain"]) == pytest.approx(
        (plain.ci_low, plain.ci_high, plain.p_value), rel=1e-12)
    t0, p0 = _statsmodels_rank_t(y, arm, dev, 0.0)
    assert est.extra["rank_t"] == pytest.approx(t0, rel=1e-9)
    assert est.p_value == pytest.approx(p0, rel=1e-9)
    # The interval inverts the same test: just inside each bound it does not reject, just outside it does.
    crit = scipy.stats.t.ppf(0.975, len(np.unique(dev)) - 1)
    for bound, outward in ((math.log(est.ci_low), -1.0), (math.log(est.ci_high), 1.0)):
        inside, _ = _statsmodels_rank_t(y, arm, dev, bound - outward * 1e-9)
        outside, _ = _statsmodels_rank_t(y, arm, dev, bound + outward * 1e-9)
        assert abs(inside) <= crit < abs(outside)
    assert est.ci_low < est.ratio < est.ci_high
    # No cluster holds several rows: the row-independent Moses interval and Mann-Whitney p-value.
    singles = hodges_lehmann(y[arm], y[~arm], clusters_a=np.arange(arm.sum()),
                             clusters_b=np.arange(arm.sum(), len(y)))
    assert singles.clustered is False and (singles.ci_low, singles.p_value) == (plain.ci_low, plain.p_value)


def test_whole_developer_randomization_widens_the_interval_the_plain_one_understates():
    y, arm, dev = _developer_table(11, n_dev=16, rows=480, whole_developer=True)
    est = hodges_lehmann(y[arm], y[~arm], clusters_a=dev[arm], clusters_b=dev[~arm])
    width = math.log(est.ci_high / est.ci_low)
    plain_width = math.log(est.extra["ci_plain_high"] / est.extra["ci_plain_low"])
    assert width > 1.5 * plain_width
    assert est.p_value > est.extra["p_value_plain"]


def test_empty_group_gives_no_ratio_and_bad_values_raise():
    est = hodges_lehmann([], [1.0])
    assert est.ratio is None and est.p_value is None
    with pytest.raises(ValueError, match="zero or negative"):
        hodges_lehmann([1.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="both groups or for neither"):
        hodges_lehmann([1.0], [1.0], clusters_a=["x"])


def test_all_durations_equal_give_no_ratio_and_say_why():
    est = hodges_lehmann(np.full(30, 5.0), np.full(30, 5.0))
    assert est.ratio is None and est.ci_low is None and est.ci_high is None and est.p_value is None
    assert any("every duration in both groups is 5" in c.lower() for c in est.caveats)


def test_a_zero_width_interval_is_flagged():
    est = hodges_lehmann(np.full(30, 10.0), np.full(30, 5.0))
    assert est.ci_low == pytest.approx(est.ci_high)
    assert any("zero width" in c for c in est.caveats)
    assert not any("zero width" in c for c in hodges_lehmann(HAND_A, HAND_B).caveats)

"""BCa intervals for the cluster bootstrap, against scipy's BCa and a planted-effect simulation.

scipy resamples rows, so the comparison is made exact by feeding our BCa scipy's own bootstrap
distribution: what remains to differ is the bias correction, the jackknife acceleration and the
adjusted quantiles, which is everything BCa adds to the percentile interval.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from loopmeter.stats.bootstrap import bca_interval, cluster_jackknife, weighted_quantile
from loopmeter.stats.lift import ratio_of_quantiles, ratio_of_rates
from test_stats_lift import coverage, simulate_cycle_times, simulate_throughput


def _median_of_counts(x):
    order = np.argsort(x)
    return lambda counts: weighted_quantile(x[order], counts[:, order], 0.5)


@pytest.mark.parametrize("conf", [0.95, 0.9])
def test_bca_equals_scipy_bca_on_one_sample_median(conf):
    x = np.random.default_rng(21).lognormal(2.0, 1.2, 151)  # skewed: BCa differs from percentile
    ref = scipy.stats.bootstrap(
        (x,), np.median, n_resamples=4000, method="BCa", confidence_level=conf,
        rng=np.random.default_rng(5),
    )
    # Each row its own cluster: the leave-one-cluster-out jackknife is scipy's leave-one-out.
    jack = cluster_jackknife(_median_of_counts(x), len(x))
    got = bca_interval(float(np.median(x)), ref.bootstrap_distribution, jack, conf)
    assert got == pytest.approx(tuple(ref.confidence_interval), rel=1e-6)


def test_bca_equals_scipy_bca_on_a_skewed_mean():
    # The mean has a smooth, strongly skewed jackknife: a large acceleration to get right.
    x = np.random.default_rng(2).exponential(3.0, 40) ** 2
    ref = scipy.stats.bootstrap((x,), np.mean, n_resamples=3000, method="BCa", rng=np.random.default_rng(1))
    jack = cluster_jackknife(lambda c: (c @ x) / c.sum(axis=1), len(x))
    got = bca_interval(float(x.mean()), ref.bootstrap_distribution, jack, 0.95)
    assert got == pytest.approx(tuple(ref.confidence_interval), rel=1e-6)
    # The comparison has teeth: here BCa moves both ends well away from the percentile interval.
    pct = np.quantile(ref.bootstrap_distribution, [0.025, 0.975])
    assert got[0] > pct[0] * 1.03 and got[1] > pct[1] * 1.03


def test_bca_of_ratio_of_medians_equals_scipy_paired_bca():
    # One row of each group per cluster: scipy's paired bootstrap resamples exactly our clusters.
    rng = np.random.default_rng(9)
    a, b = rng.lognormal(2.5, 1.0, 80), rng.lognormal(3.0, 1.0, 80)
    stat = lambda x, y, axis: np.median(x, axis=axis) / np.median(y, axis=axis)  # noqa: E731
    ref = scipy.stats.bootstrap(
        (a, b), stat, paired=True, vectorized=True, n_resamples=3000, method="BCa",
        rng=np.random.default_rng(3),
    )
    ma, mb = _median_of_counts(a), _median_of_counts(b)
    jack = cluster_jackknife(lambda c: ma(c) / mb(c), 80)
    got = bca_interval(float(np.median(a) / np.median(b)), ref.bootstrap_distribution, jack, 0.95)
    assert got == pytest.approx(tuple(ref.confidence_interval), rel=1e-6)

    # The estimator's own BCa (its own replicates) lands within Monte Carlo error of scipy's.
    est = ratio_of_quantiles(a, np.arange(80), b, np.arange(80), n_boot=3000, seed=4, interval="bca")
    assert est.extra["interval"] == "bca"
    assert (est.ci_low, est.ci_high) == (est.extra["ci_bca_low"], est.extra["ci_bca_high"])
    assert est.ci_low == pytest.approx(ref.confidence_interval.low, rel=0.05)
    assert est.ci_high == pytest.approx(ref.confidence_interval.high, rel=0.05)


def test_percentile_and_bca_are_both_reported_when_cheap():
    args = simulate_cycle_times(np.random.default_rng(3), ratio=0.7, n_authors=30)
    pct = ratio_of_quantiles(*args, n_boot=500, seed=1)
    bca = ratio_of_quantiles(*args, n_boot=500, seed=1, interval="bca")
    assert pct.extra["interval"] == "percentile" and bca.extra["interval"] == "bca"
    for key in ("ci_percentile_low", "ci_percentile_high", "ci_bca_low", "ci_bca_high"):
        assert pct.extra[key] == bca.extra[key] is not None
    assert (pct.ci_low, pct.ci_high) == (pct.extra["ci_percentile_low"], pct.extra["ci_percentile_high"])
    assert (bca.ci_low, bca.ci_high) == (bca.extra["ci_bca_low"], bca.extra["ci_bca_high"])
    assert bca.ratio == pct.ratio


def test_bca_of_rates_is_reported():
    est = ratio_of_rates(*simulate_throughput(np.random.default_rng(5), ratio=1.5), n_boot=500, interval="bca")
    assert est.extra["interval"] == "bca" and est.ci_low < est.ratio < est.ci_high
    assert est.extra["rate_a"] / est.extra["rate_b"] == pytest.approx(est.ratio)


def test_bca_without_spread_is_the_estimate():
    # Every replicate's ratio is exactly 2 and so is every jackknife value: no skew, no width.
    v = np.random.default_rng(0).lognormal(3.0, 1.0, 30)
    est = ratio_of_quantiles(v, np.arange(30), v / 2, np.arange(30), n_boot=200, interval="bca")
    assert est.ci_low == pytest.approx(2.0) and est.ci_high == pytest.approx(2.0)


def test_undefined_bca_falls_back_to_percentile_and_says_so():
    # Group a lives in one author: leaving that author out leaves group a empty.
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(size=30), rng.lognormal(size=200)
    est = ratio_of_quantiles(a, np.zeros(30, int), b, np.arange(200) % 20, n_boot=300, interval="bca")
    assert est.extra["interval"] == "percentile" and est.extra["ci_bca_low"] is None
    assert (est.ci_low, est.ci_high) == (est.extra["ci_percentile_low"], est.extra["ci_percentile_high"])
    assert any("BCa interval is undefined" in c for c in est.caveats)


def test_bca_returns_none_when_every_replicate_is_on_one_side():
    assert bca_interval(1.0, np.full(100, 2.0), np.array([1.0, 2.0, 3.0]), 0.95) is None
    assert bca_interval(1.0, np.array([]), np.array([1.0, 2.0]), 0.95) is None
    assert bca_interval(1.0, np.linspace(0, 2, 50), np.array([1.0, np.nan]), 0.95) is None


def test_unknown_interval_method_is_refused():
    with pytest.raises(ValueError, match="interval must be one of"):
        ratio_of_quantiles([1.0, 2.0], [0, 1], [1.0, 2.0], [0, 1], interval="studentized")


def test_bca_coverage_fast():
    cov = coverage(
        lambda rng: simulate_cycle_times(rng, ratio=0.7),
        lambda *a, seed: ratio_of_quantiles(*a, n_boot=300, seed=seed, interval="bca"),
        0.7,
        n_datasets=60,
        seed=99,
    )
    assert 0.85 <= cov <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("truth", [0.7, 1.0])
def test_bca_coverage_slow(truth):
    # 250 datasets: the binomial sd of a 95% coverage is 1.4 points, so [0.90, 0.99] is > 3 sd.
    cov = coverage(
        lambda rng: simulate_cycle_times(rng, ratio=truth, n_authors=60, rows_per_author=8),
        lambda *a, seed: ratio_of_quantiles(*a, n_boot=1000, seed=seed, interval="bca"),
        truth,
        n_datasets=250,
        seed=17,
    )
    assert 0.90 <= cov <= 0.99


def test_bca_keys_are_null_not_missing_when_the_jackknife_is_skipped():
    # More clusters than resamples: the BCa is not computed alongside, but the documented keys
    # (docs/json-report.md) are still there, as null.
    args = simulate_cycle_times(np.random.default_rng(2), ratio=0.7, n_authors=60)
    d = ratio_of_quantiles(*args, n_boot=50, seed=1).to_dict()
    assert d["ci_bca_low"] is None and d["ci_bca_high"] is None
    assert d["ci_percentile_low"] is not None


def test_leave_one_cluster_out_quantiles_equal_brute_force():
    # The BCa's jackknife of the quantile ratio, against np.quantile of each group with one
    # cluster's rows removed, for clusters in one group, in both, and of one row each.
    from loopmeter.stats.bootstrap import factorize_clusters
    from loopmeter.stats.lift import _quantile_ratio_jackknife

    rng = np.random.default_rng(1)
    for ca, cb in ((rng.integers(0, 12, 60), rng.integers(3, 15, 70)), (np.arange(40), np.arange(40, 75))):
        a, b = rng.lognormal(size=ca.size).round(1), rng.lognormal(size=cb.size).round(1)  # with ties
        (xa, xb), k = factorize_clusters(ca, cb)
        for q in (0.5, 0.85, 0.1):
            got = _quantile_ratio_jackknife(a, xa, b, xb, q, k)
            want = [
                np.quantile(a[xa != j], q) / np.quantile(b[xb != j], q)
                if (xa != j).any() and (xb != j).any() else np.nan
                for j in range(k)
            ]
            np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    # A cluster holding all of a group leaves it empty: undefined, NaN.
    got = _quantile_ratio_jackknife(np.array([1.0, 2.0]), np.array([0, 0]), np.array([3.0, 4.0]),
                                    np.array([1, 2]), 0.5, 3)
    assert np.isnan(got[0]) and got[1] == pytest.approx(1.5 / 4.0)


def test_bca_over_twenty_thousand_single_row_clusters_brackets_the_ratio():
    # A pilot CSV without a cluster column: every row is its own cluster, and the linear-time
    # jackknife must still give a BCa interval (its speed is measured in bench/estimators.py).
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(size=10_000), rng.lognormal(0.2, 1.0, 10_000)
    est = ratio_of_quantiles(a, np.arange(10_000), b, np.arange(10_000, 20_000), interval="bca")
    assert est.extra["interval"] == "bca" and est.ci_low < est.ratio < est.ci_high
    assert est.ci_low < np.exp(-0.2) < est.ci_high  # planted: medians e^0 / e^0.2

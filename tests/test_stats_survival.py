"""Kaplan-Meier, log-rank and the ratio of KM medians, checked against lifelines and by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times

from loopmeter.stats.survival import kaplan_meier, km_ratio_of_medians, log_rank, log_rank_clustered


def _censored_sample(rng, n, scale, censor_scale, *, rounded=False):
    t = rng.exponential(scale, n)
    c = rng.exponential(censor_scale, n)
    d = np.minimum(t, c)
    if rounded:  # ties between events and censorings, as hour-rounded data has
        d = np.ceil(d)
    return d, t <= c


@pytest.mark.parametrize("seed,rounded", [(1, False), (2, True), (3, True), (4, False)])
def test_kaplan_meier_matches_lifelines_curve_intervals_and_median(seed, rounded):
    rng = np.random.default_rng(seed)
    d, e = _censored_sample(rng, 150, 30.0, 60.0, rounded=rounded)
    km = kaplan_meier(d, e)
    kmf = KaplanMeierFitter().fit(d, e)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_
    np.testing.assert_allclose(km.survival, sf.loc[km.times].to_numpy(), atol=1e-9)
    table = kmf.event_table.loc[km.times]
    np.testing.assert_array_equal(km.at_risk, table["at_risk"].to_numpy())
    np.testing.assert_array_equal(km.events, table["observed"].to_numpy())
    np.testing.assert_array_equal(km.censored, table["censored"].to_numpy())
    defined = km.survival > 0
    np.testing.assert_allclose(km.ci_low[defined], ci.iloc[:, 0].loc[km.times].to_numpy()[defined], atol=1e-6)
    np.testing.assert_allclose(km.ci_high[defined], ci.iloc[:, 1].loc[km.times].to_numpy()[defined], atol=1e-6)
    assert km.median == pytest.approx(kmf.median_survival_time_, abs=1e-9)
    lo, hi = median_survival_times(ci).to_numpy().ravel()
    assert km.median_ci[0] == pytest.approx(lo, abs=1e-9)
    assert (km.median_ci[1] is None and math.isinf(hi)) or km.median_ci[1] == pytest.approx(hi, abs=1e-9)


def test_kaplan_meier_hand_worked_with_censoring():
    # Durations 1, 2+, 3, 3, 4+, 5: S(1)=5/6, S(3)=5/6 * (1 - 2/4) = 5/12, S(5)=0.
    km = kaplan_meier([1, 2, 3, 3, 4, 5], [1, 0, 1, 1, 0, 1])
    assert list(km.times) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(km.survival, [5 / 6, 5 / 6, 5 / 12, 5 / 12, 0.0])
    assert list(km.at_risk) == [6, 5, 4, 2, 1]
    assert km.median == 3.0
    # Greenwood at t=1: V = 1/(6*5); the log(-log) bound by hand.
    v, s, z = 1 / 30, 5 / 6, 1.959963984540054
    expected_lo = math.exp(-math.exp(math.log(-math.log(s)) - z * math.sqrt(v) / math.log(s)))
    assert km.ci_low[0] == pytest.approx(expected_lo, abs=1e-9)
    assert math.isnan(km.ci_low[-1]) and km.to_dict()["ci_low"][-1] is None  # S = 0: undefined


def test_no_items_give_an_empty_curve_without_a_median():
    km = kaplan_meier([], [])
    assert km.times.size == 0 and km.median is None and km.n == 0


def test_median_not_reached_is_none_and_said_so():
    # 10 items, 3 done: the curve stays at 0.7.
    km = kaplan_meier(np.arange(1, 11), [1, 1, 1] + [0] * 7)
    assert km.median is None
    assert km.to_dict()["median_reached"] is False
    json.dumps(km.to_dict())


def test_open_items_count_as_at_risk_not_dropped():
    # Three done (1, 2, 3 h) and three still open at 5 h. Dropping the open ones gives S(2) = 1/3,
    # median 2; keeping them at risk gives S(1..3) = 5/6, 4/6, 3/6, median 3.
    km_dropped = kaplan_meier([1, 2, 3], [1, 1, 1])
    km = kaplan_meier([1, 2, 3, 5, 5, 5], [1, 1, 1, 0, 0, 0])
    assert km_dropped.median == 2.0
    assert km.median == 3.0
    assert km.n_censored == 3 and km.survival[-1] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_log_rank_matches_lifelines(seed):
    rng = np.random.default_rng(seed)
    da, ea = _censored_sample(rng, 80, 20.0, 50.0, rounded=True)
    db, eb = _censored_sample(rng, 120, 28.0, 50.0, rounded=True)
    stat, p = log_rank(da, ea, db, eb)
    ref = logrank_test(da, db, event_observed_A=ea, event_observed_B=eb)
    assert stat == pytest.approx(ref.test_statistic, abs=1e-6)
    assert p == pytest.approx(ref.p_value, abs=1e-6)


def test_log_rank_without_events_is_undefined():
    stat, p = log_rank([1.0, 2.0], [0, 0], [3.0], [0])
    assert math.isnan(stat) and math.isnan(p)


def test_bad_input_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="NaN"):
        kaplan_meier([1.0, float("nan")], [1, 1])
    with pytest.raises(ValueError, match="negative"):
        kaplan_meier([1.0, -2.0], [1, 1])
    with pytest.raises(ValueError, match="observed flags"):
        kaplan_meier([1.0, 2.0], [1, 2])


# ------------------------------------------------------------------------- ratio of KM medians


def _clustered_groups(rng, *, ratio, n_authors=40, rows=15, as_of=None):
    """Log-normal durations with author effects; each item open for a random age is censored."""
    u = rng.normal(0.0, 0.4, n_authors)
    out = []
    for shift in (np.log(ratio), 0.0):
        authors = np.repeat(np.arange(n_authors), rows)
        t = np.exp(np.log(24.0) + u[authors] + rng.normal(0, 0.7, authors.size) + shift)
        age = rng.uniform(0, 200.0, authors.size)  # how long the item had existed at the as-of
        out += [np.minimum(t, age), t <= age, authors]
    return out


def test_km_ratio_point_estimate_is_ratio_of_km_medians_and_json_ready():
    rng = np.random.default_rng(11)
    da, ea, ca, db, eb, cb = _clustered_groups(rng, ratio=0.6)
    est = km_ratio_of_medians(da, ea, ca, db, eb, cb, n_boot=400, seed=1)
    ma = KaplanMeierFitter().fit(da, ea).median_survival_time_
    mb = KaplanMeierFitter().fit(db, eb).median_survival_time_
    assert est.ratio == pytest.approx(ma / mb, rel=1e-12)
    assert est.median_a == pytest.approx(ma) and est.median_b == pytest.approx(mb)
    assert est.censored_a == int((~ea).sum()) and est.censored_b == int((~eb).sum())
    # Authors hold several rows: the p-value is the cluster-robust log-rank, the ordinary one beside it.
    assert est.clustered is True
    assert est.p_value_plain == pytest.approx(logrank_test(da, db, ea, eb).p_value, abs=1e-9)
    assert est.p_value == pytest.approx(_robust_score_p(da, ea, ca, db, eb, cb), rel=1e-9)
    assert est.p_value > 1e3 * est.p_value_plain  # same authors on both sides: the plain test overstates
    assert est.ci_low < est.ratio < est.ci_high
    d = est.to_dict()
    assert d["estimator"] == "km_median_ratio" and d["n_clusters"] == 40
    json.dumps(d)


def test_weighted_bootstrap_median_equals_km_of_the_repeated_rows():
    # The batched statistic must equal a plain KM fit on the explicitly resampled rows.
    from loopmeter.stats.bootstrap import draw_cluster_counts, factorize_clusters
    from loopmeter.stats.survival import _weighted_km_median

    rng = np.random.default_rng(3)
    da, ea, ca, *_ = _clustered_groups(rng, ratio=1.0, n_authors=12, rows=6)
    (codes,), k = factorize_clusters(ca)
    counts = draw_cluster_counts(np.random.default_rng(9), k, 30)
    got = _weighted_km_median(da, ea, codes)(counts)
    for r in range(30):
        w = counts[r, codes]
        km = kaplan_meier(np.repeat(da, w), np.repeat(ea, w))
        want = km.median if km.median is not None else np.nan
        assert (np.isnan(got[r]) and np.isnan(want)) or got[r] == want


def test_km_ratio_recovers_a_planted_effect_despite_censoring():
    rng = np.random.default_rng(21)
    da, ea, ca, db, eb, cb = _clustered_groups(rng, ratio=0.5, n_authors=60, rows=20)
    est = km_ratio_of_medians(da, ea, ca, db, eb, cb, n_boot=500, seed=2)
    assert est.ci_low <= 0.5 <= est.ci_high
    assert est.ci_high < 1.0
    assert est.p_value < 0.01


def test_km_ratio_not_reached_gives_no_ratio_and_a_caveat():
    d = np.arange(1.0, 21.0)
    est = km_ratio_of_medians(d, [1] * 5 + [0] * 15, np.arange(20), d, [1] * 20, np.arange(20), n_boot=50)
    assert est.ratio is None and est.ci_low is None
    assert est.median_a is None and est.median_b is not None
    assert any("not reached" in c for c in est.caveats)
    assert any("still open" in c for c in est.caveats)


def test_km_ratio_warns_when_many_resamples_drop_out():
    # Group a's median is barely reached: many resamples will not reach it.
    rng = np.random.default_rng(4)
    n = 30
    da = rng.uniform(1, 100, n)
    ea = np.zeros(n, bool)
    ea[np.argsort(da)[:16]] = True
    est = km_ratio_of_medians(da, ea, np.arange(n), rng.uniform(1, 100, n), np.ones(n, bool), np.arange(n), n_boot=300)
    assert est.ratio is not None
    assert any("dropped" in c for c in est.caveats)


@pytest.mark.slow
def test_km_ratio_interval_covers_the_planted_ratio():
    # Censored, author-clustered log-normal durations whose true median ratio is 0.6.
    rng = np.random.default_rng(300)
    hits, n_sets = 0, 200
    for i in range(n_sets):
        da, ea, ca, db, eb, cb = _clustered_groups(rng, ratio=0.6, n_authors=30, rows=10)
        est = km_ratio_of_medians(da, ea, ca, db, eb, cb, n_boot=400, seed=i)
        hits += est.ci_low <= 0.6 <= est.ci_high
    assert 0.90 <= hits / n_sets <= 0.99, hits / n_sets


def test_all_durations_equal_give_no_ratio_and_say_why():
    d = np.full(30, 5.0)
    est = km_ratio_of_medians(d, np.ones(30), np.arange(30), d, np.ones(30), np.arange(30), n_boot=100)
    assert est.ratio is None and est.ci_low is None and est.ci_high is None
    assert any("every duration in both groups is 5" in c.lower() for c in est.caveats)


def test_a_zero_width_interval_is_flagged():
    n = 30
    est = km_ratio_of_medians(np.full(n, 10.0), np.ones(n), np.arange(n), np.full(n, 5.0), np.ones(n),
                              np.arange(n, 2 * n), n_boot=100)
    assert est.ratio == 2.0 and est.ci_low == est.ci_high == 2.0
    assert any("zero width" in c for c in est.caveats)


def _robust_score_p(da, ea, ca, db, eb, cb):
    """Independent: statsmodels' Cox score residuals at beta = 0 (Breslow ties), summed per
    cluster; the robust score test U^2 / sum_g U_g^2 on one degree of freedom."""
    import scipy.stats
    import statsmodels.api as sm

    d, e = np.concatenate([da, db]), np.concatenate([ea, eb]).astype(float)
    z = np.concatenate([np.ones(len(da)), np.zeros(len(db))])[:, None]
    resid = sm.PHReg(d, z, status=e, ties="breslow").score_residuals(np.zeros(1))[:, 0]
    # statsmodels returns 0/0 for rows censored before the first event; nothing was at stake for
    # them (no event while they were at risk), so their score is 0. Only those rows may be NaN.
    first_event = d[e == 1].min()
    assert not np.isnan(resid[(d >= first_event) | (e == 1)]).any()
    resid = np.nan_to_num(resid, nan=0.0)
    _, codes = np.unique(np.concatenate([np.asarray(ca, dtype=str), np.asarray(cb, dtype=str)]), return_inverse=True)
    per = np.bincount(codes, weights=resid)
    return float(scipy.stats.chi2.sf(resid.sum() ** 2 / (per @ per), 1))


@pytest.mark.parametrize("seed", [1, 2])
def test_clustered_log_rank_matches_statsmodels_score_residuals_with_ties(seed):
    rng = np.random.default_rng(seed)
    da, ea, ca, db, eb, cb = _clustered_groups(rng, ratio=0.8, n_authors=12, rows=8)
    da, db = np.ceil(da), np.ceil(db)  # hour-rounded: ties between events and censorings
    ca = np.array([f"dev{c}" for c in ca])
    cb = np.array([f"dev{(c + 3) % 12}" for c in cb])  # one author in both groups is one cluster
    stat, p = log_rank_clustered(da, ea, ca, db, eb, cb)
    assert p == pytest.approx(_robust_score_p(da, ea, ca, db, eb, cb), rel=1e-9)
    assert stat == pytest.approx(scipy_chi2_isf(p), rel=1e-6)
    # Every row its own cluster: the numerator is the log-rank one, the variance the robust one.
    singles = log_rank_clustered(da, ea, np.arange(len(da)), db, eb, np.arange(len(da), len(da) + len(db)))
    assert singles[1] == pytest.approx(log_rank(da, ea, db, eb)[1], rel=0.25)


def scipy_chi2_isf(p):
    import scipy.stats

    return float(scipy.stats.chi2.isf(p, 1))

"""Interrupted time series: checked against statsmodels' formula API, a hand-computed Newey-West
covariance, and simulations with a planted level change."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from loopmeter.stats.hac import newey_west_variance
from loopmeter.stats.its import (
    COVERAGE_FLOOR,
    MEASURED_COVERAGE,
    _score_linearisation,
    ar1_sieve_draws,
    break_index_for,
    interrupted_time_series,
    its_design,
    newey_west_maxlags,
    placebo_breaks,
)


def _frame(y, b):
    t = np.arange(len(y))
    return pd.DataFrame(
        {"y": y, "t": t, "post": (t >= b).astype(int), "since": np.maximum(0, t - b)}
    )


def _hac(lags):
    # The options the module documents: Newey-West, n/(n-k) correction, Student's t intervals.
    return {"cov_type": "HAC", "cov_kwds": {"maxlags": lags, "use_correction": True}, "use_t": True}


def _planted_counts(rng, *, n=80, b=40, base=20.0, trend=0.004, ratio=1.5, overdispersion=0.0):
    t = np.arange(n)
    mu = np.exp(np.log(base) + trend * t + np.log(ratio) * (t >= b))
    if overdispersion > 0:  # gamma-Poisson: variance mu + overdispersion * mu^2
        mu = rng.gamma(1 / overdispersion, mu * overdispersion)
    return rng.poisson(mu)


def test_newey_west_rule_of_thumb():
    assert newey_west_maxlags(52) == 3  # 4 * 0.52^(2/9) = 3.46
    assert newey_west_maxlags(104) == 4  # 4 * 1.04^(2/9) = 4.03
    assert newey_west_maxlags(100) == 4


def test_ols_matches_formula_api_and_hand_computed_newey_west():
    rng = np.random.default_rng(1)
    n, b = 70, 30
    e = np.zeros(n)
    for i in range(1, n):  # AR(1) noise: what HAC is for
        e[i] = 0.5 * e[i - 1] + rng.normal(0, 3)
    y = 40 + 0.2 * np.arange(n) - 8 * (np.arange(n) >= b) + e
    res = interrupted_time_series(y, b, model="ols")
    lags = newey_west_maxlags(n)
    ref = smf.ols("y ~ t + post + since", data=_frame(y, b)).fit(**_hac(lags))
    assert res.maxlags == lags
    assert res.level_change == pytest.approx(ref.params["post"], abs=1e-6)
    assert res.slope_change == pytest.approx(ref.params["since"], abs=1e-6)
    assert res.pre_slope == pytest.approx(ref.params["t"], abs=1e-6)
    lo, hi = ref.conf_int(alpha=0.05).loc["post"]
    assert (res.level_ci_low_hac, res.level_ci_high_hac) == pytest.approx((lo, hi), abs=1e-6)
    assert res.level_p_value_hac == pytest.approx(ref.pvalues["post"], abs=1e-6)
    slo, shi = ref.conf_int(alpha=0.05).loc["since"]
    assert (res.slope_ci_low_hac, res.slope_ci_high_hac) == pytest.approx((slo, shi), abs=1e-6)

    # Newey-West by hand: Bartlett weights 1 - l/(L+1), times the small-sample factor n/(n-k).
    X = np.column_stack([np.ones(n), np.arange(n), np.arange(n) >= b, np.maximum(0, np.arange(n) - b)]).astype(float)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    u = y - X @ beta
    meat = (X * u[:, None] ** 2).T @ X
    for lag in range(1, lags + 1):
        g = (X[lag:] * (u[lag:] * u[:-lag])[:, None]).T @ X[:-lag]
        meat += (1 - lag / (lags + 1)) * (g + g.T)
    bread = np.linalg.inv(X.T @ X)
    se = np.sqrt(np.diag(bread @ meat @ bread) * n / (n - 4))
    assert res.std_errors["post"] == pytest.approx(se[2], rel=1e-9)
    assert res.std_errors["t_since_break"] == pytest.approx(se[3], rel=1e-9)
    json.dumps(res.to_dict(), allow_nan=False)


def test_poisson_matches_formula_api_as_rate_ratio():
    y = _planted_counts(np.random.default_rng(2))
    res = interrupted_time_series(y, 40, model="poisson", maxlags=2)
    ref = smf.glm("y ~ t + post + since", data=_frame(y, 40), family=sm.families.Poisson()).fit(
        **_hac(2)
    )
    assert res.scale == "rate_ratio"
    assert res.level_change == pytest.approx(math.exp(ref.params["post"]), abs=1e-6)
    lo, hi = np.exp(ref.conf_int(alpha=0.05).loc["post"])
    assert (res.level_ci_low_hac, res.level_ci_high_hac) == pytest.approx((lo, hi), abs=1e-6)
    assert res.slope_change == pytest.approx(math.exp(ref.params["since"]), abs=1e-6)
    assert res.level_p_value_hac == pytest.approx(ref.pvalues["post"], abs=1e-6)


def test_negative_binomial_matches_formula_api_as_rate_ratio():
    y = _planted_counts(np.random.default_rng(3), overdispersion=0.1)
    res = interrupted_time_series(y, 40, model="negbin")
    lags = newey_west_maxlags(80)
    ref = smf.negativebinomial("y ~ t + post + since", data=_frame(y, 40)).fit(
        disp=0, maxiter=200, **_hac(lags)
    )
    assert res.level_change == pytest.approx(math.exp(ref.params["post"]), abs=1e-6)
    lo, hi = np.exp(ref.conf_int(alpha=0.05).loc["post"])
    assert (res.level_ci_low_hac, res.level_ci_high_hac) == pytest.approx((lo, hi), abs=1e-6)
    assert res.slope_change == pytest.approx(math.exp(ref.params["since"]), abs=1e-6)


@pytest.mark.parametrize("model", ["poisson", "negbin"])
def test_planted_one_and_a_half_level_change_is_inside_the_interval(model):
    y = _planted_counts(np.random.default_rng(4), overdispersion=0.05)
    res = interrupted_time_series(y, 40, model=model)
    assert res.level_ci_low <= 1.5 <= res.level_ci_high
    assert res.level_ci_low > 1.0  # and it is detected
    assert res.slope_ci_low <= 1.0 <= res.slope_ci_high  # no slope change was planted


def test_overdispersed_counts_warn_under_poisson():
    y = _planted_counts(np.random.default_rng(5), overdispersion=0.3)
    res = interrupted_time_series(y, 40, model="poisson")
    assert any("negative binomial" in c for c in res.caveats)


def test_a_side_without_counts_gives_no_rate_ratio_and_says_why():
    y = np.r_[np.zeros(20), np.random.default_rng(0).poisson(5, 20)]
    res = interrupted_time_series(y, 20, model="poisson")
    d = res.to_dict()
    assert d["level_change"] is None and d["level_ci_low"] is None
    assert "No counts at all before" in res.caveats[0]
    json.dumps(d, allow_nan=False)
    placebo = placebo_breaks(y, 20, model="poisson")
    assert placebo.p_value is None
    json.dumps(placebo.to_dict(), allow_nan=False)


def test_short_sides_are_caveated_and_too_short_rejected():
    y = np.arange(20.0)
    res = interrupted_time_series(y + np.random.default_rng(0).normal(0, 1, 20), 5)
    assert any("Only 5 weeks before" in c for c in res.caveats)
    with pytest.raises(ValueError, match="fewer than 3 weeks"):
        interrupted_time_series(y, 2)
    with pytest.raises(ValueError, match="whole non-negative"):
        interrupted_time_series(y + 0.5, 10, model="poisson")
    with pytest.raises(ValueError, match="NaN"):
        interrupted_time_series(np.r_[y[:-1], np.nan], 10)


def test_placebos_use_each_side_alone_and_give_a_permutation_p_value():
    rng = np.random.default_rng(6)
    y = _planted_counts(rng, n=60, b=30, ratio=2.0)
    res = placebo_breaks(y, 30, model="poisson", min_side=8)
    # Eligible fake breaks: 8..22 within each 30-week side, so 15 per side.
    assert res.placebo_indices == tuple(range(8, 23)) + tuple(range(38, 53))
    # Each placebo effect is the model refitted on its side alone, checked against statsmodels.
    k = res.placebo_indices.index(41)
    seg = y[30:]
    lags = newey_west_maxlags(30)
    ref = smf.glm("y ~ t + post + since", data=_frame(seg, 11), family=sm.families.Poisson()).fit(
        **_hac(lags)
    )
    assert res.placebo_effects[k] == pytest.approx(ref.params["post"], abs=1e-6)
    extreme = sum(abs(e) >= abs(res.real_effect) for e in res.placebo_effects)
    assert res.p_value == pytest.approx((1 + extreme) / 31)
    assert res.p_value < 0.1  # a doubling stands out among placebos
    json.dumps(res.to_dict(), allow_nan=False)


def test_placebo_p_value_is_not_small_without_an_effect():
    y = _planted_counts(np.random.default_rng(7), n=60, b=30, ratio=1.0, trend=0.0)
    res = placebo_breaks(y, 30, model="poisson", min_side=8)
    assert res.p_value > 0.1


def test_no_eligible_placebo_is_said():
    y = _planted_counts(np.random.default_rng(8), n=20, b=10)
    res = placebo_breaks(y, 10, model="poisson", min_side=8)
    assert res.p_value is None and res.n_placebos == 0
    assert any("No week" in c for c in res.caveats)


def test_break_index_for_dates():
    weeks = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    assert break_index_for(weeks, "2026-01-12") == 1
    assert break_index_for(weeks, "2026-01-14") == 2
    with pytest.raises(ValueError, match="consecutive"):
        break_index_for(["2026-01-05", "2026-01-19"], "2026-01-10")


def _ar1(rng, n, rho, sd):
    x = np.empty(n)
    x[0] = rng.normal(0, sd / math.sqrt(1 - rho**2))
    z = rng.normal(0, sd, n)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + z[i]
    return x


def _correlated_series(rng, model, n, planted, rho=0.4):
    """bench/its_coverage.py's datasets: AR(1) weeks, overdispersed counts, break mid-series.
    Returns the series and the true level change on the scale of the result's level_change."""
    t = np.arange(n)
    if model == "ols":
        effect = 2.0 if planted else 0.0
        return 10 + 0.05 * t + effect * (t >= n // 2) + _ar1(rng, n, rho, 1.0), effect
    ratio = 1.5 if planted else 1.0
    mu = np.exp(math.log(20) + 0.003 * t + math.log(ratio) * (t >= n // 2) + _ar1(rng, n, rho, 0.15))
    return rng.poisson(rng.gamma(20.0, mu / 20.0)).astype(float), ratio


def _coverage(model, n, n_sets, seed):
    rng = np.random.default_rng(seed)
    boot = hac = 0
    for i in range(n_sets):
        y, truth = _correlated_series(rng, model, n, planted=bool(i % 2))
        res = interrupted_time_series(y, n // 2, model=model, seed=i)
        boot += res.level_ci_low <= truth <= res.level_ci_high
        hac += res.level_ci_low_hac <= truth <= res.level_ci_high_hac
    return boot / n_sets, hac / n_sets


@pytest.mark.parametrize("model", ["ols", "poisson"])
def test_bootstrap_interval_covers_better_than_newey_west_in_a_year_of_weeks(model):
    # Smoke version of the slow coverage test: 60 correlated series of 52 weeks.
    boot, hac = _coverage(model, 52, 60, seed=7)
    assert boot >= 0.85, boot
    assert boot >= hac, (boot, hac)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ols", "poisson", "negbin"])
def test_coverage_is_what_the_module_quotes(model):
    # MEASURED_COVERAGE is what the caveats quote; re-measured here on fresh seeds. 300 series per
    # length give one binomial standard error of about 1.3 points at 95%, so each length must be
    # within 4 points of the table (3 SE) and, where the table says the bootstrap covers 92-98%,
    # within 2 SE of that band; pooled over the lengths (1,500 series) it must be inside the band.
    family = "ols" if model == "ols" else "counts"
    n_sets = 300
    two_se = 2 * math.sqrt(0.95 * 0.05 / n_sets)
    pooled = []
    for n in (16, 26, 52, 104, 156):
        boot, hac = _coverage(model, n, n_sets, seed=500 + n)
        quoted = MEASURED_COVERAGE["bootstrap"][family][n]
        assert abs(boot - quoted) <= 0.04, (n, boot, quoted)
        assert abs(hac - MEASURED_COVERAGE["hac"][family][n]) <= 0.05, (n, hac)
        if quoted >= COVERAGE_FLOOR:
            assert 0.92 - two_se <= boot <= 0.98 + two_se, (n, boot)
        pooled.append(boot)
    assert 0.92 <= np.mean(pooled) <= 0.98, pooled


def test_bootstrap_is_reproducible_with_a_seed_and_moves_with_another():
    y, _ = _correlated_series(np.random.default_rng(11), "poisson", 80, planted=True)
    a = interrupted_time_series(y, 40, model="poisson", seed=3)
    b = interrupted_time_series(y, 40, model="poisson", seed=3)
    c = interrupted_time_series(y, 40, model="poisson", seed=4)
    assert a.to_dict() == b.to_dict()
    assert a.level_ci_low != c.level_ci_low
    assert a.level_ci_low == pytest.approx(c.level_ci_low, rel=0.05)
    assert a.interval == "bootstrap" and a.n_boot == 999


def test_hac_interval_on_request_is_the_newey_west_one():
    y, _ = _correlated_series(np.random.default_rng(12), "ols", 60, planted=True)
    res = interrupted_time_series(y, 30, interval="hac")
    assert (res.level_ci_low, res.level_ci_high) == (res.level_ci_low_hac, res.level_ci_high_hac)
    assert res.level_p_value == res.level_p_value_hac and res.n_boot == 0
    with pytest.raises(ValueError, match="interval must be one of"):
        interrupted_time_series(y, 30, interval="wald")


def test_sieve_draws_follow_the_ar1_recursion_with_resampled_innovations():
    # By hand: r = [1, 3, 2, 6] centres to [-2, 0, -1, 3]; with rho 0.5 the innovations
    # r_t - 0.5 r_{t-1} are [1, -1, 3.5], centred (mean 7/6) [-1/6, -13/6, 7/3]. Every bootstrap
    # week must be 0.5 times the week before plus one of those three.
    draws = ar1_sieve_draws(np.array([1.0, 3.0, 2.0, 6.0]), 0.5, 50, np.random.default_rng(0))
    assert draws.shape == (50, 4)
    step = draws[:, 1:] - 0.5 * draws[:, :-1]
    allowed = np.array([-1 / 6, -13 / 6, 7 / 3])
    assert np.abs(step[..., None] - allowed).min(axis=-1).max() < 1e-12
    # With rho 0 a week is just a resampled centred residual, and all of them turn up.
    flat = ar1_sieve_draws(np.array([1.0, 3.0, 2.0, 6.0]), 0.0, 50, np.random.default_rng(0)).ravel()
    innov0 = np.array([0.0, -1.0, 3.0]) - 2 / 3  # rc[1:], centred
    assert np.abs(flat[:, None] - innov0).min(axis=1).max() < 1e-12
    assert np.unique(np.round(flat, 9)).size == 3


def test_sieve_draws_equal_scipy_lfilter_to_the_bit():
    # The recursion was scipy.signal.lfilter([1], [1, -rho], u, axis=1) before; the loop must give
    # the same numbers exactly (the report's bootstrap intervals must not move by a bit). The draws
    # are replayed from the same generator state to get the innovations u.
    from scipy.signal import lfilter

    from loopmeter.stats.its import _BURN_IN

    rng = np.random.default_rng(21)
    for n, rho in ((12, 0.0), (40, 0.37), (156, 0.95), (7, 0.8123456789)):
        r = rng.normal(size=n) * 3.0 + rng.poisson(4.0, size=n)
        got = ar1_sieve_draws(r, rho, 301, np.random.default_rng(n))
        rc = r - r.mean()
        innov = rc[1:] - rho * rc[:-1]
        innov = innov - innov.mean()
        u = innov[np.random.default_rng(n).integers(0, innov.size, size=(301, n + _BURN_IN))]
        want = lfilter([1.0], [1.0, -rho], u, axis=1)[:, _BURN_IN:]
        assert got.shape == want.shape == (301, n)
        assert np.array_equal(got, want), (n, rho, np.abs(got - want).max())


def test_vectorised_refits_equal_statsmodels_refits():
    # OLS: a bootstrap replicate y* = X b + e* refitted by statsmodels gives the same coefficient
    # change and the same Newey-West standard error as the one matrix product per replicate.
    rng = np.random.default_rng(13)
    y, _ = _correlated_series(rng, "ols", 52, planted=True)
    X = its_design(52, 26)
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    A, M = _score_linearisation(X, np.ones(52))
    E = ar1_sieve_draws(y - X @ b, 0.4, 3, np.random.default_rng(1))
    lags = newey_west_maxlags(52)
    for e_star in E:
        ref = sm.OLS(X @ b + e_star, X).fit(**_hac(lags))
        assert ref.params[2] - b[2] == pytest.approx(A[2] @ e_star, abs=1e-9)
        se = math.sqrt(newey_west_variance(A[2] * (M @ e_star), lags) * 52 / 48)
        assert se == pytest.approx(ref.bse[2], rel=1e-9)
    # Poisson: one scoring step from the fitted rates is a linearisation, so a single replicate can
    # land a fraction of a standard error away from the full IRLS refit on the perturbed counts;
    # what the interval uses is the spread of the replicates, and that matches the full refits'.
    y, _ = _correlated_series(rng, "poisson", 104, planted=True)
    X = its_design(104, 52)
    fit = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    mu = fit.predict()
    A, _ = _score_linearisation(X, mu)
    E = ar1_sieve_draws((y - mu) / np.sqrt(mu), 0.3, 200, np.random.default_rng(2)) * np.sqrt(mu)
    one_step = E @ A[2]
    full = np.array([sm.GLM(mu + e, X, family=sm.families.Poisson()).fit().params[2] for e in E]) - fit.params[2]
    assert np.std(one_step) == pytest.approx(np.std(full), rel=0.05)
    assert abs(np.mean(one_step) - np.mean(full)) < 0.1 * np.std(full)
    assert np.corrcoef(one_step, full)[0, 1] > 0.95


def test_caveats_quote_the_coverage_measured_for_the_length():
    rng = np.random.default_rng(14)
    y, _ = _correlated_series(rng, "ols", 104, planted=False)
    # The bootstrap covered 92-98% at every measured length: no caveat about narrowness.
    assert not any("run narrow" in c for c in interrupted_time_series(y, 52).caveats)
    # The Newey-West interval, asked for, says how narrow it ran at this length.
    hac = interrupted_time_series(y, 52, interval="hac")
    quoted = MEASURED_COVERAGE["hac"]["ols"][104]
    assert quoted < COVERAGE_FLOOR
    assert any("Newey-West intervals run narrow" in c and f"{quoted:.0%}" in c for c in hac.caveats)
    # 130 weeks are quoted at the 104-week figure (the measured length at or below).
    longer, _ = _correlated_series(rng, "ols", 130, planted=False)
    assert any("104-week series" in c for c in interrupted_time_series(longer, 65, interval="hac").caveats)
    # Shorter than anything measured: the coverage is unknown and said to be.
    short, _ = _correlated_series(rng, "ols", 12, planted=False)
    assert any("shorter than any measured" in c for c in interrupted_time_series(short, 6).caveats)


def test_strongly_correlated_weeks_are_caveated():
    y = 10 + _ar1(np.random.default_rng(16), 104, 0.95, 1.0)
    res = interrupted_time_series(y, 52)
    assert res.residual_ar1 >= 0.6
    assert any("strongly correlated" in c for c in res.caveats)
    calm, _ = _correlated_series(np.random.default_rng(17), "ols", 104, planted=False, rho=0.0)
    res = interrupted_time_series(calm, 52)
    assert res.residual_ar1 < 0.6 and not any("strongly correlated" in c for c in res.caveats)


def test_bootstrap_p_value_finds_a_planted_change_and_not_a_missing_one():
    rng = np.random.default_rng(15)
    y, _ = _correlated_series(rng, "poisson", 104, planted=True)
    assert interrupted_time_series(y, 52, model="poisson").level_p_value < 0.05
    y = rng.poisson(20.0, 104).astype(float)
    res = interrupted_time_series(y, 52, model="poisson")
    assert res.level_p_value > 0.05 and res.level_ci_low < 1.0 < res.level_ci_high


@pytest.mark.parametrize("model", ["ols", "poisson"])
def test_a_series_the_model_fits_exactly_has_no_interval_and_says_why(model):
    # A constant series (or an exact line with a jump) leaves no residual: the HAC sandwich is
    # zero, so the interval would have zero width and the p-value would be rounding noise.
    t = np.arange(40.0)
    for y in (np.full(40, 5.0), 10.0 + 2.0 * t + 6.0 * (t >= 20)):
        if model == "poisson" and y[0] != 5.0:
            y = np.full(40, 7.0)
        res = interrupted_time_series(y, 20, model=model)
        d = res.to_dict()
        assert d["level_ci_low"] is None and d["level_ci_high"] is None and d["level_p_value"] is None
        assert d["slope_ci_low"] is None and d["slope_ci_high"] is None
        assert any("fits every week exactly" in c for c in res.caveats)
        json.dumps(d, allow_nan=False)
    # The point estimate is still the exact one: no jump in a constant series.
    assert interrupted_time_series(np.full(40, 5.0), 20, model=model).level_change == pytest.approx(
        0.0 if model == "ols" else 1.0, abs=1e-9
    )


def test_bootstrap_interval_excludes_no_change_exactly_when_the_bootstrap_p_value_is_at_most_alpha():
    # Both come from the same replicates: the interval's critical value is the order statistic the
    # p-value (1 + #{|t*| >= |t|}) / (1 + B) counts against, so a report never shows an interval
    # that rules out "no change" beside p = 0.055. (Interpolating between replicates did: 5 in 300.)
    disagree = []
    for s in range(300):
        y = np.random.default_rng(s).normal(size=40) + 0.6 * (np.arange(40) >= 20)
        res = interrupted_time_series(y, 20, seed=s, n_boot=199)
        excludes = res.level_ci_low > 0 or res.level_ci_high < 0
        if excludes != (res.level_p_value <= 0.05 + 1e-12):
            disagree.append((s, res.level_p_value))
    assert disagree == []


def test_a_repeated_fit_is_the_same_result_and_the_callers_own_copy():
    """The report fits some series twice (the specification table's chosen row, placebo breaks);
    the second answer comes from the first fit: equal in every field, and a copy, so a caller that
    changes its dicts changes no later answer."""
    from loopmeter.stats import its

    rng = np.random.default_rng(5)
    y = rng.poisson(np.r_[np.full(12, 6.0), np.full(10, 9.0)]).astype(float)
    first = its.interrupted_time_series(y, 12, model="poisson", interval="hac")
    first.params["post"] = 99.0
    hits = its._remembered_fit.cache_info().hits
    again = its.interrupted_time_series(list(y), 12, model="poisson", interval="hac")
    assert its._remembered_fit.cache_info().hits == hits + 1  # not fitted again
    fresh = its._interrupted_time_series(y, 12, model="poisson", interval="hac")
    assert again.params["post"] != 99.0
    assert repr(again) == repr(fresh)
    # Another input is another fit.
    other = its.interrupted_time_series(y[::-1].copy(), 10, model="poisson", interval="hac")
    assert repr(other) == repr(its._interrupted_time_series(y[::-1].copy(), 10, model="poisson", interval="hac"))
    assert other.params["post"] != fresh.params["post"]
